//! Small pure helpers: formatting, the keystroke log, URLs. Tested natively.

use vigil_wire::api::{EmergencyAction, EmergencyRequest, EmergencyScope, Keystroke, Session};
use vigil_wire::end::{EndReason, ErrorCode};

/// What an outsider is told of a session, the same whether it does not exist or they
/// may not see it.
pub const NOT_AVAILABLE: &str = "Session not found or not available to you. Check the address, or ask an administrator for access.";

/// What to do after a request to the relay failed: `status` is the HTTP status of its
/// answer, `None` when the relay could not be reached or its answer not read. Every error
/// the app shows ends with a next step.
pub fn api_next_step(status: Option<u16>) -> &'static str {
    match status {
        None => "Check your network connection, then reload the page.",
        Some(400 | 422) => "Correct what it says and try again.",
        Some(401) => "Log in again.",
        Some(403) => "Ask an administrator if you need access.",
        Some(404) => "It may have ended or been removed: go back and refresh the list.",
        Some(409) => "Refresh the page to see where it stands now, then try again.",
        Some(429) => "Wait a minute, then try again.",
        Some(s) if s >= 500 => "Try again in a moment; if it keeps failing, tell an administrator.",
        Some(_) => "Reload the page and try again; if it keeps failing, tell an administrator.",
    }
}

/// `text` ending as a sentence does (a period added if it has no end mark).
pub fn sentence(text: &str) -> String {
    let text = text.trim_end();
    if text.is_empty() || text.ends_with(['.', '!', '?']) {
        text.to_string()
    } else {
        format!("{text}.")
    }
}

/// How much of a download has arrived: `total` is the size the relay announced
/// (`Content-Length`), `None` when it did not.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Fetched {
    pub received: u64,
    pub total: Option<u64>,
}

impl Fetched {
    /// The size known to be right: none when announced smaller than what arrived (a
    /// compressed answer counts its compressed bytes).
    pub fn known_total(&self) -> Option<u64> {
        self.total.filter(|t| *t > 0 && *t >= self.received)
    }

    /// `(value, max)` for a `<progress>`; `None` while the size is unknown (the bar is
    /// then indeterminate).
    pub fn bar(&self) -> Option<(u64, u64)> {
        self.known_total().map(|t| (self.received, t))
    }

    /// The bar's text equivalent: "1.2 MB of 3.4 MB (35%)", or "1.2 MB" when the size is
    /// unknown.
    pub fn text(&self) -> String {
        match self.known_total() {
            Some(t) => format!(
                "{} of {} ({}%)",
                size(self.received),
                size(t),
                self.received.saturating_mul(100) / t
            ),
            None => format!("{} so far", size(self.received)),
        }
    }
}

/// A byte count for people: bytes, kB or MB (decimal units, one decimal).
pub fn size(bytes: u64) -> String {
    if bytes < 1000 {
        format!("{bytes} bytes")
    } else if bytes < 1_000_000 {
        format!("{:.1} kB", bytes as f64 / 1e3)
    } else {
        format!("{:.1} MB", bytes as f64 / 1e6)
    }
}

/// What to do after a session failed with `code`.
pub fn code_next_step(code: ErrorCode) -> &'static str {
    match code {
        ErrorCode::TargetUnreachable => "Check that the asset is running and its address is right, then connect again, or ask an administrator.",
        ErrorCode::AuthFailed => "Ask an administrator to check the asset's account and its credential.",
        ErrorCode::HostKeyChanged => "Do not connect again until an administrator has checked the asset's new host key.",
        ErrorCode::CertChanged => "Do not connect again until an administrator has checked the asset's new certificate.",
        ErrorCode::TargetError => "Connect again; if it keeps failing, ask an administrator to check the asset.",
        ErrorCode::TargetFlood => "Connect again; if it keeps failing, ask an administrator to check what the asset sends.",
        ErrorCode::DesktopTooLarge => "Ask an administrator to lower the asset's desktop size.",
        ErrorCode::RecordingFailed => "Tell an administrator that the relay could not write the recording, then connect again.",
        ErrorCode::LoginEnded => "Log in again.",
        ErrorCode::AccessRevoked => "Ask an administrator if you still need access.",
        ErrorCode::LinkRevoked | ErrorCode::LinkExpired => "Ask the person who shared the session for a new link.",
        ErrorCode::AuditFailed => "Try again in a moment; if it keeps failing, tell an administrator.",
        ErrorCode::ExpectedHello | ErrorCode::Version | ErrorCode::Malformed => "Reload the page (Vigil may have been updated), then open the session again.",
    }
}

/// Why a session ended, as its page says it: a failure's code, its detail and what to do
/// next; any other end as is.
pub fn end_text(reason: &EndReason) -> String {
    match reason.code {
        Some(code) => format!(
            "{}. {}",
            reason.to_string().trim_end_matches('.'),
            code_next_step(code)
        ),
        None => reason.to_string(),
    }
}

