//! What an asset trusts: its credential opens only for its own row (and values sealed
//! before that binding are re-sealed at start), and its host key is provisioned, or
//! changed only by accepting the fingerprint the target offered.

use reqwest::{Client, Response, StatusCode};
use serde_json::{json, Value};
use vigil_relay::config::Config;
use vigil_relay::store::{self, now_ms, sessions::NewSession};
use vigil_relay::vault::Vault;
use vigil_wire::api::{Asset, AuditEntry, SessionKind};

use crate::support::{self, error, post, Relay, R};

/// A well-formed SSH fingerprint, and another.
const FP_A: &str = "SHA256:ungWv48Bz+pBQUDeXa4iI7ADYaOWF3qctBD/YfIAFa0";
const FP_B: &str = "SHA256:47DEQpj8HBSa+/TImW+5JCeuQeRkm5NMpJWZG3hSuFU";

impl Relay {
    async fn admin(&self, name: &str) -> R<(Client, String)> {
        self.user(name, true, &[]).await?;
        self.login(name).await
    }
}

async fn asset_view(r: &Relay, c: &Client, id: i64) -> R<Asset> {
    let all: Vec<Asset> = c
        .get(format!("{}/assets", r.base))
        .send()
        .await?
        .json()
        .await?;
    Ok(all.into_iter().find(|a| a.id == id).ok_or("asset listed")?)
}

async fn audit(r: &Relay, c: &Client) -> R<Vec<AuditEntry>> {
    Ok(c.get(format!("{}/audit", r.base))
        .send()
        .await?
        .json()
        .await?)
}

fn ssh_asset(name: &str, host_key: Option<&str>) -> Value {
    json!({"name": name, "protocol": "ssh", "host": "127.0.0.1", "port": 1, "tags": [],
        "account": "svc", "password": format!("pw-of-{name}"), "private_key": null,
        "host_key": host_key})
}

async fn launch(r: &Relay, c: &Client, csrf: &str, asset: i64) -> R<Response> {
    post(
        c,
        format!("{}/sessions", r.base),
        csrf,
        json!({"asset_id": asset, "request_id": null, "cols": 80, "rows": 24}),
    )
    .await
}

#[tokio::test]
async fn a_credential_copied_to_another_asset_does_not_open() -> R {
    let r = support::start(tempfile::tempdir()?, |_| {}).await?;
    let (c, csrf) = r.admin("root").await?;
    let mut ids = Vec::new();
    for name in ["web-1", "web-2"] {
        let created = post(
            &c,
            format!("{}/assets", r.base),
            &csrf,
            ssh_asset(name, None),
        )
        .await?;
        assert_eq!(created.status(), StatusCode::OK);
        ids.push(created.json::<Asset>().await?.id);
    }
    let (one, two) = (ids[0], ids[1]);
    // Sealed for its own id at creation.
    let row = store::assets::get(&r.state.db, one).await?.ok_or("row")?;
    let sealed = row.credential.ok_or("sealed")?;
    assert_eq!(
        r.state.vault.open(one, "password", &sealed)?.expose(),
        "pw-of-web-1"
    );
    // Someone with write access to the database copies web-1's credential to web-2.
    sqlx::query("UPDATE assets SET credential = $1 WHERE id = $2")
        .bind(&sealed)
        .bind(two)
        .execute(&r.state.db)
        .await?;
    let (status, code, message) = error(launch(&r, &c, &csrf, two).await?).await?;
    assert_eq!(
        (status, code.as_str()),
        (StatusCode::INTERNAL_SERVER_ERROR, "credential_unreadable"),
        "{message}"
    );
    assert!(message.contains("another"), "{message}");
    // No session row was left behind, and web-1 itself still launches.
    let live = store::sessions::list(&r.state.db, Some(true)).await?;
    assert!(live.is_empty(), "no session for the refused launch");
    assert_eq!(launch(&r, &c, &csrf, one).await?.status(), StatusCode::OK);
    Ok(())
}

#[tokio::test]
async fn old_format_credentials_are_resealed_at_start() -> R {
    let dir = tempfile::tempdir()?;
    // A database as an earlier relay left it: a value sealed without its asset id, and
    // the format marker at 1.
    let config = Config::with_data_dir(dir.path().join("data"));
    let db = vigil_relay::app::open_storage(&config).await?;
    let vault = Vault::open_or_create(&config.secret_key_path())?;
    let id = store::assets::insert(
        &db,
        store::assets::NewAssetRow {
            name: "legacy",
            protocol: vigil_wire::api::Protocol::Ssh,
            host: "127.0.0.1",
            port: 1,
            account: "svc",
            tags: &[],
            credential_kind: store::assets::CredentialKind::Password,
            host_key: None,
        },
    )
    .await?;
    let old = vault.seal_v1_for_tests("password", "pw-legacy")?;
    store::assets::set_credential(&db, id, &old).await?;
    assert!(vault.open(id, "password", &old).is_err(), "not yet bound");
    db.close().await;

    let r = support::start(dir, |_| {}).await?;
    let row = store::assets::get(&r.state.db, id).await?.ok_or("row")?;
    let sealed = row.credential.ok_or("sealed")?;
    assert_ne!(sealed, old, "re-sealed");
    assert_eq!(
        r.state.vault.open(id, "password", &sealed)?.expose(),
        "pw-legacy"
    );
    let (c, csrf) = r.admin("root").await?;
    assert_eq!(launch(&r, &c, &csrf, id).await?.status(), StatusCode::OK);
    let entries = audit(&r, &c).await?;
    assert!(
        entries
            .iter()
            .any(|e| e.action == "credentials_resealed" && e.detail.starts_with("1 credential")),
        "{entries:?}"
    );
    Ok(())
}

