//! Restoring a backup into a fresh data directory: every file is checked against the
//! manifest before anything is written; the data directory must be empty or absent; the
//! audit key is written only to the configured `audit_key_file`. Then the restored
//! database is opened as a starting relay would: sessions the backup caught running are
//! ended ("restored from a backup") and their recordings sealed, so `vigil audit verify`
//! passes on the restored directory.

use std::path::{Path, PathBuf};

use super::manifest::{
    copy_hashed, private_dir, safe_path, Manifest, AUDIT_KEY, DB, FORMAT, MANIFEST, RECORDINGS,
    SECRET_KEY, VERSION,
};
use crate::audit::seal::{self, hash_file};
use crate::config::Config;
use crate::store::{self, now_ms};

#[derive(Debug, thiserror::Error)]
pub enum RestoreError {
    #[error("cannot read the manifest {path}: {source} (is {dir} a Vigil backup?)")]
    NoManifest {
        path: PathBuf,
        dir: PathBuf,
        source: std::io::Error,
    },
    #[error("the manifest is not a Vigil backup's: {0}")]
    BadManifest(String),
    #[error("the backup is missing {0}")]
    Missing(String),
    #[error(
        "{0} does not match the manifest (size or SHA-256): the backup is damaged or was altered"
    )]
    HashMismatch(String),
    #[error("the data directory {0} is not empty: restore only into a new or empty one")]
    DataDirNotEmpty(PathBuf),
    #[error("no audit key path configured (audit_key_file or VIGIL_AUDIT_KEY_FILE): the backup's audit key is written there")]
    NoAuditKeyPath,
    #[error("{0} exists and holds another key: remove it, or configure another audit_key_file")]
    AuditKeyExists(PathBuf),
    #[error("the audit key {0} must be outside the data directory")]
    AuditKeyInDataDir(PathBuf),
    #[error("{what} {path}: {source}")]
    Io {
        what: &'static str,
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("opening the restored data: {0:#}")]
    Open(anyhow::Error),
    #[error(transparent)]
    Db(#[from] sqlx::Error),
    #[error(transparent)]
    Seal(#[from] seal::SealError),
}

fn io(what: &'static str, path: &Path) -> impl FnOnce(std::io::Error) -> RestoreError {
    let path = path.to_path_buf();
    move |source| RestoreError::Io { what, path, source }
}

/// What a restore did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Restored {
    pub manifest: Manifest,
    /// Sessions the backup caught running, now ended.
    pub ended: u64,
    /// Their recordings, sealed.
    pub sealed: usize,
}

/// Reads and checks `src`'s manifest and every file it lists (nothing is written).
pub fn check(src: &Path) -> Result<Manifest, RestoreError> {
    let path = src.join(MANIFEST);
    let text = std::fs::read(&path).map_err(|source| RestoreError::NoManifest {
        path: path.clone(),
        dir: src.to_path_buf(),
        source,
    })?;
    let m: Manifest =
        serde_json::from_slice(&text).map_err(|e| RestoreError::BadManifest(e.to_string()))?;
    if m.format != FORMAT {
        return Err(RestoreError::BadManifest(format!("format `{}`", m.format)));
    }
    if m.version != VERSION {
        return Err(RestoreError::BadManifest(format!(
            "version {} (this vigil reads {VERSION})",
            m.version
        )));
    }
    for required in [DB, SECRET_KEY, AUDIT_KEY] {
        if !m.files.iter().any(|f| f.path == required) {
            return Err(RestoreError::Missing(required.to_string()));
        }
    }
    for f in &m.files {
        let in_place = [DB, SECRET_KEY, AUDIT_KEY].contains(&f.path.as_str())
            || f.path
                .strip_prefix(&format!("{RECORDINGS}/"))
                .is_some_and(|name| !name.is_empty() && !name.contains('/'));
        if !safe_path(&f.path) || !in_place {
            return Err(RestoreError::BadManifest(format!(
                "unexpected path `{}`",
                f.path
            )));
        }
        match hash_file(&src.join(&f.path)) {
            Ok((size, sha)) if size == f.size && sha == f.sha256 => {}
            Ok(_) => return Err(RestoreError::HashMismatch(f.path.clone())),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                return Err(RestoreError::Missing(f.path.clone()))
            }
            Err(e) => return Err(io("reading", &src.join(&f.path))(e)),
        }
    }
    Ok(m)
}

/// Whether `dir` is absent or an empty directory.
fn empty_or_absent(dir: &Path) -> Result<bool, RestoreError> {
    match std::fs::read_dir(dir) {
        Ok(mut entries) => Ok(entries.next().is_none()),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(true),
        Err(e) => Err(io("reading", dir)(e)),
    }
}

