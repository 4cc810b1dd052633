//! Sessions: launch, list, inspect. Controls are in `session_controls`, keystrokes and
//! recordings in `session_records`.

use axum::extract::State;
use axum::Json;
use serde::Deserialize;
use vigil_hub::LaunchSpec;
use vigil_wire::api::{ApiError, LaunchRequest, Launched, Session};
use vigil_wire::end::EndReason;

use super::extract::{See, SessionFor};
use super::params::ApiQuery;
use super::ApiJson;
use crate::auth;
use crate::error::{AppError, AppResult};
use crate::permissions::Viewer;
use crate::policy::{self, decide, Action, Actor};
use crate::service::launch::{check_launch, Admitted, SessionCaps};
use crate::service::target::target_for;
use crate::state::AppState;
use crate::store::audit::NewEntry;
use crate::store::sessions::{NewSession, SessionRow};
use crate::store::{self, now_ms};
use crate::transitions::Started;
use vigil_wire::audit::AuditAction;

/// A session as `actor` sees it, with the controls policy grants them, and how many
/// watch it now if they may know.
pub fn session_dto(state: &AppState, row: &SessionRow, actor: &Actor) -> Session {
    let facts = row.facts(actor);
    let monitors = policy::allowed(actor, row.asset_id, Some(&facts), Action::SeeParticipants);
    let watchers = monitors.then(|| state.participants.watchers(&row.id));
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
        controls: policy::controls(actor, row.asset_id, &facts),
        watchers,
        legal_hold: row.legal_hold.clone().filter(|_| monitors).map(Box::new),
        recording_deleted_at: row.recording_deleted_at,
    }
}

#[derive(Debug, Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
pub struct ListQuery {
    /// `active` or `ended`; absent: both.
    pub state: Option<String>,
}

#[utoipa::path(get, path = "/api/v1/sessions", tag = "sessions", operation_id = "listSessions", params(ListQuery),
    responses(
        (status = 200, body = [Session], description = "Sessions the caller may see"),
        (status = 400, body = ApiError, description = "`bad_request`: unknown `state`, or a query that does not parse"),
        (status = 401, body = ApiError, description = "`unauthenticated`"),
    ))]
pub async fn list(
    State(state): State<AppState>,
    v: Viewer,
    ApiQuery(q): ApiQuery<ListQuery>,
) -> AppResult<Json<Vec<Session>>> {
    let active = match q.state.as_deref() {
        None | Some("") => None,
        Some("active") => Some(true),
        Some("ended") => Some(false),
        Some(other) => return Err(AppError::BadRequest(format!("unknown state `{other}`"))),
    };
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
        .filter(|r| decide(actor, r.asset_id, Some(&r.facts(actor)), Action::SeeSession).is_ok())
        .map(|r| session_dto(state, r, actor))
        .collect())
}

#[utoipa::path(get, path = "/api/v1/sessions/{id}", tag = "sessions", operation_id = "getSession",
    params(("id" = String, Path, description = "session id")),
    responses(
        (status = 200, body = Session, description = "The session, with the controls the caller may use on it"),
        (status = 401, body = ApiError, description = "`unauthenticated`"),
        (status = 404, body = ApiError, description = "`not_found`: unknown, or not visible to the caller"),
    ))]
pub async fn get(
    State(state): State<AppState>,
    session: SessionFor<See>,
) -> AppResult<Json<Session>> {
    Ok(Json(session_dto(
        &state,
        &session.row,
        &session.viewer.actor,
    )))
}

#[utoipa::path(post, path = "/api/v1/sessions", tag = "sessions", operation_id = "launchSession",
    security(("session_cookie" = [], "csrf_token" = [])),
    request_body = LaunchRequest,
    responses(
        (status = 200, body = Launched, description = "The session is starting; attach to its stream"),
        (status = 400, body = ApiError, description = "`bad_request`: a body that does not parse, no managed credential, or a private key for an RDP asset"),
        (status = 401, body = ApiError, description = "`unauthenticated`"),
        (status = 403, body = ApiError, description = "`forbidden`, `request_not_usable`, `session_locked` (a session of the caller on the asset is locked) or `csrf`"),
        (status = 404, body = ApiError, description = "`not_found`: unknown or invisible asset or request"),
        (status = 409, body = ApiError, description = "`request_in_use`: the request already has as many live sessions as its Smart Rules allow (the strictest covering rule's `sessions_per_request`, default 1)"),
        (status = 415, body = ApiError, description = "`content_type`: not JSON"),
        (status = 429, body = ApiError, description = "`session_limit`: the caller has `max_sessions_per_user` live sessions, or the relay `max_live_sessions`"),
        (status = 500, body = ApiError, description = "`internal`, or `credential_unreadable`: the asset's stored credential does not open for it (copied from another asset, altered, or under another key)"),
    ))]
pub async fn launch(
    State(state): State<AppState>,
    v: Viewer,
    ApiJson(body): ApiJson<LaunchRequest>,
) -> AppResult<Json<Launched>> {
    let launched = launch_as(&state, &v, body).await;
    if let Err(e) = &launched {
        crate::metrics::launch_refused(e.status_and_code().1);
    }
    launched
}

/// The launch itself; its errors are the refusals `vigil_launch_failures_total` counts.
async fn launch_as(state: &AppState, v: &Viewer, body: LaunchRequest) -> AppResult<Json<Launched>> {
    let asset = v
        .permissions
        .asset(body.asset_id)
        .ok_or(AppError::NotFound)?;
    let now = now_ms();
    let caps = SessionCaps {
        per_user: state.config.max_sessions_per_user,
        in_all: state.config.max_live_sessions,
        per_request: v.permissions.sessions_per_request(asset),
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
    // Only once the launch is allowed: the credential is read, and the vault opened, for
    // no one else.
    // Read through the transaction's own connection: while it holds the write lock, a
    // second connection from the pool may never come (the others can all be waiting for
    // that lock).
    let row = store::assets::get(&mut *tx, asset.id)
        .await?
        .ok_or(AppError::NotFound)?;
    let target = target_for(state, &mut tx, &row, v.user.id).await?;
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
    // Before the hub starts it: none of its lifecycle events can come first.
    state.transitions.started(Started {
        id: &id,
        protocol: row.protocol,
        kind,
        user: &v.user.username,
        asset: &asset.name,
    });
    let spec = LaunchSpec {
        session_id: id.clone(),
        target,
        cols,
        rows,
        title: format!("{}@{}", v.user.username, asset.name),
    };
    if let Err(e) = state.hub.launch(spec) {
        state.transitions.not_started(&id, &e);
        let reason = EndReason::plain("failed to start");
        store::sessions::end(&state.db, &id, now_ms(), &reason).await?;
        return Err(AppError::internal(e));
    }
    let detail = format!(
        "{} session on {}",
        store::sessions::kind_str(kind),
        asset.name
    );
    let entry = NewEntry::new(v.who(), AuditAction::Launch, &detail).on(&id);
    store::audit::record(&state.db, &state.audit_key, entry).await?;
    state.notify(&id);
    Ok(Json(Launched { session_id: id }))
}
