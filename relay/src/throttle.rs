//! Failed-login throttling, per username and per client address.
//!
//! After [`FREE_FAILURES`] failures in a row, each further failure locks the key out
//! for an exponentially growing time (capped). A success clears the username's count.

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::{Duration, Instant};

pub const FREE_FAILURES: u32 = 5;
/// An address is shared by many people (a kiosk room, a NAT), so it may fail more
/// often before it is locked out; a username is one account under attack.
pub const FREE_FAILURES_PER_ADDRESS: u32 = 20;
const BASE_LOCKOUT: Duration = Duration::from_secs(30);
const MAX_LOCKOUT: Duration = Duration::from_secs(3600);
/// Counts older than this (since the last failure) are forgotten.
const FORGET_AFTER: Duration = Duration::from_secs(24 * 3600);

#[derive(Debug, Clone, Copy)]
struct Entry {
    failures: u32,
    last: Instant,
    locked_until: Option<Instant>,
}

/// A std mutex: held only for map lookups, never across an await.
#[derive(Debug, Default)]
pub struct Throttle {
    entries: Mutex<HashMap<String, Entry>>,
}

fn free_failures(key: &str) -> u32 {
    if key.starts_with("ip:") {
        FREE_FAILURES_PER_ADDRESS
    } else {
        FREE_FAILURES
    }
}

fn lockout(failures: u32, free: u32) -> Duration {
    let extra = failures.saturating_sub(free).min(16);
    BASE_LOCKOUT.saturating_mul(1 << extra).min(MAX_LOCKOUT)
}

impl Throttle {
    fn map(&self) -> std::sync::MutexGuard<'_, HashMap<String, Entry>> {
        self.entries.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// `Some(wait)` when any of `keys` is locked out at `now`.
    pub fn blocked(&self, keys: &[String], now: Instant) -> Option<Duration> {
        let map = self.map();
        keys.iter()
            .filter_map(|k| map.get(k)?.locked_until)
            .filter(|until| *until > now)
            .map(|until| until - now)
            .max()
    }

    pub fn failure(&self, keys: &[String], now: Instant) {
        let mut map = self.map();
        map.retain(|_, e| now.saturating_duration_since(e.last) < FORGET_AFTER);
        for k in keys {
            let e = map.entry(k.clone()).or_insert(Entry {
                failures: 0,
                last: now,
                locked_until: None,
            });
            e.failures += 1;
            e.last = now;
            let free = free_failures(k);
            if e.failures >= free {
                e.locked_until = Some(now + lockout(e.failures, free));
            }
        }
    }

    pub fn success(&self, key: &str) {
        self.map().remove(key);
    }
}

pub fn user_key(username: &str) -> String {
    format!("user:{}", username.to_lowercase())
}

pub fn ip_key(ip: std::net::IpAddr) -> String {
    format!("ip:{ip}")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn locks_out_after_five_and_grows() {
        let t = Throttle::default();
        let now = Instant::now();
        let keys = [user_key("Alice"), "ip:10.0.0.1".to_string()];
        for i in 0..FREE_FAILURES - 1 {
            t.failure(&keys, now);
            assert_eq!(t.blocked(&keys, now), None, "after {} failures", i + 1);
        }
        t.failure(&keys, now);
        assert_eq!(t.blocked(&keys, now), Some(BASE_LOCKOUT));
        assert_eq!(t.blocked(&keys, now + BASE_LOCKOUT), None, "lockout ends");
        t.failure(&keys, now + BASE_LOCKOUT);
        assert_eq!(
            t.blocked(&keys, now + BASE_LOCKOUT),
            Some(BASE_LOCKOUT * 2),
            "doubles"
        );
        // Per key: another user from another address is unaffected.
        assert_eq!(
            t.blocked(&[user_key("bob"), "ip:10.0.0.2".into()], now),
            None
        );
        // A success clears the username; the shared address is far from its own limit.
        t.success(&user_key("alice"));
        assert_eq!(
            t.blocked(
                &[user_key("alice"), "ip:10.0.0.1".into()],
                now + BASE_LOCKOUT
            ),
            None
        );
    }

    #[test]
    fn an_address_is_locked_out_after_more_failures_across_usernames() {
        let t = Throttle::default();
        let now = Instant::now();
        let ip = "ip:10.0.0.9".to_string();
        for i in 0..FREE_FAILURES_PER_ADDRESS - 1 {
            t.failure(&[user_key(&format!("user{i}")), ip.clone()], now);
        }
        assert_eq!(t.blocked(&[user_key("fresh"), ip.clone()], now), None);
        t.failure(&[user_key("last"), ip.clone()], now);
        assert_eq!(t.blocked(&[user_key("fresh"), ip], now), Some(BASE_LOCKOUT));
    }

    #[test]
    fn lockout_is_capped() {
        assert_eq!(lockout(100, FREE_FAILURES), MAX_LOCKOUT);
        assert_eq!(lockout(FREE_FAILURES, FREE_FAILURES), BASE_LOCKOUT);
    }
}
