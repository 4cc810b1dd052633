//! The per-user keyboard layout: set by an administrator through
//! `PUT /users/{name}/keyboard-layout`, checked against the supported list, audited, and
//! carried into the target a desktop session of that user connects with (the layout the
//! server is told and the relay reads the keystrokes in).

use reqwest::{Client, StatusCode};
use serde_json::json;
use vigil_hub::Target;
use vigil_relay::service::target::target_for;
use vigil_relay::store;
use vigil_wire::api::{AuditEntry, Protocol};
use vigil_wire::desktop::KeyboardLayout;

use crate::support::{self, Relay, R};

async fn set(
    r: &Relay,
    (c, csrf): &(Client, String),
    name: &str,
    body: serde_json::Value,
) -> R<StatusCode> {
    Ok(c.put(format!("{}/users/{name}/keyboard-layout", r.base))
        .header(vigil_wire::CSRF_HEADER, csrf)
        .json(&body)
        .send()
        .await?
        .status())
}

async fn rdp_layout_of(r: &Relay, asset: i64, user_id: i64) -> R<KeyboardLayout> {
    let asset = store::assets::get(&r.state.db, asset)
        .await?
        .ok_or("no asset")?;
    let mut conn = r.state.db.acquire().await?;
    match target_for(&r.state, &mut conn, &asset, user_id).await {
        Ok(Target::Rdp(t)) => Ok(t.keyboard_layout),
        Ok(_) => Err("not an RDP target".into()),
        Err(e) => Err(format!("no target: {e:?}").into()),
    }
}

#[tokio::test]
async fn an_administrator_sets_a_users_layout_and_their_desktop_sessions_use_it() -> R {
    let r = support::start(tempfile::tempdir()?, |_| {}).await?;
    let _root = r.user("root", true, &[]).await?;
    let alice = r.user("alice", false, &[]).await?;
    let bob = r.user("bob", false, &[]).await?;
    let desk = vigil_relay::api::assets::create_asset(
        &r.state.db,
        &r.state.vault,
        &vigil_wire::api::NewAsset {
            name: "win-1".into(),
            protocol: Protocol::Rdp,
            host: "127.0.0.1".into(),
            port: 1,
            tags: vec![],
            account: "svc".into(),
            password: Some("desk-password".into()),
            private_key: None,
            host_key: None,
        },
    )
    .await?;

    // Everyone starts in US English.
    assert_eq!(
        store::users::keyboard_layout(&r.state.db, alice).await?,
        KeyboardLayout::EnUs
    );
    assert_eq!(rdp_layout_of(&r, desk, alice).await?, KeyboardLayout::EnUs);

    let admin = r.login("root").await?;
    let plain = r.login("alice").await?;
    let de = json!({"layout": "de-DE"});
    // Only an administrator, only a supported layout, only a user that exists.
    assert_eq!(
        set(&r, &plain, "alice", de.clone()).await?,
        StatusCode::FORBIDDEN
    );
    for bad in [
        json!({"layout": "ja-JP"}),
        json!({"layout": 1031}),
        json!({}),
    ] {
        assert_eq!(
            set(&r, &admin, "alice", bad).await?,
            StatusCode::BAD_REQUEST
        );
    }
    assert_eq!(
        set(&r, &admin, "nobody", de.clone()).await?,
        StatusCode::NOT_FOUND
    );
    assert_eq!(
        store::users::keyboard_layout(&r.state.db, alice).await?,
        KeyboardLayout::EnUs,
        "refused requests change nothing"
    );

    assert_eq!(set(&r, &admin, "alice", de).await?, StatusCode::NO_CONTENT);
    assert_eq!(
        set(&r, &admin, "bob", json!({"layout": "fr-FR"})).await?,
        StatusCode::NO_CONTENT
    );
    assert_eq!(
        store::users::keyboard_layout(&r.state.db, alice).await?,
        KeyboardLayout::DeDe
    );
    // The layout reaches the target each user's desktop sessions connect with.
    assert_eq!(rdp_layout_of(&r, desk, alice).await?, KeyboardLayout::DeDe);
    assert_eq!(rdp_layout_of(&r, desk, bob).await?, KeyboardLayout::FrFr);

    let audit: Vec<AuditEntry> = admin
        .0
        .get(format!("{}/audit", r.base))
        .send()
        .await?
        .json()
        .await?;
    assert!(
        audit.iter().any(|a| a.action == "user_keyboard_layout"
            && a.actor == "root"
            && a.detail.starts_with("alice: de-DE")),
        "{audit:?}"
    );
    Ok(())
}

/// Every `$ref` in `v` (recursively).
fn refs(v: &serde_json::Value, out: &mut Vec<String>) {
    match v {
        serde_json::Value::Object(m) => {
            for (k, x) in m {
                match (k.as_str(), x) {
                    ("$ref", serde_json::Value::String(r)) => out.push(r.clone()),
                    _ => refs(x, out),
                }
            }
        }
        serde_json::Value::Array(a) => a.iter().for_each(|x| refs(x, out)),
        _ => {}
    }
}

#[tokio::test]
async fn the_setting_is_in_the_openapi_document_and_its_references_resolve() -> R {
    let r = support::start(tempfile::tempdir()?, |_| {}).await?;
    let doc: serde_json::Value = Client::new()
        .get(format!("{}/openapi.json", r.base))
        .send()
        .await?
        .json()
        .await?;
    let put = &doc["paths"]["/api/v1/users/{name}/keyboard-layout"]["put"];
    assert_eq!(
        put["requestBody"]["content"]["application/json"]["schema"]["$ref"],
        "#/components/schemas/KeyboardLayoutSetting"
    );
    assert!(put["responses"]["204"].is_object());
    let layouts = &doc["components"]["schemas"]["KeyboardLayout"]["enum"];
    assert_eq!(*layouts, json!(["en-US", "en-GB", "de-DE", "fr-FR"]));
    let keystroke = &doc["components"]["schemas"]["Keystroke"];
    assert!(keystroke["properties"]["browser_text"].is_object());
    let required = keystroke["required"]
        .as_array()
        .cloned()
        .unwrap_or_default();
    assert!(
        !required.contains(&json!("browser_text")),
        "browser_text is optional"
    );
    let mut all = Vec::new();
    refs(&doc, &mut all);
    assert!(!all.is_empty());
    for r in all {
        let name = r
            .strip_prefix("#/components/schemas/")
            .ok_or_else(|| format!("unexpected reference {r}"))?;
        assert!(
            doc["components"]["schemas"][name].is_object(),
            "{r} does not resolve"
        );
    }
    Ok(())
}
