//! Logging in and out, CSRF, the login throttle, WebSocket origins, and what assets and
//! the app carry: the REST API's front door.

use futures_util::StreamExt;
use reqwest::{Client, StatusCode};
use serde_json::{json, Value};
use tokio_tungstenite::tungstenite::client::IntoClientRequest;
use tokio_tungstenite::tungstenite::http::HeaderValue;
use vigil_relay::store::{self};
use vigil_wire::api::{Asset, Me};
use vigil_wire::codec::Frame;
use vigil_wire::live::FeedMsg;

use crate::support::{error_code, post, relay, R};

/// The `Set-Cookie` header of a response ("" when there is none).
fn set_cookie(resp: &reqwest::Response) -> String {
    resp.headers()
        .get("set-cookie")
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default()
        .to_string()
}

#[tokio::test]
async fn login_me_logout_and_csrf() -> R {
    let r = relay().await?;
    r.user("alice", false, &[]).await?;
    let (c, csrf, _) = r.login_with_cookie("alice").await?;
    let me: Me = c.get(format!("{}/me", r.base)).send().await?.json().await?;
    assert_eq!((me.username.as_str(), me.is_admin), ("alice", false));

    // Cookie attributes.
    let resp = Client::new()
        .post(format!("{}/auth/login", r.base))
        .json(&json!({"username": "alice", "password": "pw-alice"}))
        .send()
        .await?;
    let set = set_cookie(&resp);
    assert!(
        set.starts_with("vigil_session=")
            && set.contains("HttpOnly")
            && set.contains("SameSite=Strict")
            && set.contains("Path=/"),
        "{set}"
    );

    assert!(
        set.contains("Max-Age="),
        "a normal login outlives the browser: {set}"
    );

    // A kiosk login's cookie is a session cookie; the kiosk reads its idle time.
    let kiosk = Client::new()
        .post(format!("{}/auth/login", r.base))
        .json(&json!({"username": "alice", "password": "pw-alice", "kiosk": true}))
        .send()
        .await?;
    assert_eq!(kiosk.status(), StatusCode::OK);
    let set = set_cookie(&kiosk);
    assert!(
        set.starts_with("vigil_session=")
            && set.contains("HttpOnly")
            && !set.contains("Max-Age")
            && !set.contains("Expires"),
        "{set}"
    );
    let settings: vigil_wire::api::KioskSettings = c
        .get(format!("{}/kiosk", r.base))
        .send()
        .await?
        .json()
        .await?;
    assert_eq!(settings.idle_secs, 300, "the default idle time");
    let anonymous = Client::new()
        .get(format!("{}/kiosk", r.base))
        .send()
        .await?;
    assert_eq!(anonymous.status(), StatusCode::UNAUTHORIZED);

    // Wrong password, unknown user.
    let bad = Client::new()
        .post(format!("{}/auth/login", r.base))
        .json(&json!({"username": "alice", "password": "nope"}))
        .send()
        .await?;
    assert_eq!(
        error_code(bad).await?,
        (StatusCode::UNAUTHORIZED, "bad_credentials".into())
    );
    // Login needs JSON, and a foreign Origin is refused.
    let form = Client::new()
        .post(format!("{}/auth/login", r.base))
        .body("username=alice")
        .send()
        .await?;
    assert_eq!(form.status(), StatusCode::UNSUPPORTED_MEDIA_TYPE);
    let foreign = Client::new()
        .post(format!("{}/auth/login", r.base))
        .header("origin", "https://evil.example")
        .json(&json!({"username": "alice", "password": "pw-alice"}))
        .send()
        .await?;
    assert_eq!(
        error_code(foreign).await?,
        (StatusCode::FORBIDDEN, "origin".into())
    );

    // CSRF: a state-changing request without (or with a wrong) header is refused.
    let no_header = c
        .post(format!("{}/requests", r.base))
        .json(&json!({}))
        .send()
        .await?;
    assert_eq!(
        error_code(no_header).await?,
        (StatusCode::FORBIDDEN, "csrf".into())
    );
    let wrong = post(&c, format!("{}/auth/logout", r.base), "wrong", json!({})).await?;
    assert_eq!(
        error_code(wrong).await?,
        (StatusCode::FORBIDDEN, "csrf".into())
    );

    let out = post(&c, format!("{}/auth/logout", r.base), &csrf, json!({})).await?;
    assert_eq!(out.status(), StatusCode::NO_CONTENT);
    let after = c.get(format!("{}/me", r.base)).send().await?;
    assert_eq!(
        error_code(after).await?,
        (StatusCode::UNAUTHORIZED, "unauthenticated".into())
    );
    Ok(())
}

#[tokio::test]
async fn failed_logins_are_throttled() -> R {
    let r = relay().await?;
    r.user("bob", false, &[]).await?;
    let c = Client::new();
    let attempt = |pw: &'static str| {
        c.post(format!("{}/auth/login", r.base))
            .json(&json!({"username": "bob", "password": pw}))
            .send()
    };
    for _ in 0..5 {
        assert_eq!(attempt("wrong").await?.status(), StatusCode::UNAUTHORIZED);
    }
    let locked = attempt("pw-bob").await?;
    assert!(locked.headers().contains_key("retry-after"));
    assert_eq!(
        error_code(locked).await?,
        (StatusCode::TOO_MANY_REQUESTS, "too_many_attempts".into())
    );
    Ok(())
}

