//! Serving the app: static files from `dist_dir` with SPA fallback, the login page, and
//! the security headers every response carries.
//!
//! `cargo xtask dist` names every file but the pages (`index.html`, `login.html`) and
//! `robots.txt` by its content (`name.<16 hex>.ext`) and writes `.br` and `.gz` copies
//! beside the compressible ones. `/login` is `login.html`, a small page outside the wasm
//! app. Hashed files are served `immutable` for a year (a missing one is a 404, never the
//! page); everything else, the pages and the app routes' fallback included, is
//! `no-cache` (always revalidated). The precompressed copy the browser accepts is sent,
//! with `Vary: Accept-Encoding`.

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
    let hashed = ServeDir::new(&dist).precompressed_br().precompressed_gzip();
    let login = ServeFile::new(dist.join(LOGIN_PAGE))
        .precompressed_br()
        .precompressed_gzip();
    let files = hashed.clone().fallback(
        ServeFile::new(dist.join("index.html"))
            .precompressed_br()
            .precompressed_gzip(),
    );
    service_fn(move |req: Request| {
        let (hashed, files, login) = (hashed.clone(), files.clone(), login.clone());
        async move {
            let path = req.uri().path();
            if is_reserved(path) {
                return Ok(AppError::NotFound.into_response());
            }
            let immutable = is_hashed(path);
            let served = if immutable {
                hashed.oneshot(req).await
            } else if path == "/login" {
                login.oneshot(req).await
            } else {
                files.oneshot(req).await
            };
            let mut resp = match served {
                Ok(resp) => resp.into_response(),
                Err(never) => match never {},
            };
            let cache = if immutable && resp.status().is_success() {
                IMMUTABLE
            } else if immutable {
                "no-store"
            } else {
                "no-cache"
            };
            let headers = resp.headers_mut();
            headers.insert(header::CACHE_CONTROL, HeaderValue::from_static(cache));
            if !headers.contains_key(header::VARY) {
                headers.insert(header::VARY, HeaderValue::from_static("accept-encoding"));
            }
            Ok(resp)
        }
    })
}

/// The login page's file in `dist`, served at `/login`.
pub const LOGIN_PAGE: &str = "login.html";

/// `Cache-Control` of a content-hashed file: its name changes with its content.
pub const IMMUTABLE: &str = "public, max-age=31536000, immutable";

/// Whether the path's last segment has the shape of a content-hashed name,
/// `name.<16 hex digits>.ext`, as `cargo xtask dist` writes them.
fn is_hashed(path: &str) -> bool {
    let file = path.rsplit('/').next().unwrap_or_default();
    let mut parts = file.rsplit('.');
    let (Some(ext), Some(hash), Some(stem)) = (parts.next(), parts.next(), parts.next()) else {
        return false;
    };
    !ext.is_empty()
        && !stem.is_empty()
        && hash.len() == 16
        && hash.bytes().all(|b| b.is_ascii_hexdigit())
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

#[cfg(test)]
mod tests {
    use super::is_hashed;

    #[test]
    fn hashed_names() {
        assert!(is_hashed("/vigil_app_bg.0123456789abcdef.wasm"));
        assert!(is_hashed("/decode-worker.ABCDEF0123456789.js"));
        assert!(!is_hashed("/index.html") && !is_hashed("/vigil_app_bg.wasm"));
        assert!(!is_hashed("/x.0123456789abcde.js") && !is_hashed("/.0123456789abcdef.js"));
        assert!(!is_hashed("/sessions/0123456789abcdef") && !is_hashed("/"));
    }
}
