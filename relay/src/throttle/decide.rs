//! The throttle's decisions, pure: the counts stored for an attempt's keys and the time
//! in, the answer and the counts to store out. No clock, no database.

use std::time::Duration;

use super::keys::Kind;

pub const FREE_FAILURES: u32 = 5;
/// An address is shared by many people (a kiosk room, a NAT), so it may fail more
/// often before it is locked out.
pub const FREE_FAILURES_PER_ADDRESS: u32 = 20;
/// A username failing more often than this (from anywhere) gets a delay per attempt.
pub const USER_SLOWDOWN_AFTER: u32 = 10;
pub const USER_DELAY_STEP: Duration = Duration::from_millis(200);
pub const MAX_USER_DELAY: Duration = Duration::from_secs(2);
pub const BASE_LOCKOUT: Duration = Duration::from_secs(30);
pub const MAX_LOCKOUT: Duration = Duration::from_secs(3600);
/// Counts older than this (since the last failure) are forgotten.
pub const FORGET_AFTER: Duration = Duration::from_secs(24 * 3600);

/// What is stored for one key. Times are Unix milliseconds.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Count {
    pub failures: u32,
    pub last_ms: i64,
    pub locked_until_ms: Option<i64>,
}

impl Count {
    /// How much longer the key is locked out at `now_ms`, if it is.
    fn wait(&self, now_ms: i64) -> Option<Duration> {
        let until = self.locked_until_ms?;
        (until > now_ms).then(|| ms(until - now_ms))
    }

    /// Neither counting any more nor locked out: the row may go.
    pub fn expired(&self, now_ms: i64) -> bool {
        now_ms.saturating_sub(self.last_ms) >= ms_of(FORGET_AFTER) && self.wait(now_ms).is_none()
    }
}

/// What to do with an attempt.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Decision {
    /// A key is locked out for `wait` more; nothing changes.
    Refused { wait: Duration },
    /// Counted as a failure already: store `next` (one per key, in order) and check the
    /// password after `delay`.
    Reserved { delay: Duration, next: Vec<Count> },
}

fn ms(millis: i64) -> Duration {
    Duration::from_millis(u64::try_from(millis).unwrap_or(0))
}

fn ms_of(d: Duration) -> i64 {
    i64::try_from(d.as_millis()).unwrap_or(i64::MAX)
}

fn free_failures(kind: Kind) -> Option<u32> {
    match kind {
        Kind::Pair => Some(FREE_FAILURES),
        Kind::Address => Some(FREE_FAILURES_PER_ADDRESS),
        Kind::User => None,
    }
}

/// The lockout after `failures` failures of a key allowed `free` of them: doubling from
/// [`BASE_LOCKOUT`], capped at [`MAX_LOCKOUT`].
pub fn lockout(failures: u32, free: u32) -> Duration {
    let extra = failures.saturating_sub(free).min(16);
    BASE_LOCKOUT.saturating_mul(1 << extra).min(MAX_LOCKOUT)
}

fn user_delay(failures: u32) -> Duration {
    let over = failures.saturating_sub(USER_SLOWDOWN_AFTER);
    USER_DELAY_STEP.saturating_mul(over).min(MAX_USER_DELAY)
}

/// The longest lockout among the keys at `now_ms`, if any key is locked out.
pub fn locked_out(counts: &[Option<Count>], now_ms: i64) -> Option<Duration> {
    counts.iter().flatten().filter_map(|c| c.wait(now_ms)).max()
}

/// A new attempt on keys of `kinds`, whose stored counts are `counts` (same order).
pub fn reserve(kinds: &[Kind], counts: &[Option<Count>], now_ms: i64) -> Decision {
    if let Some(wait) = locked_out(counts, now_ms) {
        return Decision::Refused { wait };
    }
    let mut delay = Duration::ZERO;
    let next = kinds
        .iter()
        .zip(counts)
        .map(|(kind, count)| {
            let mut c = count
                .filter(|c| now_ms.saturating_sub(c.last_ms) < ms_of(FORGET_AFTER))
                .unwrap_or(Count {
                    failures: 0,
                    last_ms: now_ms,
                    locked_until_ms: None,
                });
            c.failures = c.failures.saturating_add(1);
            c.last_ms = now_ms;
            match free_failures(*kind) {
                Some(free) if c.failures >= free => {
                    c.locked_until_ms =
                        Some(now_ms.saturating_add(ms_of(lockout(c.failures, free))));
                }
                Some(_) => {}
                None => delay = user_delay(c.failures),
            }
            c
        })
        .collect();
    Decision::Reserved { delay, next }
}

