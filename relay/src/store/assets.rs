use vigil_wire::api::{AssetId, Protocol};

use super::{corrupt, json_list, now_ms, parse_or, tags_to_json, Db, DbKind};
use crate::rules::AssetFacts;

/// How the managed account logs in; the value itself is sealed by the vault.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CredentialKind {
    None,
    Password,
    PrivateKey,
}

impl CredentialKind {
    pub fn as_str(self) -> &'static str {
        match self {
            CredentialKind::None => "none",
            CredentialKind::Password => "password",
            CredentialKind::PrivateKey => "private_key",
        }
    }
    fn parse(s: &str, asset: AssetId) -> Result<CredentialKind, sqlx::Error> {
        match s {
            "none" => Ok(CredentialKind::None),
            "password" => Ok(CredentialKind::Password),
            "private_key" => Ok(CredentialKind::PrivateKey),
            other => Err(corrupt(&format!("asset {asset}"), "credential kind", other)),
        }
    }
}

/// An asset row. Deliberately not `Serialize`: it holds the sealed credential.
#[derive(Clone)]
pub struct AssetRow {
    pub id: AssetId,
    pub name: String,
    pub protocol: Protocol,
    pub host: String,
    pub port: u16,
    pub account: String,
    pub tags: Vec<String>,
    pub credential_kind: CredentialKind,
    pub credential: Option<Vec<u8>>,
    /// For SSH the pinned host key (its OpenSSH public key, when pinned on first use, or
    /// its `SHA256:<base64>` fingerprint, when provisioned or accepted); for RDP the
    /// pinned certificate key (`sha256:<hex>`).
    pub host_key: Option<String>,
    /// The fingerprint the target last presented that differed from the pin; `None` once
    /// accepted.
    pub host_key_offered: Option<String>,
    /// How an RDP target is asked to encode graphics (ignored for SSH).
    pub rdp_codec: vigil_hub::RdpCodec,
    /// The desktop size an RDP target is asked for; `None`: the default (ignored for SSH).
    pub rdp_size: Option<vigil_hub::RdpSize>,
}

/// The `rdp_codec` column's text for a codec.
pub fn codec_str(codec: vigil_hub::RdpCodec) -> &'static str {
    match codec {
        vigil_hub::RdpCodec::RemoteFx => "remotefx",
        vigil_hub::RdpCodec::Bitmap => "bitmap",
    }
}

impl AssetRow {
    pub fn facts(&self) -> AssetFacts {
        AssetFacts {
            id: self.id,
            name: self.name.clone(),
            protocol: self.protocol,
            tags: self.tags.clone(),
        }
    }
}

#[derive(sqlx::FromRow)]
struct Raw {
    id: i64,
    name: String,
    protocol: String,
    host: String,
    port: i64,
    account: String,
    tags: String,
    credential_kind: String,
    credential: Option<Vec<u8>>,
    host_key: Option<String>,
    host_key_offered: Option<String>,
    rdp_codec: String,
    rdp_width: Option<i64>,
    rdp_height: Option<i64>,
}

impl TryFrom<Raw> for AssetRow {
    type Error = sqlx::Error;
    fn try_from(r: Raw) -> Result<Self, Self::Error> {
        let row = format!("asset {}", r.id);
        Ok(AssetRow {
            id: r.id,
            name: r.name,
            protocol: parse_or(&r.protocol, &row, "protocol")?,
            host: r.host,
            port: u16::try_from(r.port).map_err(|_| sqlx::Error::Decode("bad port".into()))?,
            account: r.account,
            tags: json_list(&r.tags, &row, "tags")?,
            credential_kind: CredentialKind::parse(&r.credential_kind, r.id)?,
            credential: r.credential,
            host_key: r.host_key,
            host_key_offered: r.host_key_offered,
            rdp_codec: match r.rdp_codec.as_str() {
                "bitmap" => vigil_hub::RdpCodec::Bitmap,
                "remotefx" => vigil_hub::RdpCodec::RemoteFx,
                other => return Err(corrupt(&row, "RDP codec", other)),
            },
            rdp_size: rdp_size(r.rdp_width, r.rdp_height)?,
        })
    }
}

/// The `rdp_width` and `rdp_height` columns (both set or both NULL, in range: the
/// migration's checks).
fn rdp_size(
    width: Option<i64>,
    height: Option<i64>,
) -> Result<Option<vigil_hub::RdpSize>, sqlx::Error> {
    let (Some(w), Some(h)) = (width, height) else {
        return Ok(None);
    };
    let bad = || sqlx::Error::Decode(format!("bad desktop size {w}x{h}").into());
    let (w, h) = (
        u16::try_from(w).map_err(|_| bad())?,
        u16::try_from(h).map_err(|_| bad())?,
    );
    vigil_hub::RdpSize::new(w, h)
        .map(Some)
        .map_err(|e| sqlx::Error::Decode(e.into()))
}

