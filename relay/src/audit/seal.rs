//! Sealing a finished session's recording into the audit chain: the name, size and
//! SHA-256 of each of its files (`.cast`, or `.desktop` and its index, and
//! `.keys.jsonl`) in a `recording_sealed` entry, so that a recording edited afterwards is
//! named by `vigil audit verify`.
//!
//! The relay seals a session when the hub reports its end (`Lifecycle::Ended`, sent after
//! the session's task made its last write; every record is an unbuffered write, so the
//! files are whole by then), and at start every session a previous run left ended but
//! unsealed (a relay killed mid-recording). Hashing runs on a blocking thread.

use std::io::Read;
use std::path::{Path, PathBuf};

use sha2::{Digest, Sha256};
use vigil_wire::audit::{AuditAction, RecordingSeal, SealedFile};

use super::key::AuditKey;
use crate::store::{self, audit::NewEntry, audit::Who, now_ms, Db};

/// The suffixes a session's record files may have, in the order they are listed.
pub const SUFFIXES: [&str; 4] = [".cast", ".desktop", ".desktop.idx", ".keys.jsonl"];

/// SHA-256 (hex) and size of the file at `path`.
pub fn hash_file(path: &Path) -> std::io::Result<(u64, String)> {
    let mut file = std::fs::File::open(path)?;
    let mut hasher = Sha256::new();
    let mut buf = vec![0u8; 64 * 1024];
    let mut size = 0u64;
    loop {
        let n = file.read(&mut buf)?;
        if n == 0 {
            break;
        }
        hasher.update(&buf[..n]);
        size += u64::try_from(n).unwrap_or(0);
    }
    Ok((size, hex::encode(hasher.finalize())))
}

/// The seal of session `id`'s files in `dir` (those that exist).
pub fn seal_files(dir: &Path, id: &str) -> std::io::Result<RecordingSeal> {
    let mut files = Vec::new();
    for suffix in SUFFIXES {
        let name = format!("{id}{suffix}");
        let path = dir.join(&name);
        match hash_file(&path) {
            Ok((size, sha256)) => files.push(SealedFile { name, size, sha256 }),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
            Err(e) => return Err(e),
        }
    }
    Ok(RecordingSeal { files })
}

/// The first file of `seal` that no longer matches, in words, if any.
pub fn changed_file(dir: &Path, seal: &RecordingSeal) -> Option<String> {
    for f in &seal.files {
        if f.name.contains(['/', '\\']) || f.name.starts_with('.') {
            return Some(format!("{}: not a recording file name", f.name));
        }
        match hash_file(&dir.join(&f.name)) {
            Ok((size, sha)) if size == f.size && sha == f.sha256 => {}
            Ok(_) => return Some(f.name.clone()),
            Err(e) => return Some(format!("{}: {e}", f.name)),
        }
    }
    None
}

#[derive(Debug, thiserror::Error)]
pub enum SealError {
    #[error("hashing the recording of session {id}: {source}")]
    Hash { id: String, source: std::io::Error },
    #[error(transparent)]
    Db(#[from] sqlx::Error),
    #[error("hashing was interrupted: {0}")]
    Join(#[from] tokio::task::JoinError),
}

/// Seals session `id` unless it was sealed already. Returns whether it sealed it now.
pub async fn seal(db: &Db, key: &AuditKey, dir: PathBuf, id: &str) -> Result<bool, SealError> {
    let owned = id.to_string();
    let seal = tokio::task::spawn_blocking(move || seal_files(&dir, &owned))
        .await?
        .map_err(|source| SealError::Hash {
            id: id.to_string(),
            source,
        })?;
    let detail = serde_json::to_string(&seal).unwrap_or_default();
    let mut tx = store::begin_write(db).await?;
    let claimed =
        sqlx::query("UPDATE sessions SET sealed_at = $1 WHERE id = $2 AND sealed_at IS NULL")
            .bind(now_ms())
            .bind(id)
            .execute(&mut *tx)
            .await?
            .rows_affected();
    if claimed == 0 {
        return Ok(false);
    }
    store::audit::append(
        &mut tx,
        key,
        NewEntry::new(Who::RELAY, AuditAction::RecordingSealed, &detail).on(id),
    )
    .await?;
    tx.commit().await?;
    tracing::debug!(session = %id, files = seal.files.len(), "Recording sealed");
    Ok(true)
}

/// Seals every ended, unsealed session (those a previous run left: call it only before
/// this relay's hub runs sessions). Returns how many it sealed.
pub async fn seal_left_over(db: &Db, key: &AuditKey, dir: &Path) -> Result<usize, SealError> {
    let ids: Vec<String> = sqlx::query_scalar(
        "SELECT id FROM sessions WHERE ended_at IS NOT NULL AND sealed_at IS NULL ORDER BY started_at",
    )
    .fetch_all(db)
    .await?;
    let mut n = 0;
    for id in ids {
        if seal(db, key, dir.to_path_buf(), &id).await? {
            n += 1;
        }
    }
    Ok(n)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn one_changed_byte_is_named() {
        let dir = tempfile::tempdir().expect("tempdir");
        let id = "abc";
        std::fs::write(
            dir.path().join("abc.cast"),
            b"{\"version\":2}\n[0.1,\"o\",\"hi\"]\n",
        )
        .expect("cast");
        std::fs::write(dir.path().join("abc.keys.jsonl"), b"").expect("keys");
        let seal = seal_files(dir.path(), id).expect("seal");
        let names: Vec<_> = seal.files.iter().map(|f| f.name.as_str()).collect();
        assert_eq!(names, ["abc.cast", "abc.keys.jsonl"]);
        assert_eq!(changed_file(dir.path(), &seal), None);
        let path = dir.path().join("abc.cast");
        let mut bytes = std::fs::read(&path).expect("read");
        bytes[20] ^= 1;
        std::fs::write(&path, bytes).expect("write");
        assert_eq!(changed_file(dir.path(), &seal).as_deref(), Some("abc.cast"));
    }
}
