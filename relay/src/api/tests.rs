//! The router without a socket (`Router::oneshot`): the authorizing extractors'
//! refusals, and the permission cache following the database's change counter. The
//! relay's own state is real (a temporary data dir); the grants are changed through the
//! store, as the command line does from its own process.

use axum::body::Body;
use axum::http::{header, Method, Request, StatusCode};
use axum::Router;
use serde_json::Value;
use tower::ServiceExt;
use vigil_wire::api::{AssetSelector, GrantedRole, Protocol, SessionKind, UserId};

use crate::auth;
use crate::config::Config;
use crate::state::AppState;
use crate::store::assets::{CredentialKind, NewAssetRow};
use crate::store::sessions::NewSession;
use crate::store::{self, now_ms};

type R<T = ()> = Result<T, Box<dyn std::error::Error>>;

struct Fixture {
    state: AppState,
    _dir: tempfile::TempDir,
}

/// A logged-in user: the cookie and CSRF header of one login.
struct Login {
    cookie: String,
    csrf: String,
}

impl Fixture {
    async fn new() -> R<Fixture> {
        let dir = tempfile::tempdir()?;
        let mut config = Config::with_data_dir(dir.path().join("data"));
        config.dist_dir = dir.path().join("dist");
        let key = dir.path().join("audit.key");
        crate::audit::AuditKey::generate(&key)?;
        config.audit_key_file = Some(key);
        let state = crate::app::start(config).await?;
        Ok(Fixture { state, _dir: dir })
    }

    fn router(&self) -> Router {
        crate::router(self.state.clone())
    }

    async fn user(&self, name: &str, admin: bool, groups: &[&str]) -> R<UserId> {
        let groups: Vec<String> = groups.iter().map(|g| g.to_string()).collect();
        Ok(store::users::create(&self.state.db, name, name, "x", admin, &groups).await?)
    }

    async fn login(&self, user: UserId) -> R<Login> {
        let token = auth::new_token();
        let csrf = auth::new_token();
        let now = now_ms();
        let hash = auth::token_hash(&token);
        store::logins::create(&self.state.db, &hash, user, &csrf, now, now + 3_600_000).await?;
        let name = auth::session_cookie_name(self.state.config.secure_cookies());
        Ok(Login {
            cookie: format!("{name}={token}"),
            csrf,
        })
    }

    async fn asset(&self, name: &str, tags: &[&str]) -> R<i64> {
        let tags: Vec<String> = tags.iter().map(|t| t.to_string()).collect();
        let row = NewAssetRow {
            name,
            protocol: Protocol::Ssh,
            host: "127.0.0.1",
            port: 22,
            account: "root",
            tags: &tags,
            credential_kind: CredentialKind::None,
            host_key: None,
        };
        Ok(store::assets::insert(&self.state.db, row).await?)
    }

    async fn rule(&self, name: &str, group: &str, tag: &str, role: GrantedRole) -> R<i64> {
        let selector = AssetSelector {
            name_glob: None,
            protocol: None,
            tags: vec![tag.to_string()],
        };
        Ok(store::rules::insert(&self.state.db, name, &selector, group, &[role], false).await?)
    }

    async fn session(&self, user: UserId, asset: i64, kind: SessionKind) -> R<String> {
        let id = auth::new_session_id();
        let row = NewSession {
            id: &id,
            user_id: user,
            asset_id: asset,
            kind,
            request_id: None,
            started_at: now_ms(),
            cols: 80,
            rows: 24,
        };
        store::sessions::insert(&self.state.db, row).await?;
        Ok(id)
    }

    async fn version(&self) -> R<i64> {
        Ok(store::access::version(&self.state.db).await?)
    }

