//! Revoking access: disable a user, end their logins, remove them from a group, delete a
//! Smart Rule; and the emergency controls. Administrators only. Each change is audited and takes effect at once:
//! open streams re-check their viewers, and a disabled user's live sessions end.

use axum::extract::State;
use axum::http::StatusCode;
use axum::Json;
use vigil_wire::api::{ApiError, EmergencyDone, EmergencyRequest, RuleId};

use super::extract::RequireAdmin;
use super::params::ApiPath;
use super::ApiJson;
use crate::error::{AppError, AppResult};
use crate::permissions::Viewer;
use crate::policy::{self, Action, NO_ASSET};
use crate::state::AppState;
use crate::store::audit::NewEntry;
use crate::store::{self, access::Revoked};
use vigil_wire::audit::AuditAction;

pub(super) async fn user_id(state: &AppState, name: &str) -> AppResult<i64> {
    Ok(store::users::by_name(&state.db, name)
        .await?
        .ok_or(AppError::NotFound)?
        .id)
}

/// Audits a revocation that was made, then applies it to what is running.
async fn revoked(
    state: &AppState,
    by: &Viewer,
    action: AuditAction,
    detail: String,
    r: Revoked,
) -> AppResult<StatusCode> {
    let detail = if r.changed {
        detail
    } else {
        format!("{detail} (nothing to change)")
    };
    let entry = NewEntry::new(by.who(), action, &detail);
    store::audit::record(&state.db, &state.audit_key, entry).await?;
    crate::access::changed(state).await;
    Ok(StatusCode::NO_CONTENT)
}

/// Disables or enables `name`; nobody disables themselves.
async fn set_disabled(
    state: &AppState,
    by: &Viewer,
    name: String,
    disabled: bool,
) -> AppResult<StatusCode> {
    let id = user_id(state, &name).await?;
    if disabled {
        policy::decide(&by.actor, NO_ASSET, None, Action::DisableUser { user: id })?;
    }
    let r = store::access::set_disabled(&state.db, id, disabled).await?;
    let action = if disabled {
        AuditAction::UserDisable
    } else {
        AuditAction::UserEnable
    };
    revoked(state, by, action, name, r).await
}

#[utoipa::path(post, path = "/api/v1/users/{name}/disable", tag = "users", operation_id = "disableUser",
    params(("name" = String, Path, description = "username")),
    security(("session_cookie" = [], "csrf_token" = [])),
    responses(
        (status = 204, description = "Disabled: their logins end, their streams close and their live sessions are terminated"),
        (status = 401, body = ApiError, description = "`unauthenticated`"),
        (status = 403, body = ApiError, description = "`forbidden` (not an administrator, or oneself) or `csrf`"),
        (status = 404, body = ApiError, description = "`not_found`: no such user"),
    ))]
pub async fn disable(
    State(state): State<AppState>,
    RequireAdmin(admin): RequireAdmin,
    ApiPath(name): ApiPath<String>,
) -> AppResult<StatusCode> {
    set_disabled(&state, &admin, name, true).await
}

#[utoipa::path(post, path = "/api/v1/users/{name}/enable", tag = "users", operation_id = "enableUser",
    params(("name" = String, Path, description = "username")),
    security(("session_cookie" = [], "csrf_token" = [])),
    responses(
        (status = 204, description = "Enabled: the user may log in again"),
        (status = 401, body = ApiError, description = "`unauthenticated`"),
        (status = 403, body = ApiError, description = "`forbidden` or `csrf`"),
        (status = 404, body = ApiError, description = "`not_found`: no such user"),
    ))]
pub async fn enable(
    State(state): State<AppState>,
    RequireAdmin(admin): RequireAdmin,
    ApiPath(name): ApiPath<String>,
) -> AppResult<StatusCode> {
    set_disabled(&state, &admin, name, false).await
}

#[utoipa::path(post, path = "/api/v1/users/{name}/end-logins", tag = "users", operation_id = "endUserLogins",
    params(("name" = String, Path, description = "username")),
    security(("session_cookie" = [], "csrf_token" = [])),
    responses(
        (status = 204, description = "Every login of the user ended; their streams close"),
        (status = 401, body = ApiError, description = "`unauthenticated`"),
        (status = 403, body = ApiError, description = "`forbidden` or `csrf`"),
        (status = 404, body = ApiError, description = "`not_found`: no such user"),
    ))]
