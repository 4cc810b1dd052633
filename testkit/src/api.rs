//! A REST client for one user ([`Api`]): cookie store, CSRF header, and a copy of every
//! body received, for the tests that check no secret reaches a client.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use anyhow::{bail, Context, Result};
use reqwest::cookie::CookieStore as _;
use serde_json::{json, Value};
use vigil_wire::api::{Asset, Me};

use crate::relay::{Login, Relay};

/// A REST client for one user: cookie store, CSRF header, and a copy of every body.
pub struct Api {
    pub base: String,
    client: reqwest::Client,
    jar: Arc<reqwest::cookie::Jar>,
    csrf: Mutex<Option<String>>,
    pub(crate) bodies: Arc<Mutex<Vec<Vec<u8>>>>,
}

/// A response: status and body.
#[derive(Debug, Clone)]
pub struct Reply {
    pub status: u16,
    pub body: Vec<u8>,
}

impl Reply {
    pub fn json<T: serde::de::DeserializeOwned>(&self) -> Result<T> {
        serde_json::from_slice(&self.body).with_context(|| {
            format!(
                "unexpected body ({}): {}",
                self.status,
                String::from_utf8_lossy(&self.body)
            )
        })
    }
    pub fn ok(self) -> Result<Reply> {
        if (200..300).contains(&self.status) {
            Ok(self)
        } else {
            bail!(
                "HTTP {}: {}",
                self.status,
                String::from_utf8_lossy(&self.body)
            )
        }
    }
}

impl Api {
    pub fn new(base: &str) -> Result<Api> {
        let jar = Arc::new(reqwest::cookie::Jar::default());
        let client = reqwest::Client::builder()
            .cookie_provider(jar.clone())
            .timeout(Duration::from_secs(30))
            // Below the relay's 10 s keep-alive limit, so a reused connection is never
            // one that the relay is closing.
            .pool_idle_timeout(Duration::from_secs(5))
            .build()?;
        Ok(Api {
            base: base.trim_end_matches('/').to_string(),
            client,
            jar,
            csrf: Mutex::new(None),
            bodies: Arc::new(Mutex::new(Vec::new())),
        })
    }

    /// A client logged in as `login`.
    pub async fn login_as(relay: &Relay, login: &Login) -> Result<Api> {
        let api = Api::new(&relay.base)?;
        api.login(&login.username, &login.password).await?;
        Ok(api)
    }

    pub async fn login(&self, username: &str, password: &str) -> Result<Me> {
        let reply = self
            .send(
                reqwest::Method::POST,
                "/api/v1/auth/login",
                Some(&json!({"username": username, "password": password})),
            )
            .await?
            .ok()
            .with_context(|| format!("log in as {username}"))?;
        let me: Me = reply.json()?;
        *self.csrf.lock().expect("csrf lock") = Some(me.csrf_token.clone());
        // `/me` gives the same token; fetch it too, as the app does.
        let me2: Me = self.get("/api/v1/me").await?;
        *self.csrf.lock().expect("csrf lock") = Some(me2.csrf_token.clone());
        Ok(me2)
    }

    /// Sends one request (`path` from `/api/v1/...`); records the body.
    pub async fn send(
        &self,
        method: reqwest::Method,
        path: &str,
        body: Option<&Value>,
    ) -> Result<Reply> {
        let mut req = self
            .client
            .request(method.clone(), format!("{}{path}", self.base));
        if let Some(token) = self.csrf.lock().expect("csrf lock").clone() {
            req = req.header(vigil_wire::CSRF_HEADER, token);
        }
        if let Some(b) = body {
            req = req.json(b);
        }
        let resp = req
            .send()
            .await
            .with_context(|| format!("{method} {path}"))?;
        let status = resp.status().as_u16();
        let bytes = resp.bytes().await?.to_vec();
        self.bodies.lock().expect("bodies lock").push(bytes.clone());
        Ok(Reply {
            status,
            body: bytes,
        })
    }

    pub async fn get<T: serde::de::DeserializeOwned>(&self, path: &str) -> Result<T> {
        self.send(reqwest::Method::GET, path, None)
            .await?
            .ok()
            .with_context(|| format!("GET {path}"))?
            .json()
    }

    pub async fn post<T: serde::de::DeserializeOwned>(
        &self,
        path: &str,
        body: &Value,
    ) -> Result<T> {
        self.send(reqwest::Method::POST, path, Some(body))
            .await?
            .ok()
            .with_context(|| format!("POST {path}"))?
            .json()
    }

    /// GETs every REST list and detail this user may read about session `sid`, so that
    /// their bodies are kept: the administrators' lists when `admin`, the recording's
    /// index for a `desktop` session.
    pub async fn read_everything(&self, sid: &str, admin: bool, desktop: bool) -> Result<()> {
        let mut paths = vec![
            "/api/v1/me".to_string(),
            "/api/v1/assets".into(),
            "/api/v1/requests".into(),
            "/api/v1/sessions?state=active".into(),
            "/api/v1/sessions?state=ended".into(),
            format!("/api/v1/sessions/{sid}"),
            format!("/api/v1/sessions/{sid}/keystrokes"),
            format!("/api/v1/sessions/{sid}/recording"),
        ];
        if desktop {
            paths.push(format!("/api/v1/sessions/{sid}/recording/index"));
        }
        paths.push("/api/v1/openapi.json".into());
        if admin {
            paths.push("/api/v1/rules".into());
            paths.push("/api/v1/audit".into());
        }
        for p in paths {
            self.send(reqwest::Method::GET, &p, None).await?;
        }
        Ok(())
    }

    /// The id of the asset called `name`, as this user's asset list shows it.
    pub async fn asset_id(&self, name: &str) -> Result<i64> {
        let assets: Vec<Asset> = self.get("/api/v1/assets").await?;
        assets
            .iter()
            .find(|a| a.name == name)
            .map(|a| a.id)
            .with_context(|| format!("asset {name} is not listed ({} assets)", assets.len()))
    }

    /// The `Cookie` header this client would send to the relay.
    pub fn cookie_header(&self) -> Option<String> {
        let url: url::Url = self.base.parse().ok()?;
        self.jar
            .cookies(&url)
            .and_then(|v| v.to_str().ok().map(str::to_string))
    }

    /// Every body received so far.
    pub fn received(&self) -> Vec<Vec<u8>> {
        self.bodies.lock().expect("bodies lock").clone()
    }
}
