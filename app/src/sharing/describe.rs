//! How links and participants read on the page. Pure: tested natively.

use vigil_wire::live::Participant;
use vigil_wire::share::{JoinedVia, LiveParticipant, ShareAudience, ShareLink};

/// Where a link stands.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum LinkState {
    /// It still opens (for the people it names).
    Active,
    Expired,
    Revoked,
}

impl LinkState {
    /// The label, and the `data-state` value (lowercase).
    pub fn label(self) -> (&'static str, &'static str) {
        match self {
            LinkState::Active => ("Active", "active"),
            LinkState::Expired => ("Expired", "expired"),
            LinkState::Revoked => ("Revoked", "revoked"),
        }
    }
}

/// `link`'s state at `now_ms`.
pub fn link_state(link: &ShareLink, now_ms: i64) -> LinkState {
    state_at(link.revoked_at.is_some(), link.expires_at, now_ms)
}

/// A link's state at `now_ms`: a revoked link is revoked, whatever its expiry.
pub fn state_at(revoked: bool, expires_at: i64, now_ms: i64) -> LinkState {
    if revoked {
        LinkState::Revoked
    } else if expires_at <= now_ms {
        LinkState::Expired
    } else {
        LinkState::Active
    }
}

/// Who may open a link: `Any logged-in Vigil user`, or the users and groups it names.
pub fn audience_text(audience: &ShareAudience) -> String {
    match audience {
        ShareAudience::AnyUser => "Any logged-in Vigil user".to_string(),
        ShareAudience::Named { users, groups } => {
            let mut parts = Vec::new();
            if !users.is_empty() {
                parts.push(format!("users: {}", users.join(", ")));
            }
            if !groups.is_empty() {
                parts.push(format!("groups: {}", groups.join(", ")));
            }
            if parts.is_empty() {
                "nobody".to_string()
            } else {
                parts.join("; ")
            }
        }
    }
}

/// The people who have used a link, in the order the relay lists them, or `—`.
pub fn used_by(link: &ShareLink) -> String {
    if link.uses.is_empty() {
        return "—".to_string();
    }
    link.uses
        .iter()
        .map(|u| u.username.as_str())
        .collect::<Vec<_>>()
        .join(", ")
}

/// How a participant came in, as the Who is watching list says it.
pub fn via_label(via: JoinedVia) -> &'static str {
    match via {
        JoinedVia::Owner => "owner",
        JoinedVia::Role => "role",
        JoinedVia::Link => "link",
    }
}

pub fn participant_label(p: Participant) -> &'static str {
    match p {
        Participant::User => "user",
        Participant::Observer => "observer",
    }
}

/// A participant's name: the display name, else the username.
pub fn participant_name(p: &LiveParticipant) -> String {
    if p.display_name.trim().is_empty() {
        p.username.clone()
    } else {
        p.display_name.clone()
    }
}

/// The watchers count of Active Sessions.
pub fn watchers_text(n: u32) -> String {
    match n {
        0 => "No watchers".to_string(),
        1 => "1 watcher".to_string(),
        n => format!("{n} watchers"),
    }
}
