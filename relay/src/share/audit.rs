//! The audit entries of sharing and watching: share, revoke, link use, view start and end,
//! replay. Every one is written by [`record`], so that the log they go to can change in
//! one place. Each detail names the participant's way in (their role, or the link) and
//! the client's address.

use std::fmt;
use std::net::IpAddr;

use vigil_wire::live::Participant;
use vigil_wire::share::{ShareAudience, ShareKind};

use crate::store::{self, Db};

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
    pub fn action(&self) -> &'static str {
        match self {
            ShareEvent::Share { .. } => "share",
            ShareEvent::Revoke { .. } => "revoke",
            ShareEvent::LinkUse { .. } => "link_use",
            ShareEvent::ViewStart { .. } => "view_start",
            ShareEvent::ViewEnd { .. } => "view_end",
            ShareEvent::Replay { .. } => "replay",
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

/// Writes `event` by `actor` on `session` from `addr` to the audit log. The one place
/// sharing and watching are audited.
pub async fn record(
    db: &Db,
    actor: &str,
    session: &str,
    addr: Option<IpAddr>,
    event: ShareEvent<'_>,
) -> Result<(), sqlx::Error> {
    let from = addr.map_or_else(|| "unknown".to_string(), |a| a.to_string());
    let detail = format!("{}, from {from}", event.detail());
    let action = event.action();
    if matches!(event, ShareEvent::Replay { .. }) {
        store::audit::record_once(db, actor, action, session, &detail).await?;
    } else {
        store::audit::record(db, actor, action, Some(session), &detail).await?;
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
        assert_eq!(share.action(), "share");
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
