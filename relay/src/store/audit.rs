//! The audit log: appending to its keyed hash chain (always inside a write transaction,
//! so an entry commits or rolls back with the change it records and `seq` has no gaps),
//! reading it filtered and paged, and pruning it behind a checkpoint.

use vigil_wire::audit::{AuditAction, AuditCheckpoint, AuditEntry, AuditQuery};

use super::{begin_write, corrupt, now_ms, parse_or, Db, DbConn, DbKind};
use crate::audit::chain::{self, Link, Stored};
use crate::audit::key::AuditKey;

/// Who did it, and from where.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Who<'a> {
    pub actor: &'a str,
    /// The client's address (API), `cli` or `relay`.
    pub source: Option<&'a str>,
}

impl Who<'static> {
    /// The relay on its own account (sealing, host keys, expiry).
    pub const RELAY: Who<'static> = Who {
        actor: "relay",
        source: Some("relay"),
    };
    /// The command line.
    pub const CLI: Who<'static> = Who {
        actor: "cli",
        source: Some("cli"),
    };
}

/// An entry to append.
#[derive(Debug, Clone, Copy)]
pub struct NewEntry<'a> {
    pub who: Who<'a>,
    pub action: AuditAction,
    pub session_id: Option<&'a str>,
    pub detail: &'a str,
}

impl<'a> NewEntry<'a> {
    pub fn new(who: Who<'a>, action: AuditAction, detail: &'a str) -> NewEntry<'a> {
        NewEntry {
            who,
            action,
            session_id: None,
            detail,
        }
    }

    /// On session `id`.
    pub fn on(mut self, id: &'a str) -> NewEntry<'a> {
        self.session_id = Some(id);
        self
    }
}

/// Appends `e` to the chain inside the caller's transaction, which must be allowed to
/// write (its first statement here advances the head, taking the write lock). Returns
/// the entry's seq.
pub async fn append(
    conn: &mut DbConn,
    key: &AuditKey,
    e: NewEntry<'_>,
) -> Result<i64, sqlx::Error> {
    let (seq, prev): (i64, String) =
        sqlx::query_as("UPDATE audit_head SET seq = seq + 1 WHERE id = 1 RETURNING seq, hash")
            .fetch_one(&mut *conn)
            .await?;
    let at = now_ms();
    let link = Link {
        seq,
        at,
        actor: e.who.actor,
        action: e.action.as_str(),
        session_id: e.session_id,
        source: e.who.source,
        detail: e.detail,
        prev_hash: &prev,
    };
    let hash = chain::hash(&link);
    let mac = chain::mac(key, &hash);
    sqlx::query(
        "INSERT INTO audit_log (seq, at, actor, action, session_id, source, detail, prev_hash, hash, mac)
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10)",
    )
    .bind(seq)
    .bind(at)
    .bind(e.who.actor)
    .bind(e.action.as_str())
    .bind(e.session_id)
    .bind(e.who.source)
    .bind(e.detail)
    .bind(&prev)
    .bind(&hash)
    .bind(&mac)
    .execute(&mut *conn)
    .await?;
    sqlx::query("UPDATE audit_head SET hash = $1 WHERE id = 1")
        .bind(&hash)
        .execute(&mut *conn)
        .await?;
    Ok(seq)
}

/// Appends `e` in a write transaction of its own.
pub async fn record(db: &Db, key: &AuditKey, e: NewEntry<'_>) -> Result<(), sqlx::Error> {
    let mut tx = begin_write(db).await?;
    append(&mut tx, key, e).await?;
    tx.commit().await
}

/// Appends `e` (on a session) unless the same actor already has that action on that
/// session in the log; the check and the append share one write transaction, so
/// concurrent reads still audit once. Returns whether an entry was written.
pub async fn record_once(db: &Db, key: &AuditKey, e: NewEntry<'_>) -> Result<bool, sqlx::Error> {
    // Read first: a viewer paging or seeking reads many times, and only the first read
    // needs the write lock.
    if seen(db, &e).await? {
        return Ok(false);
    }
    let mut tx = begin_write(db).await?;
    if seen(&mut *tx, &e).await? {
        return Ok(false);
    }
    append(&mut tx, key, e).await?;
    tx.commit().await?;
    Ok(true)
}

/// Whether `e`'s actor already has `e`'s action on `e`'s session in the log.
async fn seen<'e, E: sqlx::Executor<'e, Database = DbKind>>(
    ex: E,
    e: &NewEntry<'_>,
) -> Result<bool, sqlx::Error> {
    let (seen,): (bool,) = sqlx::query_as(
        "SELECT EXISTS (SELECT 1 FROM audit_log WHERE actor = $1 AND action = $2 AND session_id = $3)",
    )
    .bind(e.who.actor)
    .bind(e.action.as_str())
    .bind(e.session_id)
    .fetch_one(ex)
    .await?;
    Ok(seen)
}

