//! One headless browser per person ([`Browser`]): Chromium through chromedriver, or
//! Firefox through geckodriver ([`BrowserKind`]). Page loads, scripts, bounded waits on the
//! app's `data-testid`s that fail with the page source and a screenshot, clicks and typing
//! work the same in both. Its parts: [`driver`] (the WebDriver servers and Chromium's
//! DevTools commands), [`network`] (what a Chromium received), [`terminal`] (xterm
//! screens) and [`canvas`] (desktop canvases).

use std::path::PathBuf;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Mutex;
use std::time::{Duration, Instant};

use anyhow::{anyhow, ensure, Context, Result};
use fantoccini::{Client, ClientBuilder, Locator};
use serde_json::{json, Value};

use crate::relay::{Login, Relay};
use crate::{artifacts_dir, secs, tid, unique, POLL};

mod axe;
pub mod canvas;
mod driver;
mod keys;
mod lock;
mod network;
mod terminal;

pub use axe::{AxeNode, AxeViolation, Impact};
use driver::{chromedriver, firefox_bin, geckodriver, geckodriver_done, Cdp};
pub use lock::LockShown;
use network::NetLog;
pub use network::Transfer;

/// The login page's form once `login.js` handles it (`public/login.html`).
pub const LOGIN_FORM_READY: &str = "[data-testid=\"login-form\"][data-ready=\"true\"]";

/// Which browser a [`Browser`] runs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BrowserKind {
    /// Chromium through chromedriver (`$CHROMIUM`, `$CHROMEDRIVER`).
    Chromium,
    /// Firefox (ESR) through geckodriver (`$FIREFOX`, `$GECKODRIVER`).
    Firefox,
}

impl std::fmt::Display for BrowserKind {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            BrowserKind::Chromium => "Chromium",
            BrowserKind::Firefox => "Firefox",
        })
    }
}

/// One headless browser with its own profile: one person at one browser.
pub struct Browser {
    pub client: Client,
    pub name: String,
    pub kind: BrowserKind,
    base: String,
    net: Mutex<NetLog>,
    shots: AtomicU64,
    /// The geckodriver this Firefox holds (handed back when it closes).
    gecko: Option<String>,
    _profile: tempfile::TempDir,
}

impl Browser {
    /// Opens a fresh headless Chromium whose relative paths go to `relay`.
    pub async fn open(relay: &Relay, name: &str) -> Result<Browser> {
        Browser::open_at(&relay.base, name).await
    }

    /// Opens a fresh headless Firefox whose relative paths go to `relay`.
    pub async fn open_firefox(relay: &Relay, name: &str) -> Result<Browser> {
        Browser::open_kind(BrowserKind::Firefox, relay, name).await
    }

    /// Opens a fresh headless browser of `kind` whose relative paths go to `relay`.
    pub async fn open_kind(kind: BrowserKind, relay: &Relay, name: &str) -> Result<Browser> {
        match kind {
            BrowserKind::Chromium => Browser::open_at(&relay.base, name).await,
            BrowserKind::Firefox => Browser::open_firefox_at(&relay.base, name).await,
        }
    }

