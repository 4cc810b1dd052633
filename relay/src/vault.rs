//! Asset credentials at rest: ChaCha20-Poly1305 under the key in `data_dir/secret.key`,
//! a random nonce per value. Plaintext only ever leaves as a [`vigil_hub::Secret`].

use std::path::Path;

use chacha20poly1305::aead::{Aead, KeyInit, Payload};
use chacha20poly1305::{ChaCha20Poly1305, Key, Nonce};
use rand::RngCore;
use vigil_hub::Secret;

const NONCE_LEN: usize = 12;
const KEY_LEN: usize = 32;
/// Binds a ciphertext to its use: a value sealed for one purpose won't open as another.
const AAD_PREFIX: &[u8] = b"vigil/credential/v1/";

#[derive(Debug, thiserror::Error)]
pub enum VaultError {
    #[error("secret key file {path}: {source}")]
    KeyFile {
        path: String,
        source: std::io::Error,
    },
    #[error(
        "secret key file {path} is accessible by group or others (mode {mode:o}); \
         run `chmod 600 {path}`"
    )]
    KeyMode { path: String, mode: u32 },
    #[error("secret key file {0} must hold exactly 32 bytes")]
    KeyLength(String),
    #[error("credential could not be decrypted (wrong key or corrupted value)")]
    Decrypt,
    #[error("credential could not be encrypted")]
    Encrypt,
}

#[derive(Clone)]
pub struct Vault {
    cipher: ChaCha20Poly1305,
    /// Where [`Vault::derive_key`] starts: a one-way function of the key, never the key.
    derive_seed: [u8; KEY_LEN],
}

impl std::fmt::Debug for Vault {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Vault(***)")
    }
}

impl Vault {
    pub fn from_key(key: &[u8; KEY_LEN]) -> Vault {
        Vault {
            cipher: ChaCha20Poly1305::new(Key::from_slice(key)),
            derive_seed: sha256(&[b"vigil/derive/v1", key]),
        }
    }

    /// A key for `purpose` (e.g. keying the login throttle's hashes), derived from the
    /// secret key: the same on every relay sharing `secret.key`, useless for decrypting.
    pub fn derive_key(&self, purpose: &str) -> [u8; KEY_LEN] {
        sha256(&[&self.derive_seed, purpose.as_bytes()])
    }

    /// Loads `path`, creating it (32 random bytes, mode 0600) on first start.
    pub fn open_or_create(path: &Path) -> Result<Vault, VaultError> {
        let err = |source| VaultError::KeyFile {
            path: path.display().to_string(),
            source,
        };
        check_key_permissions(path)?;
        if !path.exists() {
            let mut key = [0u8; KEY_LEN];
            rand::rngs::OsRng.fill_bytes(&mut key);
            write_private(path, &key).map_err(err)?;
        }
        let bytes = std::fs::read(path).map_err(err)?;
        let key: [u8; KEY_LEN] = bytes
            .try_into()
            .map_err(|_| VaultError::KeyLength(path.display().to_string()))?;
        Ok(Vault::from_key(&key))
    }

    /// `purpose` (e.g. `password`) is authenticated with the value.
    pub fn seal(&self, purpose: &str, plaintext: &str) -> Result<Vec<u8>, VaultError> {
        let mut nonce = [0u8; NONCE_LEN];
        rand::rngs::OsRng.fill_bytes(&mut nonce);
        let aad = [AAD_PREFIX, purpose.as_bytes()].concat();
        let ct = self
            .cipher
            .encrypt(
                Nonce::from_slice(&nonce),
                Payload {
                    msg: plaintext.as_bytes(),
                    aad: &aad,
                },
            )
            .map_err(|_| VaultError::Encrypt)?;
        Ok([nonce.as_slice(), &ct].concat())
    }

    pub fn open(&self, purpose: &str, sealed: &[u8]) -> Result<Secret, VaultError> {
        if sealed.len() < NONCE_LEN {
            return Err(VaultError::Decrypt);
        }
        let (nonce, ct) = sealed.split_at(NONCE_LEN);
        let aad = [AAD_PREFIX, purpose.as_bytes()].concat();
        let pt = self
            .cipher
            .decrypt(Nonce::from_slice(nonce), Payload { msg: ct, aad: &aad })
            .map_err(|_| VaultError::Decrypt)?;
        String::from_utf8(pt)
            .map(Secret::new)
            .map_err(|_| VaultError::Decrypt)
    }
}

/// `Err` when `path` exists and group or others may read or write it.
fn sha256(parts: &[&[u8]]) -> [u8; KEY_LEN] {
    use sha2::{Digest, Sha256};
    let mut h = Sha256::new();
    for p in parts {
        h.update((p.len() as u64).to_be_bytes());
        h.update(p);
    }
    h.finalize().into()
}

pub fn check_key_permissions(path: &Path) -> Result<(), VaultError> {
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let meta = match std::fs::metadata(path) {
            Ok(m) => m,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(()),
            Err(source) => {
                return Err(VaultError::KeyFile {
                    path: path.display().to_string(),
                    source,
                })
            }
        };
        let mode = meta.permissions().mode() & 0o777;
        if mode & 0o066 != 0 {
            return Err(VaultError::KeyMode {
                path: path.display().to_string(),
                mode,
            });
        }
    }
    #[cfg(not(unix))]
    let _ = path;
    Ok(())
}

#[cfg(unix)]
fn write_private(path: &Path, bytes: &[u8]) -> std::io::Result<()> {
    use std::io::Write;
    use std::os::unix::fs::OpenOptionsExt;
    let mut f = std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o600)
        .open(path)?;
    f.write_all(bytes)?;
    f.sync_all()
}

#[cfg(not(unix))]
fn write_private(path: &Path, bytes: &[u8]) -> std::io::Result<()> {
    std::fs::write(path, bytes)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trip_and_tamper() {
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join("secret.key");
        let vault = Vault::open_or_create(&path).expect("create");
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            let mode = std::fs::metadata(&path).expect("meta").permissions().mode();
            assert_eq!(mode & 0o777, 0o600);
        }
        let a = vault.seal("password", "hunter2").expect("seal");
        let b = vault.seal("password", "hunter2").expect("seal");
        assert_ne!(a, b, "random nonce per value");
        assert!(!a.windows(7).any(|w| w == b"hunter2"));
        assert_eq!(
            vault.open("password", &a).expect("open").expose(),
            "hunter2"
        );
        // Same key after reopening.
        let again = Vault::open_or_create(&path).expect("reopen");
        assert_eq!(
            again.open("password", &b).expect("open").expose(),
            "hunter2"
        );
        // Wrong purpose, tampering, truncation, other key: all refused.
        assert!(vault.open("private_key", &a).is_err());
        let mut t = a.clone();
        if let Some(last) = t.last_mut() {
            *last ^= 1;
        }
        assert!(vault.open("password", &t).is_err());
        assert!(vault.open("password", &a[..5]).is_err());
        assert!(Vault::from_key(&[9; 32]).open("password", &a).is_err());
    }

    #[test]
    fn derived_keys_depend_on_the_key_and_the_purpose() {
        let v = Vault::from_key(&[7; 32]);
        let k = v.derive_key("throttle");
        assert_eq!(k, Vault::from_key(&[7; 32]).derive_key("throttle"));
        assert_ne!(k, v.derive_key("other"));
        assert_ne!(k, Vault::from_key(&[8; 32]).derive_key("throttle"));
        assert_ne!(k, [7; 32]);
    }
}