#[tokio::test]
async fn websockets_need_our_origin() -> R {
    let r = relay().await?;
    r.user("root", true, &[]).await?;
    let (_, _, cookie) = r.login_with_cookie("root").await?;
    let ws_url = |path: &str| format!("ws://{}/api/v1{path}", r.addr);
    let connect = |path: String, origin: &'static str| {
        let cookie = cookie.clone();
        async move {
            let mut req = path.into_client_request()?;
            req.headers_mut()
                .insert("origin", HeaderValue::from_static(origin));
            req.headers_mut()
                .insert("cookie", HeaderValue::from_str(&cookie)?);
            Ok::<_, Box<dyn std::error::Error>>(tokio_tungstenite::connect_async(req).await)
        }
    };
    let own = format!("http://{}", r.addr);
    let own: &'static str = Box::leak(own.into_boxed_str());
    for path in ["/live", "/sessions/0123456789abcdef0123456789abcdef/stream"] {
        match connect(ws_url(path), "https://evil.example").await? {
            Err(tokio_tungstenite::tungstenite::Error::Http(resp)) => {
                assert_eq!(resp.status(), 403, "{path}")
            }
            other => panic!("foreign origin accepted on {path}: {:?}", other.map(|_| ())),
        }
    }
    // Our own origin: the feed opens and starts with the (empty) list.
    let (mut ws, _) = connect(ws_url("/live"), own).await??;
    let first = tokio::time::timeout(std::time::Duration::from_secs(5), ws.next()).await?;
    let text = match first {
        Some(Ok(tokio_tungstenite::tungstenite::Message::Text(t))) => t.to_string(),
        other => panic!("unexpected {other:?}"),
    };
    assert_eq!(
        FeedMsg::decode(&Frame::Text(text))?,
        FeedMsg::Sessions { sessions: vec![] }
    );
    Ok(())
}

#[tokio::test]
async fn assets_never_carry_credentials_and_the_app_is_served() -> R {
    let r = relay().await?;
    r.user("root", true, &[]).await?;
    r.user("carol", false, &[]).await?;
    let (c, csrf, _) = r.login_with_cookie("root").await?;
    let body = json!({"name": "web-1", "protocol": "ssh", "host": "10.0.0.5", "port": 22, "tags": ["prod"],
        "account": "deploy", "password": "Sup3r-Secret-Pw", "private_key": null});
    let created = post(&c, format!("{}/assets", r.base), &csrf, body).await?;
    assert_eq!(created.status(), StatusCode::OK);
    assert!(!created.text().await?.contains("Sup3r-Secret-Pw"));
    let listing = c
        .get(format!("{}/assets", r.base))
        .send()
        .await?
        .text()
        .await?;
    assert!(
        !listing.contains("Sup3r-Secret-Pw") && !listing.contains("password"),
        "{listing}"
    );
    let assets: Vec<Asset> = serde_json::from_str(&listing)?;
    assert_eq!(assets.len(), 1);
    assert!(assets[0].can_launch_directly);
    // At rest it is sealed.
    let row = store::assets::get(&r.state.db, assets[0].id)
        .await?
        .ok_or("asset row")?;
    let sealed = row.credential.ok_or("sealed credential")?;
    assert!(!sealed.windows(15).any(|w| w == b"Sup3r-Secret-Pw"));
    // A user without roles sees nothing, and may not create assets.
    let (carol, carol_csrf, _) = r.login_with_cookie("carol").await?;
    let none: Vec<Asset> = carol
        .get(format!("{}/assets", r.base))
        .send()
        .await?
        .json()
        .await?;
    assert!(none.is_empty());
    let refused = post(
        &carol,
        format!("{}/assets", r.base),
        &carol_csrf,
        json!({"name": "x", "protocol": "ssh",
        "host": "h", "port": 22, "account": "a", "password": null, "private_key": null}),
    )
    .await?;
    assert_eq!(refused.status(), StatusCode::FORBIDDEN);

    // Static files, SPA fallback, headers, OpenAPI.
    let root = format!("http://{}", r.addr);
    let page = Client::new()
        .get(format!("{root}/sessions/abc"))
        .send()
        .await?;
    assert_eq!(page.status(), StatusCode::OK);
    let csp = page
        .headers()
        .get("content-security-policy")
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default();
    assert!(csp.contains("frame-ancestors 'none'") && csp.contains("'wasm-unsafe-eval'"));
    assert_eq!(
        page.headers()
            .get("x-content-type-options")
            .map(|v| v.as_bytes()),
        Some(&b"nosniff"[..])
    );
    assert_eq!(
        page.headers().get("referrer-policy").map(|v| v.as_bytes()),
        Some(&b"no-referrer"[..])
    );
    assert!(page.text().await?.contains("<title>vigil</title>"));
    let wasm = Client::new()
        .get(format!("{root}/app_bg.wasm"))
        .send()
        .await?;
    assert_eq!(
        wasm.headers().get("content-type").map(|v| v.as_bytes()),
        Some(&b"application/wasm"[..])
    );
    let missing_api = Client::new()
        .get(format!("{root}/api/v1/nothing-here"))
        .send()
        .await?;
    assert_eq!(
        error_code(missing_api).await?,
        (StatusCode::NOT_FOUND, "not_found".into())
    );
    let doc: Value = Client::new()
        .get(format!("{}/openapi.json", r.base))
        .send()
        .await?
        .json()
        .await?;
    assert!(doc["paths"]["/api/v1/sessions/{id}/terminate-and-cancel"].is_object());
    // The wire types are documented as schemas, and the paths reference them.
    for schema in ["Session", "Asset", "AccessRequest", "ApiError"] {
        assert!(
            doc["components"]["schemas"][schema].is_object(),
            "schema {schema} missing"
        );
    }
    assert_eq!(
        doc["paths"]["/api/v1/sessions"]["post"]["requestBody"]["content"]["application/json"]
            ["schema"]["$ref"],
        "#/components/schemas/LaunchRequest"
    );
    Ok(())
}
