//! Small pure helpers: formatting, the keystroke log, URLs. Tested natively.

use vigil_wire::api::{EmergencyAction, EmergencyRequest, EmergencyScope, Keystroke, Session};

/// What an outsider is told of a session, the same whether it does not exist or they
/// may not see it.
pub const NOT_AVAILABLE: &str = "Session not found or not available to you";

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
