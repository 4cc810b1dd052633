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

/// Files under `dist`, `index.html` for any other path; JSON 404 under `/api` and the
/// operations endpoints.
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
            if is_reserved(path) {
                return Ok(AppError::NotFound.into_response());
            }
            match files.oneshot(req).await {
                Ok(resp) => Ok(resp.into_response()),
                Err(never) => match never {},
            }
        }
    })
}

/// Paths the app never answers: the API, and the operations endpoints (a path below them,
/// such as `/metrics/x`, is a JSON 404, never `index.html`).
fn is_reserved(path: &str) -> bool {
    ["/api", "/metrics", "/healthz", "/readyz"].iter().any(|p| {
        path == *p
            || path
                .strip_prefix(p)
                .is_some_and(|rest| rest.starts_with('/'))
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