const COLS: &str = "id, name, protocol, host, port, account, tags, credential_kind, credential, \
     host_key, host_key_offered, rdp_codec, rdp_width, rdp_height";
/// [`COLS`] with the credential read as NULL.
const COLS_WITHOUT_CREDENTIAL: &str = "id, name, protocol, host, port, account, tags, \
     credential_kind, NULL AS credential, host_key, host_key_offered, rdp_codec, rdp_width, \
     rdp_height";

/// A new asset; its credential is sealed for its id, so it is set afterwards
/// ([`set_credential`], in the same transaction).
pub struct NewAssetRow<'a> {
    pub name: &'a str,
    pub protocol: Protocol,
    pub host: &'a str,
    pub port: u16,
    pub account: &'a str,
    pub tags: &'a [String],
    pub credential_kind: CredentialKind,
    /// A pin provisioned by the administrator (a checked fingerprint); `None`: trust on
    /// first use.
    pub host_key: Option<&'a str>,
}

pub async fn insert<'e, E: sqlx::Executor<'e, Database = DbKind>>(
    db: E,
    a: NewAssetRow<'_>,
) -> Result<AssetId, sqlx::Error> {
    sqlx::query_scalar(
        "INSERT INTO assets (name, protocol, host, port, account, tags, credential_kind, host_key, created_at)
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9) RETURNING id",
    )
    .bind(a.name)
    .bind(a.protocol.as_str())
    .bind(a.host)
    .bind(i64::from(a.port))
    .bind(a.account)
    .bind(tags_to_json(a.tags))
    .bind(a.credential_kind.as_str())
    .bind(a.host_key)
    .bind(now_ms())
    .fetch_one(db)
    .await
}

/// Stores the sealed credential of asset `id`.
pub async fn set_credential<'e, E: sqlx::Executor<'e, Database = DbKind>>(
    db: E,
    id: AssetId,
    sealed: &[u8],
) -> Result<(), sqlx::Error> {
    sqlx::query("UPDATE assets SET credential = $1 WHERE id = $2")
        .bind(sealed)
        .bind(id)
        .execute(db)
        .await?;
    Ok(())
}

/// Every stored credential: asset id, kind and sealed value.
pub async fn sealed_credentials<'e, E: sqlx::Executor<'e, Database = DbKind>>(
    db: E,
) -> Result<Vec<(AssetId, CredentialKind, Vec<u8>)>, sqlx::Error> {
    let rows: Vec<(i64, String, Vec<u8>)> = sqlx::query_as(
        "SELECT id, credential_kind, credential FROM assets WHERE credential IS NOT NULL ORDER BY id",
    )
    .fetch_all(db)
    .await?;
    rows.into_iter()
        .map(|(id, kind, sealed)| Ok((id, CredentialKind::parse(&kind, id)?, sealed)))
        .collect()
}

/// Every asset with its sealed credential. Only re-sealing and tests need the
/// credentials of all assets: listings use [`list_without_credentials`].
pub async fn list(db: &Db) -> Result<Vec<AssetRow>, sqlx::Error> {
    let raws: Vec<Raw> = sqlx::query_as(&format!("SELECT {COLS} FROM assets ORDER BY name"))
        .fetch_all(db)
        .await?;
    raws.into_iter().map(AssetRow::try_from).collect()
}

/// Every asset, its credential left out (`credential` is `None`): for listings, which
/// never show it.
pub async fn list_without_credentials(db: &Db) -> Result<Vec<AssetRow>, sqlx::Error> {
    let raws: Vec<Raw> = sqlx::query_as(&format!(
        "SELECT {COLS_WITHOUT_CREDENTIAL} FROM assets ORDER BY name"
    ))
    .fetch_all(db)
    .await?;
    raws.into_iter().map(AssetRow::try_from).collect()
}

/// What Smart Rules select on, for every asset: no address, no credential.
pub async fn list_facts(db: &Db) -> Result<Vec<AssetFacts>, sqlx::Error> {
    let rows: Vec<(i64, String, String, String)> =
        sqlx::query_as("SELECT id, name, protocol, tags FROM assets ORDER BY name")
            .fetch_all(db)
            .await?;
    rows.into_iter()
        .map(|(id, name, protocol, tags)| {
            let row = format!("asset {id}");
            Ok(AssetFacts {
                id,
                name,
                protocol: parse_or(&protocol, &row, "protocol")?,
                tags: json_list(&tags, &row, "tags")?,
            })
        })
        .collect()
}

