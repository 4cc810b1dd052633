//! Failed-login throttling and the Argon2 concurrency limit.
//!
//! Three counters per attempt, each keyed by a hash (never a raw username):
//! - the (username, address) pair: locked out after [`FREE_FAILURES`] failures in a row,
//!   for an exponentially growing time (capped);
//! - the address (IPv4, or the IPv6 /64): locked out after [`FREE_FAILURES_PER_ADDRESS`];
//! - the username alone: never locked (that would let anyone lock a known user out),
//!   only slowed down by a small delay once it fails from many addresses.
//!
//! An attempt is reserved (counted as a failure) *before* the password is checked, under
//! one lock, so parallel guesses cannot all pass the check; a success refunds it.

use std::collections::HashMap;
use std::net::IpAddr;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use sha2::{Digest, Sha256};
use tokio::sync::{OwnedSemaphorePermit, Semaphore};

pub const FREE_FAILURES: u32 = 5;
/// An address is shared by many people (a kiosk room, a NAT), so it may fail more
/// often before it is locked out.
pub const FREE_FAILURES_PER_ADDRESS: u32 = 20;
/// A username failing more often than this (from anywhere) gets a delay per attempt.
pub const USER_SLOWDOWN_AFTER: u32 = 10;
const USER_DELAY_STEP: Duration = Duration::from_millis(200);
const MAX_USER_DELAY: Duration = Duration::from_secs(2);
const BASE_LOCKOUT: Duration = Duration::from_secs(30);
const MAX_LOCKOUT: Duration = Duration::from_secs(3600);
/// Counts older than this (since the last failure) are forgotten.
const FORGET_AFTER: Duration = Duration::from_secs(24 * 3600);
/// At most this many keys are remembered; beyond it, expired then oldest go first.
pub const MAX_ENTRIES: usize = 100_000;
/// Concurrent Argon2 verifications (each holds about 19 MiB).
pub const MAX_CONCURRENT_VERIFY: usize = 4;
/// How long a login may wait for a verification slot before it is turned away.
pub const VERIFY_WAIT: Duration = Duration::from_secs(5);

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
enum Kind {
    Pair,
    Address,
    User,
}

/// A throttle key: what it counts and a 128-bit hash of it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Key {
    kind: Kind,
    hash: [u8; 16],
}

fn digest(parts: &[&[u8]]) -> [u8; 16] {
    let mut h = Sha256::new();
    for p in parts {
        h.update((p.len() as u64).to_be_bytes());
        h.update(p);
    }
    let full = h.finalize();
    let mut out = [0u8; 16];
    out.copy_from_slice(&full[..16]);
    out
}

/// A short, stable hash of a username for logs and keys (the raw name never is one).
pub fn username_hash(username: &str) -> String {
    hex::encode(&digest(&[b"user", username.to_lowercase().as_bytes()])[..8])
}

/// The address as throttled: IPv4 (or IPv4-mapped) as is, IPv6 by its /64.
pub fn address_prefix(ip: IpAddr) -> IpAddr {
    match ip {
        IpAddr::V4(_) => ip,
        IpAddr::V6(v6) => match v6.to_ipv4_mapped() {
            Some(v4) => IpAddr::V4(v4),
            None => {
                let s = v6.segments();
                IpAddr::V6(std::net::Ipv6Addr::new(s[0], s[1], s[2], s[3], 0, 0, 0, 0))
            }
        },
    }
}

/// The keys of one login attempt.
#[derive(Debug, Clone)]
pub struct LoginKeys {
    keys: Vec<Key>,
}

impl LoginKeys {
    pub fn new(username: &str, ip: Option<IpAddr>) -> LoginKeys {
        let user = username.to_lowercase();
        let mut keys = vec![Key {
            kind: Kind::User,
            hash: digest(&[b"user", user.as_bytes()]),
        }];
        if let Some(ip) = ip {
            let addr = address_prefix(ip).to_string();
            keys.push(Key {
                kind: Kind::Pair,
                hash: digest(&[b"pair", user.as_bytes(), addr.as_bytes()]),
            });
            keys.push(Key {
                kind: Kind::Address,
                hash: digest(&[b"ip", addr.as_bytes()]),
            });
        }
        LoginKeys { keys }
    }
}

/// A reserved attempt: go ahead after `delay`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Reserved {
    pub delay: Duration,
}

#[derive(Debug, Clone, Copy)]
struct Entry {
    failures: u32,
    last: Instant,
    locked_until: Option<Instant>,
}

fn free_failures(kind: Kind) -> Option<u32> {
    match kind {
        Kind::Pair => Some(FREE_FAILURES),
        Kind::Address => Some(FREE_FAILURES_PER_ADDRESS),
        Kind::User => None,
    }
}