    /// Opens a fresh headless Firefox (ESR) with its own profile, through a geckodriver of
    /// its own.
    pub async fn open_firefox_at(base: &str, name: &str) -> Result<Browser> {
        let driver = geckodriver()?;
        let profile = tempfile::Builder::new()
            .prefix("vigil-e2e-firefox-")
            .tempdir()?;
        let args = vec![
            "-headless".to_string(),
            "-no-remote".into(),
            "-profile".into(),
            profile.path().display().to_string(),
            "-width=1280".into(),
            "-height=900".into(),
        ];
        let prefs = json!({
            // Nothing the tests did not ask for: no first-run pages, updates or telemetry.
            "browser.shell.checkDefaultBrowser": false,
            "browser.startup.homepage_override.mstone": "ignore",
            "datareporting.policy.dataSubmissionEnabled": false,
            "toolkit.telemetry.reportingpolicy.firstRun": false,
            "app.update.disabledForTesting": true,
            "network.captive-portal-service.enabled": false,
            "network.connectivity-service.enabled": false,
            // The page's console goes to geckodriver's log (the test artifacts).
            "devtools.console.stdout.content": true,
        });
        let mut caps = serde_json::Map::new();
        caps.insert("browserName".into(), json!("firefox"));
        caps.insert(
            "moz:firefoxOptions".into(),
            json!({ "binary": firefox_bin(), "args": args, "prefs": prefs }),
        );
        let connector = hyper_util::client::legacy::connect::HttpConnector::new();
        let client = ClientBuilder::new(connector)
            .capabilities(caps)
            .connect(&driver)
            .await
            .with_context(|| format!("open Firefox `{name}` through geckodriver at {driver}"))?;
        // `-width`/`-height` are not honoured by every headless Firefox: set it here too.
        client.set_window_size(1280, 900).await.ok();
        Ok(Browser {
            client,
            name: name.to_string(),
            kind: BrowserKind::Firefox,
            base: base.trim_end_matches('/').to_string(),
            net: Mutex::new(NetLog::default()),
            shots: AtomicU64::new(0),
            gecko: Some(driver),
            _profile: profile,
        })
    }

    /// Opens a fresh headless Chromium whose relative paths go to `base`.
    pub async fn open_at(base: &str, name: &str) -> Result<Browser> {
        let driver = chromedriver()?;
        let profile = tempfile::Builder::new()
            .prefix("vigil-e2e-chromium-")
            .tempdir()?;
        let chromium = std::env::var("CHROMIUM").unwrap_or_else(|_| "/usr/bin/chromium".into());
        let args = vec![
            "--headless".to_string(),
            "--no-sandbox".into(),
            "--disable-gpu".into(),
            "--disable-quic".into(),
            "--no-first-run".into(),
            "--disable-background-networking".into(),
            "--disable-component-update".into(),
            "--disable-sync".into(),
            "--disable-dev-shm-usage".into(),
            format!("--user-data-dir={}", profile.path().display()),
            "--window-size=1280,900".into(),
        ];
        let mut caps = serde_json::Map::new();
        caps.insert("browserName".into(), json!("chrome"));
        caps.insert("goog:chromeOptions".into(), json!({ "binary": chromium, "args": args, "perfLoggingPrefs": {"enableNetwork": true, "enablePage": false} }));
        caps.insert(
            "goog:loggingPrefs".into(),
            json!({ "performance": "ALL", "browser": "ALL" }),
        );
        // chromedriver speaks plain HTTP on loopback: no TLS stack needed.
        let connector = hyper_util::client::legacy::connect::HttpConnector::new();
        let client = ClientBuilder::new(connector)
            .capabilities(caps)
            .connect(driver)
            .await
            .with_context(|| format!("open Chromium `{name}` through {driver}"))?;
        Ok(Browser {
            client,
            name: name.to_string(),
            kind: BrowserKind::Chromium,
            base: base.trim_end_matches('/').to_string(),
            net: Mutex::new(NetLog::default()),
            shots: AtomicU64::new(0),
            gecko: None,
            _profile: profile,
        })
    }

    /// Fails, naming this browser, unless it is Chromium: for what only Chromium offers
    /// (DevTools commands, the performance log).
    pub(crate) fn chromium_only(&self, what: &str) -> Result<()> {
        ensure!(
            self.kind == BrowserKind::Chromium,
            "{}: {what} is Chromium-only (DevTools); this browser is {}",
            self.name,
            self.kind
        );
        Ok(())
    }

    pub fn url(&self, path: &str) -> String {
        if path.starts_with("http") {
            path.to_string()
        } else {
            format!("{}{path}", self.base)
        }
    }

