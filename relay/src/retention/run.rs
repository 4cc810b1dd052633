//! One retention pass against the database and the recordings directory, and the relay's
//! background task that runs it.
//!
//! Recordings: each due recording (see `decide`) is hashed, then marked deleted and
//! audited (`recording_deleted`, the files' names, sizes and SHA-256) in one write
//! transaction that re-checks the hold, and only after the commit are its files removed.
//! A crash in between leaves files the chain already calls deleted, which `vigil audit
//! verify` accepts; the reverse (files gone, no entry) never happens.
//!
//! Audit: entries older than `audit_days` are pruned through `store::audit::prune_through`
//! (behind a MAC'd checkpoint), only if the chain verifies first (a checkpoint must never
//! vouch for a tampered chain), never at or past [`prune_floor`]. The seal of a recording
//! still kept (not deleted: held, or not yet due) is carried: before the prune, its newest
//! `recording_sealed` entry, if it would be pruned, is appended again unchanged (verified
//! by the chain check just made), so `vigil audit verify` keeps checking that recording.

use std::path::Path;

use vigil_wire::audit::{AuditAction, RecordingSeal};

use super::config::Retention;
use super::decide::{self, KeptRecording};
use crate::audit::{chain, seal, verify, AuditKey};
use crate::state::AppState;
use crate::store::audit::{NewEntry, PruneError, Who};
use crate::store::{self, now_ms, Db};

