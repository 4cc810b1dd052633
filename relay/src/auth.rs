//! Authentication mechanics: password hashes, login tokens, the `CurrentUser`
//! extractor (which also enforces CSRF on state-changing requests), Origin checks. What
//! a user may do is `permissions`' and `policy`'s.

use std::net::SocketAddr;
use std::sync::OnceLock;

use crate::error::AppError;
use crate::state::AppState;
use crate::store::users::UserRow;
use crate::store::{self, now_ms};
use argon2::password_hash::{
    rand_core::OsRng, PasswordHash, PasswordHasher, PasswordVerifier, SaltString,
};
use argon2::Argon2;
use axum::extract::connect_info::Connected;
use axum::extract::{ConnectInfo, FromRequestParts};
use axum::http::request::Parts;
use axum::http::{header, HeaderMap, HeaderValue, Method};
use base64::Engine;
use rand::RngCore;
use sha2::{Digest, Sha256};

pub fn hash_password(password: &str) -> Result<String, AppError> {
    let salt = SaltString::generate(&mut OsRng);
    Argon2::default()
        .hash_password(password.as_bytes(), &salt)
        .map(|h| h.to_string())
        .map_err(AppError::internal)
}

/// Constant work whether or not the user exists, so timing does not reveal usernames.
pub fn verify_password(hash: Option<&str>, password: &str) -> bool {
    static DUMMY: OnceLock<String> = OnceLock::new();
    let dummy = DUMMY.get_or_init(|| hash_password("vigil-dummy-password").unwrap_or_default());
    let (stored, real) = match hash {
        Some(h) => (h, true),
        None => (dummy.as_str(), false),
    };
    let ok = PasswordHash::new(stored)
        .map(|parsed| {
            Argon2::default()
                .verify_password(password.as_bytes(), &parsed)
                .is_ok()
        })
        .unwrap_or(false);
    ok && real
}

/// A fresh random token (32 bytes, URL-safe base64).
pub fn new_token() -> String {
    let mut b = [0u8; 32];
    rand::rngs::OsRng.fill_bytes(&mut b);
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(b)
}

/// What the database stores for a login token.
pub fn token_hash(token: &str) -> String {
    hex::encode(Sha256::digest(token.as_bytes()))
}

/// A fresh random session id: 16 bytes, hex.
pub fn new_session_id() -> String {
    let mut b = [0u8; 16];
    rand::rngs::OsRng.fill_bytes(&mut b);
    hex::encode(b)
}

/// Ids we hand out are 32 lower-case hex digits; anything else is not one of ours
/// (and must never reach a file path).
pub fn is_session_id(id: &str) -> bool {
    id.len() == 32
        && id
            .bytes()
            .all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b))
}

fn constant_time_eq(a: &[u8], b: &[u8]) -> bool {
    a.len() == b.len() && a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

/// The session cookie's name: `__Host-` prefixed when it is `Secure` (the browser
/// then insists on Secure, `Path=/` and no `Domain`), the plain name over HTTP.
pub fn session_cookie_name(secure: bool) -> String {
    if secure {
        format!("__Host-{}", vigil_wire::SESSION_COOKIE)
    } else {
        vigil_wire::SESSION_COOKIE.to_string()
    }
}

/// The login cookie. `max_age_secs: None` makes a session cookie, which the browser
/// forgets when it closes (a kiosk's login).
pub fn session_cookie(token: &str, max_age_secs: Option<i64>, secure: bool) -> HeaderValue {
    let name = session_cookie_name(secure);
    let secure = if secure { "; Secure" } else { "" };
    let max_age = max_age_secs
        .map(|s| format!("; Max-Age={s}"))
        .unwrap_or_default();
    let v = format!("{name}={token}; HttpOnly; SameSite=Strict; Path=/{max_age}{secure}");
    HeaderValue::from_str(&v).unwrap_or_else(|_| HeaderValue::from_static(""))
}

pub fn cookie_value<'a>(headers: &'a HeaderMap, name: &str) -> Option<&'a str> {
    headers
        .get_all(header::COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(';'))
        .filter_map(|kv| kv.trim().split_once('='))
        .find(|(k, _)| *k == name)
        .map(|(_, v)| v)
}

/// The relay's own origin, as the request reached it.
pub fn own_origin(state: &AppState, headers: &HeaderMap) -> Option<String> {
    let host = headers.get(header::HOST).and_then(|h| h.to_str().ok());
    state.config.origin_for_host(host)
}

/// `Some(true)`: Origin present and ours; `Some(false)`: present and foreign; `None`: absent.
pub fn origin_matches(state: &AppState, headers: &HeaderMap) -> Option<bool> {
    let origin = headers.get(header::ORIGIN)?;
    let origin = origin
        .to_str()
        .ok()
        .and_then(crate::config::normalise_origin);
    Some(match (origin, own_origin(state, headers)) {
        (Some(o), Some(own)) => o == own,
        _ => false,
    })
}

/// The logged-in user of a request. On a state-changing method it also requires the
/// CSRF header to equal the login's token, so every mutating handler gets CSRF
/// protection by asking for a `CurrentUser`.
#[derive(Debug, Clone)]
pub struct CurrentUser {
    pub user: UserRow,
    pub csrf_token: String,
    pub token_hash: String,
}

impl FromRequestParts<AppState> for CurrentUser {
    type Rejection = AppError;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, AppError> {
        let name = session_cookie_name(state.config.secure_cookies());
        let token = cookie_value(&parts.headers, &name).ok_or(AppError::Unauthenticated)?;
        let hash = token_hash(token);
        let login = store::logins::find(&state.db, &hash, now_ms())
            .await?
            .ok_or(AppError::Unauthenticated)?;
        let safe = matches!(parts.method, Method::GET | Method::HEAD | Method::OPTIONS);
        if !safe {
            let sent = parts
                .headers
                .get(vigil_wire::CSRF_HEADER)
                .map(|v| v.as_bytes())
                .unwrap_or_default();
            if !constant_time_eq(sent, login.csrf_token.as_bytes()) {
                return Err(AppError::Csrf);
            }
        }
        Ok(CurrentUser {
            user: login.user,
            csrf_token: login.csrf_token,
            token_hash: hash,
        })
    }
}

/// The peer address, for per-address throttling. The relay's accept loop puts it in
/// every request's extensions as `ConnectInfo<ClientAddr>`; `Connected` is for
/// `axum::serve` users (tests).
#[derive(Debug, Clone, Copy)]
pub struct ClientAddr(pub SocketAddr);

impl Connected<axum::serve::IncomingStream<'_, tokio::net::TcpListener>> for ClientAddr {
    fn connect_info(stream: axum::serve::IncomingStream<'_, tokio::net::TcpListener>) -> Self {
        ClientAddr(*stream.remote_addr())
    }
}

pub fn client_ip(parts_ext: &axum::http::Extensions) -> Option<std::net::IpAddr> {
    parts_ext
        .get::<ConnectInfo<ClientAddr>>()
        .map(|c| c.0 .0.ip())
}
