//! The relay's router on a real socket (127.0.0.1:0) with a temporary data dir,
//! driven by reqwest and tokio-tungstenite. Sessions are inserted through the store
//! (a real target is another suite's business).

use futures_util::StreamExt;
use reqwest::{Client, Response, StatusCode};
use serde_json::{json, Value};
use tokio_tungstenite::tungstenite::client::IntoClientRequest;
use tokio_tungstenite::tungstenite::http::HeaderValue;
use vigil_relay::auth;
use vigil_relay::store::{self, now_ms, sessions::NewSession};
use vigil_wire::api::{ApiError, Asset, Me, RequestStatus, Session, SessionKind};
use vigil_wire::codec::Frame;
use vigil_wire::end::EndReason;
use vigil_wire::live::FeedMsg;

type R<T = ()> = Result<T, Box<dyn std::error::Error>>;

mod support;
use support::Relay;

async fn relay() -> R<Relay> {
    support::start(tempfile::tempdir()?, |_| {}).await
}

impl Relay {
    async fn user(&self, name: &str, admin: bool, groups: &[&str]) -> R<i64> {
        let hash = auth::hash_password(&format!("pw-{name}"))?;
        let groups: Vec<String> = groups.iter().map(|g| g.to_string()).collect();
        Ok(store::users::create(&self.state.db, name, name, &hash, admin, &groups).await?)
    }

    /// Logs `name` in; returns the client (cookie jar), its CSRF token and raw cookie.
    async fn login(&self, name: &str) -> R<(Client, String, String)> {
        let c = Client::builder().cookie_store(true).build()?;
        let resp = c
            .post(format!("{}/auth/login", self.base))
            .json(&json!({"username": name, "password": format!("pw-{name}")}))
            .send()
            .await?;
        assert_eq!(resp.status(), StatusCode::OK, "login {name}");
        let cookie = resp
            .headers()
            .get("set-cookie")
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.split(';').next())
            .unwrap_or_default()
            .to_string();
        let me: Me = resp.json().await?;
        Ok((c, me.csrf_token, cookie))
    }

    async fn session(
        &self,
        user: i64,
        asset: i64,
        kind: SessionKind,
        request_id: Option<i64>,
    ) -> R<String> {
        let id = auth::new_session_id();
        let s = NewSession {
            id: &id,
            user_id: user,
            asset_id: asset,
            kind,
            request_id,
            started_at: now_ms(),
            cols: 80,
            rows: 24,
        };
        store::sessions::insert(&self.state.db, s).await?;
        Ok(id)
    }
}

async fn error_code(resp: Response) -> R<(StatusCode, String)> {
    let status = resp.status();
    let e: ApiError = resp.json().await?;
    Ok((status, e.code))
}

async fn post(c: &Client, url: String, csrf: &str, body: Value) -> R<Response> {
    Ok(c.post(url)
        .header(vigil_wire::CSRF_HEADER, csrf)
        .json(&body)
        .send()
        .await?)
}

