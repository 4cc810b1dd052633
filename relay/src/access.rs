//! Revocation as it happens. A change to who may do what (made here through the API,
//! by the CLI in its own process, or by another relay) bumps the database's change
//! counter. This relay watches the counter; on a change it tells every open stream to
//! re-check its viewer, and ends the live sessions of disabled users.
//!
//! Changes made in this process notify at once ([`changed`]); the counter is what carries
//! changes from other processes, read every [`WATCH_EVERY`].

use std::time::Duration;

use crate::state::AppState;
use crate::store::{self, now_ms};

/// How often the counter is read for changes made by other processes.
pub const WATCH_EVERY: Duration = Duration::from_secs(1);

/// The end reason a disabled user's sessions get.
pub const DISABLED_REASON: &str = "terminated: the user was disabled";

/// A change was made in this process: act on it now.
pub async fn changed(state: &AppState) {
    state.access_changed();
    if let Err(error) = end_sessions_of_disabled_users(state).await {
        tracing::error!(%error, "Could not end the sessions of disabled users");
    }
}

/// Watches the change counter until the relay shuts down.
pub async fn watch(state: AppState) {
    let mut seen = store::access::version(&state.db).await.ok();
    let mut every = tokio::time::interval(WATCH_EVERY);
    every.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tokio::select! {
            () = state.shutdown.cancelled() => return,
            _ = every.tick() => {}
        }
        match store::access::version(&state.db).await {
            Ok(v) if Some(v) != seen => {
                seen = Some(v);
                changed(&state).await;
            }
            Ok(_) => {}
            Err(error) => tracing::warn!(%error, "Could not read the access change counter"),
        }
    }
}

async fn end_sessions_of_disabled_users(state: &AppState) -> Result<(), sqlx::Error> {
    for id in store::access::live_sessions_of_disabled_users(&state.db).await? {
        // Not live in this relay's hub: ending the row is all there is to do.
        let _ = state.hub.terminate(&id, DISABLED_REASON.to_string());
        store::sessions::end(&state.db, &id, now_ms(), DISABLED_REASON).await?;
        store::audit::record(&state.db, "vigil", "terminate", Some(&id), DISABLED_REASON).await?;
        tracing::info!(session = %id, "Session of a disabled user terminated");
        state.notify(&id);
    }
    Ok(())
}
