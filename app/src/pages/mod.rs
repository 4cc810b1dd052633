//! One module per page (a route of `app`). Pages share what they need through `shell`
//! and `widgets`, never through each other.

pub mod active;
pub mod assets;
pub mod audit;
#[cfg(feature = "bench")]
pub mod bench;
pub mod connect;
pub mod player;
pub mod replay;
pub mod replay_player;
pub mod requests;
pub mod share;
