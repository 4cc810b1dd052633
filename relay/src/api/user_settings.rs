//! Per-user settings an administrator sets: the keyboard layout of a user's desktop
//! sessions. Audited; a setting applies to sessions launched after it (a live session keeps
//! the layout it announced to its server).

use axum::extract::State;
use axum::http::StatusCode;
use vigil_wire::api::{ApiError, KeyboardLayoutSetting};

use super::extract::RequireAdmin;
use super::params::ApiPath;
use super::users::user_id;
use super::ApiJson;
use crate::error::AppResult;
use crate::state::AppState;
use crate::store;
use crate::store::audit::NewEntry;
use vigil_wire::audit::AuditAction;

#[utoipa::path(put, path = "/api/v1/users/{name}/keyboard-layout", tag = "users",
    operation_id = "setUserKeyboardLayout",
    params(("name" = String, Path, description = "username")),
    security(("session_cookie" = [], "csrf_token" = [])),
    request_body = KeyboardLayoutSetting,
    responses(
        (status = 204, description = "Set: the user's next desktop sessions announce this layout to the server, and the relay reads their keystrokes in it"),
        (status = 400, body = ApiError, description = "`bad_request`: not a supported layout (`en-US`, `en-GB`, `de-DE`, `fr-FR`)"),
        (status = 401, body = ApiError, description = "`unauthenticated`"),
        (status = 403, body = ApiError, description = "`forbidden` (not an administrator) or `csrf`"),
        (status = 404, body = ApiError, description = "`not_found`: no such user"),
        (status = 415, body = ApiError, description = "`content_type`: not JSON"),
    ))]
pub async fn set_keyboard_layout(
    State(state): State<AppState>,
    RequireAdmin(admin): RequireAdmin,
    ApiPath(name): ApiPath<String>,
    ApiJson(body): ApiJson<KeyboardLayoutSetting>,
) -> AppResult<StatusCode> {
    let id = user_id(&state, &name).await?;
    let changed = store::users::set_keyboard_layout(&state.db, id, body.layout).await?;
    let mut detail = format!("{name}: {}", body.layout);
    if !changed {
        detail.push_str(" (nothing to change)");
    }
    let entry = NewEntry::new(admin.who(), AuditAction::UserKeyboardLayout, &detail);
    store::audit::record(&state.db, &state.audit_key, entry).await?;
    Ok(StatusCode::NO_CONTENT)
}
