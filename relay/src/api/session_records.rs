//! What a session leaves: its keystroke log and its recording (with the keyframe index of
//! a desktop recording). Reading either is audited once per viewer and session.

use axum::body::Body;
use axum::extract::State;
use axum::http::header;
use axum::response::Response;
use axum::Json;
use serde::Deserialize;
use vigil_wire::api::{ApiError, Keystroke, Protocol};
use vigil_wire::recording::RecordingIndex;

use super::extract::{Download, SessionFor, Watch};
use super::params::ApiQuery;
use crate::error::{AppError, AppResult};
use crate::state::AppState;
use crate::store;
use crate::store::audit::{NewEntry, Who};
use vigil_wire::audit::AuditAction;

/// The most keystrokes one page may hold.
pub const KEYSTROKES_PAGE_MAX: usize = 5000;

#[derive(Debug, Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
pub struct KeystrokesQuery {
    /// Only keystrokes whose `seq` is greater than this (the last `seq` of the page before).
    pub after: Option<u64>,
    /// How many at most; default and maximum 5000.
    pub limit: Option<usize>,
}

#[utoipa::path(get, path = "/api/v1/sessions/{id}/keystrokes", tag = "sessions",
    operation_id = "listKeystrokes",
    params(("id" = String, Path, description = "session id"), KeystrokesQuery),
    responses(
        (status = 200, body = [Keystroke], description = "One page of the session's keystroke log, oldest first: ask again with `after` set to the last `seq` until a page is short"),
        (status = 400, body = ApiError, description = "`bad_request`: `after` or `limit` is not a number"),
        (status = 401, body = ApiError, description = "`unauthenticated`"),
        (status = 403, body = ApiError, description = "`forbidden`: may see but not watch the session"),
        (status = 404, body = ApiError, description = "`not_found`: not visible"),
        (status = 410, body = ApiError, description = "`recording_deleted`: retention deleted the recording"),
    ))]
pub async fn keystrokes(
    State(state): State<AppState>,
    SessionFor { viewer: v, row, .. }: SessionFor<Watch>,
    ApiQuery(q): ApiQuery<KeystrokesQuery>,
) -> AppResult<Json<Vec<Keystroke>>> {
    if row.recording_deleted_at.is_some() {
        return Err(AppError::RecordingDeleted);
    }
    let id = &row.id;
    let limit = q
        .limit
        .unwrap_or(KEYSTROKES_PAGE_MAX)
        .clamp(1, KEYSTROKES_PAGE_MAX);
    // Live or ended, the log on disk is the whole record (written per keystroke).
    let path = state.hub.keystrokes_path(id);
    let keys = tokio::task::spawn_blocking(move || {
        match vigil_hub::read_keystrokes_page(&path, q.after, limit) {
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(Vec::new()),
            other => other,
        }
    })
    .await
    .map_err(AppError::internal)?
    .map_err(AppError::internal)?;
    // Paging reads the log in many requests: audit the viewer's reading once.
    let entry = NewEntry::new(v.who(), AuditAction::ViewKeystrokes, &row.asset_name).on(id);
    store::audit::record_once(&state.db, &state.audit_key, entry).await?;
    Ok(Json(keys))
}

#[utoipa::path(get, path = "/api/v1/sessions/{id}/recording", tag = "sessions",
    operation_id = "getRecording",
    params(("id" = String, Path, description = "session id"),
        ("Range" = Option<String>, Header, description = "optional byte range (`bytes=START-END`), e.g. from a keyframe offset of the index")),
    responses(
        (status = 200, description = "The recording: asciicast v2 for SSH, the Vigil desktop format for RDP", content(
            (String = "application/x-asciicast"),
            (inline(super::doc::Binary) = "application/octet-stream"))),
        (status = 206, description = "The requested byte range", body = inline(super::doc::Binary), content_type = "application/octet-stream"),
        (status = 401, body = ApiError, description = "`unauthenticated`"),
        (status = 403, body = ApiError, description = "`forbidden`: may not download it"),
        (status = 404, body = ApiError, description = "`not_found`: not visible, or no recording"),
        (status = 410, body = ApiError, description = "`recording_deleted`: retention deleted the recording"),
        (status = 416, description = "The range is not satisfiable"),
    ))]
pub async fn recording(
    State(state): State<AppState>,
    SessionFor { viewer: v, row, .. }: SessionFor<Download>,
    request: axum::extract::Request,
) -> AppResult<Response> {
    let response = serve_recording(&state, &row, request, true).await?;
    // Seeking a desktop recording fetches many ranges: every read is audited, once per
    // viewer and session, whether whole, ranged or the index.
    audit_download(&state, v.who(), &row.id, &row.asset_name).await?;
    Ok(response)
}

