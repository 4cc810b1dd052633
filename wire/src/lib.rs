//! `vigil-wire`: the one protocol spoken between the browser app and the relay.
//!
//! Both sides depend on this crate, so a field cannot exist on one side only.
//! It does no I/O and builds for `wasm32-unknown-unknown` as well as natively.
//!
//! - [`api`]: JSON bodies of the REST API under `/api/v1`.
//! - [`audit`]: the audit log's entries, actions and chain check.
//! - [`live`]: messages on the WebSockets (a session's stream, the Active Sessions feed).
//! - [`codec`]: how those messages map onto WebSocket text and binary frames.
//! - [`keys`]: readable names for the bytes a terminal user types.
//! - [`desktop`]: RDP activation parameters and typed input events.
//! - [`recording`]: the desktop recording format (written by the relay, replayed by the app).
//! - [`end`]: error codes and end reasons, typed.
//! - [`share`]: share links and a session's live participants.

// Protocol code converts between integer widths with `From`/`TryFrom` only: an `as` cast
// truncates silently.
#![warn(clippy::as_conversions)]

pub mod api;
pub mod audit;
pub mod codec;
pub mod connect;
pub mod desktop;
pub mod end;
pub mod keys;
pub mod live;
pub mod recording;
pub mod share;

/// Version of the WebSocket protocol. The relay refuses a `Hello` that names another.
/// Bump it for any change an older peer would misread; a field added with a serde default
/// and omitted when empty (such as `Keystroke::browser_text`) is read the same by both
/// (serde ignores unknown fields; no type here denies them), so it needs no bump.
pub const PROTOCOL_VERSION: u16 = 2;

/// Header that carries the CSRF token on every state-changing REST request.
pub const CSRF_HEADER: &str = "x-vigil-csrf";

/// Name of the session cookie (HttpOnly, SameSite=Strict).
pub const SESSION_COOKIE: &str = "vigil_session";

/// The two lock messages, word for word as the product defines them.
pub const SSH_LOCK_MESSAGE: &str =
    "Your session has been locked, please contact your Administrator.";
pub const RDP_LOCK_MESSAGE: &str =
    "Your session has been locked. Please contact your administrator.";
