//! What the hub counts, through the `metrics` facade: nothing is kept without a recorder
//! (the relay installs its Prometheus exporter). Labels are only bounded enums: a protocol,
//! a direction, a participant's part; never a session id, a user or an address.

use vigil_wire::live::Participant;

/// The RDP leg's decode time (histogram, seconds) and decode errors, recorded by
/// [`vigil_rdp::screen::Screen`].
pub use vigil_rdp::screen::{
    DECODE_ERRORS as RDP_DECODE_ERRORS, DECODE_SECONDS as RDP_DECODE_SECONDS,
    PEEK_SECONDS as RDP_PEEK_SECONDS,
};

/// Seconds the relay spends making one snapshot payload of a desktop (joiners, lagging
/// viewers, keyframes): the screen as tiles, compressed (histogram).
pub const RDP_SNAPSHOT_SECONDS: &str = "vigil_rdp_snapshot_seconds";
/// Seconds the relay spends making one thumbnail of a desktop (histogram).
pub const RDP_THUMBNAIL_SECONDS: &str = "vigil_rdp_thumbnail_seconds";
/// Seconds one write to a desktop recording takes (histogram).
pub const RECORDING_WRITE_SECONDS: &str = "vigil_recording_write_seconds";
/// The per-part timings of a desktop's cost to the relay (histograms, seconds), each
/// with the decode's buckets.
pub const DESKTOP_PART_HISTOGRAMS: [&str; 4] = [
    RDP_PEEK_SECONDS,
    RDP_SNAPSHOT_SECONDS,
    RDP_THUMBNAIL_SECONDS,
    RECORDING_WRITE_SECONDS,
];

/// Bytes between the relay and targets, by `protocol` and `direction`.
pub const RELAYED_BYTES: &str = "vigil_relayed_bytes_total";
/// Bytes written to recordings (the session file, its index and its keystroke log).
pub const RECORDING_BYTES: &str = "vigil_recording_bytes_total";
/// Writes to a recording that failed (each ends its session with `recording_failed`).
pub const RECORDING_FAILURES: &str = "vigil_recording_failures_total";
/// Live messages a viewer's full queue did not take, by `participant`.
pub const QUEUE_DROPS: &str = "vigil_viewer_queue_drops_total";
/// Snapshots sent to a viewer that lagged, by `participant`.
pub const RESYNCS: &str = "vigil_viewer_resyncs_total";

/// Lock request → the gate closed (histogram, seconds; see [`crate::lock_timing`]).
pub const LOCK_APPLY_SECONDS: &str = "vigil_lock_apply_seconds";
/// Lock request → the first of the user's input dropped (histogram, seconds).
pub const LOCK_FIRST_DROP_SECONDS: &str = "vigil_lock_first_drop_seconds";
/// Lock request → the `Locked` notice written to the user's socket (histogram, seconds).
pub const LOCK_NOTICE_SECONDS: &str = "vigil_lock_notice_seconds";
/// The lock histograms' names, for their buckets.
pub const LOCK_HISTOGRAMS: [&str; 3] = [
    LOCK_APPLY_SECONDS,
    LOCK_FIRST_DROP_SECONDS,
    LOCK_NOTICE_SECONDS,
];

/// Which way bytes went.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Direction {
    /// The target's output (terminal data, RDP PDUs).
    FromTarget,
    /// What the relay sent the target (input, resizes, acknowledgements).
    ToTarget,
}

impl Direction {
    pub fn as_str(self) -> &'static str {
        match self {
            Direction::FromTarget => "from_target",
            Direction::ToTarget => "to_target",
        }
    }
}

/// A session's protocol, as a label.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Proto {
    Ssh,
    Rdp,
}

fn count(n: usize) -> u64 {
    u64::try_from(n).unwrap_or(u64::MAX)
}

/// Labels are literals at each call, so the `metrics` macros build their keys once
/// (statically) rather than on every count: these run per read from a target.
pub(crate) fn relayed(protocol: Proto, direction: Direction, bytes: usize) {
    use Direction::{FromTarget, ToTarget};
    let counter = match (protocol, direction) {
        (Proto::Ssh, FromTarget) => {
            metrics::counter!(RELAYED_BYTES, "protocol" => "ssh", "direction" => "from_target")
        }
        (Proto::Ssh, ToTarget) => {
            metrics::counter!(RELAYED_BYTES, "protocol" => "ssh", "direction" => "to_target")
        }
        (Proto::Rdp, FromTarget) => {
            metrics::counter!(RELAYED_BYTES, "protocol" => "rdp", "direction" => "from_target")
        }
        (Proto::Rdp, ToTarget) => {
            metrics::counter!(RELAYED_BYTES, "protocol" => "rdp", "direction" => "to_target")
        }
    };
    counter.increment(count(bytes));
}