/// `mm:ss` from milliseconds (minutes keep counting past 59: `75:02`).
pub fn mmss(ms: u64) -> String {
    let s = ms / 1000;
    format!("{:02}:{:02}", s / 60, s % 60)
}

/// A duration as `m:ss` or `h:mm:ss`; negative durations show as `0:00`.
pub fn duration(ms: i64) -> String {
    let s = ms.max(0) / 1000;
    let (h, m, s) = (s / 3600, (s / 60) % 60, s % 60);
    if h > 0 {
        format!("{h}:{m:02}:{s:02}")
    } else {
        format!("{m}:{s:02}")
    }
}

/// The title of a keystroke's mismatch flag: what the browser said the key typed, where the
/// relay read the scancode (in the session's keyboard layout) as something else.
pub fn browser_text_title(claim: &str) -> String {
    let shown = if claim == " " { "Space" } else { claim };
    format!("The browser said this key typed “{shown}”; the relay read the scancode in the session's keyboard layout as shown")
}

/// Adds `k` to a log kept in `seq` order, ignoring one already there (the initial
/// GET and the live stream overlap). Returns whether it was new.
pub fn merge_keystroke(log: &mut Vec<Keystroke>, k: Keystroke) -> bool {
    match log.binary_search_by_key(&k.seq, |x| x.seq) {
        Ok(_) => false,
        Err(pos) => {
            log.insert(pos, k);
            true
        }
    }
}

/// Merges a batch (for instance the initial GET) into the log.
pub fn merge_keystrokes(log: &mut Vec<Keystroke>, batch: impl IntoIterator<Item = Keystroke>) {
    for k in batch {
        merge_keystroke(log, k);
    }
}

/// The label of the Keystrokes sort toggle: the order currently shown.
pub fn sort_label(newest_first: bool) -> &'static str {
    if newest_first {
        "Newest to Oldest"
    } else {
        "Oldest to Newest"
    }
}

/// The WebSocket URL for an API path, from the page's `location.protocol` and `host`.
pub fn ws_url(page_protocol: &str, host: &str, path: &str) -> String {
    let scheme = if page_protocol == "https:" {
        "wss"
    } else {
        "ws"
    };
    format!("{scheme}://{host}{path}")
}

/// A request status as `(data-status value, label)`; the value is the wire name.
pub fn status_label(status: vigil_wire::api::RequestStatus) -> (&'static str, &'static str) {
    use vigil_wire::api::RequestStatus::*;
    match status {
        Pending => ("pending", "Pending"),
        Approved => ("approved", "Approved"),
        Denied => ("denied", "Denied"),
        CheckedIn => ("checked_in", "Checked in"),
        Expired => ("expired", "Expired"),
    }
}

/// The question an emergency control asks before it runs.
pub fn emergency_question(req: &EmergencyRequest) -> String {
    let verb = match req.action {
        EmergencyAction::Lock => "Lock",
        EmergencyAction::Terminate => "Terminate",
    };
    let whose = match req.scope {
        EmergencyScope::User => "of user",
        EmergencyScope::Asset => "on asset",
    };
    format!("{verb} every live session {whose} {}?", req.name)
}

/// What an emergency control did, for the page: how many sessions it touched.
pub fn emergency_outcome(action: EmergencyAction, sessions: usize) -> String {
    let done = match action {
        EmergencyAction::Lock => "locked",
        EmergencyAction::Terminate => "terminated",
    };
    match sessions {
        0 => format!("No live session was {done}."),
        1 => format!("1 session {done}."),
        n => format!("{n} sessions {done}."),
    }
}

