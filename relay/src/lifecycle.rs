//! Persists what the hub reports on its lifecycle channel, and tells live feeds.

use tokio::sync::mpsc;
use vigil_hub::Lifecycle;

use crate::state::AppState;
use crate::store::{self, now_ms};

/// Drains the hub's lifecycle channel until the hub is gone.
pub async fn run(state: AppState, mut rx: mpsc::Receiver<Lifecycle>) {
    while let Some(event) = rx.recv().await {
        if let Err(error) = handle(&state, &event).await {
            tracing::error!(%error, ?event, "Lifecycle event not persisted");
        }
    }
}

async fn handle(state: &AppState, event: &Lifecycle) -> Result<(), sqlx::Error> {
    let db = &state.db;
    let id = match event {
        Lifecycle::Connected { id } => {
            store::sessions::set_connected(db, id, now_ms()).await?;
            id
        }
        Lifecycle::HostKeyLearned { id, host_key } => {
            if let Some(row) = store::sessions::get(db, id).await? {
                store::assets::pin_host_key(db, row.asset_id, host_key).await?;
                let detail = format!("{}: {host_key}", row.asset_name);
                store::audit::record(db, "relay", "host_key_pinned", Some(id), &detail).await?;
            }
            id
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
                store::audit::record(db, "relay", "host_key_refused", Some(id), &detail).await?;
                tracing::warn!(asset = %row.asset_name, %pinned, %offered, "Host key refused");
            }
            id
        }
        Lifecycle::Locked { id } => {
            store::sessions::set_locked(db, id, true).await?;
            id
        }
        Lifecycle::Unlocked { id } => {
            store::sessions::set_locked(db, id, false).await?;
            id
        }
        Lifecycle::Ended { id, reason } => {
            store::sessions::end(db, id, now_ms(), reason).await?;
            // Stored: attaching browsers read the reason from the row from now on.
            state.hub.forget_ended(id);
            tracing::info!(session = %id, %reason, "Session ended");
            id
        }
    };
    state.notify(id);
    Ok(())
}
