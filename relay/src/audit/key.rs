//! The audit key: 32 random bytes (a file of 64 hex digits) that MAC every audit entry.
//! It must live outside the data directory, readable by its owner only, so that a copy
//! of the data directory (or write access to the database) is not enough to rewrite the
//! log unnoticed. Several relays sharing one database share the key.

use std::path::{Path, PathBuf};

use rand::RngCore;
use vigil_hub::Secret;

/// How the operator makes a key, said in every error about a missing or misplaced one.
const HOW: &str =
    "make one with `vigil audit keygen --out /etc/vigil/audit.key` (outside the data directory) \
     and name it as audit_key_file in the config or VIGIL_AUDIT_KEY_FILE";

#[derive(Debug, thiserror::Error)]
pub enum KeyError {
    #[error("no audit key is configured; {how}", how = HOW)]
    NotConfigured,
    #[error("the audit key file {} does not exist; {how}", .0.display(), how = HOW)]
    Missing(PathBuf),
    #[error("the audit key file {} is inside the data directory {}; move it out ({how})", .key.display(), .data_dir.display(), how = HOW)]
    InsideDataDir { key: PathBuf, data_dir: PathBuf },
    #[error("the audit key file {} is readable or writable by group or others; chmod 600 it", .0.display())]
    Shared(PathBuf),
    #[error("the audit key file {} does not hold 64 hex digits; {how}", .0.display(), how = HOW)]
    Malformed(PathBuf),
    #[error("{} exists already; an audit key is never overwritten", .0.display())]
    Exists(PathBuf),
    #[error("audit key file {}: {source}", .path.display())]
    Io {
        path: PathBuf,
        source: std::io::Error,
    },
}

/// The key, hex inside a [`Secret`] so that `Debug` never shows it.
#[derive(Debug, Clone)]
pub struct AuditKey(Secret);

impl AuditKey {
    /// From 64 hex digits (surrounding whitespace ignored).
    pub fn from_hex(text: &str) -> Option<AuditKey> {
        let text = text.trim();
        let bytes = hex::decode(text).ok()?;
        (bytes.len() == 32).then(|| AuditKey(Secret::new(text.to_ascii_lowercase())))
    }

    /// A fresh random key.
    pub fn random() -> AuditKey {
        let mut bytes = [0u8; 32];
        rand::rngs::OsRng.fill_bytes(&mut bytes);
        AuditKey(Secret::new(hex::encode(bytes)))
    }

    /// The 32 bytes, for the MAC.
    pub(crate) fn bytes(&self) -> Vec<u8> {
        hex::decode(self.0.expose()).unwrap_or_default()
    }

    /// `vigil audit keygen --out PATH`: writes a new key, owner-only, never over a file.
    pub fn generate(out: &Path) -> Result<(), KeyError> {
        use std::io::Write;
        let mut options = std::fs::OpenOptions::new();
        options.write(true).create_new(true);
        #[cfg(unix)]
        {
            use std::os::unix::fs::OpenOptionsExt;
            options.mode(0o600);
        }
        let io = |source| KeyError::Io {
            path: out.to_path_buf(),
            source,
        };
        let mut file = options.open(out).map_err(|e| {
            if e.kind() == std::io::ErrorKind::AlreadyExists {
                KeyError::Exists(out.to_path_buf())
            } else {
                io(e)
            }
        })?;
        let key = AuditKey::random();
        file.write_all(format!("{}\n", key.0.expose()).as_bytes())
            .map_err(io)?;
        file.sync_all().map_err(io)
    }

    /// Reads the key at `path`, refusing one inside `data_dir`, missing, shared with group
    /// or others, or malformed.
    pub fn load(path: Option<&Path>, data_dir: &Path) -> Result<AuditKey, KeyError> {
        let path = path.ok_or(KeyError::NotConfigured)?;
        let key = match std::fs::canonicalize(path) {
            Ok(p) => p,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                return Err(KeyError::Missing(path.to_path_buf()))
            }
            Err(source) => {
                return Err(KeyError::Io {
                    path: path.to_path_buf(),
                    source,
                })
            }
        };
        let data = std::fs::canonicalize(data_dir)
            .or_else(|_| std::path::absolute(data_dir))
            .unwrap_or_else(|_| data_dir.to_path_buf());
        if key.starts_with(&data) {
            return Err(KeyError::InsideDataDir {
                key,
                data_dir: data,
            });
        }
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            let meta = std::fs::metadata(&key).map_err(|source| KeyError::Io {
                path: key.clone(),
                source,
            })?;
            if meta.permissions().mode() & 0o077 != 0 {
                return Err(KeyError::Shared(key));
            }
        }
        let text = std::fs::read_to_string(&key).map_err(|source| KeyError::Io {
            path: key.clone(),
            source,
        })?;
        AuditKey::from_hex(&text).ok_or(KeyError::Malformed(key))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_key_is_made_once_and_refused_inside_the_data_dir_or_shared() {
        let dir = tempfile::tempdir().expect("tempdir");
        let data = dir.path().join("data");
        std::fs::create_dir_all(&data).expect("data dir");
        let outside = dir.path().join("audit.key");
        AuditKey::generate(&outside).expect("keygen");
        assert!(matches!(
            AuditKey::generate(&outside),
            Err(KeyError::Exists(_))
        ));
        let key = AuditKey::load(Some(&outside), &data).expect("loads");
        assert_eq!(key.bytes().len(), 32);
        assert!(!format!("{key:?}").contains(&hex::encode(key.bytes())));

        let inside = data.join("audit.key");
        AuditKey::generate(&inside).expect("keygen inside");
        let err = AuditKey::load(Some(&inside), &data).expect_err("inside");
        assert!(matches!(err, KeyError::InsideDataDir { .. }), "{err}");
        // Reached through a path that does not look like it is inside.
        let link = dir.path().join("sneaky.key");
        std::os::unix::fs::symlink(&inside, &link).expect("symlink");
        assert!(matches!(
            AuditKey::load(Some(&link), &data),
            Err(KeyError::InsideDataDir { .. })
        ));
        assert!(matches!(
            AuditKey::load(Some(&dir.path().join("none.key")), &data),
            Err(KeyError::Missing(_))
        ));
        assert!(matches!(
            AuditKey::load(None, &data),
            Err(KeyError::NotConfigured)
        ));
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(&outside, std::fs::Permissions::from_mode(0o640)).expect("chmod");
        assert!(matches!(
            AuditKey::load(Some(&outside), &data),
            Err(KeyError::Shared(_))
        ));
    }
}