/// Names to offer an emergency control: the users, or the assets, of the live sessions
/// shown, sorted and without repeats.
pub fn emergency_names(sessions: &[Session], scope: EmergencyScope) -> Vec<String> {
    let mut names: Vec<String> = sessions
        .iter()
        .filter(|s| s.ended_at.is_none())
        .map(|s| match scope {
            EmergencyScope::User => s.user.clone(),
            EmergencyScope::Asset => s.asset_name.clone(),
        })
        .collect();
    names.sort();
    names.dedup();
    names
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ks(seq: u64) -> Keystroke {
        Keystroke {
            seq,
            at_ms: seq * 100,
            key: format!("k{seq}"),
            raw: "61".into(),
            browser_text: None,
        }
    }

    #[test]
    fn the_mismatch_flag_says_what_the_browser_claimed() {
        let t = browser_text_title("rm -rf /");
        assert!(
            t.contains("“rm -rf /”") && t.contains("keyboard layout"),
            "{t}"
        );
        assert!(browser_text_title(" ").contains("“Space”"));
    }

    #[test]
    fn formats_times() {
        assert_eq!(mmss(0), "00:00");
        assert_eq!(mmss(61_999), "01:01");
        assert_eq!(mmss(75 * 60_000 + 2_000), "75:02");
        assert_eq!(duration(-5), "0:00");
        assert_eq!(duration(59_000), "0:59");
        assert_eq!(duration(3_600_000 + 62_000), "1:01:02");
    }

    #[test]
    fn keystroke_log_is_ordered_and_deduplicated() {
        let mut log = Vec::new();
        merge_keystrokes(&mut log, [ks(2), ks(0)]);
        assert!(merge_keystroke(&mut log, ks(1)));
        assert!(!merge_keystroke(&mut log, ks(2)));
        merge_keystrokes(&mut log, [ks(3), ks(1)]);
        assert_eq!(log.iter().map(|k| k.seq).collect::<Vec<_>>(), [0, 1, 2, 3]);
        assert_eq!(sort_label(false), "Oldest to Newest");
        assert_eq!(sort_label(true), "Newest to Oldest");
    }

    #[test]
    fn websocket_urls_follow_the_page() {
        assert_eq!(
            ws_url("https:", "vigil.example:8443", "/api/v1/live"),
            "wss://vigil.example:8443/api/v1/live"
        );
        assert_eq!(
            ws_url("http:", "127.0.0.1:8080", "/api/v1/live"),
            "ws://127.0.0.1:8080/api/v1/live"
        );
    }

    fn session(user: &str, asset: &str, ended: bool) -> Session {
        Session {
            id: format!("{user}-{asset}"),
            user: user.into(),
            asset_id: 1,
            asset_name: asset.into(),
            protocol: vigil_wire::api::Protocol::Ssh,
            kind: vigil_wire::api::SessionKind::Request,
            request_id: None,
            started_at: 0,
            ended_at: ended.then_some(1),
            locked: false,
            end_reason: None,
            controls: Default::default(),
            watchers: None,
            legal_hold: None,
            recording_deleted_at: None,
        }
    }

    #[test]
    fn emergency_texts() {
        let req = |scope, action, name: &str| EmergencyRequest {
            scope,
            name: name.into(),
            action,
        };
        use EmergencyAction::{Lock, Terminate};
        use EmergencyScope::{Asset, User};
        assert_eq!(
            emergency_question(&req(User, Terminate, "alice")),
            "Terminate every live session of user alice?"
        );
        assert_eq!(
            emergency_question(&req(Asset, Lock, "web-1")),
            "Lock every live session on asset web-1?"
        );
        assert_eq!(emergency_outcome(Lock, 0), "No live session was locked.");
        assert_eq!(emergency_outcome(Terminate, 1), "1 session terminated.");
        assert_eq!(emergency_outcome(Lock, 3), "3 sessions locked.");
    }

    #[test]
    fn emergency_names_come_from_live_sessions() {
        let list = [
            session("bob", "web-1", false),
            session("alice", "web-1", false),
            session("bob", "db-1", false),
            session("carol", "old-1", true),
        ];
        assert_eq!(
            emergency_names(&list, EmergencyScope::User),
            ["alice", "bob"]
        );
        assert_eq!(
            emergency_names(&list, EmergencyScope::Asset),
            ["db-1", "web-1"]
        );
        assert!(emergency_names(&[], EmergencyScope::User).is_empty());
    }
}

#[cfg(test)]
mod next_step_tests {
    use super::*;

    #[test]
    fn every_error_code_and_every_failed_request_says_what_to_do_next() {
        for code in ErrorCode::ALL {
            let step = code_next_step(code);
            assert!(step.ends_with('.') && step.len() > 10, "{code}: {step:?}");
        }
        for status in [
            None,
            Some(400),
            Some(401),
            Some(403),
            Some(404),
            Some(409),
            Some(413),
            Some(429),
            Some(500),
            Some(503),
        ] {
            let step = api_next_step(status);
            assert!(
                step.ends_with('.') && step.len() > 10,
                "{status:?}: {step:?}"
            );
        }
        let ended = end_text(&EndReason::failed(
            ErrorCode::TargetUnreachable,
            "cannot connect to 10.0.0.9:22: refused.",
        ));
        assert_eq!(
            ended,
            "target_unreachable: cannot connect to 10.0.0.9:22: refused. Check that the asset is running and its address is right, then connect again, or ask an administrator."
        );
        assert_eq!(
            end_text(&EndReason::plain("terminated by alice")),
            "terminated by alice"
        );
        assert_eq!(sentence("try again shortly"), "try again shortly.");
        assert_eq!(sentence("Done!"), "Done!");
    }

    #[test]
    fn a_download_s_progress_is_a_fraction_when_its_size_is_known_and_a_count_otherwise() {
        let f = Fetched {
            received: 350_000,
            total: Some(1_000_000),
        };
        assert_eq!(f.bar(), Some((350_000, 1_000_000)));
        assert_eq!(f.text(), "350.0 kB of 1.0 MB (35%)");
        let unknown = Fetched {
            received: 1_200_000,
            total: None,
        };
        assert_eq!(unknown.bar(), None);
        assert_eq!(unknown.text(), "1.2 MB so far");
        // More arrived than announced (a compressed answer): the size is not known.
        let compressed = Fetched {
            received: 5_000,
            total: Some(900),
        };
        assert_eq!(compressed.bar(), None);
        assert_eq!(
            Fetched {
                received: 0,
                total: Some(0)
            }
            .text(),
            "0 bytes so far"
        );
    }
}
