//! The tamper-evident audit log: a keyed hash chain in the database.
//!
//! - [`chain`]: the pure part: canonical encoding, hash, MAC, and the [`chain::Verifier`];
//! - [`key`]: the audit key, kept outside the data directory;
//! - [`seal`]: a finished session's recording files, hashed into the chain;
//! - [`verify`]: the whole check (chain and recordings) that the CLI and the API run.
//!
//! Appending, listing and pruning are in `store::audit`. Deleting the newest entries
//! cannot be seen from the chain alone, so the relay logs the chain head at start and
//! every `audit_head_interval` ([`log_head`]), for an outside copy to anchor it.

use std::time::Duration;

use crate::store::{self, Db};

pub mod chain;
pub mod key;
pub mod seal;
pub mod verify;

pub use key::AuditKey;

/// Logs the chain head once (target `vigil::audit`).
pub async fn log_head_once(db: &Db) {
    match store::audit::head(db).await {
        Ok((seq, hash)) => tracing::info!(target: "vigil::audit", seq, %hash, "Audit chain head"),
        Err(error) => tracing::warn!(target: "vigil::audit", %error, "Audit chain head unreadable"),
    }
}

/// Logs the chain head now and every `every`, until the process ends.
pub async fn log_head(db: Db, every: Duration) {
    let mut tick = tokio::time::interval(every);
    loop {
        tick.tick().await;
        log_head_once(&db).await;
    }
}