    /// Sends one request through the router; the answer's status and JSON body (`Null`
    /// when empty or not JSON).
    async fn call(
        &self,
        method: Method,
        path: &str,
        login: Option<&Login>,
        body: Option<&str>,
    ) -> R<(StatusCode, Value)> {
        let mut req = Request::builder()
            .method(method)
            .uri(format!("/api/v1{path}"));
        if let Some(l) = login {
            req = req
                .header(header::COOKIE, &l.cookie)
                .header(vigil_wire::CSRF_HEADER, &l.csrf);
        }
        let req = match body {
            Some(b) => req
                .header(header::CONTENT_TYPE, "application/json")
                .body(Body::from(b.to_string()))?,
            None => req.body(Body::empty())?,
        };
        let resp = self.router().oneshot(req).await?;
        let status = resp.status();
        let bytes = axum::body::to_bytes(resp.into_body(), usize::MAX).await?;
        Ok((
            status,
            serde_json::from_slice(&bytes).unwrap_or(Value::Null),
        ))
    }

    async fn get(&self, path: &str, login: &Login) -> R<(StatusCode, Value)> {
        self.call(Method::GET, path, Some(login), None).await
    }

    async fn post(&self, path: &str, login: &Login) -> R<(StatusCode, Value)> {
        self.call(Method::POST, path, Some(login), None).await
    }

    /// The names of the assets `login` is shown.
    async fn asset_names(&self, login: &Login) -> R<Vec<String>> {
        let (status, body) = self.get("/assets", login).await?;
        assert_eq!(status, StatusCode::OK, "{body}");
        let list = body.as_array().ok_or("not a list")?;
        Ok(list
            .iter()
            .filter_map(|a| a["name"].as_str().map(String::from))
            .collect())
    }
}

fn code(body: &Value) -> &str {
    body["code"].as_str().unwrap_or_default()
}

#[tokio::test]
async fn require_admin_refuses_everyone_else_before_the_body() -> R {
    let f = Fixture::new().await?;
    let ada = f.user("ada", true, &[]).await?;
    let bob = f.user("bob", false, &[]).await?;
    let (ada, bob) = (f.login(ada).await?, f.login(bob).await?);

    let (status, _) = f.call(Method::GET, "/audit", None, None).await?;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
    let (status, body) = f.get("/audit", &bob).await?;
    assert_eq!((status, code(&body)), (StatusCode::FORBIDDEN, "forbidden"));
    let (status, body) = f.get("/audit", &ada).await?;
    assert_eq!(status, StatusCode::OK, "{body}");
    let (status, body) = f.get("/rules", &bob).await?;
    assert_eq!((status, code(&body)), (StatusCode::FORBIDDEN, "forbidden"));

    // A body that would not even parse: the caller is refused before it is read.
    let (status, body) = f
        .call(Method::POST, "/rules", Some(&bob), Some("not json"))
        .await?;
    assert_eq!((status, code(&body)), (StatusCode::FORBIDDEN, "forbidden"));
    let (status, body) = f
        .call(Method::POST, "/rules", Some(&ada), Some("not json"))
        .await?;
    assert_eq!(
        (status, code(&body)),
        (StatusCode::BAD_REQUEST, "bad_request")
    );

    for path in ["/users/ada/disable", "/users/ada/end-logins"] {
        let (status, body) = f.post(path, &bob).await?;
        assert_eq!(
            (status, code(&body)),
            (StatusCode::FORBIDDEN, "forbidden"),
            "{path}"
        );
    }
    // An administrator, but not over themselves.
    let (status, body) = f.post("/users/ada/disable", &ada).await?;
    assert_eq!((status, code(&body)), (StatusCode::FORBIDDEN, "forbidden"));
    // Nothing was done for the refused callers.
    let ada_row = store::users::by_name(&f.state.db, "ada")
        .await?
        .ok_or("ada")?;
    assert!(!ada_row.disabled);
    assert!(store::audit::list(&f.state.db, &Default::default())
        .await?
        .is_empty());
    Ok(())
}

#[tokio::test]
async fn require_admin_follows_the_administrator_flag() -> R {
    let f = Fixture::new().await?;
    let carl = f.user("carl", false, &[]).await?;
    let carl_login = f.login(carl).await?;
    assert_eq!(f.get("/audit", &carl_login).await?.0, StatusCode::FORBIDDEN);
    let before = f.version().await?;
    sqlx::query("UPDATE users SET is_admin = TRUE WHERE id = $1")
        .bind(carl)
        .execute(&f.state.db)
        .await?;
    assert!(
        f.version().await? > before,
        "an admin flag change bumps the counter"
    );
    assert_eq!(f.get("/audit", &carl_login).await?.0, StatusCode::OK);
    Ok(())
}