/// Restores the backup at `src` into `config`'s data directory and audit key path.
pub async fn restore(config: &Config, src: &Path) -> Result<Restored, RestoreError> {
    let manifest = check(src)?;
    let data = &config.data_dir;
    if !empty_or_absent(data)? {
        return Err(RestoreError::DataDirNotEmpty(data.clone()));
    }
    let key_path = config
        .audit_key_file
        .clone()
        .ok_or(RestoreError::NoAuditKeyPath)?;
    let absolute = |p: &Path| std::path::absolute(p).unwrap_or_else(|_| p.to_path_buf());
    if absolute(&key_path).starts_with(absolute(data)) {
        return Err(RestoreError::AuditKeyInDataDir(key_path));
    }
    let key_in_backup = src.join(AUDIT_KEY);
    let write_key = match std::fs::read(&key_path) {
        Ok(existing) => {
            let wanted = std::fs::read(&key_in_backup).map_err(io("reading", &key_in_backup))?;
            if existing != wanted {
                return Err(RestoreError::AuditKeyExists(key_path));
            }
            false
        }
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => true,
        Err(e) => return Err(io("reading", &key_path)(e)),
    };

    private_dir(data).map_err(io("creating", data))?;
    private_dir(&config.recordings_dir()).map_err(io("creating", &config.recordings_dir()))?;
    for f in &manifest.files {
        let to = match f.path.as_str() {
            DB => config.db_path(),
            SECRET_KEY => config.secret_key_path(),
            AUDIT_KEY if write_key => key_path.clone(),
            AUDIT_KEY => continue,
            other => match other.strip_prefix(&format!("{RECORDINGS}/")) {
                Some(name) => config.recordings_dir().join(name),
                None => {
                    return Err(RestoreError::BadManifest(format!(
                        "unexpected path `{other}`"
                    )))
                }
            },
        };
        let from = src.join(&f.path);
        let (size, sha) = copy_hashed(&from, &to).map_err(io("restoring", &to))?;
        // Checked once more as written: a backup altered since the check is caught.
        if size != f.size || sha != f.sha256 {
            return Err(RestoreError::HashMismatch(f.path.clone()));
        }
    }

    let (db, key) = crate::app::open_audited(config)
        .await
        .map_err(RestoreError::Open)?;
    let ended = store::sessions::end_all_running(&db, now_ms(), "restored from a backup").await?;
    let sealed = seal::seal_left_over(&db, &key, &config.recordings_dir()).await?;
    db.close().await;
    Ok(Restored {
        manifest,
        ended,
        sealed,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::backup::manifest::ManifestFile;

    fn write_manifest(dir: &Path, files: Vec<ManifestFile>) {
        let m = Manifest {
            format: FORMAT.into(),
            version: VERSION,
            vigil_version: "test".into(),
            created_at: 0,
            files,
        };
        std::fs::write(dir.join(MANIFEST), serde_json::to_vec(&m).expect("json")).expect("write");
    }

    fn file(dir: &Path, path: &str, bytes: &[u8]) -> ManifestFile {
        let full = dir.join(path);
        std::fs::create_dir_all(full.parent().expect("parent")).expect("mkdir");
        std::fs::write(&full, bytes).expect("write");
        let (size, sha256) = hash_file(&full).expect("hash");
        ManifestFile {
            path: path.into(),
            size,
            sha256,
        }
    }

    #[test]
    fn the_check_names_what_is_missing_altered_or_out_of_place() {
        let dir = tempfile::tempdir().expect("tempdir");
        let d = dir.path();
        assert!(matches!(check(d), Err(RestoreError::NoManifest { .. })));
        let base = vec![
            file(d, DB, b"db"),
            file(d, SECRET_KEY, b"k1"),
            file(d, AUDIT_KEY, b"k2"),
            file(d, "recordings/a.cast", b"cast"),
        ];
        write_manifest(d, base.clone());
        assert_eq!(check(d).expect("a sound backup").files.len(), 4);

        std::fs::write(d.join("recordings/a.cast"), b"casT").expect("alter");
        let err = check(d).expect_err("altered");
        assert!(
            matches!(&err, RestoreError::HashMismatch(p) if p == "recordings/a.cast"),
            "{err}"
        );
        std::fs::remove_file(d.join("recordings/a.cast")).expect("remove");
        assert!(matches!(check(d), Err(RestoreError::Missing(p)) if p == "recordings/a.cast"));

        let mut outside = base[..3].to_vec();
        outside.push(ManifestFile {
            path: "../elsewhere".into(),
            size: 0,
            sha256: String::new(),
        });
        write_manifest(d, outside);
        assert!(matches!(check(d), Err(RestoreError::BadManifest(_))));
        write_manifest(d, base[..2].to_vec());
        assert!(matches!(check(d), Err(RestoreError::Missing(p)) if p == AUDIT_KEY));
    }
}