    /// Loads `path` (a full page load; in Chromium, what the network log holds so far is
    /// kept).
    pub async fn goto(&self, path: &str) -> Result<()> {
        if self.kind == BrowserKind::Chromium {
            self.capture_network().await?;
        }
        self.client
            .goto(&self.url(path))
            .await
            .with_context(|| format!("{}: goto {path}", self.name))?;
        Ok(())
    }

    /// The current URL's path (`/active`, `/sessions/abc`…).
    pub async fn path(&self) -> Result<String> {
        Ok(self.client.current_url().await?.path().to_string())
    }

    /// Runs `body` (a JS function body; `arguments[i]` are `args`) and returns its value.
    pub async fn js(&self, body: &str, args: Vec<Value>) -> Result<Value> {
        self.client
            .execute(body, args)
            .await
            .with_context(|| format!("{}: script failed", self.name))
    }

    /// Runs one DevTools command (e.g. `Network.setCacheDisabled`) and returns its result.
    pub async fn cdp(&self, cmd: &str, params: Value) -> Result<Value> {
        self.chromium_only(&format!("the DevTools command {cmd}"))?;
        self.client
            .issue_cmd(Cdp(cmd.to_string(), params))
            .await
            .with_context(|| format!("{}: DevTools {cmd}", self.name))
    }

    /// Saves the page source and a screenshot; returns an error naming them.
    pub async fn fail(&self, msg: impl std::fmt::Display) -> anyhow::Error {
        let n = self.shots.fetch_add(1, Ordering::Relaxed);
        let stem = artifacts_dir().join(format!("{}-{}-{n}", sanitize(&self.name), unique("")));
        let html = stem.with_extension("html");
        let png = stem.with_extension("png");
        let url = self
            .client
            .current_url()
            .await
            .map(|u| u.to_string())
            .unwrap_or_default();
        if let Ok(src) = self.client.source().await {
            let _ = std::fs::write(&html, src);
        }
        if let Ok(bytes) = self.client.screenshot().await {
            let _ = std::fs::write(&png, bytes);
        }
        anyhow!(
            "[{}] {msg}\n  url: {url}\n  page source: {}\n  screenshot: {}",
            self.name,
            html.display(),
            png.display()
        )
    }

    /// Saves a screenshot as `<artifacts>/<name>.png` (for people to look at); returns
    /// its path.
    pub async fn snapshot(&self, name: &str) -> Result<PathBuf> {
        let path = artifacts_dir().join(format!("{}.png", sanitize(name)));
        let bytes = self
            .client
            .screenshot()
            .await
            .with_context(|| format!("{}: screenshot", self.name))?;
        std::fs::write(&path, bytes)?;
        Ok(path)
    }

    /// Waits until this browser is on `/connect/<id>`; returns the id.
    pub async fn connect_page_id(&self) -> Result<String> {
        let sid = self
            .wait_js(
                "the connect page",
                "location.pathname.startsWith('/connect/') ? decodeURIComponent(location.pathname.slice(9)) : null",
                vec![],
                secs(15.0),
            )
            .await?
            .as_str()
            .unwrap_or_default()
            .to_string();
        ensure!(!sid.is_empty(), "no session id in the connect page's path");
        Ok(sid)
    }

    /// Requests access to `asset` from the Assets page (a Smart Rule that approves it at
    /// once) and connects under the request; returns the session id.
    pub async fn connect_by_request(&self, asset: &str, reason: &str) -> Result<String> {
        self.goto("/assets").await?;
        let row = format!("{}[data-asset-name=\"{asset}\"]", tid("asset-row"));
        self.click(&format!("{row} {}", tid("request-button")), secs(15.0))
            .await?;
        self.fill(&tid("request-reason"), reason).await?;
        self.fill(&tid("request-duration"), "30").await?;
        self.click(&tid("request-submit"), secs(5.0)).await?;
        let approved = format!("{}[data-status=\"approved\"]", tid("request-row"));
        self.wait_for(&approved, secs(10.0)).await?;
        self.click(&format!("{approved} {}", tid("connect-button")), secs(5.0))
            .await?;
        self.connect_page_id().await
    }

