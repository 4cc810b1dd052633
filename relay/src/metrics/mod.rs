//! Prometheus metrics at `/metrics`, through the `metrics` facade and its Prometheus
//! exporter (rendered by the relay's own route: the exporter runs no listener).
//!
//! Two kinds of figures:
//! - counters and histograms, recorded where things happen, in the relay, the hub
//!   and the RDP leg ([`vigil_hub::metrics`]), into the process's
//!   recorder (installed once, [`install`]);
//! - gauges of what is live now (sessions, locked sessions, observers), computed at each
//!   scrape from this relay's own tables ([`crate::transitions`], [`crate::participants`]),
//!   so they are right after any session ends, whatever path ended it.
//!
//! Labels are bounded enums only (protocol, kind, direction, participant, error code):
//! never a user, an asset, a session id or an address.

use std::sync::OnceLock;

use metrics_exporter_prometheus::{Matcher, PrometheusBuilder, PrometheusHandle};
use vigil_wire::api::{Protocol, SessionKind};
use vigil_wire::end::ErrorCode;

use crate::state::AppState;

pub mod access;
pub mod config;

/// Live sessions of this relay, by `protocol` and `kind` (gauge).
pub const SESSIONS_LIVE: &str = "vigil_sessions_live";
/// Live sessions whose user's input is locked, by `protocol` (gauge).
pub const SESSIONS_LOCKED: &str = "vigil_sessions_locked";
/// Observers attached to this relay's live sessions, by `protocol` (gauge).
pub const OBSERVERS: &str = "vigil_session_observers";
/// Sessions started, by `protocol` and `kind`.
pub const SESSIONS_STARTED: &str = "vigil_sessions_started_total";
/// Launches that failed, by `stage` (`refused`: the API refused it; `connect`: the
/// session ended before it connected) and `code`.
pub const LAUNCH_FAILURES: &str = "vigil_launch_failures_total";
/// Logins refused for a wrong username or password (or a disabled user).
pub const LOGIN_FAILURES: &str = "vigil_login_failures_total";
/// Logins refused because the login throttle locked the username or address out.
pub const LOGIN_LOCKOUTS: &str = "vigil_login_lockouts_total";

/// Active Sessions feeds (`/live`) closed because their client stopped reading.
pub const FEED_STALLS: &str = "vigil_feed_stalls_total";
/// Active Sessions feeds that missed changes and were sent the whole list again.
pub const FEED_RESYNCS: &str = "vigil_feed_resyncs_total";

/// Seconds one live message takes to be written to a viewer's WebSocket (histogram).
pub const WS_SEND_SECONDS: &str = "vigil_ws_send_seconds";

/// Bucket bounds of the RDP decode histogram, in seconds (100 µs to 250 ms).
const DECODE_BUCKETS: [f64; 11] = [
    0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25,
];

/// Bucket bounds of the lock histograms, in seconds (250 µs to 1 s; the goal for the
/// first dropped input is 20 ms).
const LOCK_BUCKETS: [f64; 12] = [
    0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.02, 0.05, 0.1, 0.25, 0.5, 1.0,
];

static HANDLE: OnceLock<Option<PrometheusHandle>> = OnceLock::new();

/// Installs the process's recorder (once; later calls return the same handle). `None`
/// if another recorder was installed first: then nothing is recorded here.
pub fn install() -> Option<PrometheusHandle> {
    HANDLE
        .get_or_init(|| {
            let builder = buckets().unwrap_or_else(|_| PrometheusBuilder::new());
            match builder.install_recorder() {
                Ok(handle) => {
                    describe();
                    Some(handle)
                }
                Err(error) => {
                    tracing::warn!(%error, "Metrics recorder not installed; /metrics shows live gauges only");
                    None
                }
            }
        })
        .clone()
}

