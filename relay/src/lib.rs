//! `vigil-relay`: configuration, storage, the credential vault, authentication, the
//! policy module, the REST API and WebSocket endpoints, and serving the app.
//!
//! - [`policy`] takes every authorization decision, on the [`permissions`] view of the
//!   user (cached against the database's change counter); [`rules`] matches Smart Rules;
//!   [`requests`] is the access-request lifecycle. All three are pure.
//! - [`store`] is the database, behind functions that take a pool.
//! - [`api::router`] builds the whole HTTP surface; [`app`] starts and serves it.

pub mod access;
pub mod api;
pub mod app;
pub mod audit;
pub mod auth;
pub mod backup;
pub mod cli;
pub mod config;
pub mod error;
pub mod export;
pub mod health;
pub mod legal_hold;
pub mod lifecycle;
pub mod logging;
pub mod metrics;
pub mod participants;
pub mod permissions;
pub mod policy;
pub mod requests;
pub mod reseal;
pub mod retention;
pub mod rules;
pub mod service;
pub mod share;
pub mod state;
pub mod store;
pub mod throttle;
pub mod tls;
pub mod transitions;
pub mod vault;
pub mod web;
pub mod ws;

pub use api::router;
pub use state::AppState;
