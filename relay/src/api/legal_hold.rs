//! `PUT /sessions/{id}/legal-hold`: an administrator places or releases a session's legal
//! hold (`crate::legal_hold`), which keeps its recording from retention. Decided by
//! policy (`Action::HoldSession`) in the extractor before the body is read.

use axum::extract::State;
use axum::Json;
use vigil_wire::api::{ApiError, Session, SetLegalHold};

use super::extract::{Hold, SessionFor};
use super::sessions::session_dto;
use super::ApiJson;
use crate::error::{AppError, AppResult};
use crate::legal_hold::{self, HoldError};
use crate::state::AppState;
use crate::store;

#[utoipa::path(put, path = "/api/v1/sessions/{id}/legal-hold", tag = "sessions",
    operation_id = "setSessionLegalHold",
    params(("id" = String, Path, description = "session id")),
    security(("session_cookie" = [], "csrf_token" = [])),
    request_body = SetLegalHold,
    responses(
        (status = 200, body = Session, description = "The session with its hold (`legal_hold`); placing a hold on a held session keeps the first one, releasing an unheld one changes nothing. Each change is audited (`legal_hold_set`, `legal_hold_released`)"),
        (status = 400, body = ApiError, description = "`bad_request`: a hold without a reason, or a reason over 500 characters"),
        (status = 401, body = ApiError, description = "`unauthenticated`"),
        (status = 403, body = ApiError, description = "`forbidden` (not an administrator, or the caller's own session) or `csrf`"),
        (status = 404, body = ApiError, description = "`not_found`: unknown, or not visible to the caller"),
        (status = 415, body = ApiError, description = "`content_type`: not JSON"),
    ))]
pub async fn set_legal_hold(
    State(state): State<AppState>,
    SessionFor { viewer: v, row, .. }: SessionFor<Hold>,
    ApiJson(body): ApiJson<SetLegalHold>,
) -> AppResult<Json<Session>> {
    match legal_hold::set(
        &state.db,
        &state.audit_key,
        v.who(),
        &row.id,
        body.hold,
        body.reason.as_deref(),
    )
    .await
    {
        Ok(_) => {}
        Err(e @ (HoldError::ReasonRequired | HoldError::ReasonTooLong)) => {
            return Err(AppError::BadRequest(e.to_string()))
        }
        Err(HoldError::NoSuchSession(_)) => return Err(AppError::NotFound),
        Err(HoldError::Db(e)) => return Err(e.into()),
    }
    let row = store::sessions::get(&state.db, &row.id)
        .await?
        .ok_or(AppError::NotFound)?;
    Ok(Json(session_dto(&state, &row, &v.actor)))
}
