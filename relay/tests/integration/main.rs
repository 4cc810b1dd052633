//! The relay's integration tests, in one binary (the relay and its dependencies are linked
//! once, not once per file): its router on a real socket (127.0.0.1:0) with a temporary
//! data dir, driven by reqwest and tokio-tungstenite ([`support`]). Sessions are mostly
//! rows inserted through the store; a real target is another suite's business.

mod support;

mod api_auth;
mod api_contract;
mod api_roles;
mod api_streams;
mod api_world;
mod asset_trust;
mod audit_chain;
mod audit_export;
mod authz_matrix;
mod authz_table;
mod controls;
mod corrupt_rows;
mod export_sinks;
mod flood;
mod keyboard_layout;
mod launch_limits;
mod live_stall;
mod login_throttle;
mod ops_endpoints;
mod recording_api;
mod retention;
mod share_recordings;
mod share_world;
mod shares;
mod web_assets;
mod web_hardening;
