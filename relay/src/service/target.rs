//! What a session connects to: the asset's address and account, its credential opened from
//! the vault (it never leaves the relay), its pin, and for RDP the user's keyboard layout.
//! Called by every way of starting a session; its errors are the domain's, and the HTTP
//! layer maps them (`From<TargetError> for AppError`).

use vigil_hub::{RdpTarget, SshAuth, SshTarget, Target};
use vigil_wire::api::{AssetId, Protocol, UserId};

use crate::state::AppState;
use crate::store::assets::{AssetRow, CredentialKind};
use crate::store::{self, DbConn};

#[derive(Debug, thiserror::Error)]
pub enum TargetError {
    #[error("the asset has no managed credential")]
    NoCredential,
    #[error("RDP assets need a password credential; private keys are for SSH only")]
    KeyForRdp,
    /// The stored credential does not open for this asset (copied from another asset,
    /// altered, or sealed under another key).
    #[error("the credential of asset {0} does not open for it")]
    Unreadable(AssetId),
    #[error(transparent)]
    Db(#[from] sqlx::Error),
}

/// The target of a session of `user_id` on `asset`. What it reads comes through `conn`:
/// a launch passes the connection of its write transaction, so it never waits for a second
/// connection while it holds the database's write lock.
pub async fn target_for(
    state: &AppState,
    conn: &mut DbConn,
    asset: &AssetRow,
    user_id: UserId,
) -> Result<Target, TargetError> {
    let sealed = asset.credential.as_deref();
    let open = |kind: CredentialKind, sealed: &[u8]| {
        state
            .vault
            .open(asset.id, kind.as_str(), sealed)
            .map_err(|error| {
                tracing::error!(asset = asset.id, %error, "The asset's credential does not open for it");
                TargetError::Unreadable(asset.id)
            })
    };
    Ok(match asset.protocol {
        Protocol::Ssh => {
            let auth = match (asset.credential_kind, sealed) {
                (CredentialKind::Password, Some(s)) => {
                    SshAuth::Password(open(CredentialKind::Password, s)?)
                }
                (CredentialKind::PrivateKey, Some(s)) => {
                    SshAuth::PrivateKey(open(CredentialKind::PrivateKey, s)?)
                }
                _ => return Err(TargetError::NoCredential),
            };
            Target::Ssh(SshTarget {
                host: asset.host.clone(),
                port: asset.port,
                username: asset.account.clone(),
                auth,
                pinned_host_key: asset.host_key.clone(),
            })
        }
        Protocol::Rdp => {
            let password = match (asset.credential_kind, sealed) {
                (CredentialKind::Password, Some(s)) => open(CredentialKind::Password, s)?,
                (CredentialKind::PrivateKey, _) => return Err(TargetError::KeyForRdp),
                _ => return Err(TargetError::NoCredential),
            };
            // `DOMAIN\user` accounts carry their domain.
            let (domain, username) = match asset.account.split_once('\\') {
                Some((d, u)) => (Some(d.to_string()), u.to_string()),
                None => (None, asset.account.clone()),
            };
            Target::Rdp(RdpTarget {
                host: asset.host.clone(),
                port: asset.port,
                username,
                password,
                domain,
                // The certificate pin lives in the same column as an SSH host key.
                pinned_cert: asset.host_key.clone(),
                codec: asset.rdp_codec,
                size: asset.rdp_size.unwrap_or_default(),
                // The user's layout: announced to the server and used to read the keys.
                keyboard_layout: store::users::keyboard_layout(&mut *conn, user_id).await?,
            })
        }
    })
}
