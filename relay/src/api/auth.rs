//! `POST /auth/login`, `POST /auth/logout`, `GET /me`, `GET /kiosk`.

use axum::extract::{Request, State};
use axum::http::{header, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::Json;
use vigil_wire::api::{ApiError, KioskSettings, LoginRequest, Me};

use crate::auth::{self, client_ip, CurrentUser};
use crate::error::{AppError, AppResult};
use crate::permissions::Viewer;
use crate::state::AppState;
use crate::store::{self, now_ms};
use crate::throttle;

const MAX_LOGIN_BODY: usize = 16 * 1024;

#[utoipa::path(post, path = "/api/v1/auth/login", tag = "auth", operation_id = "login",
    security(()),
    request_body = LoginRequest,
    responses(
        (status = 200, body = Me, description = "Logged in; the session cookie is set (for a `kiosk` login, a cookie without `Max-Age` that the browser forgets when it closes)"),
        (status = 400, body = ApiError, description = "`bad_request`: malformed or oversized body"),
        (status = 401, body = ApiError, description = "`bad_credentials`"),
        (status = 403, body = ApiError, description = "`origin`: a foreign Origin header"),
        (status = 415, body = ApiError, description = "`content_type`: not JSON"),
        (status = 429, body = ApiError, description = "`too_many_attempts`; see `Retry-After`"),
        (status = 503, body = ApiError, description = "`busy`: too many logins being verified; see `Retry-After`"),
    ))]
pub async fn login(State(state): State<AppState>, request: Request) -> AppResult<Response> {
    let (parts, body) = request.into_parts();
    let is_json = parts
        .headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.split(';').next())
        .is_some_and(|v| v.trim().eq_ignore_ascii_case("application/json"));
    if !is_json {
        return Err(AppError::ContentType);
    }
    if auth::origin_matches(&state, &parts.headers) == Some(false) {
        return Err(AppError::Origin);
    }
    let body = axum::body::to_bytes(body, MAX_LOGIN_BODY)
        .await
        .map_err(|_| AppError::BadRequest("request body too large".into()))?;
    let req: LoginRequest = serde_json::from_slice(&body)
        .map_err(|e| AppError::BadRequest(format!("invalid login body: {e}")))?;

    let keys = state
        .throttle
        .keys(&req.username, client_ip(&parts.extensions));
    let user_hash = throttle::username_hash(&req.username);
    // Counted as a failure before the password is checked, in the database: parallel
    // guesses, here or on another relay, can't all pass.
    let delay = match state.throttle.reserve(&state.db, &keys, now_ms()).await? {
        throttle::Reservation::Reserved { delay } => delay,
        throttle::Reservation::Refused { wait } => {
            tracing::info!(user_hash, "Login refused: too many failed attempts");
            crate::metrics::login_locked_out();
            return Err(AppError::TooManyAttempts(wait.as_secs().max(1)));
        }
    };
    if !delay.is_zero() {
        tokio::time::sleep(delay).await;
    }
    let Some(slot) = state.throttle.verify_slot(throttle::VERIFY_WAIT).await else {
        cancel(&state, &keys).await;
        tracing::warn!("Login refused: every password verification slot is busy");
        return Ok(busy());
    };

    let user = match store::users::by_name(&state.db, &req.username).await {
        Ok(u) => u,
        Err(e) => {
            cancel(&state, &keys).await;
            return Err(e.into());
        }
    };
    let hash = user.as_ref().map(|u| u.password_hash.clone());
    let password = req.password;
    let ok = tokio::task::spawn_blocking(move || {
        let ok = auth::verify_password(hash.as_deref(), &password);
        drop(slot);
        ok
    })
    .await
    .map_err(AppError::internal)?;
    // A disabled user is refused like a wrong password, so the answer confirms nothing.
    let user = match (ok, user) {
        (true, Some(user)) if !user.disabled => user,
        _ => {
            tracing::info!(user_hash, "Login failed");
            crate::metrics::login_failed();
            return Err(AppError::BadCredentials);
        }
    };
    // The password was right: the login goes ahead even if the refund can't be stored
    // (the pair then keeps one failure too many until it is forgotten).
    if let Err(error) = state.throttle.succeeded(&state.db, &keys).await {
        tracing::warn!(user_hash, %error, "Could not clear the login throttle");
    }

    let token = auth::new_token();
    let csrf = auth::new_token();
    let now = now_ms();
    let ttl_ms = i64::from(state.config.session_ttl_minutes) * 60_000;
    store::logins::create(
        &state.db,
        &auth::token_hash(&token),
        user.id,
        &csrf,
        now,
        now + ttl_ms,
    )
    .await?;
    tracing::info!(username = %user.username, kiosk = req.kiosk, "Logged in");
    let me = Viewer::load(&state, user).await?.me(&csrf);
    // A kiosk's login dies with its browser session: no `Max-Age`. The login itself still
    // ends on the relay after `session_ttl_minutes`, or when the kiosk logs out.
    let max_age = (!req.kiosk).then_some(ttl_ms / 1000);
    let cookie = auth::session_cookie(&token, max_age, state.config.secure_cookies());
    Ok(([(header::SET_COOKIE, cookie)], Json(me)).into_response())
}