#[tokio::test]
async fn login_me_logout_and_csrf() -> R {
    let r = relay().await?;
    r.user("alice", false, &[]).await?;
    let (c, csrf, _) = r.login("alice").await?;
    let me: Me = c.get(format!("{}/me", r.base)).send().await?.json().await?;
    assert_eq!((me.username.as_str(), me.is_admin), ("alice", false));

    // Cookie attributes.
    let resp = Client::new()
        .post(format!("{}/auth/login", r.base))
        .json(&json!({"username": "alice", "password": "pw-alice"}))
        .send()
        .await?;
    let set = resp
        .headers()
        .get("set-cookie")
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default()
        .to_string();
    assert!(
        set.starts_with("vigil_session=")
            && set.contains("HttpOnly")
            && set.contains("SameSite=Strict")
            && set.contains("Path=/"),
        "{set}"
    );

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
    let (_, _, cookie) = r.login("root").await?;
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
    let (c, csrf, _) = r.login("root").await?;
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
    let (carol, carol_csrf, _) = r.login("carol").await?;
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

struct World {
    r: Relay,
    web: i64,
    s_admin: String,
    s_isa: String,
    s_alice: String,
    s_bob_db: String,
    s_ended: String,
    alice_request: i64,
}

/// web-1 and db-1; ops = ISA on web-*, audit = reviewer on web-*, dbaudit = reviewer
/// on db-*, devs = requestors everywhere.
async fn world() -> R<World> {
    let r = relay().await?;
    let db = &r.state.db;
    let admin = r.user("root", true, &[]).await?;
    let isa = r.user("ivy", false, &["ops"]).await?;
    r.user("rex", false, &["audit"]).await?;
    r.user("dora", false, &["dbaudit"]).await?;
    let alice = r.user("alice", false, &["devs"]).await?;
    let bob = r.user("bob", false, &["devs"]).await?;
    let asset = |name: &'static str| store::assets::NewAssetRow {
        name,
        protocol: vigil_wire::api::Protocol::Ssh,
        host: "127.0.0.1",
        port: 1,
        account: "svc",
        tags: &[],
        credential_kind: store::assets::CredentialKind::None,
        host_key: None,
    };
    let web = store::assets::insert(db, asset("web-1")).await?;
    let dbase = store::assets::insert(db, asset("db-1")).await?;
    use vigil_wire::api::{AssetSelector, GrantedRole::*};
    let sel = |g: &str| AssetSelector {
        name_glob: Some(g.into()),
        protocol: None,
        tags: vec![],
    };
    store::rules::insert(db, "ops", &sel("web-*"), "ops", &[Isa], false).await?;
    store::rules::insert(
        db,
        "audit",
        &sel("web-*"),
        "audit",
        &[ActiveSessionReviewer],
        false,
    )
    .await?;
    store::rules::insert(
        db,
        "dbaudit",
        &sel("db-*"),
        "dbaudit",
        &[ActiveSessionReviewer],
        false,
    )
    .await?;
    store::rules::insert(db, "devs", &sel("*"), "devs", &[Requestor], false).await?;
    let approved = |user_id, asset_id| store::requests::NewRequest {
        user_id,
        asset_id,
        reason: "fix",
        duration_minutes: 60,
        status: RequestStatus::Approved,
        expires_at: Some(now_ms() + 3_600_000),
        decided_by: Some("root"),
    };
    let alice_request = store::requests::insert(db, approved(alice, web)).await?;
    let bob_request = store::requests::insert(db, approved(bob, dbase)).await?;
    let s_admin = r.session(admin, web, SessionKind::Admin, None).await?;
    let s_isa = r.session(isa, web, SessionKind::Isa, None).await?;
    let s_alice = r
        .session(alice, web, SessionKind::Request, Some(alice_request))
        .await?;
    let s_bob_db = r
        .session(bob, dbase, SessionKind::Request, Some(bob_request))
        .await?;
    let s_ended = r
        .session(alice, web, SessionKind::Request, Some(alice_request))
        .await?;
    store::sessions::end(db, &s_ended, now_ms(), &EndReason::plain("closed")).await?;
    Ok(World {
        r,
        web,
        s_admin,
        s_isa,
        s_alice,
        s_bob_db,
        s_ended,
        alice_request,
    })
}

async fn active_ids(c: &Client, base: &str) -> R<Vec<String>> {
    let list: Vec<Session> = c
        .get(format!("{base}/sessions?state=active"))
        .send()
        .await?
        .json()
        .await?;
    let mut ids: Vec<String> = list.into_iter().map(|s| s.id).collect();
    ids.sort();
    Ok(ids)
}

fn sorted(ids: &[&String]) -> Vec<String> {
    let mut v: Vec<String> = ids.iter().map(|s| s.to_string()).collect();
    v.sort();
    v
}

