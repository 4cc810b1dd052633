//! Vigil's browser-side RDP decoding, pure so that it builds and tests natively.
//!
//! - [`decoder`]: IronRDP's fast-path processor and the RGBA picture it draws into.
//! - [`protocol`]: the byte messages between a page and its decode Web Worker.
//! - [`engine`]: the worker's core: messages in, dirty pixels out.
//!
//! The page never decodes: `vigil-decode-worker` runs [`engine::Engine`] in a dedicated
//! worker, so a large keyframe or a burst of RemoteFX tiles cannot freeze the page.

// Protocol code converts between integer widths with `From`/`TryFrom` only: an `as` cast
// truncates silently.
#![warn(clippy::as_conversions)]

pub mod decoder;
pub mod engine;
pub mod protocol;

pub use decoder::Rect;
pub use engine::Engine;
pub use protocol::{DecodeStats, ProtocolError, ToWorker, Update};
