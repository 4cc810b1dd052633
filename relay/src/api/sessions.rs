//! Sessions: launch, list, inspect, control, keystrokes, recording.

use axum::body::Body;
use axum::extract::{Path, Query, State};
use axum::http::header;
use axum::response::Response;
use axum::Json;
use serde::Deserialize;
use vigil_hub::{HubError, LaunchSpec};
use vigil_wire::api::{
    ApiError, Keystroke, LaunchRequest, Launched, Protocol, RequestStatus, Session,
};
use vigil_wire::end::EndReason;
use vigil_wire::recording::RecordingIndex;

use super::ApiJson;
use crate::auth::{self, CurrentUser, Viewer};
use crate::error::{AppError, AppResult};
use crate::policy::{self, decide, Action, Actor};
use crate::rules;
use crate::service::ending;
use crate::service::launch::{check_launch, Admitted, SessionCaps};
use crate::service::target::target_for;
use crate::state::AppState;
use crate::store::sessions::{NewSession, SessionRow};
use crate::store::{self, now_ms};

/// A session as `actor` sees it, with the controls policy grants them.
pub fn session_dto(row: &SessionRow, actor: &Actor) -> Session {
    Session {
        id: row.id.clone(),
        user: row.username.clone(),
        asset_id: row.asset_id,
        asset_name: row.asset_name.clone(),
        protocol: row.protocol,
        kind: row.kind,
        request_id: row.request_id,
        started_at: row.started_at,
        ended_at: row.ended_at,
        locked: row.locked && row.ended_at.is_none(),
        end_reason: row.end_reason.clone(),
        controls: policy::controls(actor, row.asset_id, &row.facts()),
    }
}

/// The session `id` if `v` may see it; 404 otherwise, so ids are not confirmed to outsiders.
pub async fn load_visible(state: &AppState, v: &Viewer, id: &str) -> AppResult<SessionRow> {
    if !auth::is_session_id(id) {
        return Err(AppError::NotFound);
    }
    let row = store::sessions::get(&state.db, id)
        .await?
        .ok_or(AppError::NotFound)?;
    decide(
        &v.actor,
        row.asset_id,
        Some(&row.facts()),
        Action::SeeSession,
    )?;
    Ok(row)
}

#[derive(Debug, Deserialize, utoipa::IntoParams)]
pub struct ListQuery {
    /// `active` or `ended`; absent: both.
    pub state: Option<String>,
}

#[utoipa::path(get, path = "/api/v1/sessions", tag = "sessions", operation_id = "listSessions", params(ListQuery),
    responses(
        (status = 200, body = [Session], description = "Sessions the caller may see"),
        (status = 400, body = ApiError, description = "`bad_request`: unknown `state`"),
        (status = 401, body = ApiError, description = "`unauthenticated`"),
    ))]
pub async fn list(
    State(state): State<AppState>,
    user: CurrentUser,
    Query(q): Query<ListQuery>,
) -> AppResult<Json<Vec<Session>>> {
    let active = match q.state.as_deref() {
        None | Some("") => None,
        Some("active") => Some(true),
        Some("ended") => Some(false),
        Some(other) => return Err(AppError::BadRequest(format!("unknown state `{other}`"))),
    };
    let v = Viewer::load(&state, user.user).await?;
    Ok(Json(visible_sessions(&state, &v.actor, active).await?))
}

pub async fn visible_sessions(
    state: &AppState,
    actor: &Actor,
    active: Option<bool>,
) -> AppResult<Vec<Session>> {
    let rows = store::sessions::list(&state.db, active).await?;
    Ok(rows
        .iter()
        .filter(|r| decide(actor, r.asset_id, Some(&r.facts()), Action::SeeSession).is_ok())
        .map(|r| session_dto(r, actor))
        .collect())
}

#[utoipa::path(get, path = "/api/v1/sessions/{id}", tag = "sessions",
    params(("id" = String, Path, description = "session id")),
    responses(
        (status = 200, body = Session),
        (status = 401, body = ApiError, description = "`unauthenticated`"),
        (status = 404, body = ApiError, description = "`not_found`: unknown, or not visible to the caller"),
    ))]
pub async fn get(
    State(state): State<AppState>,
    user: CurrentUser,
    Path(id): Path<String>,
) -> AppResult<Json<Session>> {
    let v = Viewer::load(&state, user.user).await?;
    let row = load_visible(&state, &v, &id).await?;
    Ok(Json(session_dto(&row, &v.actor)))
}