/// The chain's head: the newest entry's seq and hash (0 and the genesis when empty).
pub async fn head<'e, E: sqlx::Executor<'e, Database = DbKind>>(
    ex: E,
) -> Result<(i64, String), sqlx::Error> {
    sqlx::query_as("SELECT seq, hash FROM audit_head WHERE id = 1")
        .fetch_one(ex)
        .await
}

#[derive(sqlx::FromRow)]
struct Raw {
    seq: i64,
    at: i64,
    actor: String,
    action: String,
    session_id: Option<String>,
    source: Option<String>,
    detail: String,
    hash: String,
}

impl Raw {
    fn entry(self) -> Result<AuditEntry, sqlx::Error> {
        let action = parse_or(&self.action, &format!("audit entry {}", self.seq), "action")?;
        Ok(AuditEntry {
            seq: self.seq,
            at: self.at,
            actor: self.actor,
            action,
            session_id: self.session_id,
            source: self.source,
            detail: self.detail,
            hash: self.hash,
        })
    }
}

const FILTERED: &str = "SELECT seq, at, actor, action, session_id, source, detail, hash
     FROM audit_log
     WHERE seq IS NOT NULL
       AND ($1 IS NULL OR session_id = $1)
       AND ($2 IS NULL OR actor = $2)
       AND ($3 IS NULL OR action = $3)
       AND ($4 IS NULL OR at >= $4)
       AND ($5 IS NULL OR at < $5)";

/// Entries matching `q`, newest first: at most `q.limit` (default 200, at most 1000),
/// older than `q.before_seq` when given.
pub async fn list(db: &Db, q: &AuditQuery) -> Result<Vec<AuditEntry>, sqlx::Error> {
    let limit = q.limit.unwrap_or(200).clamp(1, 1000);
    let sql = format!("{FILTERED} AND ($6 IS NULL OR seq < $6) ORDER BY seq DESC LIMIT $7");
    let raws: Vec<Raw> = bind_filters(sqlx::query_as(&sql), q)
        .bind(q.before_seq)
        .bind(limit)
        .fetch_all(db)
        .await?;
    raws.into_iter().map(Raw::entry).collect()
}

/// Entries matching `q` with a seq above `after`, oldest first, at most `limit` (the
/// export pages through the log with it).
pub async fn page_after(
    db: &Db,
    q: &AuditQuery,
    after: i64,
    limit: i64,
) -> Result<Vec<AuditEntry>, sqlx::Error> {
    let sql = format!("{FILTERED} AND seq > $6 ORDER BY seq LIMIT $7");
    let raws: Vec<Raw> = bind_filters(sqlx::query_as(&sql), q)
        .bind(after)
        .bind(limit)
        .fetch_all(db)
        .await?;
    raws.into_iter().map(Raw::entry).collect()
}

type RawQuery<'q> =
    sqlx::query::QueryAs<'q, DbKind, Raw, <DbKind as sqlx::Database>::Arguments<'q>>;

fn bind_filters<'q>(query: RawQuery<'q>, q: &'q AuditQuery) -> RawQuery<'q> {
    query
        .bind(q.session.as_deref())
        .bind(q.actor.as_deref())
        .bind(q.action.map(AuditAction::as_str))
        .bind(q.since)
        .bind(q.until)
}

#[derive(sqlx::FromRow)]
struct RawStored {
    seq: i64,
    at: i64,
    actor: String,
    action: String,
    session_id: Option<String>,
    source: Option<String>,
    detail: String,
    prev_hash: Option<String>,
    hash: Option<String>,
    mac: Option<String>,
}

/// Chained entries with a seq above `after` and at most `through`, oldest first, as
/// stored (for the verifier), at most `limit`.
pub async fn stored_after(
    db: &Db,
    after: i64,
    through: i64,
    limit: i64,
) -> Result<Vec<Stored>, sqlx::Error> {
    let raws: Vec<RawStored> = sqlx::query_as(
        "SELECT seq, at, actor, action, session_id, source, detail, prev_hash, hash, mac
         FROM audit_log WHERE seq > $1 AND seq <= $2 ORDER BY seq LIMIT $3",
    )
    .bind(after)
    .bind(through)
    .bind(limit)
    .fetch_all(db)
    .await?;
    Ok(raws
        .into_iter()
        .map(|r| Stored {
            seq: r.seq,
            at: r.at,
            actor: r.actor,
            action: r.action,
            session_id: r.session_id,
            source: r.source,
            detail: r.detail,
            // A chained row missing these is broken; empty text fails its check.
            prev_hash: r.prev_hash.unwrap_or_default(),
            hash: r.hash.unwrap_or_default(),
            mac: r.mac.unwrap_or_default(),
        })
        .collect())
}

