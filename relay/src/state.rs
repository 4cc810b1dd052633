//! `AppState`: the handles every handler shares. Cheap to clone.

use std::sync::Arc;

use tokio::sync::{broadcast, Mutex, Notify};
use tokio_util::sync::CancellationToken;
use vigil_hub::Hub;
use vigil_wire::api::SessionId;

use crate::audit::AuditKey;
use crate::config::Config;
use crate::participants::Participants;
use crate::permissions::PermissionCache;
use crate::store::Db;
use crate::throttle::{KeySecret, Throttle};
use crate::transitions::Transitions;
use crate::vault::Vault;

/// A session started, changed (locked, unlocked, connected) or ended. Subscribers
/// re-read the session and decide per viewer what to show.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SessionChanged(pub SessionId);

/// Who may see or do what changed beyond one session: a login ended, a user, group or
/// rule changed. Open streams re-check their viewer on it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct AccessChanged;

#[derive(Clone)]
pub struct AppState(Arc<Inner>);

pub struct Inner {
    pub db: Db,
    pub hub: Hub,
    pub vault: Vault,
    /// MACs every audit entry (`store::audit::append`).
    pub audit_key: AuditKey,
    pub config: Config,
    pub throttle: Throttle,
    /// Users' permission views, valid while the database's change counter stands still.
    pub permissions: PermissionCache,
    pub changes: broadcast::Sender<SessionChanged>,
    pub access: broadcast::Sender<AccessChanged>,
    /// Who is attached to each live session now (this relay's streams).
    pub participants: Participants,
    /// Cancelled when the relay shuts down: long-lived sockets close on it.
    pub shutdown: CancellationToken,
    /// Held from a launch's checks to its session row's insert. What makes check and
    /// insert atomic is their transaction holding the database's write lock (across
    /// relays too); this only makes this relay's launches wait in turn, so that they do
    /// not each hold a pooled connection while the database makes them wait.
    pub launch_gate: Mutex<()>,
    /// Wakes the request-expiry task to recompute its next deadline (a request was
    /// approved or checked in).
    pub expiry: Notify,
    /// This relay's live sessions and their transitions (logged, counted, gauged).
    pub transitions: Transitions,
}

impl std::ops::Deref for AppState {
    type Target = Inner;
    fn deref(&self) -> &Inner {
        &self.0
    }
}

impl AppState {
    pub fn new(db: Db, hub: Hub, vault: Vault, audit_key: AuditKey, config: Config) -> AppState {
        let (changes, _) = broadcast::channel(256);
        let (access, _) = broadcast::channel(16);
        let throttle = Throttle::new(KeySecret::new(vault.derive_key("login-throttle")));
        let state = AppState(Arc::new(Inner {
            db,
            hub,
            vault,
            audit_key,
            config,
            throttle,
            permissions: PermissionCache::default(),
            participants: Participants::new(changes.clone()),
            changes,
            access,
            shutdown: CancellationToken::new(),
            launch_gate: Mutex::new(()),
            expiry: Notify::new(),
            transitions: Transitions::default(),
        }));
        // The expiry task ends sessions whose request's window closed. It stops with
        // `shutdown`; without a runtime (nothing serves then) there is nothing to end.
        if let Ok(rt) = tokio::runtime::Handle::try_current() {
            rt.spawn(crate::service::ending::run_expiry(state.clone()));
        }
        state
    }

    /// Tells the expiry task that a request's window changed.
    pub fn request_windows_changed(&self) {
        self.expiry.notify_one();
    }

    /// Tells open streams to re-check their viewers. Nobody listening is fine.
    pub fn access_changed(&self) {
        let _ = self.access.send(AccessChanged);
    }

    /// Tells live feeds that `id` changed. Nobody listening is fine.
    pub fn notify(&self, id: &str) {
        let _ = self.changes.send(SessionChanged(id.to_string()));
    }
}