#[utoipa::path(post, path = "/api/v1/sessions", tag = "sessions",
    security(("session_cookie" = [], "csrf_token" = [])),
    request_body = LaunchRequest,
    responses(
        (status = 200, body = Launched, description = "The session is starting; attach to its stream"),
        (status = 400, body = ApiError, description = "`bad_request` (no managed credential) or `unsupported` (protocol)"),
        (status = 401, body = ApiError, description = "`unauthenticated`"),
        (status = 403, body = ApiError, description = "`forbidden`, `request_not_usable`, `session_locked` (a session of the caller on the asset is locked) or `csrf`"),
        (status = 404, body = ApiError, description = "`not_found`: unknown or invisible asset or request"),
        (status = 409, body = ApiError, description = "`request_in_use`: the request already has as many live sessions as its Smart Rules allow (the strictest covering rule's `sessions_per_request`, default 1)"),
        (status = 415, body = ApiError, description = "`content_type`: not JSON"),
        (status = 500, body = ApiError, description = "`credential_unreadable`: the asset's stored credential does not open for it (copied from another asset, altered, or under another key)"),
    ))]
pub async fn launch(
    State(state): State<AppState>,
    user: CurrentUser,
    ApiJson(body): ApiJson<LaunchRequest>,
) -> AppResult<Json<Launched>> {
    let v = Viewer::load(&state, user.user).await?;
    let asset = v.asset(body.asset_id).ok_or(AppError::NotFound)?;
    let now = now_ms();
    let caps = SessionCaps {
        per_user: state.config.max_sessions_per_user,
        in_all: state.config.max_live_sessions,
        per_request: rules::sessions_per_request(&v.rules, &v.groups, &asset.facts()),
    };
    // The limits checked here count live rows: check and insert run in one transaction
    // that holds the database's write lock, so no other launch (here or on another relay
    // sharing the database) passes the same limit in between. This relay's own launches
    // queue on the gate first, so at most one of them waits on the database's lock.
    let gate = state.launch_gate.lock().await;
    let mut tx = store::begin_write(&state.db).await?;
    let Admitted { kind, request_id } = check_launch(
        &mut tx,
        caps,
        &v.actor,
        asset.id,
        &asset.name,
        body.request_id,
        now,
    )
    .await?;
    // Only once the launch is allowed: the vault is opened for no one else.
    let target = target_for(&state, asset, v.user.id).await?;
    let cols = if body.cols == 0 {
        80
    } else {
        body.cols.min(1000)
    };
    let rows = if body.rows == 0 {
        24
    } else {
        body.rows.min(1000)
    };
    let id = auth::new_session_id();
    store::sessions::insert(
        &mut *tx,
        NewSession {
            id: &id,
            user_id: v.user.id,
            asset_id: asset.id,
            kind,
            request_id,
            started_at: now,
            cols,
            rows,
        },
    )
    .await?;
    tx.commit().await?;
    drop(gate);
    let spec = LaunchSpec {
        session_id: id.clone(),
        target,
        cols,
        rows,
        title: format!("{}@{}", v.user.username, asset.name),
    };
    if let Err(e) = state.hub.launch(spec) {
        let reason = EndReason::plain("failed to start");
        store::sessions::end(&state.db, &id, now_ms(), &reason).await?;
        return Err(AppError::internal(e));
    }
    let detail = format!(
        "{} session on {}",
        store::sessions::kind_str(kind),
        asset.name
    );
    store::audit::record(&state.db, &v.user.username, "launch", Some(&id), &detail).await?;
    tracing::info!(session = %id, user = %v.user.username, asset = %asset.name, "Session launched");
    state.notify(&id);
    Ok(Json(Launched { session_id: id }))
}

/// A credential that does not open for its asset refuses the launch, logged for the
/// operator.
#[derive(Debug, Clone, Copy)]
enum Control {
    Lock,
    Unlock,
    Terminate,
    TerminateAndCancel,
}

