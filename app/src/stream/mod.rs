//! A live session stream, as the connect page and the player show it.
//!
//! - [`status`]: where the stream stands ([`StreamStatus`], the status pill).
//! - [`state`]: the state machine, pure and tested natively: [`StreamState::apply`] takes
//!   what happened (a relay message, the socket opening or closing, the REST check after a
//!   close, a control's answer) and returns the [`Effect`]s for the page to perform.
//! - [`steps`]: the target connection's steps as the page lists them.
//! - [`events`]: what the state machine is told ([`Input`]) and what it asks of the page
//!   ([`Effect`], [`Notice`]).
//! - [`announce`]: what a state change tells screen readers ([`announce::change`]), pure.
//! - `hook` (wasm32 only): `use_session_stream`, the socket, terminal and desktop that
//!   perform those effects, used by both pages.

pub mod announce;
pub mod events;
pub mod state;
pub mod status;
pub mod steps;

#[cfg(target_arch = "wasm32")]
pub mod hook;

#[cfg(test)]
mod tests;

pub use state::{Check, Close, Effect, Input, Notice, Role, StreamState};
pub use status::StreamStatus;
