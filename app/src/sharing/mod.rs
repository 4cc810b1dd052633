//! Share links and who is watching, as both players show them.
//!
//! - [`form`]: the Share dialog's choices and the request they make; [`describe`]: how a
//!   link and a participant read; [`redeem`]: opening a link (`/share#<token>`) and where
//!   it leads. Pure, tested natively.
//! - wasm32 only: `panel` (Share, its dialog and the session's links with Revoke),
//!   `dialog`, `clipboard` (Copy link without a pop-up), `watchers` (Who is watching).

pub mod describe;
pub mod form;
pub mod redeem;

#[cfg(target_arch = "wasm32")]
mod clipboard;
#[cfg(target_arch = "wasm32")]
mod dialog;
#[cfg(target_arch = "wasm32")]
pub mod panel;
#[cfg(target_arch = "wasm32")]
pub mod watchers;

#[cfg(test)]
mod tests;
