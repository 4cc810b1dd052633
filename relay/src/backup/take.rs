//! Making a backup of a (possibly running) relay's data directory.
//!
//! The database is copied first, in one read transaction (`VACUUM INTO`: SQLite's online
//! copy, consistent while the relay writes, through the relay's own sqlx connection), then
//! the recordings of the sessions that copy knows, then the keys. That order is what makes
//! the backup consistent:
//!
//! - a session ended and sealed in the copy has files that no longer change: they are
//!   copied exactly as sealed (a sealed file missing, deleted by retention after the
//!   copy, fails the backup: run it again);
//! - a session still running in the copy (or ended but unsealed) has append-only files,
//!   copied as far as they reached, at least what the copy knows of; at restore it is
//!   ended (`end_all_running`) and sealed as restored (`seal_left_over`), exactly like a
//!   session a killed relay left behind;
//! - a session started after the copy is not in it, and its files are not copied.

use std::path::{Path, PathBuf};

use sqlx::sqlite::SqliteConnectOptions;
use sqlx::ConnectOptions;
use vigil_wire::audit::{AuditAction, RecordingSeal};

use super::manifest::{
    self, copy_hashed, private_dir, set_mode, Manifest, ManifestFile, AUDIT_KEY, DB, FORMAT,
    MANIFEST, RECORDINGS, SECRET_KEY, VERSION,
};
use crate::audit::seal::SUFFIXES;
use crate::config::Config;
use crate::store::now_ms;

#[derive(Debug, thiserror::Error)]
pub enum BackupError {
    #[error("no database at {0}: is the data directory right?")]
    NoDatabase(PathBuf),
    #[error("no credential key at {0}")]
    NoSecretKey(PathBuf),
    #[error("no audit key configured (audit_key_file or VIGIL_AUDIT_KEY_FILE): a backup needs it")]
    NoAuditKey,
    #[error("{0} exists and is not an empty directory: back up into a new or empty one")]
    DestNotEmpty(PathBuf),
    #[error(
        "the recording of session {id} ({file}) was removed during the backup (by retention?): run the backup again"
    )]
    RecordingVanished { id: String, file: String },
    #[error("{what} {path}: {source}")]
    Io {
        what: &'static str,
        path: PathBuf,
        source: std::io::Error,
    },
    #[error(transparent)]
    Db(#[from] sqlx::Error),
    #[error("copying was interrupted: {0}")]
    Join(#[from] tokio::task::JoinError),
}

fn io(what: &'static str, path: &Path) -> impl FnOnce(std::io::Error) -> BackupError {
    let path = path.to_path_buf();
    move |source| BackupError::Io { what, path, source }
}

/// Prepares `dest`: created 0700, or an existing empty directory (set to 0700).
fn prepare_dest(dest: &Path) -> Result<(), BackupError> {
    match std::fs::read_dir(dest) {
        Ok(mut entries) => {
            if entries.next().is_some() {
                return Err(BackupError::DestNotEmpty(dest.to_path_buf()));
            }
            set_mode(dest, 0o700).map_err(io("setting the mode of", dest))
        }
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            private_dir(dest).map_err(io("creating", dest))
        }
        Err(e) if e.kind() == std::io::ErrorKind::NotADirectory => {
            Err(BackupError::DestNotEmpty(dest.to_path_buf()))
        }
        Err(e) => Err(io("reading", dest)(e)),
    }
}