/// The recording file of `row` (ranges answered), as a download (`attachment`) or for
/// the in-app replayer (`inline`). 404 when there is none.
pub(super) async fn serve_recording(
    state: &AppState,
    row: &crate::store::sessions::SessionRow,
    request: axum::extract::Request,
    attachment: bool,
) -> AppResult<Response> {
    if row.recording_deleted_at.is_some() {
        return Err(AppError::RecordingDeleted);
    }
    let id = &row.id;
    let (path, content_type, ext) = match row.protocol {
        Protocol::Rdp => (
            state.hub.desktop_recording_path(id),
            "application/octet-stream",
            "desktop",
        ),
        Protocol::Ssh => (
            state.hub.recording_path(id),
            "application/x-asciicast",
            "cast",
        ),
    };
    match tokio::fs::metadata(&path).await {
        Ok(_) => {}
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Err(AppError::NotFound),
        Err(e) => return Err(AppError::internal(e)),
    }
    // ServeFile answers Range requests (206, 416) and HEAD.
    let served = tower::ServiceExt::oneshot(
        tower_http::services::ServeFile::new_with_mime(
            &path,
            &content_type.parse().map_err(AppError::internal)?,
        ),
        request,
    )
    .await
    .map_err(AppError::internal)?;
    let mut response = served.map(Body::new);
    let disposition = if attachment { "attachment" } else { "inline" };
    response.headers_mut().insert(
        header::CONTENT_DISPOSITION,
        format!("{disposition}; filename=\"{id}.{ext}\"")
            .parse()
            .map_err(AppError::internal)?,
    );
    Ok(response)
}

/// Records that `viewer` read the recording of session `id`, unless already recorded.
async fn audit_download(
    state: &AppState,
    viewer: Who<'_>,
    id: &str,
    asset_name: &str,
) -> AppResult<()> {
    let entry = NewEntry::new(viewer, AuditAction::Download, asset_name).on(id);
    store::audit::record_once(&state.db, &state.audit_key, entry).await?;
    Ok(())
}

/// OpenAPI form of [`vigil_wire::recording::RecordingIndex`] (the wire crate has no
/// schema for it; this mirror only documents the same JSON).
#[derive(utoipa::ToSchema)]
#[schema(as = RecordingIndex)]
#[allow(dead_code)]
pub struct RecordingIndexDoc {
    pub duration_ms: u32,
    /// Size in bytes of the recording file (whole records only).
    pub size: u64,
    pub keyframes: Vec<IndexEntryDoc>,
}

/// One keyframe: the `Params` record at `offset` starts it.
#[derive(utoipa::ToSchema)]
#[schema(as = IndexEntry)]
#[allow(dead_code)]
pub struct IndexEntryDoc {
    pub t_ms: u32,
    pub offset: u64,
}

#[utoipa::path(get, path = "/api/v1/sessions/{id}/recording/index", tag = "sessions",
    operation_id = "getRecordingIndex",
    params(("id" = String, Path, description = "session id")),
    responses(
        (status = 200, body = RecordingIndexDoc, description = "Keyframes of a desktop recording, with its duration and size in whole records"),
        (status = 401, body = ApiError, description = "`unauthenticated`"),
        (status = 403, body = ApiError, description = "`forbidden`: may not download the recording"),
        (status = 404, body = ApiError, description = "`not_found`: not visible, not a desktop session, or no recording"),
        (status = 410, body = ApiError, description = "`recording_deleted`: retention deleted the recording"),
    ))]
pub async fn recording_index(
    State(state): State<AppState>,
    SessionFor { viewer: v, row, .. }: SessionFor<Download>,
) -> AppResult<Json<RecordingIndex>> {
    let index = read_index(&state, &row).await?;
    audit_download(&state, v.who(), &row.id, &row.asset_name).await?;
    Ok(Json(index))
}

/// The keyframe index of `row`'s desktop recording; 404 for a terminal session or none.
pub(super) async fn read_index(
    state: &AppState,
    row: &crate::store::sessions::SessionRow,
) -> AppResult<RecordingIndex> {
    if row.protocol != Protocol::Rdp {
        return Err(AppError::NotFound);
    }
    if row.recording_deleted_at.is_some() {
        return Err(AppError::RecordingDeleted);
    }
    let path = state.hub.desktop_recording_path(&row.id);
    let index = tokio::task::spawn_blocking(move || vigil_hub::desktop_index(&path))
        .await
        .map_err(AppError::internal)?;
    match index {
        Ok(index) => Ok(index),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Err(AppError::NotFound),
        Err(e) => Err(AppError::internal(e)),
    }
}
