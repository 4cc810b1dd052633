//! The exporter task: it tails the audit log by `seq` and delivers to the sink in order,
//! in batches, moving the sink's cursor only after the sink accepted a batch. It polls
//! the chain's head every second, so entries written by the command line or another
//! relay are exported too; appending never waits for it.

use std::time::{Duration, Instant};

use tokio_util::sync::CancellationToken;
use vigil_wire::audit::AuditQuery;

use super::backoff::Backoff;
use super::config::AuditExport;
use super::sink::{Sink, SinkError};
use crate::store::{self, now_ms, Db};

/// How often the head is compared with the cursor.
pub const POLL: Duration = Duration::from_secs(1);
/// How long a relay's claim on a sink lasts without renewal (each batch renews it).
pub const LEASE: Duration = Duration::from_secs(60);
/// Repeated warnings (delivery failures, the backlog) at most this often.
const WARN_EVERY: Duration = Duration::from_secs(60);

#[derive(Debug, thiserror::Error)]
enum ExportError {
    #[error("audit export database: {0}")]
    Db(#[from] sqlx::Error),
    #[error(transparent)]
    Sink(#[from] SinkError),
}

pub struct Exporter {
    db: Db,
    export: AuditExport,
    sink: Sink,
    /// The cursor's key.
    key: String,
    /// This relay, as the lease holder.
    holder: String,
    failures: Throttled,
    backlog: Throttled,
}

impl Exporter {
    /// Registers the sink's cursor (forgetting any other sink's).
    pub async fn new(db: Db, export: AuditExport, sink: Sink) -> Result<Exporter, sqlx::Error> {
        let key = Sink::key(&export.sink);
        store::export::register(&db, &key).await?;
        let holder = format!(
            "{}-{}",
            std::process::id(),
            hex::encode(rand::random::<[u8; 8]>())
        );
        Ok(Exporter {
            db,
            export,
            sink,
            key,
            holder,
            failures: Throttled::default(),
            backlog: Throttled::default(),
        })
    }

    /// Delivers until `stop`, then gives the lease up.
    pub async fn run(mut self, stop: CancellationToken) {
        tracing::info!(target: "vigil::export", sink = %self.key, "Audit export started");
        let mut backoff = Backoff::default();
        loop {
            let wait = match self.pump(&stop).await {
                Ok(()) => {
                    if backoff.failures() > 0 {
                        tracing::info!(target: "vigil::export", sink = %self.key, "The audit sink accepts entries again");
                    }
                    backoff.succeeded();
                    POLL
                }
                Err(error) => {
                    let wait = backoff.failed(rand::random::<f64>());
                    if let Some(suppressed) = self.failures.due(Instant::now()) {
                        tracing::warn!(
                            target: "vigil::export",
                            sink = %self.key,
                            %error,
                            failures = backoff.failures(),
                            retry_in_ms = u64::try_from(wait.as_millis()).unwrap_or(u64::MAX),
                            suppressed,
                            "Audit export delivery failed; the entries stay queued in the audit log"
                        );
                    }
                    wait
                }
            };
            tokio::select! {
                () = stop.cancelled() => break,
                () = tokio::time::sleep(wait) => {}
            }
        }
        if let Err(error) = store::export::release(&self.db, &self.key, &self.holder).await {
            tracing::debug!(target: "vigil::export", %error, "Audit export lease not released");
        }
    }

    /// Delivers everything after the cursor, if this relay holds (or takes) the lease.
    async fn pump(&mut self, stop: &CancellationToken) -> Result<(), ExportError> {
        let Some((cursor, head)) = store::export::position(&self.db, &self.key).await? else {
            // Removed by a relay configured without this sink: register it again.
            store::export::register(&self.db, &self.key).await?;
            return Ok(());
        };
        let backlog = u64::try_from(head - cursor).unwrap_or(0);
        if backlog > self.export.backlog_warn {
            if let Some(suppressed) = self.backlog.due(Instant::now()) {
                tracing::warn!(
                    target: "vigil::export",
                    sink = %self.key,
                    backlog,
                    cursor,
                    head,
                    suppressed,
                    "Audit export backlog above backlog_warn"
                );
            }
        }
        if head <= cursor {
            return Ok(());
        }
        let now = now_ms();
        let Some(mut at) =
            store::export::claim(&self.db, &self.key, &self.holder, now, lease_end(now)).await?
        else {
            return Ok(()); // Another relay exports.
        };
        let query = AuditQuery::default();
        let limit = i64::try_from(self.export.batch_size).unwrap_or(100);
        while !stop.is_cancelled() {
            let entries = store::audit::page_after(&self.db, &query, at, limit).await?;
            let (Some(first), Some(last)) = (entries.first(), entries.last()) else {
                break;
            };
            if first.seq > at + 1 {
                tracing::warn!(
                    target: "vigil::export",
                    sink = %self.key,
                    from = at + 1,
                    through = first.seq - 1,
                    "Audit entries were pruned before they were exported"
                );
            }
            let last = last.seq;
            self.sink.deliver(&entries).await?;
            if !store::export::advance(&self.db, &self.key, &self.holder, last, lease_end(now_ms()))
                .await?
            {
                tracing::info!(target: "vigil::export", sink = %self.key, "Another relay took the audit export over");
                break;
            }
            at = last;
        }
        Ok(())
    }
}

fn lease_end(now: i64) -> i64 {
    now + i64::try_from(LEASE.as_millis()).unwrap_or(60_000)
}

/// A warning at most every [`WARN_EVERY`], counting the ones left out.
#[derive(Debug, Default)]
struct Throttled {
    last: Option<Instant>,
    suppressed: u64,
}

impl Throttled {
    /// `Some(how many were suppressed since the last)` when one may be logged at `now`.
    fn due(&mut self, now: Instant) -> Option<u64> {
        match self.last {
            Some(last) if now.duration_since(last) < WARN_EVERY => {
                self.suppressed += 1;
                None
            }
            _ => {
                self.last = Some(now);
                Some(std::mem::take(&mut self.suppressed))
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn warnings_are_rate_limited() {
        let mut t = Throttled::default();
        let start = Instant::now();
        assert_eq!(t.due(start), Some(0));
        assert_eq!(t.due(start + Duration::from_secs(1)), None);
        assert_eq!(t.due(start + Duration::from_secs(59)), None);
        assert_eq!(t.due(start + Duration::from_secs(60)), Some(2));
        assert_eq!(t.due(start + Duration::from_secs(61)), None);
    }
}
