//! The in-app replay of an ended session: its recording and keyframe index for the
//! player, for whoever may watch it (monitors, and holders of a recording link). The
//! download (`/recording`) is a separate right. Opening a replay is audited once per
//! viewer and session.

use axum::extract::State;
use axum::response::Response;
use axum::Json;
use vigil_wire::api::ApiError;
use vigil_wire::recording::RecordingIndex;

use super::extract::{SessionFor, Watch};
use super::session_records::{read_index, serve_recording, RecordingIndexDoc};
use crate::error::{AppError, AppResult};
use crate::permissions::Viewer;
use crate::policy::Action;
use crate::share::audit::{self, ShareEvent, Via};
use crate::share::way_in;
use crate::state::AppState;
use crate::store::sessions::SessionRow;

/// Audits that `v` opened the replay of `row` (once per viewer and session).
async fn opened(state: &AppState, v: &Viewer, row: &SessionRow) -> AppResult<()> {
    let via = way_in(v, row, Action::WatchSession).unwrap_or(Via::Role);
    audit::record(state, v.who(), &row.id, ShareEvent::Replay { via: &via }).await?;
    Ok(())
}

#[utoipa::path(get, path = "/api/v1/sessions/{id}/replay", tag = "sessions",
    operation_id = "getReplay",
    params(("id" = String, Path, description = "session id"),
        ("Range" = Option<String>, Header, description = "optional byte range (`bytes=START-END`)")),
    responses(
        (status = 200, description = "The recording for the in-app player: asciicast v2 for SSH, the Vigil desktop format for RDP", content(
            (String = "application/x-asciicast"),
            (inline(super::doc::Binary) = "application/octet-stream"))),
        (status = 206, description = "The requested byte range", body = inline(super::doc::Binary), content_type = "application/octet-stream"),
        (status = 401, body = ApiError, description = "`unauthenticated`"),
        (status = 403, body = ApiError, description = "`forbidden`: may see but not watch the session"),
        (status = 404, body = ApiError, description = "`not_found`: not visible, or no recording"),
        (status = 410, body = ApiError, description = "`recording_deleted`: retention deleted the recording"),
        (status = 409, body = ApiError, description = "`still_live`: the session has not ended"),
        (status = 416, description = "The range is not satisfiable"),
    ))]
pub async fn replay(
    State(state): State<AppState>,
    SessionFor { viewer: v, row, .. }: SessionFor<Watch>,
    request: axum::extract::Request,
) -> AppResult<Response> {
    if row.ended_at.is_none() {
        return Err(AppError::StillLive);
    }
    let response = serve_recording(&state, &row, request, false).await?;
    opened(&state, &v, &row).await?;
    Ok(response)
}

#[utoipa::path(get, path = "/api/v1/sessions/{id}/replay/index", tag = "sessions",
    operation_id = "getReplayIndex",
    params(("id" = String, Path, description = "session id")),
    responses(
        (status = 200, body = RecordingIndexDoc, description = "Keyframes of a desktop recording, for seeking in the in-app player"),
        (status = 401, body = ApiError, description = "`unauthenticated`"),
        (status = 403, body = ApiError, description = "`forbidden`: may see but not watch the session"),
        (status = 404, body = ApiError, description = "`not_found`: not visible, not a desktop session, or no recording"),
        (status = 410, body = ApiError, description = "`recording_deleted`: retention deleted the recording"),
        (status = 409, body = ApiError, description = "`still_live`: the session has not ended"),
    ))]
pub async fn replay_index(
    State(state): State<AppState>,
    SessionFor { viewer: v, row, .. }: SessionFor<Watch>,
) -> AppResult<Json<RecordingIndex>> {
    if row.ended_at.is_none() {
        return Err(AppError::StillLive);
    }
    let index = read_index(&state, &row).await?;
    opened(&state, &v, &row).await?;
    Ok(Json(index))
}
