//! Serving the app: static files from `dist_dir` with SPA fallback, and the security
//! headers every response carries.

use std::convert::Infallible;
use std::future::Future;
use std::path::PathBuf;

use axum::extract::Request;
use axum::http::{header, HeaderName, HeaderValue};
use axum::response::{IntoResponse, Response};
use axum::Router;
use tower::{service_fn, ServiceExt};
use tower_http::services::{ServeDir, ServeFile};
use tower_http::set_header::SetResponseHeaderLayer;

use crate::error::AppError;

pub const CSP: &str = "default-src 'self'; script-src 'self' 'wasm-unsafe-eval'; worker-src 'self'; style-src 'self' 'unsafe-inline'; \
img-src 'self' data: blob:; connect-src 'self'; object-src 'none'; base-uri 'none'; frame-ancestors 'none'; form-action 'self'";

/// Files under `dist`, `index.html` for any other non-API path; JSON 404 under `/api`.
pub fn spa(
    dist: PathBuf,
) -> impl tower::Service<
    Request,
    Response = Response,
    Error = Infallible,
    Future = impl Future<Output = Result<Response, Infallible>> + Send,
> + Clone
       + Send
       + Sync
       + 'static {
    let files = ServeDir::new(&dist).fallback(ServeFile::new(dist.join("index.html")));
    service_fn(move |req: Request| {
        let files = files.clone();
        async move {
            let path = req.uri().path();
            if path == "/api" || path.starts_with("/api/") {
                return Ok(AppError::NotFound.into_response());
            }
            match files.oneshot(req).await {
                Ok(resp) => Ok(resp.into_response()),
                Err(never) => match never {},
            }
        }
    })
}

/// `Strict-Transport-Security`, sent when the relay serves TLS itself.
pub const HSTS: &str = "max-age=31536000";

pub fn with_security_headers(router: Router) -> Router {
    let set = |name: HeaderName, value: &'static str| {
        SetResponseHeaderLayer::overriding(name, HeaderValue::from_static(value))
    };
    router
        .layer(set(header::CONTENT_SECURITY_POLICY, CSP))
        .layer(set(header::X_CONTENT_TYPE_OPTIONS, "nosniff"))
        .layer(set(header::REFERRER_POLICY, "no-referrer"))
}
