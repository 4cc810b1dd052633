//! The REST API under `/api/v1`, its WebSockets, and the router that serves the app.

use axum::extract::rejection::JsonRejection;
use axum::extract::{DefaultBodyLimit, FromRequest, Request};
use axum::http::{header, HeaderValue};
use axum::routing::{delete, get, post, put};
use axum::{Json, Router};
use serde::de::DeserializeOwned;
use tower_http::set_header::SetResponseHeaderLayer;
use utoipa::openapi::security::{ApiKey, ApiKeyValue, SecurityScheme};
use utoipa::{Modify, OpenApi};
use vigil_wire::api::{
    AccessRequest, ApiError, Asset, AssetSelector, AuditEntry, GrantedRole, Keystroke,
    LaunchRequest, Launched, LoginRequest, Me, NewAccessRequest, NewAsset, NewSmartRule, Protocol,
    RequestStatus, Session, SessionControls, SessionKind, SmartRule,
};

use self::doc::{InternalErrors, Streams};
use crate::error::AppError;
use crate::state::AppState;
use crate::{web, ws};

pub mod assets;
pub mod audit;
pub mod auth;
pub mod doc;
pub mod extract;
pub mod legal_hold;
pub mod ops;
pub mod params;
pub mod replay;
pub mod requests;
pub mod session_controls;
pub mod session_records;
pub mod sessions;
pub mod shares;
pub mod user_settings;
pub mod users;

#[cfg(test)]
mod tests;

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

#[derive(OpenApi)]
#[openapi(
    info(
        title = "Vigil relay API",
        description = "Bodies are the `vigil-wire` `api` types (JSON); errors are `ApiError {code, message}`. \
            Authenticate with `POST /api/v1/auth/login`, which sets the session cookie; every \
            state-changing request must also echo the login's `csrf_token` in the CSRF header. \
            Every operation has an `operationId` naming its verb and resource in camelCase \
            (`listSessions`, `lockSession`). The two WebSockets (`streamSession`, \
            `liveSessions`) are described in their operations' descriptions: the upgrade, \
            the messages each way with their `vigil-wire` type names, the version and the \
            close and error codes."
    ),
    modifiers(&SecurityAddon, &InternalErrors, &Streams),
    security(("session_cookie" = [])),
    components(schemas(
        ApiError,
        LoginRequest,
        Me,
        vigil_wire::api::KioskSettings,
        Protocol,
        Asset,
        GrantedRole,
        AssetSelector,
        SmartRule,
        RequestStatus,
        NewAccessRequest,
        AccessRequest,
        SessionKind,
        LaunchRequest,
        Launched,
        SessionControls,
        Session,
        Keystroke,
        AuditEntry,
        vigil_wire::audit::AuditAction,
        vigil_wire::audit::AuditVerification,
        vigil_wire::audit::AuditBreak,
        vigil_wire::audit::AuditProblem,
        vigil_wire::audit::RecordingSeal,
        vigil_wire::audit::SealedFile,
        vigil_wire::audit::AuditCheckpoint,
        NewAsset,
        vigil_wire::api::AcceptHostKey,
        NewSmartRule,
        vigil_wire::api::KeyboardLayoutSetting,
        vigil_wire::desktop::KeyboardLayout,
        vigil_wire::api::EmergencyScope,
        vigil_wire::api::EmergencyAction,
        vigil_wire::api::EmergencyRequest,
        vigil_wire::api::EmergencyDone,
        session_records::RecordingIndexDoc,
        session_records::IndexEntryDoc,
        vigil_wire::share::ShareKind,
        vigil_wire::share::ShareAudience,
        vigil_wire::share::NewShareLink,
        vigil_wire::share::ShareLinkUse,
        vigil_wire::share::ShareLink,
        vigil_wire::share::CreatedShareLink,
        vigil_wire::share::RedeemShareLink,
        vigil_wire::share::Redeemed,
        vigil_wire::share::JoinedVia,
        vigil_wire::share::LiveParticipant,
        vigil_wire::live::Participant,
        // The WebSockets' messages (their protocol is in `doc::Streams`).
        vigil_wire::live::ClientControl,
        vigil_wire::live::ServerControl,
        vigil_wire::live::FeedMsg,
        vigil_wire::live::Thumbnail,
        vigil_wire::desktop::DesktopParams,
        vigil_wire::desktop::InputEvent,
        vigil_wire::end::ErrorCode,
        vigil_wire::end::EndReason,
        vigil_wire::api::LegalHold,
        vigil_wire::api::SetLegalHold,
        crate::health::Health,
        crate::health::Readiness,
        crate::health::CheckResult,
    )),
    paths(
        auth::login,
        auth::logout,
        auth::me,
        auth::kiosk,
        assets::list,
        assets::create,
        assets::accept_host_key,
        assets::list_rules,
        assets::create_rule,
        users::delete_rule,
        users::disable,
        users::enable,
        users::end_logins,
        users::remove_member,
        users::emergency,
        user_settings::set_keyboard_layout,
        requests::list,
        requests::create,
        requests::approve,
        requests::deny,
        requests::checkin,
        sessions::list,
        sessions::launch,
        sessions::get,
        session_controls::lock,
        session_controls::unlock,
        session_controls::terminate,
        session_controls::terminate_and_cancel,
        session_records::keystrokes,
        session_records::recording,
        session_records::recording_index,
        replay::replay,
        replay::replay_index,
        shares::create,
        shares::list,
        shares::revoke,
        shares::redeem,
        shares::participants,
        legal_hold::set_legal_hold,
        ws::session::stream,
        ws::feed::live,
        audit::list,
        audit::verify,
        audit::export,
        openapi,
        ops::healthz,
        ops::readyz,
        ops::metrics,
    )
)]
pub struct ApiDoc;