/// The password was right: the pair is forgotten, the others get their count back.
pub fn succeeded(kinds: &[Kind], counts: &[Option<Count>]) -> Vec<Option<Count>> {
    kinds
        .iter()
        .zip(counts)
        .map(|(kind, count)| match kind {
            Kind::Pair => None,
            _ => refund(*kind, *count),
        })
        .collect()
}

/// The password was never checked (the relay was busy): the reservation is undone.
pub fn cancelled(kinds: &[Kind], counts: &[Option<Count>]) -> Vec<Option<Count>> {
    kinds
        .iter()
        .zip(counts)
        .map(|(kind, count)| refund(*kind, *count))
        .collect()
}

fn refund(kind: Kind, count: Option<Count>) -> Option<Count> {
    let mut c = count?;
    c.failures = c.failures.saturating_sub(1);
    if c.failures == 0 {
        return None;
    }
    if free_failures(kind).is_some_and(|free| c.failures < free) {
        c.locked_until_ms = None;
    }
    Some(c)
}

#[cfg(test)]
mod tests {
    use std::collections::HashMap;

    use super::*;

    const T0: i64 = 1_700_000_000_000;
    const PAIR: [Kind; 3] = [Kind::User, Kind::Pair, Kind::Address];

    /// A store in a map: keys are (kind, name).
    #[derive(Default)]
    struct Map(HashMap<(Kind, String), Count>);

    impl Map {
        fn keys(user: &str, addr: &str) -> Vec<(Kind, String)> {
            vec![
                (Kind::User, user.into()),
                (Kind::Pair, format!("{user}@{addr}")),
                (Kind::Address, addr.into()),
            ]
        }
        fn counts(&self, keys: &[(Kind, String)]) -> Vec<Option<Count>> {
            keys.iter().map(|k| self.0.get(k).copied()).collect()
        }
        fn store(&mut self, keys: &[(Kind, String)], next: Vec<Option<Count>>) {
            for (k, c) in keys.iter().zip(next) {
                match c {
                    Some(c) => self.0.insert(k.clone(), c),
                    None => self.0.remove(k),
                };
            }
        }
        fn reserve(&mut self, user: &str, addr: &str, now: i64) -> Result<Duration, Duration> {
            let keys = Map::keys(user, addr);
            match reserve(&PAIR, &self.counts(&keys), now) {
                Decision::Refused { wait } => Err(wait),
                Decision::Reserved { delay, next } => {
                    self.store(&keys, next.into_iter().map(Some).collect());
                    Ok(delay)
                }
            }
        }
        fn succeed(&mut self, user: &str, addr: &str) {
            let keys = Map::keys(user, addr);
            let next = succeeded(&PAIR, &self.counts(&keys));
            self.store(&keys, next);
        }
        fn cancel(&mut self, user: &str, addr: &str) {
            let keys = Map::keys(user, addr);
            let next = cancelled(&PAIR, &self.counts(&keys));
            self.store(&keys, next);
        }
    }

    fn after(d: Duration) -> i64 {
        T0 + ms_of(d)
    }

    #[test]
    fn a_pair_is_locked_out_after_five_and_grows() {
        let mut m = Map::default();
        for _ in 0..FREE_FAILURES {
            assert!(m.reserve("alice", "10.0.0.1", T0).is_ok());
        }
        assert_eq!(m.reserve("alice", "10.0.0.1", T0), Err(BASE_LOCKOUT));
        assert_eq!(
            m.reserve("alice", "10.0.0.1", T0 + 1000),
            Err(BASE_LOCKOUT - Duration::from_secs(1)),
            "the wait counts down"
        );
        let later = after(BASE_LOCKOUT);
        assert!(
            m.reserve("alice", "10.0.0.1", later).is_ok(),
            "lockout ends"
        );
        assert_eq!(
            m.reserve("alice", "10.0.0.1", later),
            Err(BASE_LOCKOUT * 2),
            "doubles"
        );
        // The same user from another address is not locked out.
        assert!(m.reserve("alice", "10.0.0.2", T0).is_ok());
        // A success clears the pair.
        m.succeed("alice", "10.0.0.1");
        assert!(m.reserve("alice", "10.0.0.1", later).is_ok());
    }

