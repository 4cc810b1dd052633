//! A backup's manifest (`manifest.json`) and layout: `vigil.db`, `recordings/…`,
//! `keys/secret.key`, `keys/audit.key`; every file 0600, every directory 0700.

use std::io::{Read, Write};
use std::path::{Component, Path};

use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

/// The manifest's file name in a backup.
pub const MANIFEST: &str = "manifest.json";
/// `Manifest::format` of a Vigil backup.
pub const FORMAT: &str = "vigil-backup";
/// The layout version this build writes and reads.
pub const VERSION: u32 = 1;
/// The database copy.
pub const DB: &str = "vigil.db";
/// The recordings directory.
pub const RECORDINGS: &str = "recordings";
/// The credential key (`secret.key` of the data directory).
pub const SECRET_KEY: &str = "keys/secret.key";
/// The audit key (`audit_key_file`).
pub const AUDIT_KEY: &str = "keys/audit.key";

/// What a backup holds.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Manifest {
    /// Always [`FORMAT`].
    pub format: String,
    pub version: u32,
    /// The `vigil` that made it.
    pub vigil_version: String,
    /// Unix milliseconds when the database was copied.
    pub created_at: i64,
    /// Every file of the backup but the manifest, by path relative to the backup.
    pub files: Vec<ManifestFile>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ManifestFile {
    /// Relative, `/`-separated, without `..`.
    pub path: String,
    pub size: u64,
    /// SHA-256, hex.
    pub sha256: String,
}

/// Whether `path` is a plain relative path inside the backup (no `..`, no root).
pub fn safe_path(path: &str) -> bool {
    !path.is_empty()
        && Path::new(path)
            .components()
            .all(|c| matches!(c, Component::Normal(_)))
}

/// Directories of a backup are made as the data directory's are: mode 0700.
pub use crate::app::private_dir;

/// Sets mode `mode` on `path` (Unix only).
pub fn set_mode(path: &Path, mode: u32) -> std::io::Result<()> {
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(path, std::fs::Permissions::from_mode(mode))
    }
    #[cfg(not(unix))]
    {
        let _ = (path, mode);
        Ok(())
    }
}

/// Opens `path` for writing, new (never over a file), mode 0600.
pub fn create_private(path: &Path) -> std::io::Result<std::fs::File> {
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create_new(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        options.mode(0o600);
    }
    options.open(path)
}

/// Copies `from` to the new file `to` (0600), hashing what it writes: the size and
/// SHA-256 of the copy. A file still being appended to is copied as far as it reached.
pub fn copy_hashed(from: &Path, to: &Path) -> std::io::Result<(u64, String)> {
    let mut src = std::fs::File::open(from)?;
    let mut dst = create_private(to)?;
    let mut hasher = Sha256::new();
    let mut buf = vec![0u8; 64 * 1024];
    let mut size = 0u64;
    loop {
        let n = src.read(&mut buf)?;
        if n == 0 {
            break;
        }
        hasher.update(&buf[..n]);
        dst.write_all(&buf[..n])?;
        size += u64::try_from(n).unwrap_or(0);
    }
    dst.sync_all()?;
    Ok((size, hex::encode(hasher.finalize())))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_plain_relative_paths_are_safe() {
        assert!(safe_path("vigil.db"));
        assert!(safe_path("recordings/abc.cast"));
        assert!(!safe_path(""));
        assert!(!safe_path("/etc/passwd"));
        assert!(!safe_path("../x"));
        assert!(!safe_path("recordings/../../x"));
    }

    #[test]
    fn a_copy_is_private_hashed_and_never_over_a_file() {
        let dir = tempfile::tempdir().expect("tempdir");
        let from = dir.path().join("a");
        std::fs::write(&from, b"abc").expect("write");
        let to = dir.path().join("b");
        let (size, sha) = copy_hashed(&from, &to).expect("copy");
        assert_eq!(size, 3);
        assert_eq!(
            sha,
            "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"
        );
        assert_eq!(std::fs::read(&to).expect("read"), b"abc");
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            let mode = std::fs::metadata(&to).expect("meta").permissions().mode() & 0o777;
            assert_eq!(mode, 0o600);
        }
        assert!(copy_hashed(&from, &to).is_err(), "never over a file");
    }
}
