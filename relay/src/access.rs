//! Revocation as it happens. A change to who may do what (made here through the API,
//! by the CLI in its own process, or by another relay) bumps the database's change
//! counter. This relay watches the counter; on a change it tells every open stream to
//! re-check its viewer, ends the live sessions of disabled users, and applies the
//! emergency controls the CLI queued.
//!
//! Changes made in this process notify at once ([`changed`]); the counter is what carries
//! changes from other processes, read every [`WATCH_EVERY`].

use std::time::Duration;

use crate::service::emergency::apply_queued;
use crate::service::ending::end_session;
use crate::state::AppState;
use crate::store;
use crate::store::audit::Who;

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
    if let Err(error) = apply_queued(state).await {
        tracing::error!(%error, "Could not apply a queued emergency control");
    }
}

/// Watches the change counter until the relay shuts down.
pub async fn watch(state: AppState) {
    let mut seen = store::access::version(&state.db).await.ok();
    // Controls queued while no relay ran find no live session now: close them, so a
    // later change does not apply a stale one to new sessions.
    if let Err(error) = apply_queued(&state).await {
        tracing::error!(%error, "Could not close the queued emergency controls");
    }
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
        end_session(state, &id, DISABLED_REASON, Who::RELAY).await?;
    }
    Ok(())
}
