//! How long a lock takes to act, measured at the relay for each lock: from the instant
//! its request entered the relay to the instant the hub closed the gate (`applied`), to
//! the first of the user's input the session dropped after it (`first_drop`), and to the
//! `Locked` notice written to the user's socket (`notice`).
//!
//! [`LockTiming`] is the sans-IO part: it is told instants and answers durations, each at
//! most once per lock. [`LockClock`] shares it between the hub (which closes the gate),
//! the session's driver (which drops input) and the relay's socket task (which writes the
//! notice), and reports each figure as a histogram ([`crate::metrics`]) and as one debug
//! event on target `vigil::lock` (fields `stage` and `micros`), exact per lock, which the
//! lock benchmark reads from the relay's JSON log. Its cost: one short mutex per lock, per
//! `Locked` notice and per input dropped; none on input that goes through.

use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use serde::{Deserialize, Serialize};
use vigil_wire::api::SessionId;

/// The `target` of the lock timing events.
pub const LOG_TARGET: &str = "vigil::lock";

/// Which figure an event or a histogram holds; each is measured from the lock request.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum LockStage {
    /// The hub closed the gate (the lock epoch advanced).
    Applied,
    /// The first of the user's input dropped after the lock.
    FirstDrop,
    /// The `Locked` notice written to the user's socket.
    Notice,
}

impl LockStage {
    pub fn as_str(self) -> &'static str {
        match self {
            LockStage::Applied => "applied",
            LockStage::FirstDrop => "first_drop",
            LockStage::Notice => "notice",
        }
    }
}

/// The latest lock's request instant, and which of its figures are still to come.
#[derive(Debug, Default)]
pub(crate) struct LockTiming {
    requested: Option<Instant>,
    drop_due: bool,
    notice_due: bool,
}

impl LockTiming {
    /// A lock requested at `requested` is about to close the gate: the first drop is due,
    /// and the notice if a user is attached to be told (one who joins later is told on
    /// joining, which says nothing of the lock's speed). Armed before the gate closes,
    /// since the notice may leave as soon as it does.
    pub(crate) fn locking(&mut self, requested: Instant, user: bool) {
        self.requested = Some(requested);
        self.drop_due = true;
        self.notice_due = user;
    }

    /// The gate closed at `now`: the `applied` figure of the lock being made.
    pub(crate) fn applied(&self, now: Instant) -> Option<Duration> {
        Some(now.saturating_duration_since(self.requested?))
    }

    /// Unlocked: what the lock had not yet measured is no longer about it.
    pub(crate) fn unlocked(&mut self) {
        self.drop_due = false;
        self.notice_due = false;
    }

    /// Input was dropped at `now`: the `first_drop` figure, once per lock.
    pub(crate) fn dropped(&mut self, now: Instant) -> Option<Duration> {
        Self::take(&mut self.drop_due, self.requested, now)
    }

    /// The `Locked` notice left on the user's socket at `now`: the `notice` figure, once
    /// per lock.
    pub(crate) fn notice_sent(&mut self, now: Instant) -> Option<Duration> {
        Self::take(&mut self.notice_due, self.requested, now)
    }

    fn take(due: &mut bool, requested: Option<Instant>, now: Instant) -> Option<Duration> {
        let requested = requested.filter(|_| std::mem::take(due))?;
        Some(now.saturating_duration_since(requested))
    }
}

/// One session's [`LockTiming`], shared; cheap to clone.
#[derive(Debug, Clone)]
pub struct LockClock {
    id: SessionId,
    timing: Arc<Mutex<LockTiming>>,
}

impl LockClock {
    pub(crate) fn new(id: SessionId) -> LockClock {
        LockClock {
            id,
            timing: Arc::default(),
        }
    }