#[tokio::test]
async fn each_role_sees_exactly_its_sessions() -> R {
    let w = world().await?;
    let b = &w.r.base;
    let cases: &[(&str, Vec<String>)] = &[
        (
            "root",
            sorted(&[&w.s_admin, &w.s_isa, &w.s_alice, &w.s_bob_db]),
        ),
        ("ivy", sorted(&[&w.s_isa, &w.s_alice])),
        ("rex", sorted(&[&w.s_isa, &w.s_alice])),
        ("dora", sorted(&[&w.s_bob_db])),
        ("alice", sorted(&[&w.s_alice])),
        ("bob", sorted(&[&w.s_bob_db])),
    ];
    for (who, expected) in cases {
        let (c, _, _) = w.r.login(who).await?;
        assert_eq!(&active_ids(&c, b).await?, expected, "{who}");
    }
    // Ended sessions follow the same rules.
    let (alice, _, _) = w.r.login("alice").await?;
    let ended: Vec<Session> = alice
        .get(format!("{b}/sessions?state=ended"))
        .send()
        .await?
        .json()
        .await?;
    assert_eq!(
        ended.iter().map(|s| &s.id).collect::<Vec<_>>(),
        vec![&w.s_ended]
    );
    // The owner sees their session without controls; ids of others are not confirmed.
    let own: Session = alice
        .get(format!("{b}/sessions/{}", w.s_alice))
        .send()
        .await?
        .json()
        .await?;
    assert_eq!(own.controls, Default::default());
    let other = alice
        .get(format!("{b}/sessions/{}", w.s_bob_db))
        .send()
        .await?;
    assert_eq!(other.status(), StatusCode::NOT_FOUND);
    // ISA: Admin Sessions are invisible; controls on covered Request sessions.
    let (ivy, _, _) = w.r.login("ivy").await?;
    let me: Me = ivy.get(format!("{b}/me")).send().await?.json().await?;
    assert!(me.is_isa && !me.is_reviewer);
    assert_eq!(
        ivy.get(format!("{b}/sessions/{}", w.s_admin))
            .send()
            .await?
            .status(),
        StatusCode::NOT_FOUND
    );
    let s: Session = ivy
        .get(format!("{b}/sessions/{}", w.s_alice))
        .send()
        .await?
        .json()
        .await?;
    assert!(
        s.controls.watch
            && s.controls.lock
            && s.controls.terminate
            && s.controls.terminate_and_cancel
    );
    // Her own ISA session: no control over it (nobody controls their own session).
    let s: Session = ivy
        .get(format!("{b}/sessions/{}", w.s_isa))
        .send()
        .await?
        .json()
        .await?;
    assert!(!s.controls.lock && !s.controls.terminate && !s.controls.terminate_and_cancel);
    // A reviewer on web-* may terminate it, but not terminate-and-cancel it.
    let (rex, _, _) = w.r.login("rex").await?;
    let s: Session = rex
        .get(format!("{b}/sessions/{}", w.s_isa))
        .send()
        .await?
        .json()
        .await?;
    assert!(s.controls.terminate && !s.controls.terminate_and_cancel);
    Ok(())
}

