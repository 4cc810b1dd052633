//! Ending sessions whose access request no longer covers them: checked in, denied, or
//! expired. The hub terminates the live connection (the user sees the reason), the
//! row is ended, and the audit log says who ended it and why.

use vigil_wire::api::RequestId;
use vigil_wire::end::EndReason;

use crate::state::AppState;
use crate::store::audit::{NewEntry, Who};
use crate::store::{self, now_ms};
use vigil_wire::audit::AuditAction;

/// Terminates and ends session `id` for `reason`, audited as `who`. Returns whether
/// the row was still live.
pub async fn end_session(
    state: &AppState,
    id: &str,
    reason: &str,
    who: Who<'_>,
) -> Result<bool, sqlx::Error> {
    // The row first, with its audit entry in the same transaction: nobody ever sees the
    // session ended without the record of who ended it, and the hub's own end report,
    // racing this, must not make this end look like someone else's (unaudited).
    let mut tx = store::begin_write(&state.db).await?;
    let ended = store::sessions::end(&mut *tx, id, now_ms(), &EndReason::plain(reason)).await?;
    if ended {
        let entry = NewEntry::new(who, AuditAction::Terminate, reason).on(id);
        store::audit::append(&mut tx, &state.audit_key, entry).await?;
    }
    tx.commit().await?;
    // Not live in the hub (never connected, or already gone): ending the row is all.
    let _ = state.hub.terminate(id, reason.to_string());
    if ended {
        tracing::info!(session = %id, %reason, by = %who.actor, "Session ended with its request");
        state.notify(id);
    }
    Ok(ended)
}

/// Ends every live session under `request`.
pub async fn end_request_sessions(
    state: &AppState,
    request: RequestId,
    reason: &str,
    who: Who<'_>,
) -> Result<usize, sqlx::Error> {
    let ids = store::sessions::live_under_request(&state.db, request).await?;
    let mut n = 0;
    for id in &ids {
        if end_session(state, id, reason, who).await? {
            n += 1;
        }
    }
    Ok(n)
}

/// Ends sessions whose request's window has closed; returns when the relay shuts down.
/// Sleeps until the next window end in the database, and recomputes it whenever
/// `AppState::expiry` is notified (a request approved or checked in).
pub async fn run_expiry(state: AppState) {
    loop {
        let now = now_ms();
        let next = match sweep(&state, now).await {
            Ok(next) => next,
            Err(error) => {
                tracing::error!(%error, "Expiry sweep failed");
                Some(now + 5_000)
            }
        };
        // Nothing due: wait for a notification (an hour at most, to be safe).
        let wait_ms = next.map_or(3_600_000, |t| t.saturating_sub(now).clamp(0, 3_600_000));
        let wait = std::time::Duration::from_millis(u64::try_from(wait_ms).unwrap_or(0));
        tokio::select! {
            () = tokio::time::sleep(wait) => {}
            () = state.expiry.notified() => {}
            () = state.shutdown.cancelled() => return,
        }
    }
}

async fn sweep(state: &AppState, now: i64) -> Result<Option<i64>, sqlx::Error> {
    for id in store::sessions::live_under_expired_requests(&state.db, now).await? {
        end_session(state, &id, "access request expired", Who::RELAY).await?;
    }
    store::requests::next_expiry(&state.db, now).await
}