/// The recorder's histogram buckets.
fn buckets() -> Result<PrometheusBuilder, metrics_exporter_prometheus::BuildError> {
    let mut builder = PrometheusBuilder::new().set_buckets_for_metric(
        Matcher::Full(vigil_hub::metrics::RDP_DECODE_SECONDS.into()),
        &DECODE_BUCKETS,
    )?;
    for name in vigil_hub::metrics::DESKTOP_PART_HISTOGRAMS
        .into_iter()
        .chain([WS_SEND_SECONDS])
    {
        builder = builder.set_buckets_for_metric(Matcher::Full(name.into()), &DECODE_BUCKETS)?;
    }
    for name in vigil_hub::metrics::LOCK_HISTOGRAMS {
        builder = builder.set_buckets_for_metric(Matcher::Full(name.into()), &LOCK_BUCKETS)?;
    }
    Ok(builder)
}

/// How often the recorder folds recorded histogram samples into its buckets.
pub const UPKEEP_EVERY: std::time::Duration = std::time::Duration::from_secs(5);

/// Folds histogram samples into their buckets every [`UPKEEP_EVERY`], so that memory stays
/// bounded when nobody scrapes (the exporter keeps samples until its upkeep runs).
pub async fn upkeep() {
    let Some(handle) = install() else { return };
    let mut every = tokio::time::interval(UPKEEP_EVERY);
    every.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        every.tick().await;
        handle.run_upkeep();
    }
}

fn describe() {
    use metrics::{describe_counter, describe_histogram, Unit};
    use vigil_hub::metrics as hub;
    describe_counter!(SESSIONS_STARTED, "Sessions started, by protocol and kind");
    describe_counter!(
        LAUNCH_FAILURES,
        "Launches that failed: refused by the API or ended before connecting, by stage and code"
    );
    describe_counter!(
        LOGIN_FAILURES,
        "Logins refused for a wrong username or password"
    );
    describe_counter!(LOGIN_LOCKOUTS, "Logins refused during a lockout");
    describe_counter!(
        FEED_STALLS,
        "Active Sessions feeds closed because their client stopped reading"
    );
    describe_counter!(
        FEED_RESYNCS,
        "Active Sessions feeds sent the whole list again after missing changes"
    );
    describe_counter!(
        hub::RELAYED_BYTES,
        Unit::Bytes,
        "Bytes between the relay and targets, by protocol and direction"
    );
    describe_counter!(
        hub::RECORDING_BYTES,
        Unit::Bytes,
        "Bytes written to recordings and keystroke logs"
    );
    describe_counter!(
        hub::RECORDING_FAILURES,
        "Recording writes that failed (each ends its session)"
    );
    describe_counter!(
        hub::QUEUE_DROPS,
        "Live messages a viewer's full queue missed, by participant"
    );
    describe_counter!(
        hub::RESYNCS,
        "Snapshots sent to viewers that lagged, by participant"
    );
    describe_histogram!(
        vigil_hub::metrics::RDP_DECODE_SECONDS,
        Unit::Seconds,
        "Time the relay spends decoding one RDP fast-path PDU"
    );
    describe_histogram!(
        hub::RDP_PEEK_SECONDS,
        Unit::Seconds,
        "Time the relay's screen copy spends reading one RDP PDU before decoding it (fragments, pointer)"
    );
    describe_histogram!(
        hub::RDP_SNAPSHOT_SECONDS,
        Unit::Seconds,
        "Time the relay spends making one desktop snapshot (joiners, lagging viewers, keyframes)"
    );
    describe_histogram!(
        hub::RDP_THUMBNAIL_SECONDS,
        Unit::Seconds,
        "Time the relay spends making one desktop thumbnail"
    );
    describe_histogram!(
        hub::RECORDING_WRITE_SECONDS,
        Unit::Seconds,
        "Time one write to a desktop recording takes"
    );
    describe_histogram!(
        WS_SEND_SECONDS,
        Unit::Seconds,
        "Time one live message takes to be written to a viewer's WebSocket"
    );
    describe_histogram!(
        hub::LOCK_APPLY_SECONDS,
        Unit::Seconds,
        "Lock request entering the relay to the session's input gate closed"
    );
    describe_histogram!(
        hub::LOCK_FIRST_DROP_SECONDS,
        Unit::Seconds,
        "Lock request entering the relay to the first of the user's input dropped"
    );
    describe_histogram!(
        hub::LOCK_NOTICE_SECONDS,
        Unit::Seconds,
        "Lock request entering the relay to the Locked notice written to the user's socket"
    );
    describe_counter!(
        vigil_hub::metrics::RDP_DECODE_ERRORS,
        "RDP PDUs the relay's screen copy could not decode"
    );
    // Series without labels exist from the start, at 0.
    for name in [
        LOGIN_FAILURES,
        LOGIN_LOCKOUTS,
        FEED_STALLS,
        FEED_RESYNCS,
        hub::RECORDING_BYTES,
        hub::RECORDING_FAILURES,
    ] {
        metrics::counter!(name).increment(0);
    }
}