    /// Launches `asset` directly from the Assets page (administrators and ISA users);
    /// returns the session id.
    pub async fn connect_directly(&self, asset: &str) -> Result<String> {
        self.goto("/assets").await?;
        let row = format!("{}[data-asset-name=\"{asset}\"]", tid("asset-row"));
        self.click(&format!("{row} {}", tid("connect-button")), secs(15.0))
            .await?;
        self.connect_page_id().await
    }

    /// Polls the JS expression `expr` every 100 ms until it is truthy; returns its value.
    pub async fn wait_js(
        &self,
        what: &str,
        expr: &str,
        args: Vec<Value>,
        timeout: Duration,
    ) -> Result<Value> {
        let body = format!("return ({expr});");
        let deadline = Instant::now() + timeout;
        let mut last_err = None;
        loop {
            match self.client.execute(&body, args.clone()).await {
                Ok(v) if truthy(&v) => return Ok(v),
                Ok(_) => {}
                Err(e) => last_err = Some(e.to_string()),
            }
            if Instant::now() >= deadline {
                let extra = last_err
                    .map(|e| format!(" (last script error: {e})"))
                    .unwrap_or_default();
                return Err(self
                    .fail(format!(
                        "timed out after {timeout:?} waiting for {what}{extra}"
                    ))
                    .await);
            }
            tokio::time::sleep(POLL).await;
        }
    }

    /// Waits for an element matching `css`.
    pub async fn wait_for(
        &self,
        css: &str,
        timeout: Duration,
    ) -> Result<fantoccini::elements::Element> {
        self.wait_js(
            &format!("`{css}`"),
            "!!document.querySelector(arguments[0])",
            vec![json!(css)],
            timeout,
        )
        .await?;
        self.client
            .find(Locator::Css(css))
            .await
            .with_context(|| format!("{}: find {css}", self.name))
    }

    /// Waits for an element with this `data-testid`.
    pub async fn wait_for_testid(
        &self,
        testid: &str,
        timeout: Duration,
    ) -> Result<fantoccini::elements::Element> {
        self.wait_for(&tid(testid), timeout).await
    }

    /// Waits until nothing matches `css`.
    pub async fn wait_gone(&self, css: &str, timeout: Duration) -> Result<()> {
        self.wait_js(
            &format!("`{css}` to disappear"),
            "!document.querySelector(arguments[0])",
            vec![json!(css)],
            timeout,
        )
        .await
        .map(|_| ())
    }

    /// Whether something matches `css` now.
    pub async fn exists(&self, css: &str) -> Result<bool> {
        Ok(truthy(
            &self
                .js(
                    "return !!document.querySelector(arguments[0]);",
                    vec![json!(css)],
                )
                .await?,
        ))
    }

    /// `innerText` of the first match of `css`, if any.
    pub async fn text(&self, css: &str) -> Result<Option<String>> {
        let v = self
            .js(
                "const e = document.querySelector(arguments[0]); return e ? e.innerText : null;",
                vec![json!(css)],
            )
            .await?;
        Ok(v.as_str().map(str::to_string))
    }

    /// `innerText` of every match of `css`.
    pub async fn texts(&self, css: &str) -> Result<Vec<String>> {
        let v = self
            .js(
                "return Array.from(document.querySelectorAll(arguments[0])).map(e => e.innerText);",
                vec![json!(css)],
            )
            .await?;
        Ok(serde_json::from_value(v).unwrap_or_default())
    }

    /// Waits until the `innerText` of `css` satisfies `pred`; returns it.
    pub async fn wait_text(
        &self,
        css: &str,
        what: &str,
        timeout: Duration,
        pred: impl Fn(&str) -> bool,
    ) -> Result<String> {
        let deadline = Instant::now() + timeout;
        let mut last = None;
        loop {
            if let Ok(Some(t)) = self.text(css).await {
                if pred(&t) {
                    return Ok(t);
                }
                last = Some(t);
            }
            if Instant::now() >= deadline {
                let seen = last
                    .map(|t| format!("; last text: {t:?}"))
                    .unwrap_or_else(|| "; no such element".into());
                return Err(self
                    .fail(format!(
                        "timed out after {timeout:?} waiting for `{css}` {what}{seen}"
                    ))
                    .await);
            }
            tokio::time::sleep(POLL).await;
        }
    }