#[tokio::test]
async fn controls_are_enforced_and_audited() -> R {
    let w = world().await?;
    let b = &w.r.base;
    let (root, root_csrf, _) = w.r.login("root").await?;
    // Terminate and Cancel does not exist for ISA (or Admin) sessions; root's own
    // Admin Session is not root's to control at all.
    for (s, code) in [(&w.s_isa, "not_cancellable"), (&w.s_admin, "forbidden")] {
        let resp = post(
            &root,
            format!("{b}/sessions/{s}/terminate-and-cancel"),
            &root_csrf,
            json!({}),
        )
        .await?;
        assert_eq!(
            error_code(resp).await?,
            (StatusCode::FORBIDDEN, code.into()),
            "{s}"
        );
    }
    // A regular user may not lock, even their own session; others' are not confirmed.
    let (alice, alice_csrf, _) = w.r.login("alice").await?;
    let resp = post(
        &alice,
        format!("{b}/sessions/{}/lock", w.s_alice),
        &alice_csrf,
        json!({}),
    )
    .await?;
    assert_eq!(
        error_code(resp).await?,
        (StatusCode::FORBIDDEN, "forbidden".into())
    );
    let resp = post(
        &alice,
        format!("{b}/sessions/{}/lock", w.s_bob_db),
        &alice_csrf,
        json!({}),
    )
    .await?;
    assert_eq!(resp.status(), StatusCode::NOT_FOUND);
    // A reviewer not covering db-1 can't touch it.
    let (rex, rex_csrf, _) = w.r.login("rex").await?;
    let resp = post(
        &rex,
        format!("{b}/sessions/{}/terminate", w.s_bob_db),
        &rex_csrf,
        json!({}),
    )
    .await?;
    assert_eq!(resp.status(), StatusCode::NOT_FOUND);
    // Locking a session the hub does not run: allowed, but it is not live.
    let resp = post(
        &rex,
        format!("{b}/sessions/{}/lock", w.s_alice),
        &rex_csrf,
        json!({}),
    )
    .await?;
    assert_eq!(
        error_code(resp).await?,
        (StatusCode::CONFLICT, "not_live".into())
    );
    // The covering reviewer terminates and cancels alice's session: ended + checked in.
    let resp = post(
        &rex,
        format!("{b}/sessions/{}/terminate-and-cancel", w.s_alice),
        &rex_csrf,
        json!({}),
    )
    .await?;
    assert_eq!(resp.status(), StatusCode::OK);
    let s: Session = resp.json().await?;
    assert!(s.ended_at.is_some());
    assert_eq!(
        s.end_reason.map(|r| r.message).as_deref(),
        Some("terminated and cancelled by rex")
    );
    let reqs: Vec<vigil_wire::api::AccessRequest> = alice
        .get(format!("{b}/requests"))
        .send()
        .await?
        .json()
        .await?;
    let req = reqs
        .iter()
        .find(|r| r.id == w.alice_request)
        .ok_or("alice's request")?;
    assert_eq!(req.status, RequestStatus::CheckedIn);
    // The request can no longer launch a session.
    let body = json!({"asset_id": w.web, "request_id": w.alice_request, "cols": 80, "rows": 24});
    let resp = post(&alice, format!("{b}/sessions"), &alice_csrf, body).await?;
    assert_eq!(
        error_code(resp).await?,
        (StatusCode::FORBIDDEN, "request_not_usable".into())
    );
    // The audit log (administrators only) names who did what to which session.
    assert_eq!(
        rex.get(format!("{b}/audit")).send().await?.status(),
        StatusCode::FORBIDDEN
    );
    let audit: Vec<vigil_wire::api::AuditEntry> =
        root.get(format!("{b}/audit")).send().await?.json().await?;
    assert!(audit.iter().any(|e| e.actor == "rex"
        && e.action == "terminate_and_cancel"
        && e.session_id.as_deref() == Some(w.s_alice.as_str())));
    Ok(())
}