/// The Prometheus text exposition: this relay's live gauges, then the process's counters
/// and histograms.
pub fn render(state: &AppState) -> String {
    let mut out = live_gauges(state);
    if let Some(handle) = install() {
        handle.run_upkeep();
        out.push_str(&handle.render());
    }
    out
}

/// The gauges, from this relay's tables now, rendered through a recorder of their own (so
/// relays sharing a process, as in tests, never mix their live figures).
fn live_gauges(state: &AppState) -> String {
    let recorder = PrometheusBuilder::new().build_recorder();
    let live = state.transitions.live();
    metrics::with_local_recorder(&recorder, || {
        metrics::describe_gauge!(
            SESSIONS_LIVE,
            "Live sessions of this relay, by protocol and kind"
        );
        metrics::describe_gauge!(
            SESSIONS_LOCKED,
            "Live sessions whose input is locked, by protocol"
        );
        metrics::describe_gauge!(
            OBSERVERS,
            "Observers attached to live sessions, by protocol"
        );
        for protocol in [Protocol::Ssh, Protocol::Rdp] {
            for kind in [SessionKind::Admin, SessionKind::Isa, SessionKind::Request] {
                let n = live
                    .iter()
                    .filter(|s| s.protocol == protocol && s.kind == kind)
                    .count();
                metrics::gauge!(SESSIONS_LIVE, "protocol" => protocol_label(protocol), "kind" => kind_label(kind))
                    .set(gauge_value(n));
            }
            let of_protocol = || live.iter().filter(|s| s.protocol == protocol);
            let locked = of_protocol().filter(|s| s.locked).count();
            metrics::gauge!(SESSIONS_LOCKED, "protocol" => protocol_label(protocol))
                .set(gauge_value(locked));
            let observers: u64 = of_protocol()
                .map(|s| u64::from(state.participants.watchers(&s.id)))
                .sum();
            metrics::gauge!(OBSERVERS, "protocol" => protocol_label(protocol))
                .set(f64::from(u32::try_from(observers).unwrap_or(u32::MAX)));
        }
    });
    recorder.handle().render()
}

fn gauge_value(n: usize) -> f64 {
    f64::from(u32::try_from(n).unwrap_or(u32::MAX))
}

pub fn protocol_label(protocol: Protocol) -> &'static str {
    match protocol {
        Protocol::Ssh => "ssh",
        Protocol::Rdp => "rdp",
    }
}

pub fn kind_label(kind: SessionKind) -> &'static str {
    match kind {
        SessionKind::Admin => "admin",
        SessionKind::Isa => "isa",
        SessionKind::Request => "request",
    }
}

pub fn session_started(protocol: Protocol, kind: SessionKind) {
    metrics::counter!(SESSIONS_STARTED, "protocol" => protocol_label(protocol), "kind" => kind_label(kind))
        .increment(1);
}

/// The API refused a launch with the error `code` (an `ApiError` code).
pub fn launch_refused(code: &'static str) {
    metrics::counter!(LAUNCH_FAILURES, "stage" => "refused", "code" => code).increment(1);
}

/// A session ended before it connected, with `code` (`none` without one).
pub fn launch_failed_to_connect(code: Option<ErrorCode>) {
    let code = code.map_or("none", ErrorCode::as_str);
    metrics::counter!(LAUNCH_FAILURES, "stage" => "connect", "code" => code).increment(1);
}

pub fn login_failed() {
    metrics::counter!(LOGIN_FAILURES).increment(1);
}

pub fn login_locked_out() {
    metrics::counter!(LOGIN_LOCKOUTS).increment(1);
}

pub fn feed_stalled() {
    metrics::counter!(FEED_STALLS).increment(1);
}

pub fn feed_resynced() {
    metrics::counter!(FEED_RESYNCS).increment(1);
}
