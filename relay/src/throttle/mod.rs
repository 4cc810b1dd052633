//! Failed-login throttling and the Argon2 concurrency limit.
//!
//! Three counters per attempt, each keyed by a keyed hash (never a raw username or
//! address, see [`keys`]):
//! - the (username, address) pair: locked out after [`FREE_FAILURES`] failures in a row,
//!   for an exponentially growing time (capped);
//! - the address (IPv4, or the IPv6 /64): locked out after [`FREE_FAILURES_PER_ADDRESS`];
//! - the username alone: never locked (that would let anyone lock a known user out),
//!   only slowed down by a small delay once it fails from many addresses.
//!
//! The counts live in the database (`login_throttle`), so a lockout survives a restart
//! and holds across every relay sharing the database. An attempt is reserved (counted
//! as a failure) *before* the password is checked, in one transaction that reads and
//! writes its keys' rows, so parallel guesses, on one relay or several, cannot all pass
//! the check; a success refunds it. [`decide`] makes every decision, without I/O;
//! `store::throttle` only reads and writes the rows.
//!
//! The table is bounded: rows a day past their last failure and not locked out are
//! deleted, and past [`MAX_ROWS`] the oldest go (unlocked ones first). Each relay
//! prunes once a minute, or sooner after [`PRUNE_AFTER_NEW_ROWS`] new rows, so the
//! table holds at most about `MAX_ROWS` plus that many per relay.

pub mod decide;
pub mod keys;

use std::sync::atomic::{AtomicI64, Ordering};
use std::sync::Arc;
use std::time::Duration;

use tokio::sync::{Mutex, OwnedSemaphorePermit, Semaphore};

pub use decide::{FREE_FAILURES, FREE_FAILURES_PER_ADDRESS, USER_SLOWDOWN_AFTER};
pub use keys::{address_prefix, username_hash, KeySecret, LoginKeys};

use crate::store::{self, Db};
use decide::{Decision, FORGET_AFTER};

/// Rows kept at most (beyond the slack between two prunes).
pub const MAX_ROWS: i64 = 100_000;
/// New rows one relay adds before it prunes, whatever the time since the last prune.
pub const PRUNE_AFTER_NEW_ROWS: i64 = MAX_ROWS / 8;
const PRUNE_EVERY_MS: i64 = 60_000;
/// Concurrent Argon2 verifications (each holds about 19 MiB).
pub const MAX_CONCURRENT_VERIFY: usize = 4;
/// How long a login may wait for a verification slot before it is turned away.
pub const VERIFY_WAIT: Duration = Duration::from_secs(5);

/// [`decide::succeeded`] or [`decide::cancelled`].
type Refund = fn(&[keys::Kind], &[Option<decide::Count>]) -> Vec<Option<decide::Count>>;

/// What became of an attempt's reservation.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Reservation {
    /// Counted as a failure already: check the password after `delay` (see
    /// [`Throttle::succeeded`] and [`Throttle::cancelled`]).
    Reserved { delay: Duration },
    /// A key is locked out for `wait` more.
    Refused { wait: Duration },
}

#[derive(Debug)]
pub struct Throttle {
    secret: KeySecret,
    verify: Arc<Semaphore>,
    /// This relay's writes to `login_throttle`, one at a time: the database serialises
    /// them anyway, and queueing here keeps parallel logins off SQLite's busy-wait.
    /// Correctness never depends on it (another relay has its own).
    writer: Mutex<()>,
    max_rows: i64,
    prune_after_new_rows: i64,
    /// Unix ms of the last prune (0: never), and rows added since.
    last_prune_ms: AtomicI64,
    new_rows: AtomicI64,
}

impl Throttle {
    pub fn new(secret: KeySecret) -> Throttle {
        Throttle::with_limits(secret, MAX_ROWS, MAX_CONCURRENT_VERIFY)
    }

    pub fn with_limits(secret: KeySecret, max_rows: i64, max_concurrent_verify: usize) -> Throttle {
        let max_rows = max_rows.max(16);
        Throttle {
            secret,
            verify: Arc::new(Semaphore::new(max_concurrent_verify.max(1))),
            writer: Mutex::new(()),
            max_rows,
            prune_after_new_rows: (max_rows / 8).max(1),
            last_prune_ms: AtomicI64::new(0),
            new_rows: AtomicI64::new(0),
        }
    }