/// The id of a row outside the chain (no seq) written after the chain began, if any.
pub async fn unchained_row(db: &Db) -> Result<Option<i64>, sqlx::Error> {
    sqlx::query_scalar(
        "SELECT MIN(id) FROM audit_log WHERE seq IS NULL
         AND NOT EXISTS (SELECT 1 FROM audit_unchained WHERE id = 1)",
    )
    .fetch_one(db)
    .await
}

#[derive(sqlx::FromRow)]
struct Legacy {
    id: i64,
    at: i64,
    actor: String,
    action: String,
    session_id: Option<String>,
    detail: String,
}

/// Chains the entries written before the chain existed, in id order, once per database
/// (the first caller claims the marker), and records how many. Returns that count, or
/// `None` if it was done before.
pub async fn chain_unchained(db: &Db, key: &AuditKey) -> Result<Option<usize>, sqlx::Error> {
    let mut tx = begin_write(db).await?;
    let through: Option<i64> =
        sqlx::query_scalar("DELETE FROM audit_unchained WHERE id = 1 RETURNING through_id")
            .fetch_optional(&mut *tx)
            .await?;
    let Some(through) = through else {
        return Ok(None);
    };
    let rows: Vec<Legacy> = sqlx::query_as(
        "SELECT id, at, actor, action, session_id, detail FROM audit_log
         WHERE seq IS NULL AND id <= $1 ORDER BY id",
    )
    .bind(through)
    .fetch_all(&mut *tx)
    .await?;
    for r in &rows {
        let (seq, prev): (i64, String) =
            sqlx::query_as("UPDATE audit_head SET seq = seq + 1 WHERE id = 1 RETURNING seq, hash")
                .fetch_one(&mut *tx)
                .await?;
        let hash = chain::hash(&Link {
            seq,
            at: r.at,
            actor: &r.actor,
            action: &r.action,
            session_id: r.session_id.as_deref(),
            source: None,
            detail: &r.detail,
            prev_hash: &prev,
        });
        let mac = chain::mac(key, &hash);
        sqlx::query(
            "UPDATE audit_log SET seq = $1, prev_hash = $2, hash = $3, mac = $4 WHERE id = $5",
        )
        .bind(seq)
        .bind(&prev)
        .bind(&hash)
        .bind(&mac)
        .bind(r.id)
        .execute(&mut *tx)
        .await?;
        sqlx::query("UPDATE audit_head SET hash = $1 WHERE id = 1")
            .bind(&hash)
            .execute(&mut *tx)
            .await?;
    }
    if !rows.is_empty() {
        let detail = format!(
            "{} entries written before the chain existed were chained",
            rows.len()
        );
        append(
            &mut tx,
            key,
            NewEntry::new(Who::RELAY, AuditAction::AuditChained, &detail),
        )
        .await?;
    }
    tx.commit().await?;
    Ok(Some(rows.len()))
}

#[derive(Debug, thiserror::Error)]
pub enum PruneError {
    #[error("no audit entry {0}")]
    NoSuchEntry(i64),
    #[error(transparent)]
    Db(#[from] sqlx::Error),
}

/// Removes the entries up to and including `through`, behind a checkpoint: in one
/// transaction it appends an `audit_checkpoint` entry naming the removed range and the
/// hash of the last removed entry (which the first remaining entry names as its
/// previous), then deletes them. The chain still verifies afterwards. Returns how many
/// entries were removed.
pub async fn prune_through(
    db: &Db,
    key: &AuditKey,
    who: Who<'_>,
    through: i64,
) -> Result<u64, PruneError> {
    let mut tx = begin_write(db).await?;
    // The write first (the head), so nobody appends between the reads and the delete.
    let (head_seq, _) = head(&mut *tx).await?;
    sqlx::query("UPDATE audit_head SET seq = seq WHERE id = 1")
        .execute(&mut *tx)
        .await?;
    let last_hash: Option<Option<String>> =
        sqlx::query_scalar("SELECT hash FROM audit_log WHERE seq = $1")
            .bind(through)
            .fetch_optional(&mut *tx)
            .await?;
    let Some(Some(last_hash)) = last_hash else {
        return Err(PruneError::NoSuchEntry(through));
    };
    if through > head_seq {
        return Err(PruneError::NoSuchEntry(through));
    }
    let first_seq: i64 = sqlx::query_scalar("SELECT MIN(seq) FROM audit_log")
        .fetch_one(&mut *tx)
        .await?;
    let cp = AuditCheckpoint {
        first_seq,
        last_seq: through,
        last_hash,
    };
    let detail =
        serde_json::to_string(&cp).map_err(|e| corrupt("checkpoint", "detail", &e.to_string()))?;
    append(
        &mut tx,
        key,
        NewEntry::new(who, AuditAction::AuditCheckpoint, &detail),
    )
    .await?;
    let removed = sqlx::query("DELETE FROM audit_log WHERE seq <= $1")
        .bind(through)
        .execute(&mut *tx)
        .await?
        .rows_affected();
    tx.commit().await?;
    Ok(removed)
}
