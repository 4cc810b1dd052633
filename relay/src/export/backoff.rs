//! When to retry a sink that refused or failed: exponential backoff from half a second,
//! doubling per failure up to 30 s, with "equal jitter" (half the step fixed, half
//! random) so that relays sharing a sink do not retry in step. Pure: the caller supplies
//! the random fraction.

use std::time::Duration;

pub const FIRST: Duration = Duration::from_millis(500);
pub const CAP: Duration = Duration::from_secs(30);

/// Consecutive failures of one sink.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Backoff {
    failures: u32,
}

impl Backoff {
    /// Records a failure; returns how long to wait before the next attempt, `random` in
    /// `[0, 1)` choosing where in the upper half of the step.
    pub fn failed(&mut self, random: f64) -> Duration {
        self.failures = self.failures.saturating_add(1);
        let step = FIRST
            .saturating_mul(1u32 << (self.failures - 1).min(16))
            .min(CAP);
        let half = step / 2;
        half + half.mul_f64(random.clamp(0.0, 1.0))
    }

    /// The sink accepted: the next failure starts over.
    pub fn succeeded(&mut self) {
        self.failures = 0;
    }

    pub fn failures(&self) -> u32 {
        self.failures
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn doubles_with_jitter_up_to_the_cap() {
        let mut b = Backoff::default();
        assert_eq!(b.failed(0.0), Duration::from_millis(250));
        assert_eq!(b.failed(1.0), Duration::from_millis(1000));
        assert_eq!(b.failed(0.5), Duration::from_millis(1500));
        for _ in 0..40 {
            let d = b.failed(0.99);
            assert!(d <= CAP, "{d:?}");
        }
        assert!(b.failed(0.0) >= CAP / 2, "stays at the cap");
        assert_eq!(b.failures(), 44);
        b.succeeded();
        assert_eq!(b.failed(0.0), Duration::from_millis(250), "starts over");
    }
}