async fn control(
    state: AppState,
    user: CurrentUser,
    id: String,
    what: Control,
) -> AppResult<Json<Session>> {
    let v = Viewer::load(&state, user.user).await?;
    let row = load_visible(&state, &v, &id).await?;
    let action = match what {
        Control::Lock | Control::Unlock => Action::LockSession,
        Control::Terminate => Action::TerminateSession,
        Control::TerminateAndCancel => Action::TerminateAndCancel,
    };
    decide(&v.actor, row.asset_id, Some(&row.facts()), action)?;
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
            if lock {
                state.hub.lock(&id)
            } else {
                state.hub.unlock(&id)
            }
            .map_err(not_live)?;
            store::sessions::set_locked(&state.db, &id, lock).await?;
            let action = if lock { "lock" } else { "unlock" };
            store::audit::record(&state.db, me, action, Some(&id), &row.asset_name).await?;
        }
        Control::Terminate => {
            let reason = format!("terminated by {me}");
            // Not live in the hub (e.g. left over): ending the row is all there is to do.
            let _ = state.hub.terminate(&id, reason.clone());
            store::sessions::end(&state.db, &id, now_ms(), &EndReason::plain(reason)).await?;
            store::audit::record(&state.db, me, "terminate", Some(&id), &row.asset_name).await?;
        }
        Control::TerminateAndCancel => {
            let reason = format!("terminated and cancelled by {me}");
            let mut tx = state.db.begin().await?;
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
            store::audit::record(&mut *tx, me, "terminate_and_cancel", Some(&id), &detail).await?;
            tx.commit().await?;
            // Only once the decision is durable does the live session go.
            let _ = state.hub.terminate(&id, reason.clone());
            if let (true, Some(rid)) = (checked_in, row.request_id) {
                ending::end_request_sessions(&state, rid, "access request checked in", me).await?;
                state.request_windows_changed();
            }
        }
    }
    tracing::info!(session = %id, by = %me, action = ?what, "Session control");
    state.notify(&id);
    let row = store::sessions::get(&state.db, &id)
        .await?
        .ok_or(AppError::NotFound)?;
    Ok(Json(session_dto(&row, &v.actor)))
}

macro_rules! control_handler {
    ($name:ident, $path:literal, $what:expr, $doc:literal) => {
        #[utoipa::path(post, path = $path, tag = "sessions",
            params(("id" = String, Path, description = "session id")),
            security(("session_cookie" = [], "csrf_token" = [])),
            responses((status = 200, body = Session, description = $doc),
                (status = 401, body = ApiError, description = "`unauthenticated`"),
                (status = 403, body = ApiError, description = "`forbidden` (including on the caller's own session), `csrf`, or `not_cancellable` for terminate-and-cancel on Admin/ISA sessions"),
                (status = 404, body = ApiError, description = "`not_found`: not visible"),
                (status = 409, body = ApiError, description = "`not_live`")))]
        pub async fn $name(State(state): State<AppState>, user: CurrentUser, Path(id): Path<String>) -> AppResult<Json<Session>> {
            control(state, user, id, $what).await
        }
    };
}

control_handler!(
    lock,
    "/api/v1/sessions/{id}/lock",
    Control::Lock,
    "`Session`, locked"
);
control_handler!(
    unlock,
    "/api/v1/sessions/{id}/unlock",
    Control::Unlock,
    "`Session`, unlocked"
);
control_handler!(
    terminate,
    "/api/v1/sessions/{id}/terminate",
    Control::Terminate,
    "`Session`, ended"
);
control_handler!(
    terminate_and_cancel,
    "/api/v1/sessions/{id}/terminate-and-cancel",
    Control::TerminateAndCancel,
    "`Session`, ended, its request checked in"
);

/// The most keystrokes one page may hold.
pub const KEYSTROKES_PAGE_MAX: usize = 5000;

#[derive(Debug, Deserialize, utoipa::IntoParams)]
pub struct KeystrokesQuery {
    /// Only keystrokes whose `seq` is greater than this (the last `seq` of the page before).
    pub after: Option<u64>,
    /// How many at most; default and maximum 5000.
    pub limit: Option<usize>,
}

#[utoipa::path(get, path = "/api/v1/sessions/{id}/keystrokes", tag = "sessions",
    params(("id" = String, Path, description = "session id"), KeystrokesQuery),
    responses(
        (status = 200, body = [Keystroke], description = "One page of the session's keystroke log, oldest first: ask again with `after` set to the last `seq` until a page is short"),
        (status = 401, body = ApiError, description = "`unauthenticated`"),
        (status = 403, body = ApiError, description = "`forbidden`: may see but not watch the session"),
        (status = 404, body = ApiError, description = "`not_found`: not visible"),
    ))]
