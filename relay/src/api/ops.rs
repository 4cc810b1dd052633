//! Operations endpoints at the root, beside the app: `/healthz`, `/readyz` and `/metrics`.
//! None needs a login; `/metrics` is decided by `policy::scrape_metrics`. Their answers are
//! never the app's page.

use axum::extract::{Request, State};
use axum::http::{header, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::{Json, Router};
use tower_http::set_header::SetResponseHeaderLayer;
use vigil_wire::api::ApiError;

use crate::error::AppError;
use crate::health::{self, Health, Readiness};
use crate::metrics;
use crate::policy::{self, ScrapeRefused};
use crate::state::AppState;

/// The three endpoints, at the root; probes and scrapes are answered fresh, never cached.
pub fn routes() -> Router<AppState> {
    Router::new()
        .route("/healthz", get(healthz))
        .route("/readyz", get(readyz))
        .route("/metrics", get(metrics))
        .layer(SetResponseHeaderLayer::overriding(
            header::CACHE_CONTROL,
            HeaderValue::from_static("no-store"),
        ))
}

#[utoipa::path(get, path = "/healthz", tag = "ops", operation_id = "getHealth", security(()),
    responses((status = 200, body = Health, description = "The process serves requests")))]
pub async fn healthz() -> Json<Health> {
    Json(Health { status: "ok" })
}

#[utoipa::path(get, path = "/readyz", tag = "ops", operation_id = "getReadiness", security(()),
    responses(
        (status = 200, body = Readiness, description = "Every check passed: database, data dir, app bundle"),
        (status = 503, body = Readiness, description = "A check failed; each check is named with its result"),
    ))]
pub async fn readyz(State(state): State<AppState>) -> (StatusCode, Json<Readiness>) {
    let readiness = health::readiness(&state).await;
    let status = if readiness.checks.iter().all(|c| c.ok) {
        StatusCode::OK
    } else {
        StatusCode::SERVICE_UNAVAILABLE
    };
    (status, Json(readiness))
}

#[utoipa::path(get, path = "/metrics", tag = "ops", operation_id = "getMetrics",
    security(()),
    description = "Prometheus metrics. Refused unless the scrape comes from an address of `metrics.allow` \
        and, when `metrics.token` is set, carries `Authorization: Bearer <token>`.",
    responses(
        (status = 200, content_type = "text/plain; version=0.0.4", body = String, description = "Prometheus text exposition"),
        (status = 401, body = ApiError, description = "`unauthenticated`: `metrics.token` is set and the bearer token is missing or wrong"),
        (status = 403, body = ApiError, description = "`forbidden`: the scrape comes from an address outside `metrics.allow`"),
        (status = 404, body = ApiError, description = "`not_found`: metrics are disabled"),
    ))]
pub async fn metrics(State(state): State<AppState>, req: Request) -> Response {
    let peer = crate::auth::client_ip(req.extensions());
    let facts = metrics::access::facts(&state.config.metrics, peer, req.headers());
    match policy::scrape_metrics(&facts) {
        Ok(()) => (
            [(
                header::CONTENT_TYPE,
                HeaderValue::from_static("text/plain; version=0.0.4; charset=utf-8"),
            )],
            metrics::render(&state),
        )
            .into_response(),
        Err(ScrapeRefused::Disabled) => AppError::NotFound.into_response(),
        Err(ScrapeRefused::Address) => AppError::Forbidden.into_response(),
        Err(ScrapeRefused::Token) => (
            [(header::WWW_AUTHENTICATE, HeaderValue::from_static("Bearer"))],
            AppError::Unauthenticated,
        )
            .into_response(),
    }
}
