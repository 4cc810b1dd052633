//! Share links and live participants: make, list and revoke a session's links (who may
//! share it), redeem one (any logged-in user), and see who is watching (monitors).
//! Every link reads only; what it grants is `policy`'s (`SessionFacts::link`).

use std::collections::BTreeSet;

use axum::extract::State;
use axum::http::HeaderMap;
use axum::Json;
use vigil_wire::api::ApiError;
use vigil_wire::share::{
    CreatedShareLink, LiveParticipant, NewShareLink, RedeemShareLink, Redeemed, ShareAudience,
    ShareKind, ShareLink,
};

use super::extract::{refusal_audited, SeeWho, SessionFor, ShareIt};
use super::params::ApiPath;
use super::ApiJson;
use crate::auth;
use crate::error::{AppError, AppResult};
use crate::permissions::Viewer;
use crate::policy::{decide, Action};
use crate::share::audit::{self, ShareEvent};
use crate::share::{self, judge_redeem, RedeemFacts, Refusal};
use crate::state::AppState;
use crate::store::shares::NewLink;
use crate::store::{self, now_ms};

/// The named users (ids) and groups of an audience, checked: every user exists, and a
/// named audience names someone.
async fn audience_members(
    state: &AppState,
    audience: &ShareAudience,
) -> AppResult<(Vec<i64>, Vec<String>)> {
    let ShareAudience::Named { users, groups } = audience else {
        return Ok((Vec::new(), Vec::new()));
    };
    let names: BTreeSet<&str> = users
        .iter()
        .map(|u| u.trim())
        .filter(|u| !u.is_empty())
        .collect();
    let groups: BTreeSet<String> = groups
        .iter()
        .map(|g| g.trim())
        .filter(|g| !g.is_empty())
        .map(String::from)
        .collect();
    if names.is_empty() && groups.is_empty() {
        return Err(AppError::BadRequest(
            "a link must name at least one user or group (or be for any user)".into(),
        ));
    }
    let mut ids = Vec::new();
    for name in names {
        let user = store::users::by_name(&state.db, name)
            .await?
            .ok_or_else(|| AppError::BadRequest(format!("unknown user `{name}`")))?;
        ids.push(user.id);
    }
    Ok((ids, groups.into_iter().collect()))
}

#[utoipa::path(post, path = "/api/v1/sessions/{id}/shares", tag = "shares",
    operation_id = "createShareLink",
    security(("session_cookie" = [], "csrf_token" = [])),
    params(("id" = String, Path, description = "session id")),
    request_body = NewShareLink,
    responses(
        (status = 200, body = CreatedShareLink, description = "The link: a live link for a live session, a recording link for an ended one. Its URL (token in the fragment) and code are shown only now"),
        (status = 400, body = ApiError, description = "`bad_request`: an unknown user, an empty audience, a lifetime outside 1..=1440 minutes, or a download on a live link"),
        (status = 401, body = ApiError, description = "`unauthenticated`"),
        (status = 403, body = ApiError, description = "`forbidden` (may see but not share the session: its own user, a link viewer, a regular user) or `csrf`"),
        (status = 404, body = ApiError, description = "`not_found`: not visible"),
        (status = 415, body = ApiError, description = "`content_type`: not JSON"),
    ))]