    #[test]
    fn refused_attempts_change_nothing() {
        let keys = [
            Some(Count {
                failures: 1,
                last_ms: T0,
                locked_until_ms: None,
            }),
            Some(Count {
                failures: 5,
                last_ms: T0,
                locked_until_ms: Some(T0 + 10),
            }),
            None,
        ];
        assert_eq!(
            reserve(&PAIR, &keys, T0),
            Decision::Refused {
                wait: Duration::from_millis(10)
            }
        );
        assert_eq!(locked_out(&keys, T0 + 10), None);
    }

    #[test]
    fn a_user_under_attack_is_slowed_not_locked() {
        let mut m = Map::default();
        for i in 0..50u32 {
            let delay = m
                .reserve("victim", &format!("10.1.{}.{}", i / 200, i % 200), T0)
                .expect("never locked");
            if i < USER_SLOWDOWN_AFTER {
                assert_eq!(delay, Duration::ZERO);
            } else {
                assert!(delay > Duration::ZERO && delay <= MAX_USER_DELAY);
            }
        }
    }

    #[test]
    fn an_address_is_locked_out_after_more_failures_across_usernames() {
        let mut m = Map::default();
        for i in 0..FREE_FAILURES_PER_ADDRESS {
            assert!(m.reserve(&format!("user{i}"), "10.0.0.9", T0).is_ok());
        }
        assert_eq!(m.reserve("fresh", "10.0.0.9", T0), Err(BASE_LOCKOUT));
    }

    #[test]
    fn cancel_refunds_everything_and_success_keeps_other_counts() {
        let mut m = Map::default();
        for _ in 0..FREE_FAILURES * 3 {
            assert!(m.reserve("carol", "10.0.0.3", T0).is_ok());
            m.cancel("carol", "10.0.0.3");
        }
        assert!(m.0.is_empty());
        m.reserve("carol", "10.0.0.3", T0).expect("free");
        m.reserve("carol", "10.0.0.3", T0).expect("free");
        m.succeed("carol", "10.0.0.3");
        let keys = Map::keys("carol", "10.0.0.3");
        let left = m.counts(&keys);
        assert_eq!(
            left[0].map(|c| c.failures),
            Some(1),
            "user: one failure left"
        );
        assert_eq!(left[1], None, "pair forgotten");
        assert_eq!(
            left[2].map(|c| c.failures),
            Some(1),
            "address: one failure left"
        );
    }

    #[test]
    fn a_refund_below_the_free_count_unlocks() {
        let locked = Count {
            failures: FREE_FAILURES,
            last_ms: T0,
            locked_until_ms: Some(T0 + 30_000),
        };
        let next = cancelled(&[Kind::Pair], &[Some(locked)]);
        assert_eq!(
            next,
            [Some(Count {
                failures: FREE_FAILURES - 1,
                locked_until_ms: None,
                ..locked
            })]
        );
    }

    #[test]
    fn counts_are_forgotten_a_day_after_the_last_failure() {
        let mut m = Map::default();
        for _ in 0..FREE_FAILURES - 1 {
            m.reserve("dave", "10.0.0.4", T0).expect("free");
        }
        let day = after(FORGET_AFTER);
        let keys = Map::keys("dave", "10.0.0.4");
        assert!(m.counts(&keys).iter().flatten().all(|c| c.expired(day)));
        assert!(m
            .counts(&keys)
            .iter()
            .flatten()
            .all(|c| !c.expired(day - 1)));
        m.reserve("dave", "10.0.0.4", day).expect("free");
        assert_eq!(m.counts(&keys)[1].map(|c| c.failures), Some(1));
        // A row still locked out is not expired, however old its last failure.
        let locked = Count {
            failures: 40,
            last_ms: T0,
            locked_until_ms: Some(day + 1),
        };
        assert!(!locked.expired(day));
    }

    #[test]
    fn lockout_is_capped() {
        assert_eq!(lockout(100, FREE_FAILURES), MAX_LOCKOUT);
        assert_eq!(lockout(FREE_FAILURES, FREE_FAILURES), BASE_LOCKOUT);
    }
}