#[tokio::test]
async fn session_extractor_hides_refuses_and_admits() -> R {
    let f = Fixture::new().await?;
    let asset = f.asset("web", &["prod"]).await?;
    f.rule(
        "reviewers",
        "rev",
        "prod",
        GrantedRole::ActiveSessionReviewer,
    )
    .await?;
    let alice = f.user("alice", false, &[]).await?;
    let rex = f.user("rex", false, &["rev"]).await?;
    let bob = f.user("bob", false, &[]).await?;
    let id = f.session(alice, asset, SessionKind::Request).await?;
    let (alice, rex, bob) = (
        f.login(alice).await?,
        f.login(rex).await?,
        f.login(bob).await?,
    );
    let session = format!("/sessions/{id}");

    // Someone who may not see it is not told it exists, whatever they ask.
    for path in [
        session.clone(),
        format!("{session}/keystrokes"),
        format!("{session}/recording"),
        format!("{session}/recording/index"),
    ] {
        let (status, body) = f.get(&path, &bob).await?;
        assert_eq!(
            (status, code(&body)),
            (StatusCode::NOT_FOUND, "not_found"),
            "{path}"
        );
    }
    for action in ["lock", "unlock", "terminate", "terminate-and-cancel"] {
        let (status, body) = f.post(&format!("{session}/{action}"), &bob).await?;
        assert_eq!(
            (status, code(&body)),
            (StatusCode::NOT_FOUND, "not_found"),
            "{action}"
        );
    }
    let (status, _) = f.get("/sessions/not-an-id", &alice).await?;
    assert_eq!(status, StatusCode::NOT_FOUND);

    // Its owner sees it, but neither watches nor controls it.
    let (status, body) = f.get(&session, &alice).await?;
    assert_eq!(
        (status, body["id"].as_str()),
        (StatusCode::OK, Some(id.as_str()))
    );
    let (status, body) = f.get(&format!("{session}/keystrokes"), &alice).await?;
    assert_eq!((status, code(&body)), (StatusCode::FORBIDDEN, "forbidden"));
    let (status, body) = f.post(&format!("{session}/lock"), &alice).await?;
    assert_eq!((status, code(&body)), (StatusCode::FORBIDDEN, "forbidden"));

    // A reviewer on the asset watches and controls it (not live: 409 once allowed), but
    // cancels only what a request started.
    let (status, body) = f.get(&format!("{session}/keystrokes"), &rex).await?;
    assert_eq!(status, StatusCode::OK, "{body}");
    let (status, body) = f.post(&format!("{session}/lock"), &rex).await?;
    assert_eq!((status, code(&body)), (StatusCode::CONFLICT, "not_live"));
    let isa = f
        .session(bob_id(&f).await?, asset, SessionKind::Isa)
        .await?;
    let (status, body) = f
        .post(&format!("/sessions/{isa}/terminate-and-cancel"), &rex)
        .await?;
    assert_eq!(
        (status, code(&body)),
        (StatusCode::FORBIDDEN, "not_cancellable")
    );
    // Nothing was changed by the refused calls.
    let row = store::sessions::get(&f.state.db, &id).await?.ok_or("row")?;
    assert!(!row.locked && row.ended_at.is_none());
    Ok(())
}

async fn bob_id(f: &Fixture) -> R<UserId> {
    Ok(store::users::by_name(&f.state.db, "bob")
        .await?
        .ok_or("bob")?
        .id)
}

#[tokio::test]
async fn csrf_is_checked_before_anything_else() -> R {
    let f = Fixture::new().await?;
    let ada = f.user("ada", true, &[]).await?;
    let mut ada = f.login(ada).await?;
    ada.csrf = "wrong".into();
    let (status, body) = f.post("/users/ada/end-logins", &ada).await?;
    assert_eq!((status, code(&body)), (StatusCode::FORBIDDEN, "csrf"));
    assert_eq!(
        f.get("/audit", &ada).await?.0,
        StatusCode::OK,
        "GET needs none"
    );
    Ok(())
}

