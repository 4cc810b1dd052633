//! The REST API (`/api/v1`) through gloo-net. Bodies are `vigil_wire::api` types.
//!
//! Cookies go with every request (same origin). State-changing requests carry the
//! CSRF token from `Me` (`GET /me` when the app starts; the login page, outside the
//! app, logs in) in [`vigil_wire::CSRF_HEADER`]. A 401 `unauthenticated`
//! anywhere means the login has lapsed: the registered hook sends the user to the
//! login page.

use std::cell::RefCell;
use std::rc::Rc;

use gloo_net::http::{Request, RequestBuilder, Response};
use serde::de::DeserializeOwned;
use serde::Serialize;
use vigil_wire::api::{
    AcceptHostKey, AccessRequest, Asset, AssetId, EmergencyDone, EmergencyRequest, Keystroke,
    LaunchRequest, Launched, Me, NewAccessRequest, RequestId, Session, SetLegalHold,
};
use vigil_wire::share::{CreatedShareLink, NewShareLink, RedeemShareLink, Redeemed, ShareLink};
use vigil_wire::CSRF_HEADER;

use crate::util::{api_next_step, sentence, Fetched};

const BASE: &str = "/api/v1";

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ApiError {
    /// The relay answered with an error status (and usually an `ApiError` body). Shown
    /// with what to do next, as every variant is (`util::api_next_step`).
    #[error("{said} {next}", said = sentence(message), next = api_next_step(Some(*status)))]
    Http {
        status: u16,
        code: String,
        message: String,
    },
    #[error("Cannot reach the relay ({0}). {next}", next = api_next_step(None))]
    Network(String),
    #[error("Unexpected answer from the relay ({0}). Reload the page (Vigil may have been updated), then try again.")]
    Decode(String),
}

impl ApiError {
    pub fn status(&self) -> Option<u16> {
        match self {
            ApiError::Http { status, .. } => Some(*status),
            _ => None,
        }
    }

    /// 404 or 403: the relay does not confirm ids to outsiders.
    pub fn is_not_available(&self) -> bool {
        matches!(self.status(), Some(403 | 404))
    }
}

thread_local! {
    static CSRF: RefCell<String> = const { RefCell::new(String::new()) };
    static ON_UNAUTHENTICATED: RefCell<Option<Rc<dyn Fn()>>> = const { RefCell::new(None) };
}

pub fn set_csrf(token: &str) {
    CSRF.with(|c| *c.borrow_mut() = token.to_string());
}

/// Called when any request answers 401 `unauthenticated`.
pub fn on_unauthenticated(f: impl Fn() + 'static) {
    ON_UNAUTHENTICATED.with(|h| *h.borrow_mut() = Some(Rc::new(f)));
}

fn url(path: &str) -> String {
    format!("{BASE}{path}")
}

/// A session id as a URL path segment.
pub fn seg(id: &str) -> String {
    String::from(js_sys::encode_uri_component(id))
}

fn with_csrf(b: RequestBuilder) -> RequestBuilder {
    let token = CSRF.with(|c| c.borrow().clone());
    b.header(CSRF_HEADER, &token)
}

async fn check(resp: Result<Response, gloo_net::Error>) -> Result<Response, ApiError> {
    let resp = resp.map_err(|e| ApiError::Network(e.to_string()))?;
    if resp.ok() {
        return Ok(resp);
    }
    let status = resp.status();
    let status_text = resp.status_text();
    let body = resp.text().await.unwrap_or_default();
    let (code, message) = match serde_json::from_str::<vigil_wire::api::ApiError>(&body) {
        Ok(e) => (e.code, e.message),
        Err(_) => (
            format!("http_{status}"),
            if status_text.is_empty() {
                format!("HTTP {status}")
            } else {
                format!("HTTP {status} {status_text}")
            },
        ),
    };
    if status == 401 && code == "unauthenticated" {
        if let Some(f) = ON_UNAUTHENTICATED.with(|h| h.borrow().clone()) {
            f();
        }
    }
    Err(ApiError::Http {
        status,
        code,
        message,
    })
}