pub async fn keystrokes(
    State(state): State<AppState>,
    user: CurrentUser,
    Path(id): Path<String>,
    Query(q): Query<KeystrokesQuery>,
) -> AppResult<Json<Vec<Keystroke>>> {
    let v = Viewer::load(&state, user.user).await?;
    let row = load_visible(&state, &v, &id).await?;
    decide(
        &v.actor,
        row.asset_id,
        Some(&row.facts()),
        Action::WatchSession,
    )?;
    let limit = q
        .limit
        .unwrap_or(KEYSTROKES_PAGE_MAX)
        .clamp(1, KEYSTROKES_PAGE_MAX);
    // Live or ended, the log on disk is the whole record (written per keystroke).
    let path = state.hub.keystrokes_path(&id);
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
    store::audit::record_once(
        &state.db,
        &v.user.username,
        "view_keystrokes",
        &id,
        &row.asset_name,
    )
    .await?;
    Ok(Json(keys))
}

#[utoipa::path(get, path = "/api/v1/sessions/{id}/recording", tag = "sessions",
    params(("id" = String, Path, description = "session id"),
        ("Range" = Option<String>, Header, description = "optional byte range (`bytes=START-END`), e.g. from a keyframe offset of the index")),
    responses(
        (status = 200, description = "The recording: asciicast v2 for SSH, the Vigil desktop format for RDP", content(
            (String = "application/x-asciicast"),
            (Vec<u8> = "application/octet-stream"))),
        (status = 206, description = "The requested byte range", body = Vec<u8>, content_type = "application/octet-stream"),
        (status = 401, body = ApiError, description = "`unauthenticated`"),
        (status = 403, body = ApiError, description = "`forbidden`: may not download it"),
        (status = 404, body = ApiError, description = "`not_found`: not visible, or no recording"),
        (status = 416, description = "The range is not satisfiable"),
    ))]
pub async fn recording(
    State(state): State<AppState>,
    user: CurrentUser,
    Path(id): Path<String>,
    request: axum::extract::Request,
) -> AppResult<Response> {
    let v = Viewer::load(&state, user.user).await?;
    let row = load_visible(&state, &v, &id).await?;
    decide(&v.actor, row.asset_id, Some(&row.facts()), Action::Download)?;
    let (path, content_type, ext) = match row.protocol {
        Protocol::Rdp => (
            state.hub.desktop_recording_path(&id),
            "application/octet-stream",
            "desktop",
        ),
        Protocol::Ssh => (
            state.hub.recording_path(&id),
            "application/x-asciicast",
            "cast",
        ),
    };
    match tokio::fs::metadata(&path).await {
        Ok(_) => {}
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Err(AppError::NotFound),
        Err(e) => return Err(AppError::internal(e)),
    }
    // Seeking a desktop recording fetches many ranges: every read is audited, once per
    // viewer and session, whether whole, ranged or the index.
    audit_download(&state, &v.user.username, &id, &row.asset_name).await?;
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
    response.headers_mut().insert(
        header::CONTENT_DISPOSITION,
        format!("attachment; filename=\"{id}.{ext}\"")
            .parse()
            .map_err(AppError::internal)?,
    );
    Ok(response)
}

/// Records that `viewer` read the recording of session `id`, unless already recorded.
async fn audit_download(
    state: &AppState,
    viewer: &str,
    id: &str,
    asset_name: &str,
) -> AppResult<()> {
    store::audit::record_once(&state.db, viewer, "download", id, asset_name).await?;
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
    params(("id" = String, Path, description = "session id")),
    responses(
        (status = 200, body = RecordingIndexDoc, description = "Keyframes of a desktop recording, with its duration and size in whole records"),
        (status = 401, body = ApiError, description = "`unauthenticated`"),
        (status = 403, body = ApiError, description = "`forbidden`: may not download the recording"),
        (status = 404, body = ApiError, description = "`not_found`: not visible, not a desktop session, or no recording"),
    ))]
pub async fn recording_index(
    State(state): State<AppState>,
    user: CurrentUser,
    Path(id): Path<String>,
) -> AppResult<Json<RecordingIndex>> {
    let v = Viewer::load(&state, user.user).await?;
    let row = load_visible(&state, &v, &id).await?;
    decide(&v.actor, row.asset_id, Some(&row.facts()), Action::Download)?;
    if row.protocol != Protocol::Rdp {
        return Err(AppError::NotFound);
    }
    let path = state.hub.desktop_recording_path(&id);
    let index = tokio::task::spawn_blocking(move || vigil_hub::desktop_index(&path))
        .await
        .map_err(AppError::internal)?;
    match index {
        Ok(index) => {
            audit_download(&state, &v.user.username, &id, &row.asset_name).await?;
            Ok(Json(index))
        }
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Err(AppError::NotFound),
        Err(e) => Err(AppError::internal(e)),
    }
}
