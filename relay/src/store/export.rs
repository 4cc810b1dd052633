//! The audit export's cursors (`audit_export_cursor`): per sink, the last entry it
//! accepted, and which relay holds the lease to deliver to it (so that relays sharing a
//! database export one at a time). Advancing needs the lease, so a relay that lost it
//! cannot move a cursor another relay now owns.

use super::{begin_write, Db};

/// Keeps a cursor for `sink` (starting before the oldest entry) and forgets every other
/// sink's, so that a sink no longer configured holds nothing back (see [`floor`]).
pub async fn register(db: &Db, sink: &str) -> Result<(), sqlx::Error> {
    let mut tx = begin_write(db).await?;
    sqlx::query(
        "INSERT INTO audit_export_cursor (sink, seq) VALUES ($1, 0) ON CONFLICT (sink) DO NOTHING",
    )
    .bind(sink)
    .execute(&mut *tx)
    .await?;
    sqlx::query("DELETE FROM audit_export_cursor WHERE sink <> $1")
        .bind(sink)
        .execute(&mut *tx)
        .await?;
    tx.commit().await
}

/// Forgets every cursor (the export is switched off). Returns how many there were.
pub async fn forget_all(db: &Db) -> Result<u64, sqlx::Error> {
    Ok(sqlx::query("DELETE FROM audit_export_cursor")
        .execute(db)
        .await?
        .rows_affected())
}

/// `sink`'s cursor and the chain's head seq, in one cheap read; `None` without a cursor.
pub async fn position(db: &Db, sink: &str) -> Result<Option<(i64, i64)>, sqlx::Error> {
    sqlx::query_as(
        "SELECT c.seq, h.seq FROM audit_export_cursor c, audit_head h WHERE c.sink = $1 AND h.id = 1",
    )
    .bind(sink)
    .fetch_optional(db)
    .await
}

/// Takes or renews the lease on `sink` for `holder` until `until` (Unix ms), if nobody
/// else holds an unexpired one at `now`. Returns the cursor when the lease is ours.
pub async fn claim(
    db: &Db,
    sink: &str,
    holder: &str,
    now: i64,
    until: i64,
) -> Result<Option<i64>, sqlx::Error> {
    sqlx::query_scalar(
        "UPDATE audit_export_cursor SET holder = $2, lease_until = $4
         WHERE sink = $1 AND (holder IS NULL OR holder = $2 OR lease_until IS NULL OR lease_until < $3)
         RETURNING seq",
    )
    .bind(sink)
    .bind(holder)
    .bind(now)
    .bind(until)
    .fetch_optional(db)
    .await
}

/// Moves `sink`'s cursor forward to `seq` (the sink accepted everything up to it) and
/// renews the lease, if `holder` still holds it. Returns whether it did.
pub async fn advance(
    db: &Db,
    sink: &str,
    holder: &str,
    seq: i64,
    until: i64,
) -> Result<bool, sqlx::Error> {
    let done = sqlx::query(
        "UPDATE audit_export_cursor SET seq = CASE WHEN seq < $3 THEN $3 ELSE seq END, lease_until = $4
         WHERE sink = $1 AND holder = $2",
    )
    .bind(sink)
    .bind(holder)
    .bind(seq)
    .bind(until)
    .execute(db)
    .await?;
    Ok(done.rows_affected() == 1)
}

/// Gives the lease up (a relay shutting down), so another relay takes over at once.
pub async fn release(db: &Db, sink: &str, holder: &str) -> Result<(), sqlx::Error> {
    sqlx::query(
        "UPDATE audit_export_cursor SET holder = NULL, lease_until = NULL
         WHERE sink = $1 AND holder = $2",
    )
    .bind(sink)
    .bind(holder)
    .execute(db)
    .await?;
    Ok(())
}

/// The lowest cursor of the configured sinks (`None` when there is none): entries up to
/// it have been delivered everywhere, entries after it not yet.
pub async fn floor(db: &Db) -> Result<Option<i64>, sqlx::Error> {
    sqlx::query_scalar("SELECT MIN(seq) FROM audit_export_cursor")
        .fetch_one(db)
        .await
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn leases_cursors_and_the_floor() {
        let dir = tempfile::tempdir().expect("tempdir");
        let db = crate::store::open(&dir.path().join("t.db"))
            .await
            .expect("open");
        assert_eq!(floor(&db).await.expect("floor"), None, "no sink");
        register(&db, "old").await.expect("register");
        register(&db, "s").await.expect("register");
        assert_eq!(position(&db, "old").await.expect("read"), None, "forgotten");
        assert_eq!(position(&db, "s").await.expect("read"), Some((0, 0)));
        assert_eq!(floor(&db).await.expect("floor"), Some(0));

        assert_eq!(claim(&db, "s", "a", 1000, 2000).await.expect("a"), Some(0));
        assert_eq!(
            claim(&db, "s", "b", 1500, 2500).await.expect("b"),
            None,
            "a holds it"
        );
        assert_eq!(
            claim(&db, "s", "a", 1500, 2500).await.expect("a"),
            Some(0),
            "renewed"
        );
        assert!(advance(&db, "s", "a", 5, 3000).await.expect("a"));
        assert!(
            !advance(&db, "s", "b", 9, 3000).await.expect("b"),
            "not b's"
        );
        assert!(advance(&db, "s", "a", 3, 3000).await.expect("a"));
        assert_eq!(floor(&db).await.expect("floor"), Some(5), "never backwards");
        assert_eq!(
            claim(&db, "s", "b", 3001, 4000).await.expect("b"),
            Some(5),
            "expired"
        );
        assert!(
            !advance(&db, "s", "a", 7, 5000).await.expect("a"),
            "a lost it"
        );
        release(&db, "s", "b").await.expect("release");
        assert_eq!(
            claim(&db, "s", "a", 3002, 4000).await.expect("a"),
            Some(5),
            "released"
        );
        register(&db, "s").await.expect("again");
        assert_eq!(floor(&db).await.expect("floor"), Some(5), "kept");
        assert_eq!(forget_all(&db).await.expect("forget"), 1);
        assert_eq!(floor(&db).await.expect("floor"), None);
    }
}