pub(crate) fn lock_stage(stage: crate::LockStage, took: std::time::Duration) {
    use crate::LockStage::{Applied, FirstDrop, Notice};
    let histogram = match stage {
        Applied => metrics::histogram!(LOCK_APPLY_SECONDS),
        FirstDrop => metrics::histogram!(LOCK_FIRST_DROP_SECONDS),
        Notice => metrics::histogram!(LOCK_NOTICE_SECONDS),
    };
    histogram.record(took.as_secs_f64());
}

pub(crate) fn timed(name: &'static str, took: std::time::Duration) {
    metrics::histogram!(name).record(took.as_secs_f64());
}

pub(crate) fn recorded(bytes: usize) {
    metrics::counter!(RECORDING_BYTES).increment(count(bytes));
}

pub(crate) fn recording_failed() {
    metrics::counter!(RECORDING_FAILURES).increment(1);
}

pub(crate) fn dropped(participant: Participant) {
    match participant {
        Participant::User => metrics::counter!(QUEUE_DROPS, "participant" => "user").increment(1),
        Participant::Observer => {
            metrics::counter!(QUEUE_DROPS, "participant" => "observer").increment(1)
        }
    }
}

pub(crate) fn resynced(participant: Participant) {
    match participant {
        Participant::User => metrics::counter!(RESYNCS, "participant" => "user").increment(1),
        Participant::Observer => {
            metrics::counter!(RESYNCS, "participant" => "observer").increment(1)
        }
    }
}

#[cfg(test)]
mod tests {
    use metrics_util::debugging::{DebugValue, DebuggingRecorder, Snapshotter};
    use vigil_wire::live::ServerMsg;

    use super::*;
    use crate::fanout::Fanout;

    /// A counter's name, labels and count.
    type Counted = (String, Vec<(String, String)>, u64);

    /// What was counted since the last call (a snapshot takes the counts).
    fn take(snap: &Snapshotter) -> Vec<Counted> {
        snap.snapshot()
            .into_vec()
            .into_iter()
            .map(|(k, .., v)| {
                let labels = k
                    .key()
                    .labels()
                    .map(|l| (l.key().to_string(), l.value().to_string()))
                    .collect();
                let n = match v {
                    DebugValue::Counter(n) => n,
                    _ => 0,
                };
                (k.key().name().to_string(), labels, n)
            })
            .collect()
    }

    fn sum(taken: &[Counted], name: &str, label: (&str, &str)) -> u64 {
        taken
            .iter()
            .filter(|(n, labels, _)| {
                n == name && labels.iter().any(|(k, v)| k == label.0 && v == label.1)
            })
            .map(|(.., v)| v)
            .sum()
    }

    #[test]
    fn a_lagging_viewer_counts_its_drops_and_its_resync() {
        let recorder = DebuggingRecorder::new();
        let snap = recorder.snapshotter();
        metrics::with_local_recorder(&recorder, || {
            let mut fanout = Fanout::new(1);
            let mut rx = fanout.add(Participant::Observer, Vec::new());
            let snapshot = || vec![ServerMsg::Snapshot(b"screen".to_vec())];
            // One message fits; the next two find only the `RESERVED` slots: dropped.
            for _ in 0..3 {
                fanout.output(ServerMsg::Output(b"x".to_vec()), &snapshot);
            }
            let taken = take(&snap);
            assert_eq!(sum(&taken, QUEUE_DROPS, ("participant", "observer")), 2);
            assert_eq!(sum(&taken, RESYNCS, ("participant", "observer")), 0);
            // The viewer catches up: the next delivery resynchronises it, once.
            while rx.try_recv().is_ok() {}
            fanout.resync(&snapshot);
            fanout.resync(&snapshot);
            let taken = take(&snap);
            assert_eq!(sum(&taken, RESYNCS, ("participant", "observer")), 1);
            assert_eq!(sum(&taken, QUEUE_DROPS, ("participant", "user")), 0);
        });
    }

    #[test]
    fn bytes_are_counted_by_protocol_and_direction() {
        let recorder = DebuggingRecorder::new();
        let snap = recorder.snapshotter();
        metrics::with_local_recorder(&recorder, || {
            relayed(Proto::Ssh, Direction::FromTarget, 10);
            relayed(Proto::Ssh, Direction::FromTarget, 5);
            relayed(Proto::Rdp, Direction::ToTarget, 7);
        });
        let taken = take(&snap);
        assert_eq!(sum(&taken, RELAYED_BYTES, ("direction", "from_target")), 15);
        assert_eq!(sum(&taken, RELAYED_BYTES, ("protocol", "rdp")), 7);
        assert_eq!(sum(&taken, RELAYED_BYTES, ("protocol", "ssh")), 15);
    }
}
