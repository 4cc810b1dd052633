//! What a desktop snapshot costs the relay, for each one that reaches a viewer (a late
//! joiner, or a lagging viewer resynchronised): the time the screen copy spent making it
//! (the screen's snapshot PDUs and their zlib compression, off the core's mutex), the
//! whole screen job it ended (the queued PDUs decoded first, then the snapshot), and its
//! compressed bytes.
//!
//! Reported as one debug event on target `vigil::snapshot` (fields `id`, `micros`,
//! `job_micros`, `bytes` and `viewers`), which the late-join benchmark reads from the
//! relay's JSON log beside its browser-side figure. Its cost: one event per snapshot
//! delivered, none when the target is not enabled.

use std::time::Duration;

use vigil_wire::api::SessionId;

/// The `target` of the snapshot timing events.
pub const LOG_TARGET: &str = "vigil::snapshot";

/// How long the screen copy took over one snapshot.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub(crate) struct SnapshotCost {
    /// The snapshot PDUs and their compression.
    pub made_in: Duration,
    /// The job it ended: the queued PDUs decoded, then the snapshot.
    pub job: Duration,
}

/// One snapshot delivered to `viewers` viewers of session `id`.
pub(crate) fn report(id: &SessionId, cost: SnapshotCost, bytes: usize, viewers: usize) {
    if viewers == 0 {
        return;
    }
    tracing::debug!(
        target: LOG_TARGET,
        id = %id,
        micros = micros(cost.made_in),
        job_micros = micros(cost.job),
        bytes,
        viewers,
        "Snapshot timing"
    );
}

fn micros(d: Duration) -> u64 {
    u64::try_from(d.as_micros()).unwrap_or(u64::MAX)
}
