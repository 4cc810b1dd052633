//! The desktop (RDP) view: the relay's fast-path PDUs go to a decode Web Worker
//! (`vigil-decode`), its dirty pixels come back to a canvas; the user's keyboard and mouse
//! are captured.
//!
//! `input` and `replay` are pure and tested natively; `canvas`, `worker` and `view` touch
//! the DOM (wasm32 only).

pub mod input;
pub mod replay;

#[cfg(target_arch = "wasm32")]
pub mod canvas;
#[cfg(target_arch = "wasm32")]
pub mod view;
#[cfg(target_arch = "wasm32")]
pub mod worker;