#[tokio::test]
async fn request_lifecycle_over_the_api() -> R {
    let w = world().await?;
    let b = &w.r.base;
    let db = &w.r.state.db;
    w.r.user("april", false, &["approvers"]).await?;
    let all = vigil_wire::api::AssetSelector::default();
    store::rules::insert(
        db,
        "approvers",
        &all,
        "approvers",
        &[vigil_wire::api::GrantedRole::Approver],
        false,
    )
    .await?;
    let (bob, bob_csrf, _) = w.r.login("bob").await?;
    let body = json!({"asset_id": w.web, "reason": "deploy", "duration_minutes": 30});
    let req: vigil_wire::api::AccessRequest = post(&bob, format!("{b}/requests"), &bob_csrf, body)
        .await?
        .json()
        .await?;
    assert_eq!(req.status, RequestStatus::Pending);
    // Not yet usable; the requester cannot approve it himself.
    let launch = json!({"asset_id": w.web, "request_id": req.id, "cols": 80, "rows": 24});
    let resp = post(&bob, format!("{b}/sessions"), &bob_csrf, launch.clone()).await?;
    assert_eq!(
        error_code(resp).await?,
        (StatusCode::FORBIDDEN, "request_not_usable".into())
    );
    let resp = post(
        &bob,
        format!("{b}/requests/{}/approve", req.id),
        &bob_csrf,
        json!({}),
    )
    .await?;
    assert_eq!(resp.status(), StatusCode::FORBIDDEN);
    // The approver sees it as approvable and approves it.
    let (april, april_csrf, _) = w.r.login("april").await?;
    let listed: Vec<vigil_wire::api::AccessRequest> = april
        .get(format!("{b}/requests"))
        .send()
        .await?
        .json()
        .await?;
    assert!(listed.iter().any(|r| r.id == req.id && r.can_approve));
    let approved: vigil_wire::api::AccessRequest = post(
        &april,
        format!("{b}/requests/{}/approve", req.id),
        &april_csrf,
        json!({}),
    )
    .await?
    .json()
    .await?;
    assert_eq!(approved.status, RequestStatus::Approved);
    assert_eq!(approved.decided_by.as_deref(), Some("april"));
    let again = post(
        &april,
        format!("{b}/requests/{}/deny", req.id),
        &april_csrf,
        json!({}),
    )
    .await?;
    assert_eq!(again.status(), StatusCode::CONFLICT);
    // Another requestor may not use bob's request.
    let (alice, alice_csrf, _) = w.r.login("alice").await?;
    let resp = post(&alice, format!("{b}/sessions"), &alice_csrf, launch.clone()).await?;
    assert_eq!(
        error_code(resp).await?,
        (StatusCode::FORBIDDEN, "request_not_usable".into())
    );
    // A requestor without a request may not launch at all.
    let resp = post(
        &alice,
        format!("{b}/sessions"),
        &alice_csrf,
        json!({"asset_id": w.web, "cols": 80, "rows": 24}),
    )
    .await?;
    assert_eq!(resp.status(), StatusCode::FORBIDDEN);
    // Check-in by the requester closes it.
    let done: vigil_wire::api::AccessRequest = post(
        &bob,
        format!("{b}/requests/{}/checkin", req.id),
        &bob_csrf,
        json!({}),
    )
    .await?
    .json()
    .await?;
    assert_eq!(done.status, RequestStatus::CheckedIn);
    Ok(())
}

type Ws =
    tokio_tungstenite::WebSocketStream<tokio_tungstenite::MaybeTlsStream<tokio::net::TcpStream>>;

async fn open_ws(r: &Relay, path: &str, cookie: &str) -> R<Ws> {
    let mut req = format!("ws://{}/api/v1{path}", r.addr).into_client_request()?;
    req.headers_mut().insert(
        "origin",
        HeaderValue::from_str(&format!("http://{}", r.addr))?,
    );
    req.headers_mut()
        .insert("cookie", HeaderValue::from_str(cookie)?);
    Ok(tokio_tungstenite::connect_async(req).await?.0)
}

async fn next_text(ws: &mut Ws) -> R<String> {
    loop {
        match tokio::time::timeout(std::time::Duration::from_secs(5), ws.next()).await? {
            Some(Ok(tokio_tungstenite::tungstenite::Message::Text(t))) => return Ok(t.to_string()),
            Some(Ok(_)) => continue,
            other => return Err(format!("socket ended: {other:?}").into()),
        }
    }
}