#[derive(Debug, thiserror::Error)]
pub enum RetentionError {
    #[error(transparent)]
    Db(#[from] sqlx::Error),
    #[error("hashing the recording of session {id} before deleting it: {source}")]
    Hash { id: String, source: std::io::Error },
    #[error("hashing was interrupted: {0}")]
    Join(#[from] tokio::task::JoinError),
    #[error(transparent)]
    Prune(#[from] PruneError),
    #[error("the audit chain does not verify, so it is not pruned: {0}")]
    ChainBroken(String),
    #[error(transparent)]
    Carry(#[from] CarryError),
}

/// What one pass did.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Report {
    /// Sessions whose recordings were deleted.
    pub recordings_deleted: Vec<String>,
    /// Seals of kept recordings appended again before the prune.
    pub seals_carried: usize,
    /// The audit log was pruned through this seq.
    pub pruned_through: Option<i64>,
    /// Entries removed.
    pub entries_pruned: u64,
}

impl std::fmt::Display for Report {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{} recording(s) deleted", self.recordings_deleted.len())?;
        match self.pruned_through {
            Some(seq) => write!(
                f,
                ", {} audit entries pruned through seq {seq} behind a checkpoint ({} seal(s) of kept recordings carried)",
                self.entries_pruned, self.seals_carried
            ),
            None => write!(f, ", no audit entry pruned"),
        }
    }
}

/// The lowest audit seq that must survive a prune, if any: entries at or after it are
/// still needed elsewhere in Vigil.
///
/// The first entry retention must keep for someone else: the first one the audit export
/// has not yet delivered to its sink (`export::export_floor` is the last one delivered).
/// `None` without a sink.
pub async fn prune_floor(db: &Db) -> Result<Option<i64>, sqlx::Error> {
    Ok(crate::export::export_floor(db)
        .await?
        .map(|delivered| delivered.saturating_add(1)))
}

/// One pass at `now` (Unix milliseconds) as `who`.
pub async fn run_once(
    db: &Db,
    key: &AuditKey,
    recordings: &Path,
    settings: &Retention,
    who: Who<'_>,
    now: i64,
) -> Result<Report, RetentionError> {
    let mut report = Report::default();
    if settings.recordings_days.is_some() {
        let rows = kept_recordings(db).await?;
        for id in decide::recordings_to_delete(now, settings.recordings_days, &rows) {
            if delete_recording(db, key, recordings, who, &id).await? {
                report.recordings_deleted.push(id);
            }
        }
    }
    if let Some(cutoff) = decide::cutoff(now, settings.audit_days) {
        let newest_expired: Option<i64> =
            sqlx::query_scalar("SELECT MAX(seq) FROM audit_log WHERE seq IS NOT NULL AND at < $1")
                .bind(cutoff)
                .fetch_one(db)
                .await?;
        if let Some(through) = decide::audit_prune_through(newest_expired, prune_floor(db).await?) {
            let check = verify::verify_chain(db, key).await?;
            if let Some(b) = check.broken {
                return Err(RetentionError::ChainBroken(format!(
                    "entry {}: {} ({})",
                    b.seq,
                    b.problem.describe(),
                    b.detail
                )));
            }
            report.seals_carried = carry_seals(db, key, who, through).await?;
            report.entries_pruned = store::audit::prune_through(db, key, who, through).await?;
            report.pruned_through = Some(through);
        }
    }
    Ok(report)
}

#[derive(sqlx::FromRow)]
struct RawKept {
    id: String,
    ended_at: i64,
    held: bool,
    sealed: bool,
}

/// Ended sessions whose recordings are still kept.
async fn kept_recordings(db: &Db) -> Result<Vec<KeptRecording>, sqlx::Error> {
    let rows: Vec<RawKept> = sqlx::query_as(
        "SELECT id, ended_at, legal_hold_at IS NOT NULL AS held, sealed_at IS NOT NULL AS sealed
         FROM sessions WHERE ended_at IS NOT NULL AND recording_deleted_at IS NULL
         ORDER BY ended_at",
    )
    .fetch_all(db)
    .await?;
    Ok(rows
        .into_iter()
        .map(|r| KeptRecording {
            id: r.id,
            ended_at: r.ended_at,
            held: r.held,
            sealed: r.sealed,
        })
        .collect())
}

/// Deletes the recording of session `id`: hashes its files, marks it deleted and audits
/// `recording_deleted` in one transaction (unless a hold was placed meanwhile, or it was
/// deleted already: then `false`), then removes the files.
pub async fn delete_recording(
    db: &Db,
    key: &AuditKey,
    recordings: &Path,
    who: Who<'_>,
    id: &str,
) -> Result<bool, RetentionError> {
    let dir = recordings.to_path_buf();
    let owned = id.to_string();
    let files = tokio::task::spawn_blocking(move || seal::seal_files(&dir, &owned))
        .await?
        .map_err(|source| RetentionError::Hash {
            id: id.to_string(),
            source,
        })?;
    let detail = serde_json::to_string(&files).unwrap_or_default();
    let mut tx = store::begin_write(db).await?;
    let marked = sqlx::query(
        "UPDATE sessions SET recording_deleted_at = $1
         WHERE id = $2 AND recording_deleted_at IS NULL AND legal_hold_at IS NULL
           AND sealed_at IS NOT NULL AND ended_at IS NOT NULL",
    )
    .bind(now_ms())
    .bind(id)
    .execute(&mut *tx)
    .await?
    .rows_affected();
    if marked == 0 {
        return Ok(false);
    }
    store::audit::append(
        &mut tx,
        key,
        NewEntry::new(who, AuditAction::RecordingDeleted, &detail).on(id),
    )
    .await?;
    tx.commit().await?;
    let dir = recordings.to_path_buf();
    let removed = tokio::task::spawn_blocking(move || remove_files(&dir, &files)).await?;
    if let Err(error) = removed {
        // The chain already records the deletion: a file left behind is only disk space.
        tracing::warn!(session = %id, %error, "A deleted recording's file could not be removed");
    }
    tracing::info!(session = %id, "Recording deleted by retention");
    Ok(true)
}

fn remove_files(dir: &Path, files: &RecordingSeal) -> std::io::Result<()> {
    for f in &files.files {
        match std::fs::remove_file(dir.join(&f.name)) {
            Ok(()) => {}
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
            Err(e) => return Err(e),
        }
    }
    Ok(())
}

#[derive(Debug, thiserror::Error)]
pub enum CarryError {
    #[error(transparent)]
    Db(#[from] sqlx::Error),
    /// A seal about to be carried does not match its hash or MAC: carrying it would
    /// vouch for an edit under the key.
    #[error("the seal at audit entry {0} does not match its hash or MAC; nothing is pruned (run `vigil audit verify`)")]
    Forged(i64),
}

/// Appends again, unchanged, the newest seal of every kept recording that a prune
/// through `through` would remove, so the recording is still checked afterwards. Each
/// seal is checked (hash and MAC) before it is carried. Returns how many. Every prune
/// calls it first (`vigil audit prune` too).
pub async fn carry_seals(
    db: &Db,
    key: &AuditKey,
    who: Who<'_>,
    through: i64,
) -> Result<usize, CarryError> {
    // No entry there: the prune will refuse, so nothing is carried.
    let (exists,): (bool,) =
        sqlx::query_as("SELECT EXISTS (SELECT 1 FROM audit_log WHERE seq = $1)")
            .bind(through)
            .fetch_one(db)
            .await?;
    if !exists {
        return Ok(0);
    }
    let seqs: Vec<i64> = sqlx::query_scalar(
        "SELECT a.seq FROM audit_log a
         JOIN sessions s ON s.id = a.session_id
         WHERE a.action = $1 AND s.recording_deleted_at IS NULL
           AND a.seq = (SELECT MAX(b.seq) FROM audit_log b
                        WHERE b.action = $1 AND b.session_id = a.session_id)
           AND a.seq <= $2
         ORDER BY a.seq",
    )
    .bind(AuditAction::RecordingSealed.as_str())
    .bind(through)
    .fetch_all(db)
    .await?;
    let mut seals = Vec::with_capacity(seqs.len());
    for seq in seqs {
        let stored = store::audit::stored_after(db, seq - 1, seq, 1).await?;
        let Some(e) = stored.into_iter().next() else {
            continue;
        };
        if chain::hash(&e.link()) != e.hash || !chain::mac_ok(key, &e.hash, &e.mac) {
            return Err(CarryError::Forged(seq));
        }
        if let Some(id) = e.session_id {
            seals.push((id, e.detail));
        }
    }
    if seals.is_empty() {
        return Ok(0);
    }
    let mut tx = store::begin_write(db).await?;
    for (id, detail) in &seals {
        store::audit::append(
            &mut tx,
            key,
            NewEntry::new(who, AuditAction::RecordingSealed, detail).on(id),
        )
        .await?;
    }
    tx.commit().await?;
    Ok(seals.len())
}

/// The relay's retention task: a pass at start, then every `interval`, until shutdown.
/// Does nothing when neither setting is given.
pub async fn task(state: AppState) {
    let settings = state.config.retention.clone();
    if !settings.enabled() {
        return;
    }
    let recordings = state.config.recordings_dir();
    loop {
        match run_once(
            &state.db,
            &state.audit_key,
            &recordings,
            &settings,
            Who::RELAY,
            now_ms(),
        )
        .await
        {
            Ok(report) => tracing::info!(%report, "Retention pass"),
            Err(error) => tracing::error!(%error, "Retention pass failed"),
        }
        tokio::select! {
            () = tokio::time::sleep(settings.interval) => {}
            () = state.shutdown.cancelled() => return,
        }
    }
}