#[tokio::test]
async fn a_provisioned_host_key_is_checked_and_shown() -> R {
    let r = support::start(tempfile::tempdir()?, |_| {}).await?;
    let (c, csrf) = r.admin("root").await?;
    for bad in ["SHA256:short", "sha256:00", "MD5:11:22", "ssh-ed25519 AAAA"] {
        let refused = post(
            &c,
            format!("{}/assets", r.base),
            &csrf,
            ssh_asset("web-x", Some(bad)),
        )
        .await?;
        let (status, code, message) = error(refused).await?;
        assert_eq!(
            (status, code.as_str()),
            (StatusCode::BAD_REQUEST, "bad_request")
        );
        assert!(message.contains("host_key"), "{message}");
    }
    // An RDP asset takes the certificate pin form, not the SSH one.
    let rdp = json!({"name": "desk", "protocol": "rdp", "host": "127.0.0.1", "port": 3389,
        "tags": [], "account": "svc", "password": "pw", "private_key": null, "host_key": FP_A});
    let refused = post(&c, format!("{}/assets", r.base), &csrf, rdp).await?;
    assert_eq!(refused.status(), StatusCode::BAD_REQUEST);

    let created = post(
        &c,
        format!("{}/assets", r.base),
        &csrf,
        ssh_asset("web-1", Some(&format!(" {FP_A}="))),
    )
    .await?;
    assert_eq!(created.status(), StatusCode::OK);
    let asset: Asset = created.json().await?;
    assert_eq!(asset.host_key.as_deref(), Some(FP_A), "normalised");
    assert_eq!(asset.host_key_offered, None);
    // Enforced from the first connection: the hub is handed the pin.
    let row = store::assets::get(&r.state.db, asset.id)
        .await?
        .ok_or("row")?;
    assert_eq!(row.host_key.as_deref(), Some(FP_A));
    let entries = audit(&r, &c).await?;
    assert!(
        entries
            .iter()
            .any(|e| e.action == "asset_create" && e.detail == format!("web-1 (host key {FP_A})")),
        "{entries:?}"
    );
    Ok(())
}

#[tokio::test]
async fn only_the_offered_fingerprint_is_accepted() -> R {
    let r = support::start(tempfile::tempdir()?, |_| {}).await?;
    let (c, csrf) = r.admin("root").await?;
    let created = post(
        &c,
        format!("{}/assets", r.base),
        &csrf,
        ssh_asset("web-1", Some(FP_A)),
    )
    .await?;
    let id = created.json::<Asset>().await?.id;
    let accept = |fp: &str| {
        post(
            &c,
            format!("{}/assets/{id}/accept-host-key", r.base),
            &csrf,
            json!({ "fingerprint": fp }),
        )
    };
    // Nothing offered yet: nothing to accept.
    let (status, code, _) = error(accept(FP_B).await?).await?;
    assert_eq!(
        (status, code.as_str()),
        (StatusCode::CONFLICT, "fingerprint_not_offered")
    );

    // A connection meets another key: the hub reports it, the relay records it.
    let user = store::users::by_name(&r.state.db, "root")
        .await?
        .ok_or("root")?
        .id;
    store::sessions::insert(
        &r.state.db,
        NewSession {
            id: "s-refused",
            user_id: user,
            asset_id: id,
            kind: SessionKind::Admin,
            request_id: None,
            started_at: now_ms(),
            cols: 80,
            rows: 24,
        },
    )
    .await?;
    let (tx, rx) = tokio::sync::mpsc::unbounded_channel();
    tokio::spawn(vigil_relay::lifecycle::run(r.state.clone(), rx));
    tx.send(vigil_hub::Lifecycle::HostKeyRefused {
        id: "s-refused".into(),
        offered: FP_B.into(),
    })?;
    let mut view = asset_view(&r, &c, id).await?;
    for _ in 0..100 {
        if view.host_key_offered.is_some() {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
        view = asset_view(&r, &c, id).await?;
    }
    assert_eq!(view.host_key.as_deref(), Some(FP_A));
    assert_eq!(view.host_key_offered.as_deref(), Some(FP_B));

    // Malformed, or well-formed but not the offered one: refused, nothing changes.
    let (status, code, _) = error(accept("SHA256:nope").await?).await?;
    assert_eq!(
        (status, code.as_str()),
        (StatusCode::BAD_REQUEST, "bad_request")
    );
    let (status, code, message) = error(accept(FP_A).await?).await?;
    assert_eq!(
        (status, code.as_str()),
        (StatusCode::CONFLICT, "fingerprint_not_offered")
    );
    assert!(message.contains(FP_B), "{message}");
    assert_eq!(
        asset_view(&r, &c, id).await?.host_key.as_deref(),
        Some(FP_A)
    );

    // The offered one: pinned, the offer cleared, old and new audited.
    let accepted = accept(FP_B).await?;
    assert_eq!(accepted.status(), StatusCode::OK);
    let asset: Asset = accepted.json().await?;
    assert_eq!(asset.host_key.as_deref(), Some(FP_B));
    assert_eq!(asset.host_key_offered, None);
    let entries = audit(&r, &c).await?;
    assert!(
        entries.iter().any(|e| e.action == "host_key_refused"
            && e.detail == format!("web-1: pinned {FP_A}, offered {FP_B}")),
        "{entries:?}"
    );
    assert!(
        entries.iter().any(|e| e.action == "accept_host_key"
            && e.actor == "root"
            && e.detail == format!("web-1: {FP_A} -> {FP_B}")),
        "{entries:?}"
    );
    // Accepted once: the same call again has nothing to accept.
    let (status, code, _) = error(accept(FP_B).await?).await?;
    assert_eq!(
        (status, code.as_str()),
        (StatusCode::CONFLICT, "fingerprint_not_offered")
    );
    Ok(())
}