#[tokio::test]
async fn session_stream_handshake() -> R {
    use futures_util::SinkExt;
    use tokio_tungstenite::tungstenite::Message;
    use vigil_wire::live::{ClientControl, ClientMsg, Participant, ServerControl, ServerMsg};
    let w = world().await?;
    let hello = |v: u16| match ClientMsg::Control(ClientControl::Hello { version: v }).encode() {
        Frame::Text(t) => Message::Text(t.into()),
        Frame::Binary(b) => Message::Binary(b.into()),
    };
    let decode = |t: String| ServerMsg::decode(&Frame::Text(t));
    // A covering reviewer attaches as an observer; the session is not live: Welcome, Ended.
    let (_, _, rex) = w.r.login("rex").await?;
    let mut ws = open_ws(&w.r, &format!("/sessions/{}/stream", w.s_alice), &rex).await?;
    ws.send(hello(vigil_wire::PROTOCOL_VERSION)).await?;
    match decode(next_text(&mut ws).await?)? {
        ServerMsg::Control(ServerControl::Welcome {
            participant,
            session,
            ..
        }) => {
            assert_eq!(participant, Participant::Observer);
            assert!(session.controls.watch);
        }
        other => panic!("expected Welcome, got {other:?}"),
    }
    assert!(matches!(
        decode(next_text(&mut ws).await?)?,
        ServerMsg::Control(ServerControl::Ended { .. })
    ));
    // The owner is the user; a wrong protocol version gets an Error.
    let (_, _, alice) = w.r.login("alice").await?;
    let mut ws = open_ws(&w.r, &format!("/sessions/{}/stream", w.s_alice), &alice).await?;
    ws.send(hello(999)).await?;
    match decode(next_text(&mut ws).await?)? {
        ServerMsg::Control(ServerControl::Error { code, .. }) => {
            assert_eq!(code, vigil_wire::end::ErrorCode::Version)
        }
        other => panic!("expected Error, got {other:?}"),
    }
    // Someone who may not see the session is refused before the upgrade.
    let (_, _, bob) = w.r.login("bob").await?;
    match open_ws(&w.r, &format!("/sessions/{}/stream", w.s_alice), &bob).await {
        Err(e) => assert!(e.to_string().contains("404"), "{e}"),
        Ok(_) => panic!("bob attached to alice's session"),
    }
    // Watching is audited.
    let audit = store::audit::list(&w.r.state.db, 100).await?;
    assert!(audit
        .iter()
        .any(|e| e.actor == "rex" && e.action == "observe"));
    Ok(())
}

#[tokio::test]
async fn live_feed_is_filtered_and_pushes_changes() -> R {
    let w = world().await?;
    let (_, _, bob) = w.r.login("bob").await?;
    let (_, _, rex) = w.r.login("rex").await?;
    let mut bob_ws = open_ws(&w.r, "/live", &bob).await?;
    let mut rex_ws = open_ws(&w.r, "/live", &rex).await?;
    let ids = |m: FeedMsg| match m {
        FeedMsg::Sessions { sessions } => {
            let mut v: Vec<String> = sessions.into_iter().map(|s| s.id).collect();
            v.sort();
            v
        }
        other => panic!("expected Sessions, got {other:?}"),
    };
    let feed = |t: String| FeedMsg::decode(&Frame::Text(t));
    assert_eq!(
        ids(feed(next_text(&mut bob_ws).await?)?),
        vec![w.s_bob_db.clone()]
    );
    assert_eq!(
        ids(feed(next_text(&mut rex_ws).await?)?),
        sorted(&[&w.s_isa, &w.s_alice])
    );
    // A new session on web-1 reaches the reviewer, not bob.
    let alice = store::users::by_name(&w.r.state.db, "alice")
        .await?
        .ok_or("alice")?;
    let s_new =
        w.r.session(alice.id, w.web, SessionKind::Request, Some(w.alice_request))
            .await?;
    w.r.state.notify(&s_new);
    match feed(next_text(&mut rex_ws).await?)? {
        FeedMsg::Upsert { session } => assert_eq!(session.id, s_new),
        other => panic!("expected Upsert, got {other:?}"),
    }
    // It ends: removed from the reviewer's list.
    store::sessions::end(&w.r.state.db, &s_new, now_ms(), &EndReason::plain("closed")).await?;
    w.r.state.notify(&s_new);
    assert_eq!(
        feed(next_text(&mut rex_ws).await?)?,
        FeedMsg::Removed { id: s_new.clone() }
    );
    // Bob heard nothing of it.
    let quiet = tokio::time::timeout(std::time::Duration::from_millis(300), bob_ws.next()).await;
    assert!(quiet.is_err(), "bob got {quiet:?}");
    Ok(())
}