/// Security schemes: the HttpOnly session cookie set at login, and the CSRF header
/// that state-changing requests must carry alongside it.
struct SecurityAddon;

impl Modify for SecurityAddon {
    fn modify(&self, openapi: &mut utoipa::openapi::OpenApi) {
        let components = openapi.components.get_or_insert_with(Default::default);
        components.add_security_scheme(
            "session_cookie",
            SecurityScheme::ApiKey(ApiKey::Cookie(ApiKeyValue::with_description(
                vigil_wire::SESSION_COOKIE,
                "Set by `POST /api/v1/auth/login` (HttpOnly, SameSite=Strict)",
            ))),
        );
        components.add_security_scheme(
            "csrf_token",
            SecurityScheme::ApiKey(ApiKey::Header(ApiKeyValue::with_description(
                vigil_wire::CSRF_HEADER,
                "The login's `Me.csrf_token`; required on every state-changing request",
            ))),
        );
    }
}

#[utoipa::path(get, path = "/api/v1/openapi.json", tag = "meta", operation_id = "getOpenApi", security(()),
    responses((status = 200, body = Object, description = "This document (OpenAPI 3.1)")))]
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
        .route("/kiosk", get(auth::kiosk))
        .route("/assets", get(assets::list).post(assets::create))
        .route(
            "/assets/{id}/accept-host-key",
            post(assets::accept_host_key),
        )
        .route("/rules", get(assets::list_rules).post(assets::create_rule))
        .route("/rules/{id}", delete(users::delete_rule))
        .route("/emergency", post(users::emergency))
        .route("/users/{name}/disable", post(users::disable))
        .route("/users/{name}/enable", post(users::enable))
        .route("/users/{name}/end-logins", post(users::end_logins))
        .route("/users/{name}/groups/{group}", delete(users::remove_member))
        .route(
            "/users/{name}/keyboard-layout",
            put(user_settings::set_keyboard_layout),
        )
        .route("/requests", get(requests::list).post(requests::create))
        .route("/requests/{id}/approve", post(requests::approve))
        .route("/requests/{id}/deny", post(requests::deny))
        .route("/requests/{id}/checkin", post(requests::checkin))
        .route("/sessions", get(sessions::list).post(sessions::launch))
        .route("/sessions/{id}", get(sessions::get))
        .route("/sessions/{id}/lock", post(session_controls::lock))
        .route("/sessions/{id}/unlock", post(session_controls::unlock))
        .route(
            "/sessions/{id}/terminate",
            post(session_controls::terminate),
        )
        .route(
            "/sessions/{id}/terminate-and-cancel",
            post(session_controls::terminate_and_cancel),
        )
        .route(
            "/sessions/{id}/keystrokes",
            get(session_records::keystrokes),
        )
        .route("/sessions/{id}/recording", get(session_records::recording))
        .route(
            "/sessions/{id}/recording/index",
            get(session_records::recording_index),
        )
        .route("/sessions/{id}/replay", get(replay::replay))
        .route("/sessions/{id}/replay/index", get(replay::replay_index))
        .route(
            "/sessions/{id}/shares",
            get(shares::list).post(shares::create),
        )
        .route("/sessions/{id}/participants", get(shares::participants))
        .route("/sessions/{id}/legal-hold", put(legal_hold::set_legal_hold))
        .route("/shares/redeem", post(shares::redeem))
        .route("/shares/{link_id}/revoke", post(shares::revoke))
        .route("/sessions/{id}/stream", get(ws::session::stream))
        .route("/live", get(ws::feed::live))
        .route("/audit", get(audit::list))
        .route("/audit/verify", get(audit::verify))
        .route("/audit/export", get(audit::export))
        .route("/openapi.json", get(openapi))
        .fallback(api_not_found)
        .layer(DefaultBodyLimit::max(1024 * 1024))
        // Keystrokes, recordings, `/me`: nothing under /api may be cached anywhere.
        .layer(SetResponseHeaderLayer::overriding(
            header::CACHE_CONTROL,
            HeaderValue::from_static("no-store"),
        ));
    let dist = state.config.dist_dir.clone();
    let tls = state.config.tls.is_some();
    let app = web::with_security_headers(
        Router::new()
            .nest("/api/v1", api)
            .merge(ops::routes())
            .fallback_service(web::spa(dist))
            .with_state(state),
    )
    // Outermost: every request, answered by any layer, gets its id and its one log event.
    .layer(axum::middleware::from_fn(crate::logging::requests));
    if tls {
        app.layer(SetResponseHeaderLayer::overriding(
            header::STRICT_TRANSPORT_SECURITY,
            HeaderValue::from_static(web::HSTS),
        ))
    } else {
        app
    }
}
