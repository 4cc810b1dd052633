//! Access requests.

use axum::extract::State;
use axum::Json;
use vigil_wire::api::{AccessRequest, ApiError, NewAccessRequest, RequestId, RequestStatus};

use super::params::ApiPath;
use super::ApiJson;
use crate::error::{AppError, AppResult};
use crate::permissions::Viewer;
use crate::policy::{allowed, decide, Action};
use crate::service::ending;
use crate::state::AppState;
use crate::store::audit::NewEntry;
use crate::store::requests::{NewRequest, RequestRow};
use crate::store::{self, now_ms};
use vigil_wire::audit::AuditAction;

/// Longest access window one request may ask for: a week.
const MAX_DURATION_MINUTES: u32 = 7 * 24 * 60;

fn can_approve(v: &Viewer, r: &RequestRow, now: i64) -> bool {
    r.state().status_at(now) == RequestStatus::Pending
        && allowed(
            &v.actor,
            r.asset_id,
            None,
            Action::Approve {
                requester: r.user_id,
            },
        )
}

fn visible(v: &Viewer, r: &RequestRow) -> bool {
    r.user_id == v.user.id
        || allowed(
            &v.actor,
            r.asset_id,
            None,
            Action::Approve {
                requester: r.user_id,
            },
        )
}

#[utoipa::path(get, path = "/api/v1/requests", tag = "requests", operation_id = "listAccessRequests",
    responses(
        (status = 200, body = [AccessRequest], description = "The caller's own requests, plus those they may approve"),
        (status = 401, body = ApiError, description = "`unauthenticated`"),
    ))]
pub async fn list(State(state): State<AppState>, v: Viewer) -> AppResult<Json<Vec<AccessRequest>>> {
    let now = now_ms();
    let rows = store::requests::list(&state.db).await?;
    Ok(Json(
        rows.iter()
            .filter(|r| visible(&v, r))
            .map(|r| r.to_api(now, can_approve(&v, r, now)))
            .collect(),
    ))
}

#[utoipa::path(post, path = "/api/v1/requests", tag = "requests", operation_id = "createAccessRequest",
    security(("session_cookie" = [], "csrf_token" = [])),
    request_body = NewAccessRequest,
    responses(
        (status = 200, body = AccessRequest, description = "The request, approved at once when a rule auto-approves"),
        (status = 400, body = ApiError, description = "`bad_request`: no reason, or duration out of range"),
        (status = 401, body = ApiError, description = "`unauthenticated`"),
        (status = 403, body = ApiError, description = "`forbidden` (not a requestor on the asset) or `csrf`"),
        (status = 404, body = ApiError, description = "`not_found`: unknown or invisible asset"),
        (status = 415, body = ApiError, description = "`content_type`: not JSON"),
    ))]
pub async fn create(
    State(state): State<AppState>,
    v: Viewer,
    ApiJson(body): ApiJson<NewAccessRequest>,
) -> AppResult<Json<AccessRequest>> {
    let asset = v
        .permissions
        .asset(body.asset_id)
        .ok_or(AppError::NotFound)?;
    decide(&v.actor, asset.id, None, Action::ViewAsset)?;
    decide(&v.actor, asset.id, None, Action::RequestAccess)?;
    if body.duration_minutes == 0 || body.duration_minutes > MAX_DURATION_MINUTES {
        return Err(AppError::BadRequest(format!(
            "duration must be 1-{MAX_DURATION_MINUTES} minutes"
        )));
    }
    if body.reason.trim().is_empty() {
        return Err(AppError::BadRequest("a reason is required".into()));
    }
    let now = now_ms();
    let auto = v.permissions.auto_approves(asset);
    let (status, expires_at, decided_by) = if auto {
        (
            RequestStatus::Approved,
            Some(now + i64::from(body.duration_minutes) * 60_000),
            Some("auto"),
        )
    } else {
        (RequestStatus::Pending, None, None)
    };
    let new = NewRequest {
        user_id: v.user.id,
        asset_id: asset.id,
        reason: body.reason.trim(),
        duration_minutes: body.duration_minutes,
        status,
        expires_at,
        decided_by,
    };
    let id = store::requests::insert(&state.db, new).await?;
    let detail = format!(
        "request {id} on {} ({})",
        asset.name,
        if auto { "auto-approved" } else { "pending" }
    );
    let entry = NewEntry::new(v.who(), AuditAction::RequestCreate, &detail);
    store::audit::record(&state.db, &state.audit_key, entry).await?;
    if auto {
        state.request_windows_changed();
    }
    let row = store::requests::get(&state.db, id)
        .await?
        .ok_or(AppError::NotFound)?;
    Ok(Json(row.to_api(now, can_approve(&v, &row, now))))
}