fn lockout(failures: u32, free: u32) -> Duration {
    let extra = failures.saturating_sub(free).min(16);
    BASE_LOCKOUT.saturating_mul(1 << extra).min(MAX_LOCKOUT)
}

fn user_delay(failures: u32) -> Duration {
    let over = failures.saturating_sub(USER_SLOWDOWN_AFTER);
    USER_DELAY_STEP.saturating_mul(over).min(MAX_USER_DELAY)
}

/// A std mutex: held only for map work, never across an await.
#[derive(Debug)]
pub struct Throttle {
    entries: Mutex<HashMap<Key, Entry>>,
    max_entries: usize,
    verify: std::sync::Arc<Semaphore>,
}

impl Default for Throttle {
    fn default() -> Throttle {
        Throttle::new(MAX_ENTRIES, MAX_CONCURRENT_VERIFY)
    }
}

impl Throttle {
    pub fn new(max_entries: usize, max_concurrent_verify: usize) -> Throttle {
        Throttle {
            entries: Mutex::new(HashMap::new()),
            max_entries: max_entries.max(16),
            verify: std::sync::Arc::new(Semaphore::new(max_concurrent_verify.max(1))),
        }
    }

    fn map(&self) -> std::sync::MutexGuard<'_, HashMap<Key, Entry>> {
        self.entries.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Checks and reserves in one step: `Err(wait)` when a key is locked out at `now`;
    /// otherwise the attempt is counted as a failure already (see [`Throttle::succeeded`]
    /// and [`Throttle::cancelled`]).
    pub fn reserve(&self, keys: &LoginKeys, now: Instant) -> Result<Reserved, Duration> {
        let mut map = self.map();
        let wait = keys
            .keys
            .iter()
            .filter_map(|k| map.get(k)?.locked_until)
            .filter(|until| *until > now)
            .map(|until| until - now)
            .max();
        if let Some(wait) = wait {
            return Err(wait);
        }
        self.make_room(&mut map, keys.keys.len(), now);
        let mut delay = Duration::ZERO;
        for k in &keys.keys {
            let e = map.entry(*k).or_insert(Entry {
                failures: 0,
                last: now,
                locked_until: None,
            });
            if now.saturating_duration_since(e.last) >= FORGET_AFTER {
                e.failures = 0;
                e.locked_until = None;
            }
            e.failures = e.failures.saturating_add(1);
            e.last = now;
            match free_failures(k.kind) {
                Some(free) if e.failures >= free => {
                    e.locked_until = Some(now + lockout(e.failures, free));
                }
                Some(_) => {}
                None => delay = user_delay(e.failures),
            }
        }
        Ok(Reserved { delay })
    }

    /// The password was right: the pair is cleared, the others get their count back.
    pub fn succeeded(&self, keys: &LoginKeys) {
        let mut map = self.map();
        for k in &keys.keys {
            if k.kind == Kind::Pair {
                map.remove(k);
            } else {
                refund(&mut map, k);
            }
        }
    }

    /// The password was never checked (the relay was busy): undo the reservation.
    pub fn cancelled(&self, keys: &LoginKeys) {
        let mut map = self.map();
        for k in &keys.keys {
            refund(&mut map, k);
        }
    }

    /// A slot to run one Argon2 verification; `None` after waiting `wait` in vain.
    pub async fn verify_slot(&self, wait: Duration) -> Option<OwnedSemaphorePermit> {
        tokio::time::timeout(wait, self.verify.clone().acquire_owned())
            .await
            .ok()?
            .ok()
    }

    /// Frees room for `needed` new keys: expired entries first, then the oldest eighth.
    fn make_room(&self, map: &mut HashMap<Key, Entry>, needed: usize, now: Instant) {
        if map.len() + needed <= self.max_entries {
            return;
        }
        map.retain(|_, e| {
            now.saturating_duration_since(e.last) < FORGET_AFTER
                || e.locked_until.is_some_and(|u| u > now)
        });
        if map.len() + needed <= self.max_entries {
            return;
        }
        let mut ages: Vec<(Instant, Key)> = map.iter().map(|(k, e)| (e.last, *k)).collect();
        ages.sort_unstable_by_key(|(last, _)| *last);
        let drop = (self.max_entries / 8).max(needed);
        for (_, k) in ages.into_iter().take(drop) {
            map.remove(&k);
        }
    }

    #[cfg(test)]
    fn len(&self) -> usize {
        self.map().len()
    }
}