    /// The keys an attempt for `username` from `ip` is counted under.
    pub fn keys(&self, username: &str, ip: Option<std::net::IpAddr>) -> LoginKeys {
        LoginKeys::new(&self.secret, username, ip)
    }

    /// Checks and reserves in one transaction: [`Reservation::Refused`] when a key is
    /// locked out at `now_ms`, otherwise the attempt is counted as a failure already.
    pub async fn reserve(
        &self,
        db: &Db,
        keys: &LoginKeys,
        now_ms: i64,
    ) -> Result<Reservation, sqlx::Error> {
        // A key already locked out is refused on a plain read, which SQLite runs in
        // parallel: a locked-out flood never queues for the write.
        let seen = store::throttle::read(db, &keys.keys).await?;
        if let Some(wait) = decide::locked_out(&seen, now_ms) {
            return Ok(Reservation::Refused { wait });
        }
        let kinds: Vec<_> = keys.keys.iter().map(|k| k.kind).collect();
        let _writing = self.writer.lock().await;
        let (reservation, added) = store::throttle::update(db, &keys.keys, now_ms, |counts| {
            match decide::reserve(&kinds, counts, now_ms) {
                Decision::Refused { wait } => (None, (Reservation::Refused { wait }, 0)),
                Decision::Reserved { delay, next } => {
                    let added = counts.iter().filter(|c| c.is_none()).count();
                    (
                        Some(next.into_iter().map(Some).collect()),
                        (Reservation::Reserved { delay }, added),
                    )
                }
            }
        })
        .await?;
        let added = i64::try_from(added).unwrap_or(0);
        let new_rows = self.new_rows.fetch_add(added, Ordering::Relaxed) + added;
        let last = self.last_prune_ms.load(Ordering::Relaxed);
        if new_rows >= self.prune_after_new_rows || now_ms.saturating_sub(last) >= PRUNE_EVERY_MS {
            // The reservation stands either way; a failed prune is retried later.
            if let Err(error) = self.prune(db, now_ms).await {
                tracing::warn!(%error, "Pruning the login throttle failed");
            }
        }
        Ok(reservation)
    }

    /// Deletes expired rows and keeps the table under its cap. Called with the writer held.
    async fn prune(&self, db: &Db, now_ms: i64) -> Result<(), sqlx::Error> {
        self.new_rows.store(0, Ordering::Relaxed);
        self.last_prune_ms.store(now_ms, Ordering::Relaxed);
        let forget = i64::try_from(FORGET_AFTER.as_millis()).unwrap_or(i64::MAX);
        let keep = self.max_rows - self.max_rows / 8;
        let left = store::throttle::prune(
            db,
            now_ms,
            now_ms.saturating_sub(forget),
            self.max_rows,
            keep,
        )
        .await?;
        tracing::debug!(rows = left, "Login throttle pruned");
        Ok(())
    }

    /// The password was right: the pair is cleared, the others get their count back.
    pub async fn succeeded(&self, db: &Db, keys: &LoginKeys) -> Result<(), sqlx::Error> {
        self.refund(db, keys, decide::succeeded).await
    }

    /// The password was never checked (the relay was busy): undo the reservation.
    pub async fn cancelled(&self, db: &Db, keys: &LoginKeys) -> Result<(), sqlx::Error> {
        self.refund(db, keys, decide::cancelled).await
    }

    async fn refund(&self, db: &Db, keys: &LoginKeys, decide: Refund) -> Result<(), sqlx::Error> {
        let kinds: Vec<_> = keys.keys.iter().map(|k| k.kind).collect();
        let _writing = self.writer.lock().await;
        store::throttle::update(db, &keys.keys, store::now_ms(), |counts| {
            (Some(decide(&kinds, counts)), ())
        })
        .await
    }

    /// A slot to run one Argon2 verification; `None` after waiting `wait` in vain.
    pub async fn verify_slot(&self, wait: Duration) -> Option<OwnedSemaphorePermit> {
        tokio::time::timeout(wait, self.verify.clone().acquire_owned())
            .await
            .ok()?
            .ok()
    }
}