async fn json<T: DeserializeOwned>(resp: Response) -> Result<T, ApiError> {
    resp.json::<T>()
        .await
        .map_err(|e| ApiError::Decode(e.to_string()))
}

async fn get<T: DeserializeOwned>(path: &str) -> Result<T, ApiError> {
    json(check(Request::get(&url(path)).send().await).await?).await
}

async fn post<B: Serialize, T: DeserializeOwned>(
    path: &str,
    body: Option<&B>,
) -> Result<T, ApiError> {
    json(post_raw(path, body).await?).await
}

async fn post_raw<B: Serialize>(path: &str, body: Option<&B>) -> Result<Response, ApiError> {
    let builder = with_csrf(Request::post(&url(path)));
    let req = match body {
        Some(b) => builder.json(b),
        None => builder.build(),
    }
    .map_err(|e| ApiError::Decode(e.to_string()))?;
    check(req.send().await).await
}

pub async fn logout() -> Result<(), ApiError> {
    post_raw::<()>("/auth/logout", None).await.map(|_| ())
}

/// What the administrator set for the kiosk view (its idle time).
pub async fn kiosk_settings() -> Result<vigil_wire::api::KioskSettings, ApiError> {
    get("/kiosk").await
}

pub async fn me() -> Result<Me, ApiError> {
    let me: Me = get("/me").await?;
    set_csrf(&me.csrf_token);
    Ok(me)
}

pub async fn assets() -> Result<Vec<Asset>, ApiError> {
    get("/assets").await
}

/// Pins the fingerprint the asset's target offered (administrators).
pub async fn accept_host_key(asset: AssetId, fingerprint: String) -> Result<Asset, ApiError> {
    let body = AcceptHostKey { fingerprint };
    post(&format!("/assets/{asset}/accept-host-key"), Some(&body)).await
}

pub async fn requests() -> Result<Vec<AccessRequest>, ApiError> {
    get("/requests").await
}

