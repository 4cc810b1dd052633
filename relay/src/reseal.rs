//! The one-time re-seal of credentials sealed before the vault bound them to their asset
//! (format 1 → 2, see [`crate::vault`]). It runs whenever the vault is opened on a
//! database (the server's start, the CLI's `asset add`), in one transaction that first
//! claims the `credential_format` marker, so it runs once even when two processes start
//! together. A value that does not open as format 1 is left as it is: it will not open as
//! format 2 either, and a launch on that asset fails with `credential_unreadable`.

use vigil_wire::audit::AuditAction;

use crate::audit::AuditKey;
use crate::store::audit::{NewEntry, Who};
use crate::store::{self, Db};
use crate::vault::Vault;

#[derive(Debug, thiserror::Error)]
pub enum ResealError {
    #[error("re-sealing the stored credentials failed: {0}")]
    Db(#[from] sqlx::Error),
    #[error("re-sealing the credential of asset {0} failed: {1}")]
    Seal(i64, crate::vault::VaultError),
}

/// What one run did.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct Resealed {
    /// Values re-sealed for their asset.
    pub resealed: usize,
    /// Assets whose value did not open as format 1 (left untouched).
    pub unreadable: Vec<i64>,
}

/// Re-seals every format-1 credential as format 2, once per database. `None`: already done.
pub async fn run(db: &Db, vault: &Vault, key: &AuditKey) -> Result<Option<Resealed>, ResealError> {
    let mut tx = db.begin().await?;
    // The write comes first: it takes SQLite's write lock, so a second process waits
    // here and then finds the marker set.
    let claimed =
        sqlx::query("UPDATE credential_format SET version = 2 WHERE id = 1 AND version = 1")
            .execute(&mut *tx)
            .await?
            .rows_affected();
    if claimed == 0 {
        return Ok(None);
    }
    let mut done = Resealed::default();
    for (id, kind, sealed) in store::assets::sealed_credentials(&mut *tx).await? {
        let plain = match vault.open_v1(kind.as_str(), &sealed) {
            Ok(plain) => plain,
            Err(_) => {
                done.unreadable.push(id);
                continue;
            }
        };
        let again = vault
            .seal(id, kind.as_str(), plain.expose())
            .map_err(|e| ResealError::Seal(id, e))?;
        store::assets::set_credential(&mut *tx, id, &again).await?;
        done.resealed += 1;
    }
    if done.resealed > 0 || !done.unreadable.is_empty() {
        let detail = format!(
            "{} credential(s) re-sealed for their asset; unreadable: {:?}",
            done.resealed, done.unreadable
        );
        let entry = NewEntry::new(Who::RELAY, AuditAction::CredentialsResealed, &detail);
        store::audit::append(&mut tx, key, entry).await?;
    }
    tx.commit().await?;
    Ok(Some(done))
}

/// Opens the vault of `config` and brings the database's credentials to the current format.
pub async fn open_vault(
    config: &crate::config::Config,
    db: &Db,
    key: &AuditKey,
) -> anyhow::Result<Vault> {
    let vault = Vault::open_or_create(&config.secret_key_path())?;
    if let Some(done) = run(db, &vault, key).await? {
        if !done.unreadable.is_empty() {
            tracing::error!(
                assets = ?done.unreadable,
                "Credentials that do not open under this relay's key were left as they are; \
                 launches on these assets fail until their credential is set again"
            );
        }
        if done.resealed > 0 {
            tracing::info!(
                count = done.resealed,
                "Credentials re-sealed for their asset"
            );
        }
    }
    Ok(vault)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::assets::{CredentialKind, NewAssetRow};
    use vigil_wire::api::Protocol;

    async fn db() -> (tempfile::TempDir, Db) {
        let dir = tempfile::tempdir().expect("tempdir");
        let db = store::open(&dir.path().join("t.db")).await.expect("open");
        (dir, db)
    }

    async fn legacy_asset(db: &Db, vault: &Vault, name: &str, pw: &str) -> i64 {
        let id = store::assets::insert(
            db,
            NewAssetRow {
                name,
                protocol: Protocol::Ssh,
                host: "h",
                port: 22,
                account: "a",
                tags: &[],
                credential_kind: CredentialKind::Password,
                host_key: None,
            },
        )
        .await
        .expect("insert");
        let old = vault.seal_v1_for_tests("password", pw).expect("seal");
        store::assets::set_credential(db, id, &old)
            .await
            .expect("set");
        id
    }

    async fn credential(db: &Db, id: i64) -> Vec<u8> {
        store::assets::get(db, id)
            .await
            .expect("get")
            .and_then(|a| a.credential)
            .expect("credential")
    }

    #[tokio::test]
    async fn old_values_are_resealed_once_for_their_asset() {
        let (_dir, db) = db().await;
        let vault = Vault::from_key(&[5; 32]);
        let key = AuditKey::random();
        let a = legacy_asset(&db, &vault, "a", "pw-a").await;
        let b = legacy_asset(&db, &vault, "b", "pw-b").await;
        // A value no format opens (another key's) is counted, not fatal.
        let c = legacy_asset(&db, &Vault::from_key(&[6; 32]), "c", "pw-c").await;
        assert!(vault
            .open(a, "password", &credential(&db, a).await)
            .is_err());

        let done = run(&db, &vault, &key)
            .await
            .expect("run")
            .expect("first run");
        assert_eq!(done.resealed, 2);
        assert_eq!(done.unreadable, vec![c]);
        let opened = vault
            .open(a, "password", &credential(&db, a).await)
            .expect("open a");
        assert_eq!(opened.expose(), "pw-a");
        let opened = vault
            .open(b, "password", &credential(&db, b).await)
            .expect("open b");
        assert_eq!(opened.expose(), "pw-b");
        // Bound to its asset now: a's value does not open as b's.
        assert!(vault
            .open(b, "password", &credential(&db, a).await)
            .is_err());

        // Once: a second run does nothing, even to a format-1 value written afterwards.
        let late = legacy_asset(&db, &vault, "late", "pw-late").await;
        assert_eq!(run(&db, &vault, &key).await.expect("run"), None);
        assert!(vault
            .open(late, "password", &credential(&db, late).await)
            .is_err());
        let audit = store::audit::list(&db, &Default::default())
            .await
            .expect("audit");
        assert_eq!(
            audit
                .iter()
                .filter(|e| e.action == "credentials_resealed")
                .count(),
            1
        );
    }
}