fn refund(map: &mut HashMap<Key, Entry>, k: &Key) {
    let Some(e) = map.get_mut(k) else { return };
    e.failures = e.failures.saturating_sub(1);
    if e.failures == 0 {
        map.remove(k);
        return;
    }
    if let Some(free) = free_failures(k.kind) {
        if e.failures < free {
            e.locked_until = None;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ip(s: &str) -> Option<IpAddr> {
        s.parse().ok()
    }

    #[test]
    fn a_pair_is_locked_out_after_five_and_grows() {
        let t = Throttle::default();
        let now = Instant::now();
        let keys = LoginKeys::new("Alice", ip("10.0.0.1"));
        for _ in 0..FREE_FAILURES {
            assert!(t.reserve(&keys, now).is_ok());
        }
        assert_eq!(t.reserve(&keys, now), Err(BASE_LOCKOUT));
        assert!(t.reserve(&keys, now + BASE_LOCKOUT).is_ok(), "lockout ends");
        assert_eq!(
            t.reserve(&keys, now + BASE_LOCKOUT),
            Err(BASE_LOCKOUT * 2),
            "doubles"
        );
        // The same user from another address is not locked out.
        let other = LoginKeys::new("alice", ip("10.0.0.2"));
        assert!(t.reserve(&other, now).is_ok());
        // A success clears the pair.
        t.succeeded(&LoginKeys::new("ALICE", ip("10.0.0.1")));
        assert!(t.reserve(&keys, now + BASE_LOCKOUT).is_ok());
    }

    #[test]
    fn a_user_under_attack_is_slowed_not_locked() {
        let t = Throttle::default();
        let now = Instant::now();
        for i in 0..50u32 {
            let keys = LoginKeys::new("victim", ip(&format!("10.1.{}.{}", i / 200, i % 200)));
            let r = t.reserve(&keys, now).expect("never locked");
            if i < USER_SLOWDOWN_AFTER {
                assert_eq!(r.delay, Duration::ZERO);
            } else {
                assert!(r.delay > Duration::ZERO && r.delay <= MAX_USER_DELAY);
            }
        }
    }

    #[test]
    fn an_address_is_locked_out_after_more_failures_across_usernames() {
        let t = Throttle::default();
        let now = Instant::now();
        for i in 0..FREE_FAILURES_PER_ADDRESS {
            assert!(t
                .reserve(&LoginKeys::new(&format!("user{i}"), ip("10.0.0.9")), now)
                .is_ok());
        }
        assert_eq!(
            t.reserve(&LoginKeys::new("fresh", ip("10.0.0.9")), now),
            Err(BASE_LOCKOUT)
        );
    }

    #[test]
    fn ipv6_is_throttled_per_64() {
        let t = Throttle::default();
        let now = Instant::now();
        for i in 0..FREE_FAILURES {
            let a = ip(&format!("2001:db8:1:2::{:x}", i + 1));
            assert!(t.reserve(&LoginKeys::new("bob", a), now).is_ok());
        }
        assert!(t
            .reserve(&LoginKeys::new("bob", ip("2001:db8:1:2:ffff::1")), now)
            .is_err());
        assert!(t
            .reserve(&LoginKeys::new("bob", ip("2001:db8:1:3::1")), now)
            .is_ok());
        assert_eq!(
            address_prefix("::ffff:10.0.0.1".parse().expect("ip")),
            "10.0.0.1".parse::<IpAddr>().expect("ip")
        );
    }

    #[test]
    fn cancel_refunds_and_the_map_is_bounded() {
        let t = Throttle::new(64, 1);
        let now = Instant::now();
        let keys = LoginKeys::new("carol", ip("10.0.0.3"));
        for _ in 0..FREE_FAILURES * 3 {
            assert!(t.reserve(&keys, now).is_ok());
            t.cancelled(&keys);
        }
        assert_eq!(t.len(), 0);
        for i in 0..1000 {
            let _ = t.reserve(
                &LoginKeys::new(
                    &"x".repeat(i % 50 + 1),
                    ip(&format!("10.2.{}.{}", i / 250, i % 250)),
                ),
                now + Duration::from_millis(i as u64),
            );
            assert!(t.len() <= 64);
        }
    }

    #[test]
    fn usernames_are_hashed() {
        let h = username_hash("Alice");
        assert_eq!(h, username_hash("alice"));
        assert_eq!(h.len(), 16);
        assert!(!h.contains("alice"));
    }

    #[tokio::test]
    async fn verifications_are_limited() {
        let t = Throttle::new(64, 2);
        let a = t.verify_slot(Duration::from_millis(10)).await;
        let b = t.verify_slot(Duration::from_millis(10)).await;
        assert!(a.is_some() && b.is_some());
        assert!(t.verify_slot(Duration::from_millis(20)).await.is_none());
        drop(a);
        assert!(t.verify_slot(Duration::from_millis(10)).await.is_some());
    }

    #[test]
    fn lockout_is_capped() {
        assert_eq!(lockout(100, FREE_FAILURES), MAX_LOCKOUT);
        assert_eq!(lockout(FREE_FAILURES, FREE_FAILURES), BASE_LOCKOUT);
    }
}
