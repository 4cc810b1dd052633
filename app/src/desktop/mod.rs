//! The desktop (RDP) view: the relay's fast-path PDUs go to a decode Web Worker
//! (`vigil-decode`), its dirty pixels come back to a canvas; the user's keyboard and mouse
//! are captured.
//!
//! `input`, `modifiers` (modifier state kept in step with each key event's flags) and
//! `replay` are pure and tested natively. The rest touches the DOM (wasm32 only):
//! `engine` (the [`engine::Desktop`]: worker, canvas, fences), `worker` and `canvas` under it, `pointer` (the server pointer's look), `capture` (input listeners
//! and batching), `view` (the component) and, in benchmark builds, `stats`.

pub mod input;
pub mod modifiers;
pub mod replay;

#[cfg(target_arch = "wasm32")]
pub mod canvas;
#[cfg(target_arch = "wasm32")]
pub mod capture;
#[cfg(target_arch = "wasm32")]
pub mod engine;
#[cfg(target_arch = "wasm32")]
pub mod pointer;
#[cfg(all(target_arch = "wasm32", feature = "bench"))]
pub mod stats;
#[cfg(target_arch = "wasm32")]
pub mod view;
#[cfg(target_arch = "wasm32")]
pub mod worker;
