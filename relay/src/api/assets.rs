//! Assets and Smart Rules.

use axum::extract::State;
use axum::Json;
use vigil_hub::host_pin;
use vigil_wire::api::{
    AcceptHostKey, ApiError, Asset, AssetId, NewAsset, NewSmartRule, Protocol, SmartRule,
};

use super::extract::RequireAdmin;
use super::params::ApiPath;
use super::ApiJson;
use crate::audit::AuditKey;
use crate::error::{AppError, AppResult};
use crate::permissions::Viewer;
use crate::policy::{self, allowed, decide, Action, Actor};
use crate::rules;
use crate::state::AppState;
use crate::store::assets::{Acceptance, AssetRow, CredentialKind, NewAssetRow};
use crate::store::audit::{NewEntry, Who};
use crate::store::{self};
use vigil_wire::audit::AuditAction;

/// The API view of an asset: never the credential.
pub fn asset_dto(a: &AssetRow, actor: &Actor) -> Asset {
    Asset {
        id: a.id,
        name: a.name.clone(),
        protocol: a.protocol,
        host: a.host.clone(),
        port: a.port,
        tags: a.tags.clone(),
        account: a.account.clone(),
        can_request: allowed(actor, a.id, None, Action::RequestAccess),
        can_launch_directly: allowed(actor, a.id, None, Action::LaunchDirect),
        host_key: a.host_key.as_deref().map(host_pin::fingerprint_of_pin),
        host_key_offered: a.host_key_offered.clone(),
    }
}

#[utoipa::path(get, path = "/api/v1/assets", tag = "assets", operation_id = "listAssets",
    responses(
        (status = 200, body = [Asset], description = "Assets the caller holds a role on (administrators: all)"),
        (status = 401, body = ApiError, description = "`unauthenticated`"),
    ))]
pub async fn list(State(state): State<AppState>, v: Viewer) -> AppResult<Json<Vec<Asset>>> {
    let assets = store::assets::list_without_credentials(&state.db).await?;
    Ok(Json(
        assets
            .iter()
            .filter(|a| decide(&v.actor, a.id, None, Action::ViewAsset).is_ok())
            .map(|a| asset_dto(a, &v.actor))
            .collect(),
    ))
}

/// Validation shared by the API and the command line. Returns the provisioned host-key
/// fingerprint, if any, in the form the relay stores.
pub fn validate_new_asset(a: &NewAsset) -> Result<Option<String>, AppError> {
    let bad = |m: &str| Err(AppError::BadRequest(m.into()));
    if a.name.trim().is_empty() || a.host.trim().is_empty() || a.account.trim().is_empty() {
        return bad("name, host and account are required");
    }
    if a.port == 0 {
        return bad("port must be 1-65535");
    }
    if a.password.is_some() && a.private_key.is_some() {
        return bad("give a password or a private key, not both");
    }
    if a.protocol == Protocol::Rdp && a.private_key.is_some() {
        return bad("RDP assets take a password, not a private key");
    }
    a.host_key
        .as_deref()
        .map(|fp| host_pin::parse_fingerprint(a.protocol, fp))
        .transpose()
        .map_err(|e| AppError::BadRequest(format!("host_key: {e}")))
}

/// Stores the asset and its credential, sealed for the new asset's id, in one transaction.
pub async fn create_asset(
    state_db: &store::Db,
    vault: &crate::vault::Vault,
    a: &NewAsset,
) -> AppResult<AssetId> {
    let host_key = validate_new_asset(a)?;
    if store::assets::exists_named(state_db, &a.name).await? {
        return Err(AppError::Conflict(format!(
            "an asset named `{}` exists",
            a.name
        )));
    }
    let (kind, plain) = match (&a.password, &a.private_key) {
        (Some(p), None) => (CredentialKind::Password, Some(p)),
        (None, Some(k)) => (CredentialKind::PrivateKey, Some(k)),
        _ => (CredentialKind::None, None),
    };
    let mut tx = state_db.begin().await?;
    let id = store::assets::insert(
        &mut *tx,
        NewAssetRow {
            name: a.name.trim(),
            protocol: a.protocol,
            host: a.host.trim(),
            port: a.port,
            account: a.account.trim(),
            tags: &a.tags,
            credential_kind: kind,
            host_key: host_key.as_deref(),
        },
    )
    .await?;
    if let Some(plain) = plain {
        let sealed = vault
            .seal(id, kind.as_str(), plain)
            .map_err(AppError::internal)?;
        store::assets::set_credential(&mut *tx, id, &sealed).await?;
    }
    tx.commit().await?;
    Ok(id)
}

