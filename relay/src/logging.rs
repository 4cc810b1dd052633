//! Logs: `tracing` to stderr, as text or JSON lines (`log_format`, `VIGIL_LOG_FORMAT`), the
//! level from `RUST_LOG` (default `info`); and the request middleware that gives every HTTP
//! request an id and logs it once.

use std::time::Instant;

use axum::extract::Request;
use axum::http::{HeaderName, HeaderValue};
use axum::middleware::Next;
use axum::response::Response;
use serde::Deserialize;
use tracing::Instrument;
use tracing_subscriber::EnvFilter;

/// The header that carries a request's id, both ways.
pub const REQUEST_ID: HeaderName = HeaderName::from_static("x-request-id");

/// How log lines are written.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum LogFormat {
    /// Human-readable lines.
    #[default]
    Text,
    /// One JSON object a line: `timestamp`, `level`, `target`, the event's fields (with
    /// `message`), and `span` (the current span's fields: `request_id`, `method` and `path`
    /// during a request).
    Json,
}

#[derive(Debug, thiserror::Error, PartialEq, Eq)]
#[error("log_format `{0}` is neither `text` nor `json`")]
pub struct BadLogFormat(pub String);

impl std::str::FromStr for LogFormat {
    type Err = BadLogFormat;
    fn from_str(s: &str) -> Result<Self, BadLogFormat> {
        match s.trim().to_ascii_lowercase().as_str() {
            "text" => Ok(LogFormat::Text),
            "json" => Ok(LogFormat::Json),
            _ => Err(BadLogFormat(s.to_string())),
        }
    }
}

/// Installs the process's subscriber (stderr), once, before anything logs.
pub fn init(format: LogFormat) {
    let filter = EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new("info"));
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr);
    match format {
        LogFormat::Text => builder.init(),
        LogFormat::Json => builder
            .json()
            .flatten_event(true)
            .with_current_span(true)
            .with_span_list(false)
            .init(),
    }
}

/// Paths scraped by machines: logged at debug, so probes do not fill the log.
fn is_probe(path: &str) -> bool {
    matches!(path, "/healthz" | "/readyz" | "/metrics")
}

/// A request id the relay accepts from a client or proxy: short, and only characters that
/// cannot forge a log line. Anything else is replaced.
fn acceptable_id(value: &HeaderValue) -> Option<String> {
    let s = value.to_str().ok()?;
    let ok = !s.is_empty()
        && s.len() <= 64
        && s.bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.'));
    ok.then(|| s.to_string())
}

fn new_id() -> String {
    format!("{:032x}", rand::random::<u128>())
}

/// The instant a request entered the relay (this middleware), for handlers that time
/// what they do from then (a lock: `vigil_hub::lock_timing`).
#[derive(Debug, Clone, Copy)]
pub struct Received(pub Instant);

/// Middleware: the request's id (the client's `x-request-id` if acceptable, else a new one),
/// a `request` span around its handling (so every event it causes carries `request_id`,
/// `method` and `path`), and
/// exactly one event when the response is ready: method, path (never the query string, which
/// may hold a token), status and latency. The response carries the id in `x-request-id`;
/// the request carries its arrival as a [`Received`] extension.
pub async fn requests(mut req: Request, next: Next) -> Response {
    let id = req
        .headers()
        .get(&REQUEST_ID)
        .and_then(acceptable_id)
        .unwrap_or_else(new_id);
    if let Ok(value) = HeaderValue::from_str(&id) {
        req.headers_mut().insert(REQUEST_ID, value);
    }
    let method = req.method().clone();
    let path = req.uri().path().to_string();
    let span = tracing::info_span!("request", request_id = %id, %method, %path);
    let started = Instant::now();
    req.extensions_mut().insert(Received(started));
    let mut response = next.run(req).instrument(span.clone()).await;
    let latency_ms = started.elapsed().as_secs_f64() * 1000.0;
    let status = response.status().as_u16();
    span.in_scope(|| {
        if is_probe(&path) {
            tracing::debug!(target: "vigil::http", request_id = %id, %method, %path, status, latency_ms, "Request");
        } else {
            tracing::info!(target: "vigil::http", request_id = %id, %method, %path, status, latency_ms, "Request");
        }
    });
    if let Ok(value) = HeaderValue::from_str(&id) {
        response.headers_mut().insert(REQUEST_ID, value);
    }
    response
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn formats_parse_and_ids_are_screened() {
        assert_eq!("json".parse::<LogFormat>(), Ok(LogFormat::Json));
        assert_eq!(" Text ".parse::<LogFormat>(), Ok(LogFormat::Text));
        assert!("yaml".parse::<LogFormat>().is_err());
        let v = |s: &'static str| HeaderValue::from_static(s);
        assert_eq!(
            acceptable_id(&v("abc-123_x.y")).as_deref(),
            Some("abc-123_x.y")
        );
        assert_eq!(acceptable_id(&v("a b")), None);
        assert_eq!(acceptable_id(&v("x\"}")), None);
        assert_eq!(
            acceptable_id(&HeaderValue::from_str(&"a".repeat(65)).expect("value")),
            None
        );
        assert_eq!(new_id().len(), 32);
        assert_ne!(new_id(), new_id());
    }
}
