//! The login throttle's counts (`login_throttle`), one row per hashed key. The decisions
//! are `throttle::decide`'s; this only reads and writes rows, atomically.

use sqlx::Row;

use super::Db;
use crate::throttle::decide::Count;
use crate::throttle::keys::Key;

fn count_of(row: &sqlx::sqlite::SqliteRow) -> Result<(String, Option<Count>), sqlx::Error> {
    let failures: i64 = row.try_get("failures")?;
    let count = (failures > 0).then(|| -> Result<Count, sqlx::Error> {
        Ok(Count {
            failures: u32::try_from(failures).unwrap_or(u32::MAX),
            last_ms: row.try_get("last_at")?,
            locked_until_ms: row.try_get("locked_until")?,
        })
    });
    Ok((row.try_get("key_hash")?, count.transpose()?))
}

/// `$first, $first+1, …` for `n` values.
fn params(first: usize, n: usize) -> String {
    (first..first + n)
        .map(|i| format!("${i}"))
        .collect::<Vec<_>>()
        .join(", ")
}

/// The counts for `keys`, in order (`None`: nothing counted). A plain read: for a quick
/// refusal, never for a decision that writes.
pub async fn read(db: &Db, keys: &[Key]) -> Result<Vec<Option<Count>>, sqlx::Error> {
    if keys.is_empty() {
        return Ok(Vec::new());
    }
    let hexes: Vec<String> = keys.iter().map(Key::hex).collect();
    let sql = format!(
        "SELECT key_hash, failures, last_at, locked_until FROM login_throttle
         WHERE key_hash IN ({})",
        params(1, hexes.len())
    );
    let mut q = sqlx::query(&sql);
    for h in &hexes {
        q = q.bind(h);
    }
    let rows = q.fetch_all(db).await?;
    in_order(&hexes, &rows)
}

fn in_order(
    hexes: &[String],
    rows: &[sqlx::sqlite::SqliteRow],
) -> Result<Vec<Option<Count>>, sqlx::Error> {
    let found = rows.iter().map(count_of).collect::<Result<Vec<_>, _>>()?;
    Ok(hexes
        .iter()
        .map(|h| found.iter().find(|(k, _)| k == h).and_then(|(_, c)| *c))
        .collect())
}

/// Reads the counts for `keys` and writes what `decide` makes of them, in one
/// transaction that holds the keys from the read to the commit: no other connection
/// (another relay's included) decides on them in between. `decide` gets the counts in
/// order and returns the new ones (`None` deletes the row), or `None` to change nothing.
///
/// The transaction starts with a write, an upsert that creates missing rows (zero
/// failures) and returns every row: SQLite takes its write lock for it before reading,
/// and PostgreSQL locks the rows it inserts or updates, so both serialise here.
pub async fn update<T>(
    db: &Db,
    keys: &[Key],
    now_ms: i64,
    decide: impl FnOnce(&[Option<Count>]) -> (Option<Vec<Option<Count>>>, T),
) -> Result<T, sqlx::Error> {
    if keys.is_empty() {
        return Ok(decide(&[]).1);
    }
    let hexes: Vec<String> = keys.iter().map(Key::hex).collect();
    let values = (0..keys.len())
        .map(|i| format!("(${}, ${}, 0, ${}, NULL)", 3 * i + 1, 3 * i + 2, 3 * i + 3))
        .collect::<Vec<_>>()
        .join(", ");
    let sql = format!(
        "INSERT INTO login_throttle (key_hash, kind, failures, last_at, locked_until)
         VALUES {values}
         ON CONFLICT (key_hash) DO UPDATE SET failures = login_throttle.failures
         RETURNING key_hash, failures, last_at, locked_until"
    );
    let mut tx = db.begin().await?;
    let mut q = sqlx::query(&sql);
    for (key, hex) in keys.iter().zip(&hexes) {
        q = q.bind(hex).bind(key.kind.as_str()).bind(now_ms);
    }
    let rows = q.fetch_all(&mut *tx).await?;
    let counts = in_order(&hexes, &rows)?;
    let (next, answer) = decide(&counts);
    let Some(next) = next else {
        tx.rollback().await?;
        return Ok(answer);
    };
    for (hex, count) in hexes.iter().zip(next) {
        match count.filter(|c| c.failures > 0) {
            Some(c) => {
                sqlx::query(
                    "UPDATE login_throttle SET failures = $2, last_at = $3, locked_until = $4
                     WHERE key_hash = $1",
                )
                .bind(hex)
                .bind(i64::from(c.failures))
                .bind(c.last_ms)
                .bind(c.locked_until_ms)
                .execute(&mut *tx)
                .await?;
            }
            None => {
                sqlx::query("DELETE FROM login_throttle WHERE key_hash = $1")
                    .bind(hex)
                    .execute(&mut *tx)
                    .await?;
            }
        }
    }
    tx.commit().await?;
    Ok(answer)
}

/// Deletes rows whose last failure is before `forget_before_ms` and that are not locked
/// out at `now_ms`; then, past `max_rows`, the oldest rows (unlocked ones first) down to
/// `keep_rows`. Returns how many rows are left.
pub async fn prune(
    db: &Db,
    now_ms: i64,
    forget_before_ms: i64,
    max_rows: i64,
    keep_rows: i64,
) -> Result<i64, sqlx::Error> {
    sqlx::query(
        "DELETE FROM login_throttle
         WHERE last_at < $1 AND (locked_until IS NULL OR locked_until <= $2)",
    )
    .bind(forget_before_ms)
    .bind(now_ms)
    .execute(db)
    .await?;
    let rows: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM login_throttle")
        .fetch_one(db)
        .await?;
    if rows <= max_rows {
        return Ok(rows);
    }
    let evicted = sqlx::query(
        "DELETE FROM login_throttle WHERE key_hash IN (
             SELECT key_hash FROM login_throttle
             ORDER BY CASE WHEN locked_until > $1 THEN 1 ELSE 0 END, last_at
             LIMIT $2)",
    )
    .bind(now_ms)
    .bind(rows - keep_rows.min(rows))
    .execute(db)
    .await?;
    Ok(rows - i64::try_from(evicted.rows_affected()).unwrap_or(rows))
}