pub async fn end_logins(
    State(state): State<AppState>,
    RequireAdmin(admin): RequireAdmin,
    ApiPath(name): ApiPath<String>,
) -> AppResult<StatusCode> {
    let id = user_id(&state, &name).await?;
    let r = store::access::end_logins(&state.db, id).await?;
    let detail = format!("{name}: {} login(s) ended", r.logins_ended);
    revoked(&state, &admin, AuditAction::UserEndLogins, detail, r).await
}

#[utoipa::path(delete, path = "/api/v1/users/{name}/groups/{group}", tag = "users",
    operation_id = "removeUserFromGroup",
    params(("name" = String, Path, description = "username"), ("group" = String, Path, description = "group name")),
    security(("session_cookie" = [], "csrf_token" = [])),
    responses(
        (status = 204, description = "Removed from the group: what the group's rules granted is gone at once"),
        (status = 401, body = ApiError, description = "`unauthenticated`"),
        (status = 403, body = ApiError, description = "`forbidden` or `csrf`"),
        (status = 404, body = ApiError, description = "`not_found`: no such user, or not a member"),
    ))]
pub async fn remove_member(
    State(state): State<AppState>,
    RequireAdmin(admin): RequireAdmin,
    ApiPath((name, group)): ApiPath<(String, String)>,
) -> AppResult<StatusCode> {
    let id = user_id(&state, &name).await?;
    let r = store::access::remove_member(&state.db, id, &group).await?;
    if !r.changed {
        return Err(AppError::NotFound);
    }
    revoked(
        &state,
        &admin,
        AuditAction::GroupRemoveMember,
        format!("{name} from {group}"),
        r,
    )
    .await
}

#[utoipa::path(delete, path = "/api/v1/rules/{id}", tag = "rules", operation_id = "deleteSmartRule",
    params(("id" = i64, Path, description = "Smart Rule id")),
    security(("session_cookie" = [], "csrf_token" = [])),
    responses(
        (status = 204, description = "Deleted: what it granted is gone at once"),
        (status = 401, body = ApiError, description = "`unauthenticated`"),
        (status = 403, body = ApiError, description = "`forbidden` or `csrf`"),
        (status = 404, body = ApiError, description = "`not_found`: no such rule (or an id that is not a number)"),
    ))]
pub async fn delete_rule(
    State(state): State<AppState>,
    RequireAdmin(admin): RequireAdmin,
    ApiPath(id): ApiPath<RuleId>,
) -> AppResult<StatusCode> {
    let r = store::access::delete_rule(&state.db, id).await?;
    if !r.changed {
        return Err(AppError::NotFound);
    }
    revoked(
        &state,
        &admin,
        AuditAction::RuleDelete,
        format!("rule {id}"),
        r,
    )
    .await
}

#[utoipa::path(post, path = "/api/v1/emergency", tag = "sessions", operation_id = "applyEmergency",
    security(("session_cookie" = [], "csrf_token" = [])),
    request_body = EmergencyRequest,
    responses(
        (status = 200, body = EmergencyDone, description = "Every live session of the user or asset is locked or terminated (an administrator's own sessions excepted); each is audited"),
        (status = 401, body = ApiError, description = "`unauthenticated`"),
        (status = 400, body = ApiError, description = "`bad_request`: a body that does not parse (unknown `scope` or `action`)"),
        (status = 403, body = ApiError, description = "`forbidden` (not an administrator) or `csrf`"),
        (status = 415, body = ApiError, description = "`content_type`: not JSON"),
    ))]
pub async fn emergency(
    State(state): State<AppState>,
    RequireAdmin(v): RequireAdmin,
    ApiJson(body): ApiJson<EmergencyRequest>,
) -> AppResult<Json<EmergencyDone>> {
    let sessions = crate::service::emergency::apply(
        &state,
        v.who(),
        Some(&v.actor),
        body.scope,
        &body.name,
        body.action,
    )
    .await?;
    Ok(Json(EmergencyDone { sessions }))
}
