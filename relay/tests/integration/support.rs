//! The harness every relay integration test shares: the relay's router on a real socket
//! (127.0.0.1:0) with a data dir of the test's, stopped when the [`Relay`] is dropped, and
//! what the tests seed and ask it through the store and the REST API.

use std::net::{IpAddr, SocketAddr};

use reqwest::{Client, Response, StatusCode};
use serde_json::{json, Value};
use vigil_relay::auth;
use vigil_relay::config::Config;
use vigil_relay::store::{self, now_ms, sessions::NewSession};
use vigil_relay::AppState;
use vigil_wire::api::{
    ApiError, AssetSelector, GrantedRole, Me, Protocol, RequestStatus, SessionKind,
};

pub type R<T = ()> = Result<T, Box<dyn std::error::Error>>;

pub struct Relay {
    /// `http://127.0.0.1:<port>/api/v1`
    pub base: String,
    pub addr: SocketAddr,
    pub state: AppState,
    pub dir: tempfile::TempDir,
    /// Dropping it stops the server; a test that fakes a crash forgets it.
    pub _stop: tokio::sync::oneshot::Sender<()>,
    served: tokio::task::JoinHandle<anyhow::Result<()>>,
}

impl Relay {
    /// Shuts the relay down and waits for it, every connection task included, for at
    /// most `within`.
    pub async fn stop(self, within: std::time::Duration) -> Result<(), Box<dyn std::error::Error>> {
        self.stop_keeping_dir(within).await.map(drop)
    }

    /// [`Relay::stop`], handing back the data directory for a relay started after it.
    pub async fn stop_keeping_dir(
        self,
        within: std::time::Duration,
    ) -> Result<tempfile::TempDir, Box<dyn std::error::Error>> {
        let _ = self._stop.send(());
        tokio::time::timeout(within, self.served)
            .await
            .map_err(|_| format!("the relay did not shut down within {within:?}"))???;
        Ok(self.dir)
    }
}

/// Starts a relay on `dir` (which may hold a previous run's data), its configuration
/// changed by `adjust`. The app it serves is a placeholder page and wasm file.
pub async fn start(
    dir: tempfile::TempDir,
    adjust: impl FnOnce(&mut Config),
) -> Result<Relay, Box<dyn std::error::Error>> {
    let mut config = Config::with_data_dir(dir.path().join("data"));
    config.dist_dir = dir.path().join("dist");
    std::fs::create_dir_all(&config.dist_dir)?;
    std::fs::write(
        config.dist_dir.join("index.html"),
        "<!doctype html><title>vigil</title>",
    )?;
    std::fs::write(config.dist_dir.join("app_bg.wasm"), b"\0asm\x01\0\0\0")?;
    // The audit key beside the data directory (a restarted relay keeps the first one).
    let key = dir.path().join("audit.key");
    if !key.exists() {
        vigil_relay::audit::AuditKey::generate(&key)?;
    }
    config.audit_key_file = Some(key);
    adjust(&mut config);
    let state = vigil_relay::app::start(config).await?;
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
    let addr = listener.local_addr()?;
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let served = tokio::spawn(vigil_relay::app::serve(
        state.clone(),
        listener,
        async move {
            let _ = stopped.await;
        },
    ));
    Ok(Relay {
        base: format!("http://{addr}/api/v1"),
        addr,
        state,
        dir,
        _stop: stop,
        served,
    })
}

/// A relay on a fresh data dir with the default configuration.
pub async fn relay() -> R<Relay> {
    relay_with(|_| {}).await
}

/// A relay on a fresh data dir, its configuration changed by `adjust`.
pub async fn relay_with(adjust: impl FnOnce(&mut Config)) -> R<Relay> {
    start(tempfile::tempdir()?, adjust).await
}

/// What every test seeds through the store: users (password `pw-<name>`), assets without
/// a credential, sessions and approved requests.
impl Relay {
    pub async fn user(&self, name: &str, admin: bool, groups: &[&str]) -> R<i64> {
        let hash = auth::hash_password(&format!("pw-{name}"))?;
        let groups: Vec<String> = groups.iter().map(|g| g.to_string()).collect();
        Ok(store::users::create(&self.state.db, name, name, &hash, admin, &groups).await?)
    }

    /// Logs `name` in; returns the client (cookie jar) and its CSRF token.
    pub async fn login(&self, name: &str) -> R<(Client, String)> {
        login_at(&self.base, name).await
    }

