//! Audit export: every audit entry is also sent to one external sink per deployment,
//! syslog (RFC 5424 over UDP, TCP or TLS) or an HMAC-signed HTTPS webhook.
//!
//! The audit table is the queue: the [`exporter`] tails it by `seq` and moves a per-sink
//! cursor (`audit_export_cursor`, `store::export`) only after the sink accepted a batch,
//! so an outage of the sink or a restart of the relay loses nothing (delivery is at
//! least once, in seq order; each message carries the entry's seq and hash). Appending
//! never waits for it. Relays sharing a database export one at a time (a lease on the
//! cursor). Retention must not prune past [`export_floor`].
//!
//! - [`config`]: the `[audit_export]` settings;
//! - [`syslog`]: RFC 5424 messages and octet-counted framing (pure);
//! - [`signature`]: the webhook's HMAC signature (pure);
//! - [`backoff`]: retry delays (pure);
//! - [`sink`]: the opened sink; [`transport`]: syslog's sockets; [`webhook`]: the POST;
//!   [`tls`]: their TLS client settings;
//! - [`exporter`]: the task.

use tokio_util::sync::CancellationToken;

use crate::store::{self, Db};

pub mod backoff;
pub mod config;
pub mod exporter;
pub mod signature;
pub mod sink;
pub mod syslog;
pub mod tls;
pub mod transport;
pub mod webhook;

pub use config::AuditExport;

/// The lowest seq every configured sink has accepted (`None` without a sink). Audit
/// retention may remove entries up to it, never past it.
pub async fn export_floor(db: &Db) -> Result<Option<i64>, sqlx::Error> {
    store::export::floor(db).await
}

/// Opens the configured sink and starts exporting until `stop`; without one, forgets
/// the cursors a previous configuration left, so that they hold no entry back.
pub async fn start(
    db: &Db,
    export: Option<&AuditExport>,
    stop: CancellationToken,
) -> anyhow::Result<()> {
    let Some(export) = export else {
        let forgotten = store::export::forget_all(db).await?;
        if forgotten > 0 {
            tracing::info!(target: "vigil::export", count = forgotten, "Audit export is off; its cursors were removed");
        }
        return Ok(());
    };
    let sink = sink::Sink::open(&export.sink)?;
    let exporter = exporter::Exporter::new(db.clone(), export.clone(), sink).await?;
    tokio::spawn(exporter.run(stop));
    Ok(())
}