/// The audit detail of a new asset: its name, and the pin it was provisioned with.
pub fn create_detail(row: &AssetRow) -> String {
    match &row.host_key {
        Some(pin) => format!(
            "{} (host key {})",
            row.name,
            host_pin::fingerprint_of_pin(pin)
        ),
        None => row.name.clone(),
    }
}

#[utoipa::path(post, path = "/api/v1/assets", tag = "assets", operation_id = "createAsset",
    security(("session_cookie" = [], "csrf_token" = [])),
    request_body = NewAsset,
    responses(
        (status = 200, body = Asset, description = "The new asset (without its credential)"),
        (status = 400, body = ApiError, description = "`bad_request`: invalid fields (a `host_key` not in its protocol's fingerprint form included)"),
        (status = 401, body = ApiError, description = "`unauthenticated`"),
        (status = 403, body = ApiError, description = "`forbidden` (not an administrator) or `csrf`"),
        (status = 409, body = ApiError, description = "`conflict`: the name is taken"),
        (status = 415, body = ApiError, description = "`content_type`: not JSON"),
    ))]
pub async fn create(
    State(state): State<AppState>,
    RequireAdmin(v): RequireAdmin,
    ApiJson(body): ApiJson<NewAsset>,
) -> AppResult<Json<Asset>> {
    let id = create_asset(&state.db, &state.vault, &body).await?;
    let row = store::assets::get(&state.db, id)
        .await?
        .ok_or(AppError::NotFound)?;
    let detail = create_detail(&row);
    let entry = NewEntry::new(v.who(), AuditAction::AssetCreate, &detail);
    store::audit::record(&state.db, &state.audit_key, entry).await?;
    Ok(Json(asset_dto(&row, &v.actor)))
}

#[utoipa::path(post, path = "/api/v1/assets/{id}/accept-host-key", tag = "assets",
    operation_id = "acceptAssetHostKey",
    params(("id" = i64, Path, description = "asset id")),
    security(("session_cookie" = [], "csrf_token" = [])),
    request_body = AcceptHostKey,
    responses(
        (status = 200, body = Asset, description = "The fingerprint is pinned (and audited with the one it replaces); the offer is cleared"),
        (status = 400, body = ApiError, description = "`bad_request`: the fingerprint is not in the asset's protocol's form"),
        (status = 401, body = ApiError, description = "`unauthenticated`"),
        (status = 403, body = ApiError, description = "`forbidden` (not an administrator) or `csrf`"),
        (status = 404, body = ApiError, description = "`not_found`: no such asset (or an id that is not a number)"),
        (status = 409, body = ApiError, description = "`fingerprint_not_offered`: the target offered no other key, or not this one; nothing changed"),
        (status = 415, body = ApiError, description = "`content_type`: not JSON"),
    ))]
pub async fn accept_host_key(
    State(state): State<AppState>,
    RequireAdmin(v): RequireAdmin,
    ApiPath(id): ApiPath<AssetId>,
    ApiJson(body): ApiJson<AcceptHostKey>,
) -> AppResult<Json<Asset>> {
    let row = store::assets::get(&state.db, id)
        .await?
        .ok_or(AppError::NotFound)?;
    let fingerprint = accept_offered_key(
        &state.db,
        &state.audit_key,
        v.who(),
        &row,
        &body.fingerprint,
    )
    .await?;
    tracing::info!(asset = %row.name, %fingerprint, "Host key accepted");
    let row = store::assets::get(&state.db, id)
        .await?
        .ok_or(AppError::NotFound)?;
    Ok(Json(asset_dto(&row, &v.actor)))
}

