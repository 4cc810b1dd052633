//! Session transitions on this relay: each launch and each lifecycle event the hub reports
//! is logged once (target `vigil::session`, with the session id, protocol and kind) and
//! counted, and the table of live sessions kept here is what the live gauges of
//! `/metrics` read.
//!
//! A session enters the table before the hub starts it, so none of its events can come
//! first, and leaves on its `Ended`, which the hub sends last for every session.

use std::collections::HashMap;
use std::sync::{Mutex, PoisonError};

use vigil_hub::Lifecycle;
use vigil_wire::api::{Protocol, SessionId, SessionKind};

use crate::metrics::{self, kind_label, protocol_label};

/// One live session as the gauges see it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LiveSession {
    pub id: SessionId,
    pub protocol: Protocol,
    pub kind: SessionKind,
    pub connected: bool,
    pub locked: bool,
}

/// Who started a session, on what (for the `started` event only: metrics never see them).
#[derive(Debug, Clone, Copy)]
pub struct Started<'a> {
    pub id: &'a str,
    pub protocol: Protocol,
    pub kind: SessionKind,
    pub user: &'a str,
    pub asset: &'a str,
}

#[derive(Default)]
pub struct Transitions {
    live: Mutex<HashMap<SessionId, LiveSession>>,
}

impl Transitions {
    fn table(&self) -> std::sync::MutexGuard<'_, HashMap<SessionId, LiveSession>> {
        // Every change is one insert, update or remove: what a panicking holder left is whole.
        self.live.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// A session is about to be started by the hub.
    pub fn started(&self, s: Started<'_>) {
        self.table().insert(
            s.id.to_string(),
            LiveSession {
                id: s.id.to_string(),
                protocol: s.protocol,
                kind: s.kind,
                connected: false,
                locked: false,
            },
        );
        metrics::session_started(s.protocol, s.kind);
        tracing::info!(
            target: "vigil::session",
            session = %s.id,
            protocol = protocol_label(s.protocol),
            kind = kind_label(s.kind),
            user = %s.user,
            asset = %s.asset,
            "Session started"
        );
    }

    /// The hub would not start it after all (its end is stored by the caller).
    pub fn not_started(&self, id: &str, error: &dyn std::fmt::Display) {
        if let Some(s) = self.table().remove(id) {
            tracing::info!(
                target: "vigil::session",
                session = %id,
                protocol = protocol_label(s.protocol),
                kind = kind_label(s.kind),
                reason = %error,
                "Session ended"
            );
        }
    }

    /// A lifecycle event, as the hub reported it (before it is stored).
    pub fn observe(&self, event: &Lifecycle) {
        let mut table = self.table();
        let (id, what) = match event {
            Lifecycle::Connected { id } => (id, Change::Connected),
            Lifecycle::Locked { id } => (id, Change::Locked(true)),
            Lifecycle::Unlocked { id } => (id, Change::Locked(false)),
            Lifecycle::Ended { id, .. } => (id, Change::Ended),
            Lifecycle::HostKeyLearned { .. } | Lifecycle::HostKeyRefused { .. } => return,
        };
        let Some(session) = table.get_mut(id) else {
            // Started by another relay's process or before this table existed: still logged.
            drop(table);
            log_unknown(event);
            return;
        };
        let (protocol, kind) = (protocol_label(session.protocol), kind_label(session.kind));
        match (what, event) {
            (Change::Connected, _) => {
                session.connected = true;
                tracing::info!(target: "vigil::session", session = %id, protocol, kind, "Session connected");
            }
            (Change::Locked(locked), _) => {
                session.locked = locked;
                let message = if locked {
                    "Session locked"
                } else {
                    "Session unlocked"
                };
                tracing::info!(target: "vigil::session", session = %id, protocol, kind, "{message}");
            }
            (Change::Ended, Lifecycle::Ended { reason, .. }) => {
                let connected = session.connected;
                table.remove(id);
                drop(table);
                if !connected {
                    metrics::launch_failed_to_connect(reason.code);
                }
                let code = reason.code.map_or("none", |c| c.as_str());
                tracing::info!(
                    target: "vigil::session",
                    session = %id,
                    protocol,
                    kind,
                    connected,
                    code,
                    reason = %reason.message,
                    "Session ended"
                );
            }
            (Change::Ended, _) => {}
        }
    }

    /// The live sessions now.
    pub fn live(&self) -> Vec<LiveSession> {
        self.table().values().cloned().collect()
    }
}

#[derive(Debug, Clone, Copy)]
enum Change {
    Connected,
    Locked(bool),
    Ended,
}

fn log_unknown(event: &Lifecycle) {
    tracing::info!(target: "vigil::session", ?event, "Session event of a session this relay did not start");
}

#[cfg(test)]
mod tests {
    use vigil_wire::end::{EndReason, ErrorCode};

    use super::*;

    fn start(t: &Transitions, id: &str, protocol: Protocol) {
        t.started(Started {
            id,
            protocol,
            kind: SessionKind::Admin,
            user: "alice",
            asset: "web-01",
        });
    }

    #[test]
    fn the_table_follows_each_session_to_its_end() {
        let t = Transitions::default();
        start(&t, "a", Protocol::Ssh);
        start(&t, "b", Protocol::Rdp);
        t.observe(&Lifecycle::Connected { id: "a".into() });
        t.observe(&Lifecycle::Locked { id: "a".into() });
        let a = t.live().into_iter().find(|s| s.id == "a").expect("a");
        assert!(a.connected && a.locked);
        t.observe(&Lifecycle::Unlocked { id: "a".into() });
        assert!(!t.live().iter().any(|s| s.locked));
        t.observe(&Lifecycle::Ended {
            id: "b".into(),
            reason: EndReason::failed(ErrorCode::TargetUnreachable, "no route"),
        });
        t.observe(&Lifecycle::Ended {
            id: "a".into(),
            reason: EndReason::plain("closed"),
        });
        assert!(t.live().is_empty(), "ended sessions leave the table");
        t.observe(&Lifecycle::Connected { id: "zzz".into() });
        assert!(t.live().is_empty(), "an unknown session is not added");
        start(&t, "c", Protocol::Ssh);
        t.not_started("c", &"no recording");
        assert!(t.live().is_empty());
    }
}