    /// [`Relay::login`], with the raw session cookie (`name=value`) too.
    pub async fn login_with_cookie(&self, name: &str) -> R<(Client, String, String)> {
        login_with_cookie_at(&self.base, name).await
    }

    /// An asset at 127.0.0.1:1 without a credential: a launch that passes every check
    /// then fails to connect.
    pub async fn asset(&self, name: &str, protocol: Protocol) -> R<i64> {
        Ok(store::assets::insert(
            &self.state.db,
            store::assets::NewAssetRow {
                name,
                protocol,
                host: "127.0.0.1",
                port: 1,
                account: "svc",
                tags: &[],
                credential_kind: store::assets::CredentialKind::None,
                host_key: None,
            },
        )
        .await?)
    }

    /// A live session row (no hub session behind it).
    pub async fn session(
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

    /// A Smart Rule granting `roles` to `group` on the assets whose name matches `glob`.
    pub async fn rule(&self, name: &str, glob: &str, group: &str, roles: &[GrantedRole]) -> R {
        let selector = AssetSelector {
            name_glob: Some(glob.into()),
            protocol: None,
            tags: vec![],
        };
        store::rules::insert(&self.state.db, name, &selector, group, roles, false).await?;
        Ok(())
    }

    pub async fn approved_request(&self, user: i64, asset: i64, expires_at: i64) -> R<i64> {
        Ok(store::requests::insert(
            &self.state.db,
            store::requests::NewRequest {
                user_id: user,
                asset_id: asset,
                reason: "fix",
                duration_minutes: 60,
                status: RequestStatus::Approved,
                expires_at: Some(expires_at),
                decided_by: Some("root"),
            },
        )
        .await?)
    }
}

/// Logs `name` in at `base` (`…/api/v1`); returns the client (cookie jar) and its CSRF token.
pub async fn login_at(base: &str, name: &str) -> R<(Client, String)> {
    let (c, csrf, _) = login_with_cookie_at(base, name).await?;
    Ok((c, csrf))
}

/// [`login_at`], with the raw session cookie (`name=value`) too.
pub async fn login_with_cookie_at(base: &str, name: &str) -> R<(Client, String, String)> {
    let c = Client::builder().cookie_store(true).build()?;
    let resp = c
        .post(format!("{base}/auth/login"))
        .json(&json!({"username": name, "password": format!("pw-{name}")}))
        .send()
        .await?;
    assert_eq!(resp.status(), StatusCode::OK, "login {name}");
    let cookie = resp
        .headers()
        .get_all("set-cookie")
        .iter()
        .filter_map(|v| v.to_str().ok())
        .filter_map(|v| v.split(';').next())
        .collect::<Vec<_>>()
        .join("; ");
    let me: Me = resp.json().await?;
    Ok((c, me.csrf_token, cookie))
}

/// POSTs `body` as JSON with the CSRF header.
pub async fn post(c: &Client, url: String, csrf: &str, body: Value) -> R<Response> {
    Ok(c.post(url)
        .header(vigil_wire::CSRF_HEADER, csrf)
        .json(&body)
        .send()
        .await?)
}

/// The status and error code of an error answer.
pub async fn error_code(resp: Response) -> R<(StatusCode, String)> {
    let (status, code, _) = error(resp).await?;
    Ok((status, code))
}

/// The status, error code and message of an error answer.
pub async fn error(resp: Response) -> R<(StatusCode, String, String)> {
    let status = resp.status();
    let e: ApiError = resp.json().await?;
    Ok((status, e.code, e.message))
}

/// A client whose connections come from `ip` (any 127.x.y.z works on loopback).
pub fn client_from(ip: &str) -> R<Client> {
    let ip: IpAddr = ip.parse()?;
    Ok(Client::builder()
        .local_address(ip)
        .cookie_store(true)
        .build()?)
}

/// The audit entries `c` may read, filtered by `query` (`?session=…&limit=…`).
pub async fn audit_entries(
    r: &Relay,
    c: &Client,
    query: &str,
) -> R<Vec<vigil_wire::audit::AuditEntry>> {
    let resp = c.get(format!("{}/audit{query}", r.base)).send().await?;
    assert_eq!(resp.status(), StatusCode::OK);
    Ok(resp.json().await?)
}

/// The relay's check of the audit chain and the sealed recordings.
pub async fn audit_verify(r: &Relay, c: &Client) -> R<vigil_wire::audit::AuditVerification> {
    let resp = c.get(format!("{}/audit/verify", r.base)).send().await?;
    assert_eq!(resp.status(), StatusCode::OK);
    Ok(resp.json().await?)
}