/// Undoes a reservation whose password was never checked. On failure the attempt stays
/// counted, which errs on the side of the throttle.
async fn cancel(state: &AppState, keys: &throttle::LoginKeys) {
    if let Err(error) = state.throttle.cancelled(&state.db, keys).await {
        tracing::warn!(%error, "Could not undo a login throttle reservation");
    }
}

/// 503 `busy`: too many logins are being verified at once.
fn busy() -> Response {
    let mut resp = (
        StatusCode::SERVICE_UNAVAILABLE,
        Json(ApiError {
            code: "busy".into(),
            message: "too many logins in progress; try again shortly".into(),
        }),
    )
        .into_response();
    resp.headers_mut()
        .insert(header::RETRY_AFTER, HeaderValue::from_static("1"));
    resp
}

#[utoipa::path(post, path = "/api/v1/auth/logout", tag = "auth", operation_id = "logout",
    security(("session_cookie" = [], "csrf_token" = [])),
    responses(
        (status = 204, description = "Logged out; the cookie is cleared"),
        (status = 401, body = ApiError, description = "`unauthenticated`"),
        (status = 403, body = ApiError, description = "`csrf`"),
    ))]
pub async fn logout(State(state): State<AppState>, user: CurrentUser) -> AppResult<Response> {
    store::logins::delete(&state.db, &user.token_hash).await?;
    // Streams opened with this login close now, not at their next event.
    state.access_changed();
    let cookie = auth::session_cookie("", Some(0), state.config.secure_cookies());
    Ok((StatusCode::NO_CONTENT, [(header::SET_COOKIE, cookie)]).into_response())
}

#[utoipa::path(get, path = "/api/v1/me", tag = "auth", operation_id = "getMe",
    responses(
        (status = 200, body = Me, description = "The logged-in user"),
        (status = 401, body = ApiError, description = "`unauthenticated`"),
    ))]
pub async fn me(State(state): State<AppState>, user: CurrentUser) -> AppResult<Json<Me>> {
    let csrf = user.csrf_token.clone();
    Ok(Json(Viewer::load(&state, user.user).await?.me(&csrf)))
}

#[utoipa::path(get, path = "/api/v1/kiosk", tag = "auth", operation_id = "getKioskSettings",
    responses(
        (status = 200, body = KioskSettings, description = "What the administrator set for the kiosk view (`kiosk_idle_secs`)"),
        (status = 401, body = ApiError, description = "`unauthenticated`"),
    ))]
pub async fn kiosk(State(state): State<AppState>, _user: CurrentUser) -> Json<KioskSettings> {
    let idle_secs = u32::try_from(state.config.kiosk_idle.as_secs()).unwrap_or(u32::MAX);
    Json(KioskSettings { idle_secs })
}