/// Backs up the data of `config` into `dest` (new or empty) and returns its manifest
/// (also written as `dest/manifest.json`).
pub async fn take(config: &Config, dest: &Path) -> Result<Manifest, BackupError> {
    let db_path = config.db_path();
    if !db_path.is_file() {
        return Err(BackupError::NoDatabase(db_path));
    }
    let secret = config.secret_key_path();
    if !secret.is_file() {
        return Err(BackupError::NoSecretKey(secret));
    }
    let audit_key = config
        .audit_key_file
        .clone()
        .ok_or(BackupError::NoAuditKey)?;
    if !audit_key.is_file() {
        return Err(BackupError::NoAuditKey);
    }
    prepare_dest(dest)?;
    let mut files = Vec::new();

    // 1. The database: one consistent snapshot, whatever the relay writes meanwhile.
    let db_copy = dest.join(DB);
    let created_at = now_ms();
    // The relay's database as it is: no migration from this process.
    let mut db = SqliteConnectOptions::new()
        .filename(&db_path)
        .busy_timeout(std::time::Duration::from_secs(5))
        .connect()
        .await?;
    sqlx::query("VACUUM INTO $1")
        .bind(db_copy.display().to_string())
        .execute(&mut db)
        .await?;
    drop(db);
    set_mode(&db_copy, 0o600).map_err(io("setting the mode of", &db_copy))?;
    files.push(hashed(&db_copy, DB)?);

    // 2. The recordings of the sessions the copy knows.
    let wanted = recordings_of(&db_copy).await?;
    let rec_dest = dest.join(RECORDINGS);
    private_dir(&rec_dest).map_err(io("creating", &rec_dest))?;
    let rec_src = config.recordings_dir();
    let copied = tokio::task::spawn_blocking(move || copy_recordings(&rec_src, &rec_dest, &wanted))
        .await??;
    files.extend(copied);

    // 3. The keys.
    let keys = dest.join("keys");
    private_dir(&keys).map_err(io("creating", &keys))?;
    for (from, name) in [(&secret, SECRET_KEY), (&audit_key, AUDIT_KEY)] {
        let to = dest.join(name);
        let (size, sha256) = copy_hashed(from, &to).map_err(io("copying", from))?;
        files.push(ManifestFile {
            path: name.to_string(),
            size,
            sha256,
        });
    }

    let manifest = Manifest {
        format: FORMAT.to_string(),
        version: VERSION,
        vigil_version: env!("CARGO_PKG_VERSION").to_string(),
        created_at,
        files,
    };
    let text = serde_json::to_vec_pretty(&manifest).unwrap_or_default();
    let path = dest.join(MANIFEST);
    let mut out = manifest::create_private(&path).map_err(io("writing", &path))?;
    std::io::Write::write_all(&mut out, &text).map_err(io("writing", &path))?;
    out.sync_all().map_err(io("writing", &path))?;
    Ok(manifest)
}

/// The size and SHA-256 of the backup's file `path`, as a manifest line named `name`.
fn hashed(path: &Path, name: &str) -> Result<ManifestFile, BackupError> {
    let (size, sha256) = crate::audit::seal::hash_file(path).map_err(io("hashing", path))?;
    Ok(ManifestFile {
        path: name.to_string(),
        size,
        sha256,
    })
}

/// One session whose files a backup copies.
#[derive(Debug)]
struct Wanted {
    id: String,
    /// The files of its newest seal (which must all be there), if sealed.
    sealed: Option<RecordingSeal>,
}

/// The sessions of the database copy whose recordings are kept, each with its newest
/// seal.
async fn recordings_of(db_copy: &Path) -> Result<Vec<Wanted>, BackupError> {
    let mut conn = SqliteConnectOptions::new()
        .filename(db_copy)
        .read_only(true)
        .connect()
        .await?;
    let rows: Vec<(String, Option<String>)> = sqlx::query_as(
        "SELECT s.id,
            (SELECT a.detail FROM audit_log a WHERE a.session_id = s.id AND a.action = $1
             ORDER BY a.seq DESC LIMIT 1)
         FROM sessions s
         WHERE s.recording_deleted_at IS NULL",
    )
    .bind(AuditAction::RecordingSealed.as_str())
    .fetch_all(&mut conn)
    .await?;
    let sealed_ids: Vec<String> =
        sqlx::query_scalar("SELECT id FROM sessions WHERE sealed_at IS NOT NULL")
            .fetch_all(&mut conn)
            .await?;
    drop(conn);
    Ok(rows
        .into_iter()
        .map(|(id, seal)| Wanted {
            sealed: sealed_ids
                .contains(&id)
                .then(|| seal.and_then(|s| serde_json::from_str(&s).ok()))
                .flatten(),
            id,
        })
        .collect())
}

fn copy_recordings(
    from: &Path,
    to: &Path,
    wanted: &[Wanted],
) -> Result<Vec<ManifestFile>, BackupError> {
    let mut out = Vec::new();
    for w in wanted {
        let names: Vec<String> = match &w.sealed {
            Some(seal) => seal.files.iter().map(|f| f.name.clone()).collect(),
            None => SUFFIXES.iter().map(|s| format!("{}{s}", w.id)).collect(),
        };
        for name in names {
            if !manifest::safe_path(&name) || name.contains('/') {
                continue;
            }
            let src = from.join(&name);
            let dst = to.join(&name);
            match copy_hashed(&src, &dst) {
                Ok((size, sha256)) => out.push(ManifestFile {
                    path: format!("{RECORDINGS}/{name}"),
                    size,
                    sha256,
                }),
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                    if w.sealed.is_some() {
                        return Err(BackupError::RecordingVanished {
                            id: w.id.clone(),
                            file: name,
                        });
                    }
                }
                Err(e) => return Err(io("copying", &src)(e)),
            }
        }
    }
    Ok(out)
}
