//! Session controls: lock, unlock, terminate, terminate and cancel. Each is decided by
//! `policy` in its extractor ([`SessionFor`]) before the handler runs.

use std::time::Instant;

use axum::extract::State;
use axum::{Extension, Json};
use vigil_hub::HubError;
use vigil_wire::api::{ApiError, RequestStatus, Session};
use vigil_wire::end::EndReason;

use super::extract::{Lock, SessionFor, Terminate, TerminateAndCancel};
use super::sessions::session_dto;
use crate::error::{AppError, AppResult};
use crate::logging::Received;
use crate::service::ending;
use crate::state::AppState;
use crate::store::audit::NewEntry;
use crate::store::{self, now_ms};
use vigil_wire::audit::AuditAction;

/// What a control does; which of them a caller may do, `SessionFor` decided.
#[derive(Debug, Clone, Copy)]
enum Control {
    Lock,
    Unlock,
    Terminate,
    TerminateAndCancel,
}

async fn control<A>(
    state: AppState,
    session: SessionFor<A>,
    what: Control,
    received: Instant,
) -> AppResult<Json<Session>> {
    let SessionFor { viewer: v, row, .. } = session;
    let id = row.id.clone();
    if row.ended_at.is_some() {
        return Err(AppError::NotLive);
    }
    let me = v.user.username.as_str();
    let not_live = |e: HubError| match e {
        HubError::NotFound(_) => AppError::NotLive,
        other => AppError::internal(other),
    };
    match what {
        Control::Lock | Control::Unlock => {
            let lock = matches!(what, Control::Lock);
            // The gate closes before the database write, which is audited and durable
            // after it: the lock's timings are measured from the request's arrival.
            if lock {
                state.hub.lock_requested_at(&id, received)
            } else {
                state.hub.unlock(&id)
            }
            .map_err(not_live)?;
            let action = if lock {
                AuditAction::Lock
            } else {
                AuditAction::Unlock
            };
            let mut tx = store::begin_write(&state.db).await?;
            store::sessions::set_locked(&mut *tx, &id, lock).await?;
            let entry = NewEntry::new(v.who(), action, &row.asset_name).on(&id);
            store::audit::append(&mut tx, &state.audit_key, entry).await?;
            tx.commit().await?;
        }
        Control::Terminate => {
            let reason = format!("terminated by {me}");
            // Not live in the hub (e.g. left over): ending the row is all there is to do.
            let _ = state.hub.terminate(&id, reason.clone());
            let mut tx = store::begin_write(&state.db).await?;
            store::sessions::end(&mut *tx, &id, now_ms(), &EndReason::plain(reason)).await?;
            let entry = NewEntry::new(v.who(), AuditAction::Terminate, &row.asset_name).on(&id);
            store::audit::append(&mut tx, &state.audit_key, entry).await?;
            tx.commit().await?;
        }
        Control::TerminateAndCancel => {
            let reason = format!("terminated and cancelled by {me}");
            let mut tx = store::begin_write(&state.db).await?;
            let checked_in = match row.request_id {
                Some(rid) => {
                    store::requests::transition(
                        &mut *tx,
                        rid,
                        RequestStatus::Approved,
                        RequestStatus::CheckedIn,
                        None,
                        None,
                    )
                    .await?
                }
                None => false,
            };
            let ended =
                store::sessions::end(&mut *tx, &id, now_ms(), &EndReason::plain(&reason)).await?;
            let request = row
                .request_id
                .map_or_else(|| "no request".to_string(), |rid| format!("request {rid}"));
            let detail = format!(
                "{}: session {}, {request} {}",
                row.asset_name,
                if ended { "ended" } else { "already ended" },
                if checked_in {
                    "checked in"
                } else {
                    "not checked in (no longer approved)"
                },
            );
            let entry = NewEntry::new(v.who(), AuditAction::TerminateAndCancel, &detail).on(&id);
            store::audit::append(&mut tx, &state.audit_key, entry).await?;
            tx.commit().await?;
            // Only once the decision is durable does the live session go.
            let _ = state.hub.terminate(&id, reason.clone());
            if let (true, Some(rid)) = (checked_in, row.request_id) {
                ending::end_request_sessions(&state, rid, "access request checked in", v.who())
                    .await?;
                state.request_windows_changed();
            }
        }
    }
    tracing::info!(session = %id, by = %me, action = ?what, "Session control");
    state.notify(&id);
    let row = store::sessions::get(&state.db, &id)
        .await?
        .ok_or(AppError::NotFound)?;
    Ok(Json(session_dto(&state, &row, &v.actor)))
}

macro_rules! control_handler {
    ($name:ident, $op:literal, $action:ty, $path:literal, $what:expr, $doc:literal) => {
        #[utoipa::path(post, path = $path, tag = "sessions", operation_id = $op,
            params(("id" = String, Path, description = "session id")),
            security(("session_cookie" = [], "csrf_token" = [])),
            responses((status = 200, body = Session, description = $doc),
                (status = 401, body = ApiError, description = "`unauthenticated`"),
                (status = 403, body = ApiError, description = "`forbidden` (including on the caller's own session), `csrf`, or `not_cancellable` for terminate-and-cancel on Admin/ISA sessions"),
                (status = 404, body = ApiError, description = "`not_found`: not visible"),
                (status = 409, body = ApiError, description = "`not_live`")))]
        pub async fn $name(
            State(state): State<AppState>,
            received: Option<Extension<Received>>,
            session: SessionFor<$action>,
        ) -> AppResult<Json<Session>> {
            let received = received.map_or_else(Instant::now, |Extension(Received(at))| at);
            control(state, session, $what, received).await
        }
    };
}

control_handler!(
    lock,
    "lockSession",
    Lock,
    "/api/v1/sessions/{id}/lock",
    Control::Lock,
    "`Session`, locked"
);
control_handler!(
    unlock,
    "unlockSession",
    Lock,
    "/api/v1/sessions/{id}/unlock",
    Control::Unlock,
    "`Session`, unlocked"
);
control_handler!(
    terminate,
    "terminateSession",
    Terminate,
    "/api/v1/sessions/{id}/terminate",
    Control::Terminate,
    "`Session`, ended"
);
control_handler!(
    terminate_and_cancel,
    "terminateAndCancelSession",
    TerminateAndCancel,
    "/api/v1/sessions/{id}/terminate-and-cancel",
    Control::TerminateAndCancel,
    "`Session`, ended, its request checked in"
);