pub async fn new_request(body: NewAccessRequest) -> Result<AccessRequest, ApiError> {
    post("/requests", Some(&body)).await
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RequestAction {
    Approve,
    Deny,
    CheckIn,
}

pub async fn request_action(
    id: RequestId,
    action: RequestAction,
) -> Result<AccessRequest, ApiError> {
    let verb = match action {
        RequestAction::Approve => "approve",
        RequestAction::Deny => "deny",
        RequestAction::CheckIn => "checkin",
    };
    post::<(), _>(&format!("/requests/{id}/{verb}"), None).await
}

pub async fn sessions(state: &str) -> Result<Vec<Session>, ApiError> {
    get(&format!("/sessions?state={state}")).await
}

pub async fn session(id: &str) -> Result<Session, ApiError> {
    get(&format!("/sessions/{}", seg(id))).await
}

pub async fn launch(body: LaunchRequest) -> Result<Launched, ApiError> {
    post("/sessions", Some(&body)).await
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SessionAction {
    Lock,
    Unlock,
    Terminate,
    TerminateAndCancel,
}

pub async fn session_action(id: &str, action: SessionAction) -> Result<Session, ApiError> {
    let verb = match action {
        SessionAction::Lock => "lock",
        SessionAction::Unlock => "unlock",
        SessionAction::Terminate => "terminate",
        SessionAction::TerminateAndCancel => "terminate-and-cancel",
    };
    post::<(), _>(&format!("/sessions/{}/{verb}", seg(id)), None).await
}

/// Places (`hold`) or releases a session's legal hold (administrators, not on their own
/// session); a hold needs a reason.
pub async fn set_legal_hold(id: &str, hold: bool, reason: String) -> Result<Session, ApiError> {
    let body = SetLegalHold {
        hold,
        reason: Some(reason).filter(|r| !r.trim().is_empty()),
    };
    let req = with_csrf(Request::put(&url(&format!(
        "/sessions/{}/legal-hold",
        seg(id)
    ))))
    .json(&body)
    .map_err(|e| ApiError::Decode(e.to_string()))?;
    json(check(req.send().await).await?).await
}

/// Locks or terminates every live session of one user or one asset (administrators).
pub async fn emergency(body: EmergencyRequest) -> Result<EmergencyDone, ApiError> {
    post("/emergency", Some(&body)).await
}

/// The relay's page size for keystrokes (`KEYSTROKES_PAGE_MAX`).
const KEYSTROKES_PAGE: usize = 5000;

/// The whole keystroke log, page by page.
pub async fn keystrokes(id: &str) -> Result<Vec<Keystroke>, ApiError> {
    let mut all: Vec<Keystroke> = Vec::new();
    loop {
        let after = all
            .last()
            .map(|k| format!("&after={}", k.seq))
            .unwrap_or_default();
        let page: Vec<Keystroke> = get(&format!(
            "/sessions/{}/keystrokes?limit={KEYSTROKES_PAGE}{after}",
            seg(id)
        ))
        .await?;
        let short = page.len() < KEYSTROKES_PAGE;
        all.extend(page);
        if short {
            return Ok(all);
        }
    }
}

/// The recording's download (`SessionControls::download`).
pub fn recording_url(id: &str) -> String {
    url(&format!("/sessions/{}/recording", seg(id)))
}

/// The recording as the in-app replayer reads it (`SessionControls::watch`).
fn replay_url(id: &str) -> String {
    url(&format!("/sessions/{}/replay", seg(id)))
}

/// A terminal recording's text, for the replayer.
pub async fn recording(id: &str, progress: impl Fn(Fetched)) -> Result<String, ApiError> {
    let resp = check(Request::get(&replay_url(id)).send().await).await?;
    let bytes = read_body(resp, progress).await?;
    // As `Response.text()` reads it: a broken sequence becomes U+FFFD.
    Ok(String::from_utf8_lossy(&bytes).into_owned())
}

/// The body of `resp`, read as it arrives: `progress` hears each chunk (and the
/// announced size, `Content-Length`, when there is one).
async fn read_body(resp: Response, progress: impl Fn(Fetched)) -> Result<Vec<u8>, ApiError> {
    use wasm_bindgen::JsCast as _;
    let total = resp
        .headers()
        .get("content-length")
        .and_then(|v| v.trim().parse::<u64>().ok());
    let Some(body) = resp.body() else {
        // No stream to read (an empty answer).
        return resp
            .binary()
            .await
            .map_err(|e| ApiError::Decode(e.to_string()));
    };
    let reader: web_sys::ReadableStreamDefaultReader = body.get_reader().unchecked_into();
    let cap = total.unwrap_or(0).min(64 << 20);
    let mut out = Vec::with_capacity(usize::try_from(cap).unwrap_or(0));
    progress(Fetched { received: 0, total });
    loop {
        let chunk = wasm_bindgen_futures::JsFuture::from(reader.read())
            .await
            .map_err(|e| ApiError::Network(format!("{e:?}")))?;
        let chunk: web_sys::ReadableStreamReadResult = chunk.unchecked_into();
        if chunk.get_done().unwrap_or(true) {
            break;
        }
        let bytes = js_sys::Uint8Array::new(&chunk.get_value());
        let at = out.len();
        out.resize(at + bytes.length() as usize, 0);
        bytes.copy_to(&mut out[at..]);
        progress(Fetched {
            received: out.len() as u64,
            total,
        });
    }
    Ok(out)
}

/// The keyframe index of a desktop recording, for the replayer.
pub async fn recording_index(id: &str) -> Result<vigil_wire::recording::RecordingIndex, ApiError> {
    get(&format!("/sessions/{}/replay/index", seg(id))).await
}

/// Bytes `start..end` (end exclusive) of a recording, with an HTTP Range request. A relay
/// that ignores the range answers 200 with the whole file: the span is cut out of it.
/// `progress` hears the bytes as they arrive.
pub async fn recording_range(
    id: &str,
    start: u64,
    end: u64,
    progress: impl Fn(Fetched),
) -> Result<Vec<u8>, ApiError> {
    let range = format!("bytes={}-{}", start, end.saturating_sub(1));
    let resp = check(
        Request::get(&replay_url(id))
            .header("Range", &range)
            .send()
            .await,
    )
    .await?;
    let partial = resp.status() == 206;
    let bytes = read_body(resp, progress).await?;
    if partial {
        return Ok(bytes);
    }
    let (s, e) = (
        usize::try_from(start)
            .unwrap_or(usize::MAX)
            .min(bytes.len()),
        usize::try_from(end).unwrap_or(usize::MAX).min(bytes.len()),
    );
    Ok(bytes[s..e.max(s)].to_vec())
}

/// A whole recording as bytes (for the decode benchmark).
#[cfg(feature = "bench")]
pub async fn recording_bytes(id: &str) -> Result<Vec<u8>, ApiError> {
    let resp = check(Request::get(&replay_url(id)).send().await).await?;
    resp.binary()
        .await
        .map_err(|e| ApiError::Decode(e.to_string()))
}

/// Makes a share link for session `id`: the only answer that holds its token and code.
pub async fn create_share(id: &str, body: NewShareLink) -> Result<CreatedShareLink, ApiError> {
    post(&format!("/sessions/{}/shares", seg(id)), Some(&body)).await
}

/// The session's share links, for the people who may share it.
pub async fn shares(id: &str) -> Result<Vec<ShareLink>, ApiError> {
    get(&format!("/sessions/{}/shares", seg(id))).await
}

pub async fn revoke_share(link_id: &str) -> Result<ShareLink, ApiError> {
    post::<(), _>(&format!("/shares/{}/revoke", seg(link_id)), None).await
}

/// Opens a share link. The token (and code) go in the body only, never in a URL.
pub async fn redeem(token: String, code: Option<String>) -> Result<Redeemed, ApiError> {
    post("/shares/redeem", Some(&RedeemShareLink { token, code })).await
}

/// The path of a session's stream WebSocket.
pub fn stream_path(id: &str) -> String {
    url(&format!("/sessions/{}/stream", seg(id)))
}

pub fn live_path() -> String {
    url("/live")
}

/// The query string (with its `?`, or empty) of an audit filter.
pub fn audit_query_string(q: &vigil_wire::audit::AuditQuery) -> String {
    let mut parts = Vec::new();
    let mut put = |k: &str, v: String| {
        parts.push(format!(
            "{k}={}",
            String::from(js_sys::encode_uri_component(&v))
        ))
    };
    if let Some(v) = &q.session {
        put("session", v.clone());
    }
    if let Some(v) = &q.actor {
        put("actor", v.clone());
    }
    if let Some(v) = q.action {
        put("action", v.as_str().to_string());
    }
    if let Some(v) = q.since {
        put("since", v.to_string());
    }
    if let Some(v) = q.until {
        put("until", v.to_string());
    }
    if let Some(v) = q.before_seq {
        put("before_seq", v.to_string());
    }
    if let Some(v) = q.limit {
        put("limit", v.to_string());
    }
    if parts.is_empty() {
        String::new()
    } else {
        format!("?{}", parts.join("&"))
    }
}

/// Audit entries matching `q`, newest first (administrators).
pub async fn audit(
    q: &vigil_wire::audit::AuditQuery,
) -> Result<Vec<vigil_wire::audit::AuditEntry>, ApiError> {
    get(&format!("/audit{}", audit_query_string(q))).await
}

/// The audit chain's check (administrators).
pub async fn audit_verify() -> Result<vigil_wire::audit::AuditVerification, ApiError> {
    get("/audit/verify").await
}

/// Where the JSON Lines export of the entries matching `q` downloads from.
pub fn audit_export_url(q: &vigil_wire::audit::AuditQuery) -> String {
    url(&format!("/audit/export{}", audit_query_string(q)))
}