#[cfg(test)]
mod tests {
    use std::net::IpAddr;

    use super::*;

    const T0: i64 = 1_700_000_000_000;

    async fn db(dir: &tempfile::TempDir) -> Db {
        store::open(&dir.path().join("vigil.db"))
            .await
            .expect("open db")
    }

    fn secret() -> KeySecret {
        KeySecret::new([3; 32])
    }

    fn ip(s: &str) -> Option<IpAddr> {
        s.parse().ok()
    }

    async fn rows(db: &Db) -> Vec<(String, String, i64, i64, Option<i64>)> {
        sqlx::query_as(
            "SELECT key_hash, kind, failures, last_at, locked_until FROM login_throttle
             ORDER BY kind",
        )
        .fetch_all(db)
        .await
        .expect("rows")
    }

    async fn reserved(t: &Throttle, db: &Db, keys: &LoginKeys, now: i64) -> bool {
        match t.reserve(db, keys, now).await.expect("reserve") {
            Reservation::Reserved { .. } => true,
            Reservation::Refused { .. } => false,
        }
    }

    /// Two relays, each with its own throttle and connection pool on one database file,
    /// take 50 parallel guesses at one pair between them: exactly five get through, and
    /// both then refuse the pair.
    #[tokio::test(flavor = "multi_thread", worker_threads = 4)]
    async fn two_relays_on_one_database_never_let_more_than_five_through() {
        let dir = tempfile::tempdir().expect("tempdir");
        let (db_a, db_b) = (db(&dir).await, db(&dir).await);
        let a = Arc::new(Throttle::new(secret()));
        let b = Arc::new(Throttle::new(secret()));
        let keys = a.keys("alice", ip("10.0.0.1"));
        let tasks: Vec<_> = (0..50)
            .map(|i| {
                let (t, db) = if i % 2 == 0 {
                    (a.clone(), db_a.clone())
                } else {
                    (b.clone(), db_b.clone())
                };
                let keys = keys.clone();
                tokio::spawn(async move { t.reserve(&db, &keys, T0).await })
            })
            .collect();
        let mut through = 0;
        for task in tasks {
            if let Reservation::Reserved { .. } = task.await.expect("join").expect("reserve") {
                through += 1;
            }
        }
        assert_eq!(through, FREE_FAILURES, "reservations that got through");
        assert!(!reserved(&a, &db_a, &keys, T0 + 1).await);
        assert!(!reserved(&b, &db_b, &keys, T0 + 1).await);
        // A success on one relay clears the pair for the other (after the lockout).
        let later = T0 + 30_000;
        assert!(reserved(&b, &db_b, &keys, later).await);
        a.succeeded(&db_a, &keys).await.expect("succeeded");
        assert!(reserved(&b, &db_b, &keys, later).await);
    }

    #[tokio::test]
    async fn success_clears_the_pair_and_cancel_undoes_the_reservation() {
        let dir = tempfile::tempdir().expect("tempdir");
        let db = db(&dir).await;
        let t = Throttle::new(secret());
        let keys = t.keys("bob", ip("10.0.0.2"));
        assert!(reserved(&t, &db, &keys, T0).await);
        assert!(reserved(&t, &db, &keys, T0).await);
        t.succeeded(&db, &keys).await.expect("succeeded");
        let left: Vec<(String, i64)> = rows(&db).await.into_iter().map(|r| (r.1, r.2)).collect();
        assert_eq!(left, [("address".into(), 1), ("user".into(), 1)]);
        t.cancelled(&db, &keys).await.expect("cancelled");
        assert!(reserved(&t, &db, &keys, T0).await);
        t.cancelled(&db, &keys).await.expect("cancelled");
        assert_eq!(
            rows(&db).await,
            [],
            "a refused or undone attempt leaves no rows"
        );
        // A refused attempt leaves no placeholder rows either.
        for _ in 0..FREE_FAILURES {
            assert!(reserved(&t, &db, &keys, T0).await);
        }
        let before = rows(&db).await;
        let other_user = t.keys("someone-else", ip("10.0.0.2"));
        assert!(!reserved(&t, &db, &keys, T0).await);
        // A decision to change nothing rolls back the rows the transaction created.
        store::throttle::update(&db, &other_user.keys, T0, |_| (None, ()))
            .await
            .expect("update");
        assert_eq!(rows(&db).await, before);
        assert!(
            reserved(&t, &db, &other_user, T0).await,
            "the address is not locked"
        );
        assert_eq!(rows(&db).await.len(), before.len() + 2);
    }