pub async fn create(
    State(state): State<AppState>,
    headers: HeaderMap,
    SessionFor { viewer: v, row, .. }: SessionFor<ShareIt>,
    ApiJson(body): ApiJson<NewShareLink>,
) -> AppResult<Json<CreatedShareLink>> {
    let kind = if row.ended_at.is_none() {
        ShareKind::Live
    } else {
        ShareKind::Recording
    };
    if kind == ShareKind::Live && body.allow_download {
        return Err(AppError::BadRequest(
            "only a recording link may allow the download".into(),
        ));
    }
    let minutes = share::lifetime_minutes(body.expires_in_minutes).map_err(AppError::BadRequest)?;
    let (users, groups) = audience_members(&state, &body.audience).await?;
    let id = auth::new_session_id();
    let token = auth::new_token();
    let code = body.with_code.then(share::new_code);
    let key = state.vault.derive_key(share::CODE_KEY_PURPOSE);
    let code_hash = code.as_deref().map(|c| share::code_hash(&key, &id, c));
    let now = now_ms();
    let expires_at = now + i64::from(minutes) * 60_000;
    let mut tx = store::begin_write(&state.db).await?;
    store::shares::insert(
        &mut tx,
        NewLink {
            id: &id,
            session_id: &row.id,
            kind,
            token_hash: &auth::token_hash(&token),
            any_user: body.audience == ShareAudience::AnyUser,
            users: &users,
            groups: &groups,
            code_hash: code_hash.as_deref(),
            allow_download: body.allow_download,
            created_by: v.user.id,
            created_at: now,
            expires_at,
        },
    )
    .await?;
    audit::append(
        &mut tx,
        &state.audit_key,
        v.who(),
        &row.id,
        ShareEvent::Share {
            link_id: &id,
            kind,
            audience: &body.audience,
            expires_at,
            with_code: code.is_some(),
            allow_download: body.allow_download,
        },
    )
    .await?;
    tx.commit().await?;
    let link = store::shares::get_dto(&state.db, &id)
        .await?
        .ok_or(AppError::NotFound)?;
    tracing::info!(session = %row.id, link = %id, by = %v.user.username, "Share link made");
    let origin = auth::own_origin(&state, &headers).unwrap_or_default();
    Ok(Json(CreatedShareLink {
        link,
        url: format!("{origin}/share#{token}"),
        code,
    }))
}

#[utoipa::path(get, path = "/api/v1/sessions/{id}/shares", tag = "shares",
    operation_id = "listShareLinks",
    params(("id" = String, Path, description = "session id")),
    responses(
        (status = 200, body = [ShareLink], description = "The session's links, newest first: who made each, for whom, until when, and who used it"),
        (status = 401, body = ApiError, description = "`unauthenticated`"),
        (status = 403, body = ApiError, description = "`forbidden`: may see but not share the session"),
        (status = 404, body = ApiError, description = "`not_found`: not visible"),
    ))]
pub async fn list(
    State(state): State<AppState>,
    SessionFor { row, .. }: SessionFor<ShareIt>,
) -> AppResult<Json<Vec<ShareLink>>> {
    Ok(Json(
        store::shares::list_for_session(&state.db, &row.id).await?,
    ))
}

#[utoipa::path(post, path = "/api/v1/shares/{link_id}/revoke", tag = "shares",
    operation_id = "revokeShareLink",
    security(("session_cookie" = [], "csrf_token" = [])),
    params(("link_id" = String, Path, description = "share link id")),
    responses(
        (status = 200, body = ShareLink, description = "The link, revoked (already revoked: unchanged). Anyone watching through it is cut off at once"),
        (status = 401, body = ApiError, description = "`unauthenticated`"),
        (status = 403, body = ApiError, description = "`forbidden` (may see the session but neither made the link nor may share the session) or `csrf`"),
        (status = 404, body = ApiError, description = "`not_found`: no such link, or its session is not visible"),
    ))]
pub async fn revoke(
    State(state): State<AppState>,
    v: Viewer,
    ApiPath(link_id): ApiPath<String>,
) -> AppResult<Json<ShareLink>> {
    if !auth::is_session_id(&link_id) {
        return Err(AppError::NotFound);
    }
    let link = store::shares::by_id(&state.db, &link_id)
        .await?
        .ok_or(AppError::NotFound)?;
    let row = store::sessions::get(&state.db, &link.session_id)
        .await?
        .ok_or(AppError::NotFound)?;
    let facts = row.facts(&v.actor);
    let may = link.created_by == v.user.id
        || v.user.is_admin
        || decide(&v.actor, row.asset_id, Some(&facts), Action::Share).is_ok();
    if !may {
        // Confirmed to exist only to who may see the session.
        decide(&v.actor, row.asset_id, Some(&facts), Action::SeeSession)?;
        return Err(AppError::Forbidden);
    }
    let mut tx = store::begin_write(&state.db).await?;
    let revoked = store::shares::revoke(&mut tx, &link_id, v.user.id, now_ms()).await?;
    if revoked {
        let event = ShareEvent::Revoke { link_id: &link_id };
        audit::append(&mut tx, &state.audit_key, v.who(), &row.id, event).await?;
    }
    tx.commit().await?;
    if revoked {
        tracing::info!(session = %row.id, link = %link_id, by = %v.user.username, "Share link revoked");
        // Streams re-check their viewers now: whoever watched through it is cut off.
        crate::access::changed(&state).await;
    }
    let dto = store::shares::get_dto(&state.db, &link_id)
        .await?
        .ok_or(AppError::NotFound)?;
    Ok(Json(dto))
}

