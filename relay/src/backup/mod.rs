//! `vigil backup DEST` and `vigil restore SRC`: a consistent copy of a running relay's
//! data (the database through SQLite's online `VACUUM INTO`, then the recordings, then the
//! credential key and the audit key) with a manifest of every file's SHA-256, and its
//! restoration into a fresh data directory.
//!
//! - `manifest`: the manifest, the layout of a backup, and file copying with hashing;
//! - `take`: making a backup;
//! - `restore`: checking and restoring one.

pub mod manifest;
pub mod restore;
pub mod take;

pub use manifest::{Manifest, ManifestFile};
pub use restore::{restore, RestoreError, Restored};
pub use take::{take, BackupError};