pub async fn get<'e, E: sqlx::Executor<'e, Database = DbKind>>(
    ex: E,
    id: AssetId,
) -> Result<Option<AssetRow>, sqlx::Error> {
    let raw: Option<Raw> = sqlx::query_as(&format!("SELECT {COLS} FROM assets WHERE id = $1"))
        .bind(id)
        .fetch_optional(ex)
        .await?;
    raw.map(AssetRow::try_from).transpose()
}

pub async fn by_name(db: &Db, name: &str) -> Result<Option<AssetRow>, sqlx::Error> {
    let raw: Option<Raw> = sqlx::query_as(&format!("SELECT {COLS} FROM assets WHERE name = $1"))
        .bind(name)
        .fetch_optional(db)
        .await?;
    raw.map(AssetRow::try_from).transpose()
}

pub async fn exists_named(db: &Db, name: &str) -> Result<bool, sqlx::Error> {
    let n: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM assets WHERE name = $1")
        .bind(name)
        .fetch_one(db)
        .await?;
    Ok(n > 0)
}

/// Trust on first use: pins `key` unless a key is already pinned.
pub async fn pin_host_key<'e, E: sqlx::Executor<'e, Database = DbKind>>(
    ex: E,
    id: AssetId,
    key: &str,
) -> Result<(), sqlx::Error> {
    sqlx::query("UPDATE assets SET host_key = $1 WHERE id = $2 AND host_key IS NULL")
        .bind(key)
        .bind(id)
        .execute(ex)
        .await?;
    Ok(())
}

/// A target presented `offered` (a fingerprint), not the pinned key: kept for an
/// administrator to compare and accept.
pub async fn record_offered(db: &Db, id: AssetId, offered: &str) -> Result<(), sqlx::Error> {
    sqlx::query("UPDATE assets SET host_key_offered = $1 WHERE id = $2")
        .bind(offered)
        .bind(id)
        .execute(db)
        .await?;
    Ok(())
}

/// What [`accept_offered`] did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Acceptance {
    /// Pinned; `old` is the pin it replaced.
    Pinned {
        old: Option<String>,
    },
    /// The fingerprint is not the one the target offered (`offered`, if any): nothing changed.
    NotOffered {
        offered: Option<String>,
    },
    NoSuchAsset,
}

/// Pins `fingerprint` on asset `id` if, and only if, it is the fingerprint the target
/// offered; clears the offer. Run it in a transaction with its audit entry.
pub async fn accept_offered(
    tx: &mut sqlx::SqliteConnection,
    id: AssetId,
    fingerprint: &str,
) -> Result<Acceptance, sqlx::Error> {
    let row: Option<(Option<String>, Option<String>)> =
        sqlx::query_as("SELECT host_key, host_key_offered FROM assets WHERE id = $1")
            .bind(id)
            .fetch_optional(&mut *tx)
            .await?;
    let Some((old, offered)) = row else {
        return Ok(Acceptance::NoSuchAsset);
    };
    if offered.as_deref() != Some(fingerprint) {
        return Ok(Acceptance::NotOffered { offered });
    }
    sqlx::query(
        "UPDATE assets SET host_key = $1, host_key_offered = NULL \
         WHERE id = $2 AND host_key_offered = $1",
    )
    .bind(fingerprint)
    .bind(id)
    .execute(&mut *tx)
    .await?;
    Ok(Acceptance::Pinned { old })
}

pub async fn set_rdp_codec(
    db: &Db,
    id: AssetId,
    codec: vigil_hub::RdpCodec,
) -> Result<(), sqlx::Error> {
    sqlx::query("UPDATE assets SET rdp_codec = $1 WHERE id = $2")
        .bind(codec_str(codec))
        .bind(id)
        .execute(db)
        .await?;
    Ok(())
}

/// `None` returns the asset to the default size.
pub async fn set_rdp_size(
    db: &Db,
    id: AssetId,
    size: Option<vigil_hub::RdpSize>,
) -> Result<(), sqlx::Error> {
    sqlx::query("UPDATE assets SET rdp_width = $1, rdp_height = $2 WHERE id = $3")
        .bind(size.map(|s| i64::from(s.width())))
        .bind(size.map(|s| i64::from(s.height())))
        .bind(id)
        .execute(db)
        .await?;
    Ok(())
}