#[utoipa::path(post, path = "/api/v1/shares/redeem", tag = "shares",
    operation_id = "redeemShareLink",
    security(("session_cookie" = [], "csrf_token" = [])),
    request_body = RedeemShareLink,
    responses(
        (status = 200, body = Redeemed, description = "The caller may now watch the session (live link) or replay it (recording link) until the link expires or is revoked"),
        (status = 400, body = ApiError, description = "`bad_request`: a body that does not parse"),
        (status = 401, body = ApiError, description = "`unauthenticated`"),
        (status = 403, body = ApiError, description = "`link_not_for_you` (not in its audience), `wrong_code` (wrong or missing verification code) or `csrf`"),
        (status = 404, body = ApiError, description = "`link_not_found`: no link has this token"),
        (status = 410, body = ApiError, description = "`link_expired` (also a live link whose session ended) or `link_revoked`"),
        (status = 429, body = ApiError, description = "`too_many_attempts`: 5 wrong codes; the link no longer opens for the caller"),
        (status = 415, body = ApiError, description = "`content_type`: not JSON"),
    ))]
pub async fn redeem(
    State(state): State<AppState>,
    v: Viewer,
    ApiJson(body): ApiJson<RedeemShareLink>,
) -> AppResult<Json<Redeemed>> {
    let link = store::shares::by_token_hash(&state.db, &auth::token_hash(body.token.trim()))
        .await?
        .ok_or(AppError::LinkNotFound)?;
    let session = store::sessions::get(&state.db, &link.session_id)
        .await?
        .ok_or(AppError::LinkNotFound)?;
    let now = now_ms();
    let key = state.vault.derive_key(share::CODE_KEY_PURPOSE);
    let code_ok = match (&link.code_hash, &body.code) {
        (Some(stored), Some(given)) => *stored == share::code_hash(&key, &link.id, given),
        _ => false,
    };
    let facts = RedeemFacts {
        revoked: link.revoked_at.is_some(),
        expired: link.expires_at <= now
            || (link.kind == ShareKind::Live && session.ended_at.is_some()),
        admitted: store::shares::admits(&state.db, &link.id, v.user.id).await?,
        failures: store::shares::failures(&state.db, &link.id, v.user.id).await?,
        has_code: link.code_hash.is_some(),
        code_ok,
    };
    if let Err(refusal) = judge_redeem(&facts) {
        let error = match refusal {
            Refusal::Revoked => AppError::LinkRevoked,
            Refusal::Expired => AppError::LinkExpired,
            Refusal::NotForYou => AppError::LinkNotForYou,
            Refusal::TooManyAttempts => AppError::CodeAttemptsExhausted,
            Refusal::WrongCode => {
                if body.code.is_some() {
                    let n = store::shares::add_failure(&state.db, &link.id, v.user.id, now).await?;
                    tracing::info!(link = %link.id, failures = n, "Wrong share link code");
                }
                AppError::WrongCode
            }
        };
        let what = format!("redeem link {}", link.id);
        return Err(refusal_audited(&state, &v, &session.id, &what, error).await);
    }
    let mut tx = store::begin_write(&state.db).await?;
    store::shares::record_use(&mut tx, &link.id, v.user.id, now).await?;
    let event = ShareEvent::LinkUse { link_id: &link.id };
    audit::append(&mut tx, &state.audit_key, v.who(), &link.session_id, event).await?;
    tx.commit().await?;
    Ok(Json(Redeemed {
        session_id: link.session_id,
        kind: link.kind,
    }))
}

#[utoipa::path(get, path = "/api/v1/sessions/{id}/participants", tag = "shares",
    operation_id = "listParticipants",
    params(("id" = String, Path, description = "session id")),
    responses(
        (status = 200, body = [LiveParticipant], description = "Who is attached now: the user and each observer, how they came in and since when"),
        (status = 401, body = ApiError, description = "`unauthenticated`"),
        (status = 403, body = ApiError, description = "`forbidden`: may see the session but not monitor it (its plain user, a link viewer)"),
        (status = 404, body = ApiError, description = "`not_found`: not visible"),
    ))]
pub async fn participants(
    State(state): State<AppState>,
    SessionFor { row, .. }: SessionFor<SeeWho>,
) -> AppResult<Json<Vec<LiveParticipant>>> {
    Ok(Json(state.participants.list(&row.id)))
}
