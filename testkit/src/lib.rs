//! Vigil's test kit: what the workspace's integration tests and benchmarks share.
//!
//! - [`targets`]: the project's real servers on loopback (sshd, xrdp, freerdp-shadow),
//!   started by `scripts/targets/`, and hostile fake targets served from the test process.
//! - [`relay`]: the relay binary (`vigil serve`) with its own data dir, seeded through the
//!   CLI ([`Cast`]: users, assets and Smart Rules shaped like the demo, names unique to one
//!   test).
//! - [`browser`]: one headless Chromium per person through chromedriver, with helpers for
//!   the app's `data-testid`s, xterm screens and desktop canvases, and bounded waits that
//!   fail with the page source and a screenshot.
//! - [`api`]: a REST client (cookie store, CSRF header) that keeps every body it receives.
//! - [`ws`]: a WebSocket that keeps every frame it receives ([`WsRecorder`]).
//!
//! Processes that outlive one test (a shared relay, sshd, the RDP targets, chromedriver)
//! are watched by a tiny shell loop that ends them when the test binary exits, however it
//! exits.

pub mod api;
pub mod browser;
mod process;
pub mod relay;
pub mod targets;
mod util;
pub mod ws;

pub use fantoccini;
pub use vigil_wire;

pub use api::{Api, Reply};
pub use browser::canvas::{compare_canvases, CanvasDiff, CanvasShot};
pub use browser::Browser;
pub use relay::{add_rdp_asset, vigil_cli, Cast, Login, RdpAssets, Relay};
pub use targets::rdp::{rdp_targets, RdpServer, RdpTargets};
pub use targets::sshd::{sshd, Sshd};
pub use util::*;
pub use ws::WsRecorder;
