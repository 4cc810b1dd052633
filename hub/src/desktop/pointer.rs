//! Where the user points, for observers and the recording. Servers rarely send pointer
//! positions (the user's own browser moves its local cursor), so the desktop core turns the
//! user's accepted mouse moves into PTR_POSITION updates; this paces them.

use std::time::Duration;

/// At most one injected position per this long; the latest position wins.
pub(crate) const POINTER_EVERY: Duration = Duration::from_millis(30);

/// The user's latest accepted position not yet shown, and when one was last shown.
#[derive(Debug, Default)]
pub(crate) struct PointerPacer {
    pending: Option<(u16, u16)>,
    last_sent: Option<Duration>,
}

impl PointerPacer {
    /// A mouse move went upstream.
    pub(crate) fn moved(&mut self, to: (u16, u16)) {
        self.pending = Some(to);
    }

    /// When the pending position may go out (`None`: nothing pending).
    pub(crate) fn due(&self) -> Option<Duration> {
        self.pending?;
        Some(self.last_sent.map_or(Duration::ZERO, |t| t + POINTER_EVERY))
    }

    /// The pending position if it may go out at `at` (or regardless of pacing, when `force`).
    pub(crate) fn take(&mut self, at: Duration, force: bool) -> Option<(u16, u16)> {
        if !force && self.due()? > at {
            return None;
        }
        let to = self.pending.take()?;
        self.last_sent = Some(at);
        Some(to)
    }

    /// Forget what is pending (a new activation: the coordinates may no longer apply).
    pub(crate) fn clear(&mut self) {
        self.pending = None;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ms(v: u64) -> Duration {
        Duration::from_millis(v)
    }

    #[test]
    fn the_first_move_goes_at_once_then_at_most_one_per_interval() {
        let mut p = PointerPacer::default();
        assert_eq!(p.due(), None);
        p.moved((1, 1));
        assert_eq!(p.take(ms(100), false), Some((1, 1)));
        p.moved((2, 2));
        p.moved((3, 3));
        assert_eq!(p.due(), Some(ms(130)));
        assert_eq!(p.take(ms(110), false), None, "too soon");
        assert_eq!(p.take(ms(130), false), Some((3, 3)), "the last one wins");
        assert_eq!(p.take(ms(500), false), None, "nothing pending");
    }

    #[test]
    fn force_ignores_the_pacing_and_clear_drops() {
        let mut p = PointerPacer::default();
        p.moved((1, 1));
        p.take(ms(0), false);
        p.moved((2, 2));
        assert_eq!(p.take(ms(5), true), Some((2, 2)));
        p.moved((3, 3));
        p.clear();
        assert_eq!(p.due(), None);
        assert_eq!(p.take(ms(1000), true), None);
    }
}