enum Decision {
    Approve,
    Deny,
    CheckIn,
}

async fn decide_request(
    state: AppState,
    v: Viewer,
    id: RequestId,
    what: Decision,
) -> AppResult<Json<AccessRequest>> {
    let row = store::requests::get(&state.db, id)
        .await?
        .ok_or(AppError::NotFound)?;
    let action = match what {
        Decision::CheckIn => Action::CheckIn {
            requester: row.user_id,
        },
        _ => Action::Approve {
            requester: row.user_id,
        },
    };
    if !allowed(&v.actor, row.asset_id, None, action) {
        // Only those who may see the request learn that it exists.
        return Err(if visible(&v, &row) {
            AppError::Forbidden
        } else {
            AppError::NotFound
        });
    }
    let now = now_ms();
    let st = row.state();
    let conflict = |e: crate::requests::LifecycleError| AppError::Conflict(e.to_string());
    let (to, expires_at, audit) = match what {
        Decision::Approve => {
            let (to, end) = st.approve(now).map_err(conflict)?;
            (to, Some(end), AuditAction::RequestApprove)
        }
        Decision::Deny => (
            st.deny(now).map_err(conflict)?,
            None,
            AuditAction::RequestDeny,
        ),
        Decision::CheckIn => (
            st.check_in(now).map_err(conflict)?,
            None,
            AuditAction::RequestCheckin,
        ),
    };
    let decided_by = match what {
        Decision::CheckIn => None,
        _ => Some(v.user.username.as_str()),
    };
    let mut tx = store::begin_write(&state.db).await?;
    if !store::requests::transition(&mut *tx, id, st.status, to, expires_at, decided_by).await? {
        return Err(AppError::Conflict("the request changed meanwhile".into()));
    }
    let detail = format!("request {id}");
    let entry = NewEntry::new(v.who(), audit, &detail);
    store::audit::append(&mut tx, &state.audit_key, entry).await?;
    tx.commit().await?;
    // The request no longer covers sessions once checked in or denied: end them (the
    // user sees why), and let the expiry task recompute its next deadline.
    let ended_reason = match what {
        Decision::CheckIn => Some("access request checked in"),
        Decision::Deny => Some("access request denied"),
        Decision::Approve => None,
    };
    if let Some(reason) = ended_reason {
        ending::end_request_sessions(&state, id, reason, v.who()).await?;
    }
    state.request_windows_changed();
    let row = store::requests::get(&state.db, id)
        .await?
        .ok_or(AppError::NotFound)?;
    Ok(Json(row.to_api(now, can_approve(&v, &row, now))))
}

/// A handler that decides request `{id}` as `$what`.
macro_rules! decision_handler {
    ($name:ident, $op:literal, $path:literal, $what:expr, $ok:literal, $conflict:literal) => {
        #[utoipa::path(post, path = $path, tag = "requests", operation_id = $op,
            params(("id" = i64, Path, description = "request id")),
            security(("session_cookie" = [], "csrf_token" = [])),
            responses(
                (status = 200, body = AccessRequest, description = $ok),
                (status = 401, body = ApiError, description = "`unauthenticated`"),
                (status = 403, body = ApiError, description = "`forbidden` or `csrf`"),
                (status = 404, body = ApiError, description = "`not_found`: unknown (or not a number), or not visible to the caller"),
                (status = 409, body = ApiError, description = $conflict),
            ))]
        pub async fn $name(
            State(state): State<AppState>,
            v: Viewer,
            ApiPath(id): ApiPath<RequestId>,
        ) -> AppResult<Json<AccessRequest>> {
            decide_request(state, v, id, $what).await
        }
    };
}

decision_handler!(
    approve,
    "approveAccessRequest",
    "/api/v1/requests/{id}/approve",
    Decision::Approve,
    "The request, updated",
    "`conflict`: not pending"
);
decision_handler!(
    deny,
    "denyAccessRequest",
    "/api/v1/requests/{id}/deny",
    Decision::Deny,
    "The request, updated",
    "`conflict`: not pending"
);
decision_handler!(
    checkin,
    "checkInAccessRequest",
    "/api/v1/requests/{id}/checkin",
    Decision::CheckIn,
    "The request, checked in; its live sessions are terminated (\"access request checked in\")",
    "`conflict`: not approved"
);
