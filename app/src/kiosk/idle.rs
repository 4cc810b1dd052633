//! When an idle kiosk logs out: the administrator's idle time (`kiosk_idle_secs`,
//! `GET /api/v1/kiosk`) counted from the last touch, click or key. Sans-IO: the clock
//! (milliseconds) is passed in.

/// The page warns this long before it logs out (or a third of the idle time, if less).
pub const WARN_MS: f64 = 30_000.0;

#[derive(Debug, Clone, Copy, PartialEq)]
pub struct IdleTimer {
    limit_ms: f64,
    last_input_ms: f64,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Idle {
    /// Someone used the kiosk recently.
    Active,
    /// Logging out in this many seconds unless someone touches the kiosk.
    Warning { secs_left: u32 },
    /// Log out now.
    Expired,
}

impl IdleTimer {
    pub fn new(idle_secs: u32, now_ms: f64) -> IdleTimer {
        IdleTimer {
            limit_ms: f64::from(idle_secs.max(1)) * 1000.0,
            last_input_ms: now_ms,
        }
    }

    /// A touch, click or key.
    pub fn input(&mut self, now_ms: f64) {
        self.last_input_ms = self.last_input_ms.max(now_ms);
    }

    /// The administrator's value arrived (the timer starts with a default).
    pub fn set_limit(&mut self, idle_secs: u32) {
        self.limit_ms = f64::from(idle_secs.max(1)) * 1000.0;
    }

    pub fn state(&self, now_ms: f64) -> Idle {
        let left = self.limit_ms - (now_ms - self.last_input_ms);
        if left <= 0.0 {
            Idle::Expired
        } else if left <= WARN_MS.min(self.limit_ms / 3.0) {
            // Whole seconds, rounded up: never "0 s" while time is left.
            let secs = (left / 1000.0).ceil();
            Idle::Warning {
                secs_left: if secs >= 1.0 { secs as u32 } else { 1 },
            }
        } else {
            Idle::Active
        }
    }
}

/// What the page says while it warns.
pub fn warning_text(secs_left: u32) -> String {
    format!("No one has touched this kiosk for a while: it logs out in {secs_left} s. Touch the screen or press a key to stay.")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn idle_warns_then_expires_and_input_restarts_it() {
        let mut t = IdleTimer::new(300, 1_000.0);
        assert_eq!(t.state(1_000.0), Idle::Active);
        assert_eq!(t.state(1_000.0 + 269_000.0), Idle::Active);
        assert_eq!(
            t.state(1_000.0 + 270_500.0),
            Idle::Warning { secs_left: 30 }
        );
        assert_eq!(t.state(1_000.0 + 299_500.0), Idle::Warning { secs_left: 1 });
        assert_eq!(t.state(1_000.0 + 300_000.0), Idle::Expired);
        t.input(1_000.0 + 299_000.0);
        assert_eq!(t.state(1_000.0 + 300_000.0), Idle::Active);
        // An input stamped earlier than the last one changes nothing.
        t.input(5.0);
        assert_eq!(t.state(1_000.0 + 300_000.0), Idle::Active);
    }

    #[test]
    fn short_idle_times_warn_for_a_third_of_the_time() {
        let mut t = IdleTimer::new(300, 0.0);
        t.set_limit(9);
        assert_eq!(t.state(5_999.0), Idle::Active);
        assert_eq!(t.state(6_500.0), Idle::Warning { secs_left: 3 });
        assert_eq!(t.state(9_000.0), Idle::Expired);
        let zero = IdleTimer::new(0, 0.0);
        assert_eq!(zero.state(999.0), Idle::Warning { secs_left: 1 });
        assert_eq!(zero.state(1_000.0), Idle::Expired, "at least a second");
        assert!(warning_text(12).contains("12 s"));
    }
}