/// Path and query parameters that do not parse are refused as `ApiError`s, as the
/// OpenAPI document says: an id that is not a number names nothing (404), a query
/// value of the wrong type is a bad request (400).
#[tokio::test]
async fn unparsable_path_and_query_parameters_are_api_errors() -> R {
    let f = Fixture::new().await?;
    let ada = f.user("ada", true, &[]).await?;
    let ada = f.login(ada).await?;
    for path in [
        "/assets/x/accept-host-key",
        "/requests/x/approve",
        "/requests/99999999999999999999/deny",
    ] {
        let (status, body) = f
            .call(
                Method::POST,
                path,
                Some(&ada),
                Some(r#"{"fingerprint":"x"}"#),
            )
            .await?;
        assert_eq!(
            (status, code(&body)),
            (StatusCode::NOT_FOUND, "not_found"),
            "{path}"
        );
    }
    let (status, body) = f.call(Method::DELETE, "/rules/x", Some(&ada), None).await?;
    assert_eq!((status, code(&body)), (StatusCode::NOT_FOUND, "not_found"));
    let web = f.asset("web", &["prod"]).await?;
    let id = f
        .session(ada_id(&f).await?, web, SessionKind::Admin)
        .await?;
    let (status, body) = f
        .get(&format!("/sessions/{id}/keystrokes?after=x"), &ada)
        .await?;
    assert_eq!(
        (status, code(&body)),
        (StatusCode::BAD_REQUEST, "bad_request")
    );
    assert!(
        body["message"]
            .as_str()
            .is_some_and(|m| m.contains("after")),
        "{body}"
    );
    let (status, body) = f.get("/audit?before_seq=x", &ada).await?;
    assert_eq!(
        (status, code(&body)),
        (StatusCode::BAD_REQUEST, "bad_request")
    );
    Ok(())
}

async fn ada_id(f: &Fixture) -> R<UserId> {
    Ok(store::users::by_name(&f.state.db, "ada")
        .await?
        .ok_or("ada")?
        .id)
}

/// Grants change through the store, as another process would make them: the very next
/// request sees the change, with nothing notified in this process.
#[tokio::test]
async fn the_next_request_sees_every_grant_change() -> R {
    let f = Fixture::new().await?;
    let web = f.asset("web", &["prod"]).await?;
    let bob = f.user("bob", false, &["ops"]).await?;
    let login = f.login(bob).await?;
    assert!(f.asset_names(&login).await?.is_empty());
    // The view is cached while nothing changes.
    let first = f.state.permissions.get(&f.state.db, bob).await?;
    let again = f.state.permissions.get(&f.state.db, bob).await?;
    assert!(std::sync::Arc::ptr_eq(&first, &again));

    let v0 = f.version().await?;
    let rule = f
        .rule("ops-prod", "ops", "prod", GrantedRole::Requestor)
        .await?;
    assert!(f.version().await? > v0, "a new rule bumps the counter");
    assert_eq!(f.asset_names(&login).await?, ["web"]);
    let after = f.state.permissions.get(&f.state.db, bob).await?;
    assert!(!std::sync::Arc::ptr_eq(&first, &after));

    let v1 = f.version().await?;
    f.asset("db", &["prod"]).await?;
    assert!(f.version().await? > v1, "a new asset bumps the counter");
    assert_eq!(f.asset_names(&login).await?, ["db", "web"]);

    // Pins are no grant: they leave the counter (and the cache) alone.
    let v2 = f.version().await?;
    store::assets::record_offered(&f.state.db, web, "SHA256:x").await?;
    store::assets::pin_host_key(&f.state.db, web, "ssh-ed25519 AAAA").await?;
    assert_eq!(f.version().await?, v2);

    let r = store::access::remove_member(&f.state.db, bob, "ops").await?;
    assert!(r.changed);
    assert!(
        f.version().await? > v2,
        "a removed member bumps the counter"
    );
    assert!(f.asset_names(&login).await?.is_empty());

    sqlx::query("INSERT INTO user_groups (user_id, group_name) VALUES ($1, 'ops')")
        .bind(bob)
        .execute(&f.state.db)
        .await?;
    assert_eq!(f.asset_names(&login).await?, ["db", "web"]);

    sqlx::query("UPDATE assets SET tags = '[]' WHERE id = $1")
        .bind(web)
        .execute(&f.state.db)
        .await?;
    assert_eq!(
        f.asset_names(&login).await?,
        ["db"],
        "a retagged asset leaves"
    );

    let v3 = f.version().await?;
    store::access::delete_rule(&f.state.db, rule).await?;
    assert!(f.version().await? > v3, "a deleted rule bumps the counter");
    assert!(f.asset_names(&login).await?.is_empty());

    // A request for an asset the user no longer holds a role on is refused.
    let (status, body) = f
        .call(
            Method::POST,
            "/requests",
            Some(&login),
            Some(r#"{"asset_id": 1, "reason": "r", "duration_minutes": 5}"#),
        )
        .await?;
    assert_eq!((status, code(&body)), (StatusCode::NOT_FOUND, "not_found"));
    Ok(())
}

/// Disabling through the store ends the login: the next request is unauthenticated.
#[tokio::test]
async fn a_disabled_user_is_refused_at_once() -> R {
    let f = Fixture::new().await?;
    let bob = f.user("bob", false, &[]).await?;
    let login = f.login(bob).await?;
    assert_eq!(f.get("/me", &login).await?.0, StatusCode::OK);
    let v = f.version().await?;
    store::access::set_disabled(&f.state.db, bob, true).await?;
    assert!(f.version().await? > v);
    let (status, body) = f.get("/me", &login).await?;
    assert_eq!(
        (status, code(&body)),
        (StatusCode::UNAUTHORIZED, "unauthenticated")
    );
    Ok(())
}

/// Lifecycle events queued together are stored in one batch, in the order each session
/// reported them: the last lock switch wins, and an end after a lock leaves the row ended
/// and unlocked.
#[tokio::test]
async fn lifecycle_events_stored_in_a_batch_keep_their_order() -> R {
    use vigil_hub::Lifecycle;
    use vigil_wire::end::EndReason;

    let f = Fixture::new().await?;
    let alice = f.user("alice", false, &[]).await?;
    let asset = f.asset("web-1", &["prod"]).await?;
    let a = f.session(alice, asset, SessionKind::Isa).await?;
    let b = f.session(alice, asset, SessionKind::Isa).await?;
    let c = f.session(alice, asset, SessionKind::Isa).await?;
    let (tx, rx) = tokio::sync::mpsc::unbounded_channel();
    for event in [
        Lifecycle::Connected { id: a.clone() },
        Lifecycle::Locked { id: a.clone() },
        Lifecycle::Unlocked { id: c.clone() },
        Lifecycle::Locked { id: b.clone() },
        Lifecycle::Unlocked { id: a.clone() },
        Lifecycle::Locked { id: c.clone() },
        Lifecycle::Ended {
            id: b.clone(),
            reason: EndReason::plain("closed"),
        },
    ] {
        tx.send(event)?;
    }
    // Queued before the store runs: one batch.
    tokio::spawn(crate::lifecycle::run(f.state.clone(), rx));
    let mut ended = None;
    for _ in 0..200 {
        ended = store::sessions::get(&f.state.db, &b).await?;
        if ended.as_ref().is_some_and(|row| row.ended_at.is_some()) {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    }
    let ended = ended.ok_or("session b is gone")?;
    assert!(ended.ended_at.is_some(), "b's end was not stored");
    assert!(!ended.locked, "an ended session is not locked");
    let row = |id: String| {
        let db = f.state.db.clone();
        async move { store::sessions::get(&db, &id).await }
    };
    let a_row = row(a).await?.ok_or("a is gone")?;
    let c_row = row(c).await?.ok_or("c is gone")?;
    assert!(!a_row.locked, "a's last lock switch was an unlock");
    assert!(c_row.locked, "c's last lock switch was a lock");
    assert!(a_row.ended_at.is_none() && c_row.ended_at.is_none());
    Ok(())
}