/// Pins `fingerprint` on `asset` if it is the one the target offered, audited as `actor`
/// with the old and new fingerprints in the same transaction. Shared by the API and the
/// command line; returns the pinned fingerprint.
pub async fn accept_offered_key(
    db: &store::Db,
    key: &AuditKey,
    who: Who<'_>,
    asset: &AssetRow,
    fingerprint: &str,
) -> AppResult<String> {
    let fingerprint = host_pin::parse_fingerprint(asset.protocol, fingerprint)
        .map_err(|e| AppError::BadRequest(format!("fingerprint: {e}")))?;
    // It reads, then writes: the write lock from the start, so that a write committed
    // in between (a target's new offer, say) makes it wait rather than fail.
    let mut tx = store::begin_write(db).await?;
    match store::assets::accept_offered(&mut tx, asset.id, &fingerprint).await? {
        Acceptance::NoSuchAsset => Err(AppError::NotFound),
        Acceptance::NotOffered { offered: None } => Err(AppError::FingerprintNotOffered(format!(
            "{} has offered no key other than the pinned one; nothing to accept",
            asset.name
        ))),
        Acceptance::NotOffered {
            offered: Some(offered),
        } => Err(AppError::FingerprintNotOffered(format!(
            "{} offered {offered}, not {fingerprint}; nothing changed",
            asset.name
        ))),
        Acceptance::Pinned { old } => {
            let old = old
                .as_deref()
                .map_or_else(|| "none".into(), host_pin::fingerprint_of_pin);
            let detail = format!("{}: {old} -> {fingerprint}", asset.name);
            let entry = NewEntry::new(who, AuditAction::AcceptHostKey, &detail);
            store::audit::append(&mut tx, key, entry).await?;
            tx.commit().await?;
            Ok(fingerprint)
        }
    }
}

#[utoipa::path(get, path = "/api/v1/rules", tag = "rules", operation_id = "listSmartRules",
    responses(
        (status = 200, body = [SmartRule], description = "Every Smart Rule"),
        (status = 401, body = ApiError, description = "`unauthenticated`"),
        (status = 403, body = ApiError, description = "`forbidden`: not an administrator"),
    ))]
pub async fn list_rules(
    State(state): State<AppState>,
    _admin: RequireAdmin,
) -> AppResult<Json<Vec<SmartRule>>> {
    Ok(Json(store::rules::list(&state.db).await?))
}

pub async fn create_rule_row(db: &store::Db, r: &NewSmartRule) -> AppResult<SmartRule> {
    if r.name.trim().is_empty() || r.group.trim().is_empty() {
        return Err(AppError::BadRequest("name and group are required".into()));
    }
    if r.roles.is_empty() {
        return Err(AppError::BadRequest(
            "a rule grants at least one role".into(),
        ));
    }
    rules::validate(&r.selector).map_err(|e| AppError::BadRequest(e.to_string()))?;
    let range = policy::SESSIONS_PER_REQUEST_RANGE;
    if !range.contains(&r.sessions_per_request) {
        return Err(AppError::BadRequest(format!(
            "sessions_per_request must be {} to {}",
            range.start(),
            range.end()
        )));
    }
    let existing = store::rules::list(db).await?;
    if existing.iter().any(|x| x.name == r.name.trim()) {
        return Err(AppError::Conflict(format!(
            "a rule named `{}` exists",
            r.name
        )));
    }
    let mut roles = r.roles.clone();
    roles.dedup();
    let id = store::rules::insert_with_limit(
        db,
        r.name.trim(),
        &r.selector,
        r.group.trim(),
        &roles,
        r.auto_approve,
        r.sessions_per_request,
    )
    .await?;
    Ok(SmartRule {
        id,
        name: r.name.trim().to_string(),
        selector: r.selector.clone(),
        group: r.group.trim().to_string(),
        roles,
        auto_approve: r.auto_approve,
        sessions_per_request: r.sessions_per_request,
    })
}

#[utoipa::path(post, path = "/api/v1/rules", tag = "rules", operation_id = "createSmartRule",
    security(("session_cookie" = [], "csrf_token" = [])),
    request_body = NewSmartRule,
    responses(
        (status = 200, body = SmartRule, description = "The new rule"),
        (status = 400, body = ApiError, description = "`bad_request`: invalid fields or selector, or `sessions_per_request` outside 1 to 100"),
        (status = 401, body = ApiError, description = "`unauthenticated`"),
        (status = 403, body = ApiError, description = "`forbidden` (not an administrator) or `csrf`"),
        (status = 409, body = ApiError, description = "`conflict`: the name is taken"),
        (status = 415, body = ApiError, description = "`content_type`: not JSON"),
    ))]
pub async fn create_rule(
    State(state): State<AppState>,
    RequireAdmin(admin): RequireAdmin,
    ApiJson(body): ApiJson<NewSmartRule>,
) -> AppResult<Json<SmartRule>> {
    let rule = create_rule_row(&state.db, &body).await?;
    let entry = NewEntry::new(admin.who(), AuditAction::RuleCreate, &rule.name);
    store::audit::record(&state.db, &state.audit_key, entry).await?;
    Ok(Json(rule))
}
