//! The REST API under `/api/v1`, its WebSockets, and the router that serves the app.

use axum::extract::rejection::JsonRejection;
use axum::extract::{DefaultBodyLimit, FromRequest, Request, State};
use axum::routing::{get, post};
use axum::{Json, Router};
use serde::de::DeserializeOwned;
use utoipa::OpenApi;
use vigil_wire::api::AuditEntry;

use crate::auth::CurrentUser;
use crate::error::{AppError, AppResult};
use crate::state::AppState;
use crate::{store, web, ws};

pub mod assets;
pub mod auth;
pub mod requests;
pub mod sessions;

/// JSON body extractor whose rejections are `ApiError`s like every other failure.
pub struct ApiJson<T>(pub T);

impl<T: DeserializeOwned, S: Send + Sync> FromRequest<S> for ApiJson<T> {
    type Rejection = AppError;

    async fn from_request(req: Request, state: &S) -> Result<Self, AppError> {
        match Json::<T>::from_request(req, state).await {
            Ok(Json(v)) => Ok(ApiJson(v)),
            Err(JsonRejection::MissingJsonContentType(_)) => Err(AppError::ContentType),
            Err(e) => Err(AppError::BadRequest(e.body_text())),
        }
    }
}

#[utoipa::path(get, path = "/api/v1/audit", tag = "audit",
    responses((status = 200, description = "`[AuditEntry]`, newest first"), (status = 403, description = "not an administrator")))]
pub async fn audit(
    State(state): State<AppState>,
    user: CurrentUser,
) -> AppResult<Json<Vec<AuditEntry>>> {
    if !user.user.is_admin {
        return Err(AppError::Forbidden);
    }
    Ok(Json(store::audit::list(&state.db, 1000).await?))
}

#[derive(OpenApi)]
#[openapi(
    info(
        title = "Vigil relay API",
        description = "Bodies are the `vigil-wire` `api` types (JSON); errors are `ApiError {code, message}`."
    ),
    paths(
        auth::login,
        auth::logout,
        auth::me,
        assets::list,
        assets::create,
        assets::accept_host_key,
        assets::list_rules,
        assets::create_rule,
        requests::list,
        requests::create,
        requests::approve,
        requests::deny,
        requests::checkin,
        sessions::list,
        sessions::launch,
        sessions::get,
        sessions::lock,
        sessions::unlock,
        sessions::terminate,
        sessions::terminate_and_cancel,
        sessions::keystrokes,
        sessions::recording,
        ws::stream,
        ws::live,
        audit,
        openapi,
    )
)]
pub struct ApiDoc;

#[utoipa::path(get, path = "/api/v1/openapi.json", tag = "meta", responses((status = 200, description = "This document")))]
pub async fn openapi() -> Json<utoipa::openapi::OpenApi> {
    Json(ApiDoc::openapi())
}

async fn api_not_found() -> AppError {
    AppError::NotFound
}

/// The whole relay: `/api/v1` plus the app's static files, with security headers.
pub fn router(state: AppState) -> Router {
    let api = Router::new()
        .route("/auth/login", post(auth::login))
        .route("/auth/logout", post(auth::logout))
        .route("/me", get(auth::me))
        .route("/assets", get(assets::list).post(assets::create))
        .route(
            "/assets/{id}/accept-host-key",
            post(assets::accept_host_key),
        )
        .route("/rules", get(assets::list_rules).post(assets::create_rule))
        .route("/requests", get(requests::list).post(requests::create))
        .route("/requests/{id}/approve", post(requests::approve))
        .route("/requests/{id}/deny", post(requests::deny))
        .route("/requests/{id}/checkin", post(requests::checkin))
        .route("/sessions", get(sessions::list).post(sessions::launch))
        .route("/sessions/{id}", get(sessions::get))
        .route("/sessions/{id}/lock", post(sessions::lock))
        .route("/sessions/{id}/unlock", post(sessions::unlock))
        .route("/sessions/{id}/terminate", post(sessions::terminate))
        .route(
            "/sessions/{id}/terminate-and-cancel",
            post(sessions::terminate_and_cancel),
        )
        .route("/sessions/{id}/keystrokes", get(sessions::keystrokes))
        .route("/sessions/{id}/recording", get(sessions::recording))
        .route("/sessions/{id}/stream", get(ws::stream))
        .route("/live", get(ws::live))
        .route("/audit", get(audit))
        .route("/openapi.json", get(openapi))
        .fallback(api_not_found)
        .layer(DefaultBodyLimit::max(1024 * 1024));
    let dist = state.config.dist_dir.clone();
    web::with_security_headers(
        Router::new()
            .nest("/api/v1", api)
            .fallback_service(web::spa(dist))
            .with_state(state),
    )
}