    fn timing(&self) -> std::sync::MutexGuard<'_, LockTiming> {
        crate::hub::lock_core(&self.timing)
    }

    /// Closes the gate (`close`, under the session's mutex) for a lock requested at
    /// `requested`, with the `user` attached or not; timed from before it closes, since
    /// the user's socket task may write the notice the moment it does.
    pub(crate) fn lock(&self, requested: Instant, user: bool, close: impl FnOnce()) {
        self.timing().locking(requested, user);
        close();
        let took = self.timing().applied(Instant::now());
        if let Some(took) = took {
            self.report(LockStage::Applied, took);
        }
    }

    pub(crate) fn unlocked(&self) {
        self.timing().unlocked();
    }

    /// The session dropped some of the user's input.
    pub(crate) fn dropped(&self) {
        let took = self.timing().dropped(Instant::now());
        if let Some(took) = took {
            self.report(LockStage::FirstDrop, took);
        }
    }

    /// A `Locked` notice was just written to the user's socket.
    pub fn notice_sent(&self) {
        let took = self.timing().notice_sent(Instant::now());
        if let Some(took) = took {
            self.report(LockStage::Notice, took);
        }
    }

    fn report(&self, stage: LockStage, took: Duration) {
        crate::metrics::lock_stage(stage, took);
        let micros = u64::try_from(took.as_micros()).unwrap_or(u64::MAX);
        tracing::debug!(target: LOG_TARGET, id = %self.id, stage = stage.as_str(), micros, "Lock timing");
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ms(n: u64) -> Duration {
        Duration::from_millis(n)
    }

    #[test]
    fn each_figure_is_measured_from_the_request_once_per_lock() {
        let t0 = Instant::now();
        let mut t = LockTiming::default();
        // Nothing is due before a lock.
        assert_eq!(t.dropped(t0 + ms(1)), None);
        assert_eq!(t.notice_sent(t0 + ms(1)), None);
        t.locking(t0, true);
        assert_eq!(t.applied(t0 + ms(2)), Some(ms(2)));
        assert_eq!(t.notice_sent(t0 + ms(3)), Some(ms(3)));
        assert_eq!(t.notice_sent(t0 + ms(4)), None);
        assert_eq!(t.dropped(t0 + ms(5)), Some(ms(5)));
        // Later drops of the same lock are not its first.
        assert_eq!(t.dropped(t0 + ms(6)), None);
        // The next lock is measured from its own request.
        let t1 = t0 + ms(100);
        t.locking(t1, true);
        assert_eq!(t.applied(t1 + ms(1)), Some(ms(1)));
        assert_eq!(t.dropped(t1 + ms(7)), Some(ms(7)));
    }

    #[test]
    fn an_unlock_ends_what_its_lock_had_not_measured() {
        let t0 = Instant::now();
        let mut t = LockTiming::default();
        t.locking(t0, true);
        t.unlocked();
        // Input stamped while locked and dropped after the unlock is not timed as the lock's.
        assert_eq!(t.dropped(t0 + ms(50)), None);
        assert_eq!(t.notice_sent(t0 + ms(50)), None);
    }

    #[test]
    fn no_notice_is_timed_for_a_user_who_was_not_there() {
        let t0 = Instant::now();
        let mut t = LockTiming::default();
        t.locking(t0, false);
        // The user joins a minute later and is told on joining: not the lock's figure.
        assert_eq!(t.notice_sent(t0 + ms(60_000)), None);
        assert_eq!(t.dropped(t0 + ms(60_001)), Some(ms(60_001)));
    }

    #[test]
    fn applied_is_timed_only_for_a_lock_and_never_below_zero() {
        let t0 = Instant::now();
        let mut t = LockTiming::default();
        assert_eq!(t.applied(t0), None);
        t.locking(t0 + ms(5), true);
        assert_eq!(t.applied(t0), Some(Duration::ZERO));
    }

    #[test]
    fn stages_are_named_as_the_log_and_the_benchmark_read_them() {
        for stage in [LockStage::Applied, LockStage::FirstDrop, LockStage::Notice] {
            let json = serde_json::to_string(&stage).unwrap_or_default();
            assert_eq!(json, format!("\"{}\"", stage.as_str()));
        }
    }
}
