//! What the hub counts, through the `metrics` facade: nothing is kept without a recorder
//! (the relay installs its Prometheus exporter). Labels are only bounded enums: a protocol,
//! a direction, a participant's part; never a session id, a user or an address.

use vigil_wire::live::Participant;

/// The RDP leg's decode time (histogram, seconds) and decode errors, recorded by
/// [`vigil_rdp::screen::Screen`].
pub use vigil_rdp::screen::{
    DECODE_ERRORS as RDP_DECODE_ERRORS, DECODE_SECONDS as RDP_DECODE_SECONDS,
};

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
