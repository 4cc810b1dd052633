//! The audit entries of sharing and watching: share, revoke, link use, view start and end,
//! replay. Every one is written by [`append`] or [`record`] to the audit chain, with the actor and the
//! client's address as its source; each detail names the participant's way in (their
//! role, or the link).

use std::fmt;

use vigil_wire::audit::AuditAction;
use vigil_wire::live::Participant;
use vigil_wire::share::{ShareAudience, ShareKind};

use crate::audit::key::AuditKey;
use crate::state::AppState;
use crate::store::audit::{NewEntry, Who};
use crate::store::{self, DbConn};

/// How a participant came in, as the audit names it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Via {
    Owner,
    /// A role on the asset (administrator, ISA user, Active Session Reviewer).
    Role,
    /// Share link `id`.
    Link(String),
}

impl fmt::Display for Via {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Via::Owner => f.write_str("owner"),
            Via::Role => f.write_str("role"),
            Via::Link(id) => write!(f, "link {id}"),
        }
    }
}

/// One auditable event of sharing or watching.
#[derive(Debug, Clone)]
pub enum ShareEvent<'a> {
    Share {
        link_id: &'a str,
        kind: ShareKind,
        audience: &'a ShareAudience,
        expires_at: i64,
        with_code: bool,
        allow_download: bool,
    },
    Revoke {
        link_id: &'a str,
    },
    /// A link redeemed.
    LinkUse {
        link_id: &'a str,
    },
    ViewStart {
        via: &'a Via,
        participant: Participant,
    },
    ViewEnd {
        via: &'a Via,
        participant: Participant,
        /// How long they were attached.
        seconds: i64,
    },
    /// The in-app replay opened (recorded once per viewer and session).
    Replay {
        via: &'a Via,
    },
}

impl ShareEvent<'_> {
    pub fn action(&self) -> AuditAction {
        match self {
            ShareEvent::Share { .. } => AuditAction::Share,
            ShareEvent::Revoke { .. } => AuditAction::Revoke,
            ShareEvent::LinkUse { .. } => AuditAction::LinkUse,
            ShareEvent::ViewStart { .. } => AuditAction::ViewStart,
            ShareEvent::ViewEnd { .. } => AuditAction::ViewEnd,
            ShareEvent::Replay { .. } => AuditAction::Replay,
        }
    }

    fn detail(&self) -> String {
        let yes_no = |b: bool| if b { "yes" } else { "no" };
        let part = |p: &Participant| match p {
            Participant::User => "user",
            Participant::Observer => "observer",
        };
        match self {
            ShareEvent::Share {
                link_id,
                kind,
                audience,
                expires_at,
                with_code,
                allow_download,
            } => format!(
                "link {link_id} ({}) for {}, expires {}, code: {}, download: {}",
                store::shares::kind_str(*kind),
                audience_text(audience),
                when(*expires_at),
                yes_no(*with_code),
                yes_no(*allow_download),
            ),
            ShareEvent::Revoke { link_id } | ShareEvent::LinkUse { link_id } => {
                format!("link {link_id}")
            }
            ShareEvent::ViewStart { via, participant } => {
                format!("{} via {via}", part(participant))
            }
            ShareEvent::ViewEnd {
                via,
                participant,
                seconds,
            } => format!("{} via {via}, after {seconds} s", part(participant)),
            ShareEvent::Replay { via } => format!("via {via}"),
        }
    }
}

fn audience_text(a: &ShareAudience) -> String {
    match a {
        ShareAudience::AnyUser => "any logged-in user".into(),
        ShareAudience::Named { users, groups } => {
            let mut parts = Vec::new();
            if !users.is_empty() {
                parts.push(format!("users {}", users.join(", ")));
            }
            if !groups.is_empty() {
                parts.push(format!("groups {}", groups.join(", ")));
            }
            parts.join("; ")
        }
    }
}

/// Unix milliseconds as RFC 3339 (UTC), or the number if it is out of range.
fn when(ms: i64) -> String {
    time::OffsetDateTime::from_unix_timestamp_nanos(i128::from(ms) * 1_000_000)
        .ok()
        .and_then(|t| {
            t.format(&time::format_description::well_known::Rfc3339)
                .ok()
        })
        .unwrap_or_else(|| ms.to_string())
}

/// Appends `event` by `who` on `session` to the audit chain inside the caller's write
/// transaction, so that the entry commits with the change it records.
pub async fn append(
    conn: &mut DbConn,
    key: &AuditKey,
    who: Who<'_>,
    session: &str,
    event: ShareEvent<'_>,
) -> Result<(), sqlx::Error> {
    let detail = event.detail();
    let entry = NewEntry::new(who, event.action(), &detail).on(session);
    store::audit::append(conn, key, entry).await.map(|_| ())
}

/// Appends `event` by `who` on `session` to the audit chain in a transaction of its own
/// (events that change nothing else: views and replays). A replay is recorded once per
/// viewer and session.
pub async fn record(
    state: &AppState,
    who: Who<'_>,
    session: &str,
    event: ShareEvent<'_>,
) -> Result<(), sqlx::Error> {
    let detail = event.detail();
    let entry = NewEntry::new(who, event.action(), &detail).on(session);
    if matches!(event, ShareEvent::Replay { .. }) {
        store::audit::record_once(&state.db, &state.audit_key, entry).await?;
    } else {
        store::audit::record(&state.db, &state.audit_key, entry).await?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn details_name_the_way_in_and_the_terms() {
        let audience = ShareAudience::Named {
            users: vec!["bob".into()],
            groups: vec!["ops".into()],
        };
        let share = ShareEvent::Share {
            link_id: "l1",
            kind: ShareKind::Live,
            audience: &audience,
            expires_at: 0,
            with_code: true,
            allow_download: false,
        };
        assert_eq!(share.action(), AuditAction::Share);
        assert_eq!(
            share.detail(),
            "link l1 (live) for users bob; groups ops, expires 1970-01-01T00:00:00Z, code: yes, download: no"
        );
        let via = Via::Link("l1".into());
        let end = ShareEvent::ViewEnd {
            via: &via,
            participant: Participant::Observer,
            seconds: 3,
        };
        assert_eq!(end.detail(), "observer via link l1, after 3 s");
    }
}