    /// Clicks the first match of `css` (waiting for it first).
    pub async fn click(&self, css: &str, timeout: Duration) -> Result<()> {
        let el = self.wait_for(css, timeout).await?;
        if let Err(e) = el.click().await {
            // An overlay or animation can intercept a real click; a DOM click still
            // exercises the app's handler.
            let done = self
                .js("const e = document.querySelector(arguments[0]); if (!e) return false; e.click(); return true;", vec![json!(css)])
                .await?;
            if !truthy(&done) {
                return Err(self.fail(format!("could not click `{css}`: {e}")).await);
            }
        }
        Ok(())
    }

    /// Replaces the value of the input matching `css` with `text`.
    pub async fn fill(&self, css: &str, text: &str) -> Result<()> {
        let el = self.wait_for(css, secs(10.0)).await?;
        el.clear().await.ok();
        el.send_keys(text)
            .await
            .with_context(|| format!("{}: type into {css}", self.name))?;
        Ok(())
    }

    /// Keys shown in the Keystrokes panel, in page order.
    pub async fn keystroke_keys(&self) -> Result<Vec<String>> {
        let v = self
            .js(
                "return Array.from(document.querySelectorAll('[data-testid=\"keystroke\"]'))
                 .map(e => { const k = e.querySelector('.k-key'); return (k ? k.innerText : e.innerText).trim(); });",
                vec![],
            )
            .await?;
        Ok(serde_json::from_value(v).unwrap_or_default())
    }

    /// Submits the login page's form, without waiting for the outcome.
    pub async fn submit_login(&self, username: &str, password: &str) -> Result<()> {
        if !self
            .path()
            .await
            .map(|p| p.starts_with("/login"))
            .unwrap_or(false)
        {
            self.goto("/login").await?;
        }
        self.wait_login_form(secs(15.0)).await?;
        self.fill(&tid("login-username"), username).await?;
        self.fill(&tid("login-password"), password).await?;
        self.click(&tid("login-submit"), secs(5.0)).await
    }

    /// Waits until the login page's form works: its script has taken the form over (the
    /// submit button is enabled only then).
    pub async fn wait_login_form(&self, timeout: Duration) -> Result<()> {
        self.wait_for(LOGIN_FORM_READY, timeout).await.map(|_| ())
    }

    /// Logs in through the login page and waits for the navigation to name the user.
    pub async fn login(&self, login: &Login) -> Result<()> {
        self.submit_login(&login.username, &login.password).await?;
        let name = login.username.clone();
        self.wait_text(
            &tid("nav-user"),
            &format!("to name {name}"),
            secs(15.0),
            |t| t.contains(&name),
        )
        .await?;
        Ok(())
    }
    /// Ends the browser session (and its browser); a Firefox's geckodriver is kept for
    /// the next one.
    pub async fn close(self) -> Result<()> {
        self.client
            .close()
            .await
            .map_err(|e| anyhow!("{}: close: {e}", self.name))?;
        if let Some(driver) = self.gecko {
            geckodriver_done(driver);
        }
        Ok(())
    }
}

fn sanitize(s: &str) -> String {
    s.chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || c == '-' {
                c
            } else {
                '_'
            }
        })
        .collect()
}

fn truthy(v: &Value) -> bool {
    match v {
        Value::Null => false,
        Value::Bool(b) => *b,
        Value::Number(n) => n.as_f64().map(|f| f != 0.0).unwrap_or(true),
        Value::String(s) => !s.is_empty(),
        Value::Array(_) | Value::Object(_) => true,
    }
}