    #[tokio::test]
    async fn stored_keys_are_keyed_hashes() {
        let dir = tempfile::tempdir().expect("tempdir");
        let db = db(&dir).await;
        let t = Throttle::new(secret());
        let keys = t.keys("Alice", ip("192.0.2.77"));
        assert!(reserved(&t, &db, &keys, T0).await);
        let stored = rows(&db).await;
        assert_eq!(stored.len(), 3);
        for (hash, kind, ..) in &stored {
            assert_eq!(hash.len(), 32);
            assert!(hash.chars().all(|c| c.is_ascii_hexdigit()));
            assert!(["pair", "address", "user"].contains(&kind.as_str()));
        }
        let dump = format!("{stored:?}").to_lowercase();
        assert!(
            !dump.contains("alice") && !dump.contains("192.0.2"),
            "{dump}"
        );
        // The same name and address under another secret (another deployment) give
        // other hashes: the stored ones cannot be recomputed without `secret.key`.
        let other = LoginKeys::new(&KeySecret::new([4; 32]), "alice", ip("192.0.2.77"));
        assert!(other
            .keys
            .iter()
            .all(|k| stored.iter().all(|(hash, ..)| *hash != k.hex())));
    }

    #[tokio::test]
    async fn the_table_is_bounded_and_expired_rows_are_deleted() {
        let dir = tempfile::tempdir().expect("tempdir");
        let db = db(&dir).await;
        let max = 64;
        let t = Throttle::with_limits(secret(), max, 1);
        for i in 0..1000i64 {
            let name = format!("user{i}");
            let addr = format!("10.2.{}.{}", i / 250, i % 250);
            let now = T0 + i;
            let _ = t.reserve(&db, &t.keys(&name, ip(&addr)), now).await;
            let n = rows(&db).await.len() as i64;
            assert!(n <= max + max / 8 + 3, "{n} rows after {i} attempts");
        }
        // A day after the last failure, the next prune deletes everything unlocked.
        let day = T0 + 1000 + i64::try_from(FORGET_AFTER.as_millis()).expect("ms");
        assert!(reserved(&t, &db, &t.keys("late", ip("10.9.9.9")), day).await);
        assert_eq!(
            rows(&db).await.len(),
            3,
            "only the new attempt's rows are left"
        );
    }

    #[tokio::test]
    async fn locked_rows_are_evicted_last() {
        let dir = tempfile::tempdir().expect("tempdir");
        let db = db(&dir).await;
        let t = Throttle::with_limits(secret(), 16, 1);
        let keys = t.keys("target", ip("10.3.0.1"));
        for _ in 0..FREE_FAILURES {
            assert!(reserved(&t, &db, &keys, T0).await);
        }
        // Newer, unlocked rows from other addresses, many times the cap.
        for i in 0..100i64 {
            let addr = format!("10.4.0.{i}");
            let _ = t
                .reserve(&db, &t.keys("other", ip(&addr)), T0 + 1 + i)
                .await;
        }
        assert!(
            !reserved(&t, &db, &keys, T0 + 200).await,
            "still locked out"
        );
    }

    #[tokio::test]
    async fn verifications_are_limited() {
        let t = Throttle::with_limits(secret(), 64, 2);
        let a = t.verify_slot(Duration::from_millis(10)).await;
        let b = t.verify_slot(Duration::from_millis(10)).await;
        assert!(a.is_some() && b.is_some());
        assert!(t.verify_slot(Duration::from_millis(20)).await.is_none());
        drop(a);
        assert!(t.verify_slot(Duration::from_millis(10)).await.is_some());
    }
}
