//! Retention: recordings of sessions that ended more than `recordings_days` ago are
//! deleted unless a legal hold keeps them, and audit entries older than `audit_days` are
//! pruned behind a checkpoint. Every deletion is audited; `vigil audit verify` still
//! passes afterwards.
//!
//! - `config`: the `[retention]` settings (absent: keep everything forever);
//! - `decide`: the pure decisions (which recordings go, how far the audit log is pruned);
//! - `run`: one pass against the database and the recordings directory, and the relay's
//!   background task that runs it every `interval_secs` (`vigil retention run` runs one
//!   pass from the command line).

pub mod config;
pub mod decide;
pub mod run;

pub use config::{Retention, RetentionConfigError, RetentionFile};
pub use run::{carry_seals, prune_floor, run_once, task, CarryError, Report, RetentionError};
