//! The desktop (RDP) view: decode the relay's fast-path PDUs with IronRDP, draw them on
//! a canvas, capture the user's keyboard and mouse.
//!
//! `decoder`, `input` and `replay` are pure and tested natively; `canvas` and `view`
//! touch the DOM (wasm32 only).

pub mod decoder;
pub mod input;
pub mod replay;

#[cfg(target_arch = "wasm32")]
pub mod canvas;
#[cfg(target_arch = "wasm32")]
pub mod view;
