//! Persists what the hub reports on its lifecycle channel, and tells live feeds.
//!
//! Events are stored in batches: whatever has queued up while the last batch was written
//! goes into one transaction. Under churn a relay reports tens of events a second, and
//! SQLite commits them one writer at a time; stored one by one, each with its own commit,
//! they fell behind (measured with `bench-soak`, 500 sessions: a session's `Connected` was
//! stored 89 s after it happened on average, and the hub's per-session outboxes held the
//! backlog, about 2 KB per session opened). A batch keeps the events' order, so each
//! session's events are still stored in the order the hub sent them.

use tokio::sync::mpsc;
use vigil_hub::Lifecycle;

use crate::audit::seal;
use crate::state::AppState;
use crate::store::audit::{NewEntry, Who};
use crate::store::{self, now_ms, DbConn};
use vigil_wire::audit::AuditAction;

/// Events stored in one transaction at most.
const BATCH: usize = 256;

/// Drains the hub's lifecycle channel until the hub is gone.
pub async fn run(state: AppState, mut rx: mpsc::UnboundedReceiver<Lifecycle>) {
    let mut batch = Vec::with_capacity(BATCH);
    while rx.recv_many(&mut batch, BATCH).await > 0 {
        batch
            .iter()
            .for_each(|event| state.transitions.observe(event));
        store_batch(&state, &batch).await;
        batch.clear();
    }
}

/// Stores `events` in order: runs of plain state changes in one transaction each, the
/// rare host key events on their own (they read and write assets and the audit log).
async fn store_batch(state: &AppState, events: &[Lifecycle]) {
    let mut rest = events;
    while let Some(first) = rest.first() {
        let plain = rest.iter().take_while(|e| is_plain(e)).count();
        if plain == 0 {
            let stored = store_host_key(state, first).await;
            stored_or_logged(state, first, stored);
            rest = &rest[1..];
            continue;
        }
        let (run, tail) = rest.split_at(plain);
        match store_plain_run(state, run).await {
            Ok(()) => run.iter().for_each(|event| after_stored(state, event)),
            Err(error) => {
                // The transaction failed as a whole: store each event on its own, so that
                // one bad event loses no other.
                tracing::warn!(%error, events = run.len(), "Lifecycle batch failed; storing one by one");
                for event in run {
                    let stored = match state.db.acquire().await {
                        Ok(mut conn) => store_plain(&mut conn, event).await,
                        Err(e) => Err(e),
                    };
                    stored_or_logged(state, event, stored);
                }
            }
        }
        rest = tail;
    }
}

fn stored_or_logged(state: &AppState, event: &Lifecycle, stored: Result<(), sqlx::Error>) {
    match stored {
        Ok(()) => after_stored(state, event),
        Err(error) => tracing::error!(%error, ?event, "Lifecycle event not persisted"),
    }
}

/// Events that change only the session's own row.
fn is_plain(event: &Lifecycle) -> bool {
    matches!(
        event,
        Lifecycle::Connected { .. }
            | Lifecycle::Locked { .. }
            | Lifecycle::Unlocked { .. }
            | Lifecycle::Ended { .. }
    )
}

async fn store_plain_run(state: &AppState, run: &[Lifecycle]) -> Result<(), sqlx::Error> {
    // The write lock from the start: a deferred transaction could find, at its first write,
    // that another writer committed since it began reading, and fail at once.
    let mut tx = store::begin_write(&state.db).await?;
    for event in run {
        store_plain(&mut tx, event).await?;
    }
    tx.commit().await
}

async fn store_plain(conn: &mut DbConn, event: &Lifecycle) -> Result<(), sqlx::Error> {
    match event {
        Lifecycle::Connected { id } => {
            store::sessions::set_connected(&mut *conn, id, now_ms()).await
        }
        Lifecycle::Locked { id } => store::sessions::set_locked(&mut *conn, id, true).await,
        Lifecycle::Unlocked { id } => store::sessions::set_locked(&mut *conn, id, false).await,
        Lifecycle::Ended { id, reason } => {
            store::sessions::end(&mut *conn, id, now_ms(), reason).await?;
            Ok(())
        }
        Lifecycle::HostKeyLearned { .. } | Lifecycle::HostKeyRefused { .. } => Ok(()),
    }
}

async fn store_host_key(state: &AppState, event: &Lifecycle) -> Result<(), sqlx::Error> {
    let db = &state.db;
    match event {
        Lifecycle::HostKeyLearned { id, host_key } => {
            if let Some(row) = store::sessions::get(db, id).await? {
                let detail = format!("{}: {host_key}", row.asset_name);
                let mut tx = store::begin_write(db).await?;
                store::assets::pin_host_key(&mut *tx, row.asset_id, host_key).await?;
                let entry = NewEntry::new(Who::RELAY, AuditAction::HostKeyPinned, &detail).on(id);
                store::audit::append(&mut tx, &state.audit_key, entry).await?;
                tx.commit().await?;
            }
        }
        Lifecycle::HostKeyRefused { id, offered } => {
            if let Some(row) = store::sessions::get(db, id).await? {
                store::assets::record_offered(db, row.asset_id, offered).await?;
                let pinned = store::assets::get(db, row.asset_id)
                    .await?
                    .and_then(|a| a.host_key)
                    .map_or_else(
                        || "none".into(),
                        |pin| vigil_hub::host_pin::fingerprint_of_pin(&pin),
                    );
                let detail = format!("{}: pinned {pinned}, offered {offered}", row.asset_name);
                let entry = NewEntry::new(Who::RELAY, AuditAction::HostKeyRefused, &detail).on(id);
                store::audit::record(db, &state.audit_key, entry).await?;
                tracing::warn!(asset = %row.asset_name, %pinned, %offered, "Host key refused");
            }
        }
        Lifecycle::Connected { .. }
        | Lifecycle::Locked { .. }
        | Lifecycle::Unlocked { .. }
        | Lifecycle::Ended { .. } => {}
    }
    Ok(())
}

/// Once an event is stored: the hub forgets an end it no longer needs to
/// hold, and live feeds hear of the change.
fn after_stored(state: &AppState, event: &Lifecycle) {
    let id = match event {
        Lifecycle::Ended { id, .. } => {
            // Stored: attaching browsers read the reason from the row from now on.
            state.hub.forget_ended(id);
            // The hub sent this after the session's last write: its recording is whole.
            let (s, id_owned) = (state.clone(), id.clone());
            tokio::spawn(async move {
                let dir = s.config.recordings_dir();
                if let Err(error) = seal::seal(&s.db, &s.audit_key, dir, &id_owned).await {
                    tracing::error!(%error, session = %id_owned, "Recording not sealed");
                }
            });
            id
        }
        Lifecycle::Connected { id }
        | Lifecycle::HostKeyLearned { id, .. }
        | Lifecycle::HostKeyRefused { id, .. }
        | Lifecycle::Locked { id }
        | Lifecycle::Unlocked { id } => id,
    };
    state.notify(id);
}
