//! The operations endpoints: `/metrics` (off, refused by address or token, and its figures
//! moving with a real SSH session on the fake target), `/healthz` and `/readyz` (each check
//! failing on its own), none of them ever the app's page; and JSON logs with request ids
//! from the `vigil` binary.

use std::collections::BTreeMap;
use std::time::Duration;

use futures_util::SinkExt;
use reqwest::{Client, StatusCode};
use serde_json::{json, Value};
use tokio_tungstenite::tungstenite::client::IntoClientRequest;
use tokio_tungstenite::tungstenite::http::HeaderValue;
use tokio_tungstenite::tungstenite::Message;
use vigil_relay::config::Config;
use vigil_relay::metrics::config::MetricsConfig;
use vigil_testkit::targets::fake_ssh::{self, Shell};
use vigil_wire::api::{Launched, NewAsset, Protocol};
use vigil_wire::codec::Frame;
use vigil_wire::live::{ClientControl, ClientMsg};

use crate::support::{client_from, post, relay, relay_with, Relay, R};

fn root(r: &Relay) -> String {
    format!("http://{}", r.addr)
}

/// Asserts a refusal is an `ApiError` in JSON with `code`, never the app's page.
async fn assert_json_error(resp: reqwest::Response, status: StatusCode, code: &str) -> R {
    assert_eq!(resp.status(), status);
    let ctype = resp
        .headers()
        .get("content-type")
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default()
        .to_string();
    let body = resp.text().await?;
    assert!(!body.contains("<!doctype html>"), "{body}");
    assert!(ctype.starts_with("application/json"), "{ctype}");
    let v: Value = serde_json::from_str(&body)?;
    assert_eq!(v["code"], code, "{body}");
    Ok(())
}

#[tokio::test]
async fn disabled_metrics_and_ops_paths_never_fall_through_to_the_app() -> R {
    // Off is the default.
    let r = relay().await?;
    let c = Client::new();
    let resp = c.get(format!("{}/metrics", root(&r))).send().await?;
    assert_json_error(resp, StatusCode::NOT_FOUND, "not_found").await?;
    for path in [
        "/metrics/x",
        "/healthz/",
        "/readyz/deep/er",
        "/api/v1/nothing",
    ] {
        let resp = c.get(format!("{}{path}", root(&r))).send().await?;
        assert_json_error(resp, StatusCode::NOT_FOUND, "not_found").await?;
    }
    let resp = c.post(format!("{}/healthz", root(&r))).send().await?;
    assert_eq!(resp.status(), StatusCode::METHOD_NOT_ALLOWED);
    assert!(!resp.text().await?.contains("<!doctype html>"));
    // Any other path is still the app.
    let resp = c
        .get(format!("{}/sessions/anything", root(&r)))
        .send()
        .await?;
    assert_eq!(resp.status(), StatusCode::OK);
    assert!(resp.text().await?.contains("<!doctype html>"));
    Ok(())
}

#[tokio::test]
async fn metrics_are_refused_outside_the_allow_list_and_without_the_token() -> R {
    let r = relay_with(|c: &mut Config| {
        c.metrics = MetricsConfig {
            enabled: true,
            token: Some(vigil_hub::Secret::new("scrape-token")),
            allow: vec!["127.0.0.2/32".parse().expect("net")],
        }
    })
    .await?;
    let url = format!("{}/metrics", root(&r));
    let allowed = client_from("127.0.0.2")?;
    let other = client_from("127.0.0.3")?;
    // Outside the list: 403, token or not.
    let resp = other.get(&url).bearer_auth("scrape-token").send().await?;
    assert_json_error(resp, StatusCode::FORBIDDEN, "forbidden").await?;
    // From the list, without or with a wrong token: 401 with a Bearer challenge.
    for token in [None, Some("scrape-toke"), Some("scrape-token-and-more")] {
        let mut req = allowed.get(&url);
        if let Some(t) = token {
            req = req.bearer_auth(t);
        }
        let resp = req.send().await?;
        assert_eq!(
            resp.headers().get("www-authenticate").map(|v| v.as_bytes()),
            Some(&b"Bearer"[..])
        );
        assert_json_error(resp, StatusCode::UNAUTHORIZED, "unauthenticated").await?;
    }
    let resp = allowed.get(&url).bearer_auth("scrape-token").send().await?;
    assert_eq!(resp.status(), StatusCode::OK);
    let body = resp.text().await?;
    assert!(body.contains("# TYPE vigil_sessions_live gauge"), "{body}");
    assert!(!body.contains("scrape-token"));
    Ok(())
}

/// The value of the series `name` whose labels include `labels` (summed over the rest).
fn value(text: &str, name: &str, labels: &[(&str, &str)]) -> f64 {
    let mut total = 0.0;
    for line in text.lines().filter(|l| !l.starts_with('#')) {
        let Some((series, v)) = line.rsplit_once(' ') else {
            continue;
        };
        let (n, set) = match series.split_once('{') {
            Some((n, rest)) => (n, parse_labels(rest.trim_end_matches('}'))),
            None => (series, BTreeMap::new()),
        };
        if n == name
            && labels
                .iter()
                .all(|(k, want)| set.get(*k).map(String::as_str) == Some(*want))
        {
            total += v.parse::<f64>().unwrap_or(0.0);
        }
    }
    total
}

fn parse_labels(s: &str) -> BTreeMap<String, String> {
    s.split(',')
        .filter_map(|kv| kv.split_once('='))
        .map(|(k, v)| (k.to_string(), v.trim_matches('"').to_string()))
        .collect()
}

async fn scrape(r: &Relay) -> R<String> {
    let resp = Client::new()
        .get(format!("{}/metrics", root(r)))
        .send()
        .await?;
    assert_eq!(resp.status(), StatusCode::OK);
    Ok(resp.text().await?)
}

/// Scrapes until `pred` holds (at most 10 s); returns the last scrape.
async fn scrape_until(r: &Relay, what: &str, pred: impl Fn(&str) -> bool) -> R<String> {
    let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
    loop {
        let text = scrape(r).await?;
        if pred(&text) {
            return Ok(text);
        }
        if tokio::time::Instant::now() > deadline {
            return Err(format!("{what}: not seen in 10 s\n{text}").into());
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

type Ws =
    tokio_tungstenite::WebSocketStream<tokio_tungstenite::MaybeTlsStream<tokio::net::TcpStream>>;

async fn attach(r: &Relay, id: &str, cookie: &str) -> R<Ws> {
    let mut req = format!("ws://{}/api/v1/sessions/{id}/stream", r.addr).into_client_request()?;
    req.headers_mut()
        .insert("origin", HeaderValue::from_str(&root(r))?);
    req.headers_mut()
        .insert("cookie", HeaderValue::from_str(cookie)?);
    let mut ws = tokio_tungstenite::connect_async(req).await?.0;
    send(
        &mut ws,
        ClientMsg::Control(ClientControl::Hello {
            version: vigil_wire::PROTOCOL_VERSION,
        }),
    )
    .await?;
    Ok(ws)
}

async fn send(ws: &mut Ws, msg: ClientMsg) -> R {
    let m = match msg.encode() {
        Frame::Text(t) => Message::Text(t.into()),
        Frame::Binary(b) => Message::Binary(b.into()),
    };
    ws.send(m).await?;
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn metrics_follow_an_ssh_session_and_failed_logins() -> R {
    let port = fake_ssh::serve(Shell::Echo, None).await?;
    let r = relay_with(|c: &mut Config| c.metrics.enabled = true).await?;
    r.user("ada", true, &[]).await?;
    r.user("rex", true, &[]).await?;
    let new = NewAsset {
        name: "web-01".into(),
        protocol: Protocol::Ssh,
        host: "127.0.0.1".into(),
        port,
        tags: vec![],
        account: "svc".into(),
        password: Some("target-password".into()),
        private_key: None,
        host_key: None,
    };
    let asset = vigil_relay::api::assets::create_asset(&r.state.db, &r.state.vault, &new).await?;
    let before = scrape(&r).await?;
    let relayed = |t: &str, dir: &str| {
        value(
            t,
            "vigil_relayed_bytes_total",
            &[("protocol", "ssh"), ("direction", dir)],
        )
    };
    let live = |t: &str| {
        value(
            t,
            "vigil_sessions_live",
            &[("protocol", "ssh"), ("kind", "admin")],
        )
    };
    assert_eq!(live(&before), 0.0, "{before}");

    // A wrong password counts as a login failure.
    let resp = Client::new()
        .post(format!("{}/auth/login", r.base))
        .json(&json!({"username": "ada", "password": "wrong"}))
        .send()
        .await?;
    assert_eq!(resp.status(), StatusCode::UNAUTHORIZED);

    // Ada launches; the session connects and goes live.
    let (ada, ada_csrf, ada_cookie) = r.login_with_cookie("ada").await?;
    let body = json!({"asset_id": asset, "cols": 80, "rows": 24});
    let resp = post(&ada, format!("{}/sessions", r.base), &ada_csrf, body).await?;
    assert_eq!(resp.status(), StatusCode::OK);
    let id = resp.json::<Launched>().await?.session_id;
    scrape_until(&r, "one live ssh admin session", |t| live(t) == 1.0).await?;

    // Ada types; Rex watches (an observer) and locks.
    let mut user = attach(&r, &id, &ada_cookie).await?;
    send(&mut user, ClientMsg::Input(b"hello\r".to_vec())).await?;
    let (rex, rex_csrf, rex_cookie) = r.login_with_cookie("rex").await?;
    let observer = attach(&r, &id, &rex_cookie).await?;
    let t = scrape_until(&r, "an observer, bytes both ways", |t| {
        value(t, "vigil_session_observers", &[("protocol", "ssh")]) == 1.0
            && relayed(t, "to_target") > relayed(&before, "to_target")
            && relayed(t, "from_target") > relayed(&before, "from_target")
    })
    .await?;
    assert!(
        value(&t, "vigil_recording_bytes_total", &[])
            > value(&before, "vigil_recording_bytes_total", &[]),
        "{t}"
    );
    assert!(
        value(&t, "vigil_login_failures_total", &[])
            >= value(&before, "vigil_login_failures_total", &[]) + 1.0,
        "{t}"
    );
    assert!(
        value(
            &t,
            "vigil_sessions_started_total",
            &[("protocol", "ssh"), ("kind", "admin")]
        ) >= 1.0
    );
    let resp = post(
        &rex,
        format!("{}/sessions/{id}/lock", r.base),
        &rex_csrf,
        json!({}),
    )
    .await?;
    assert!(resp.status().is_success(), "{}", resp.status());
    // The lock is timed: the gate closed, and its notice written to Ada's socket.
    scrape_until(&r, "one locked session, its lock timed", |t| {
        value(t, "vigil_sessions_locked", &[("protocol", "ssh")]) == 1.0
            && value(t, "vigil_lock_apply_seconds_count", &[])
                > value(&before, "vigil_lock_apply_seconds_count", &[])
            && value(t, "vigil_lock_notice_seconds_count", &[])
                > value(&before, "vigil_lock_notice_seconds_count", &[])
    })
    .await?;

    // Rex terminates it: every gauge is back to 0.
    let resp = post(
        &rex,
        format!("{}/sessions/{id}/terminate", r.base),
        &rex_csrf,
        json!({}),
    )
    .await?;
    assert!(resp.status().is_success(), "{}", resp.status());
    let t = scrape_until(&r, "no live session", |t| {
        live(t) == 0.0
            && value(t, "vigil_sessions_locked", &[]) == 0.0
            && value(t, "vigil_session_observers", &[]) == 0.0
    })
    .await?;
    drop((user, observer));
    // No user name, address or session id is a label value; no asset name or id anywhere.
    let label_values: Vec<String> = t
        .lines()
        .filter(|l| !l.starts_with('#'))
        .filter_map(|l| l.split_once('{'))
        .flat_map(|(_, rest)| {
            parse_labels(rest.split('}').next().unwrap_or_default()).into_values()
        })
        .collect();
    for secret in ["ada", "rex", "web-01", id.as_str(), "127.0.0.1"] {
        assert!(
            !label_values.iter().any(|v| v == secret),
            "{secret} in the metrics: {label_values:?}"
        );
    }
    assert!(!t.contains(&id) && !t.contains("web-01") && !t.contains("target-password"));
    // A launch on an asset that refuses the connection counts as a connect failure.
    let closed = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
    let closed_port = closed.local_addr()?.port();
    drop(closed);
    let dead = NewAsset {
        name: "dead-01".into(),
        port: closed_port,
        ..new
    };
    let dead = vigil_relay::api::assets::create_asset(&r.state.db, &r.state.vault, &dead).await?;
    let failures = |t: &str| {
        value(
            t,
            "vigil_launch_failures_total",
            &[("stage", "connect"), ("code", "target_unreachable")],
        )
    };
    let before_fail = failures(&t);
    let body = json!({"asset_id": dead, "cols": 80, "rows": 24});
    let resp = post(&ada, format!("{}/sessions", r.base), &ada_csrf, body).await?;
    assert_eq!(resp.status(), StatusCode::OK);
    scrape_until(&r, "a connect failure", |t| {
        failures(t) > before_fail && live(t) == 0.0
    })
    .await?;
    Ok(())
}

#[tokio::test]
async fn health_and_readiness() -> R {
    let r = relay().await?;
    let c = Client::new();
    let resp = c.get(format!("{}/healthz", root(&r))).send().await?;
    assert_eq!(resp.status(), StatusCode::OK);
    assert_eq!(resp.json::<Value>().await?, json!({"status": "ok"}));

    let ready = |v: &Value, name: &str| {
        v["checks"]
            .as_array()
            .and_then(|cs| cs.iter().find(|c| c["name"] == name))
            .map(|c| (c["ok"].as_bool().unwrap_or(false), c["problem"].clone()))
    };
    let resp = c.get(format!("{}/readyz", root(&r))).send().await?;
    assert_eq!(resp.status(), StatusCode::OK);
    let v: Value = resp.json().await?;
    assert_eq!(v["status"], "ready");
    for name in ["database", "data_dir", "app_bundle"] {
        assert_eq!(ready(&v, name), Some((true, Value::Null)), "{v}");
    }

    // No app bundle: 503, naming the check, and no path.
    let index = r.state.config.dist_dir.join("index.html");
    std::fs::rename(&index, index.with_extension("away"))?;
    let resp = c.get(format!("{}/readyz", root(&r))).send().await?;
    assert_eq!(resp.status(), StatusCode::SERVICE_UNAVAILABLE);
    let text = resp.text().await?;
    assert!(!text.contains(&*r.dir.path().to_string_lossy()), "{text}");
    let v: Value = serde_json::from_str(&text)?;
    assert_eq!(v["status"], "not_ready");
    assert_eq!(ready(&v, "app_bundle"), Some((false, json!("missing"))));
    assert_eq!(ready(&v, "database").map(|c| c.0), Some(true));
    std::fs::rename(index.with_extension("away"), &index)?;

    // The data directory cannot be written (moved away, as root ignores modes): 503.
    let data = r.state.config.data_dir.clone();
    let moved = data.with_extension("moved");
    std::fs::rename(&data, &moved)?;
    let resp = c.get(format!("{}/readyz", root(&r))).send().await?;
    let status = resp.status();
    let v: Value = resp.json().await?;
    std::fs::rename(&moved, &data)?;
    assert_eq!(status, StatusCode::SERVICE_UNAVAILABLE, "{v}");
    assert_eq!(ready(&v, "data_dir"), Some((false, json!("not_writable"))));
    assert_eq!(ready(&v, "app_bundle").map(|c| c.0), Some(true));
    let resp = c.get(format!("{}/readyz", root(&r))).send().await?;
    assert_eq!(resp.status(), StatusCode::OK);

    // The database closed: 503.
    r.state.db.close().await;
    let resp = c.get(format!("{}/readyz", root(&r))).send().await?;
    assert_eq!(resp.status(), StatusCode::SERVICE_UNAVAILABLE);
    let v: Value = resp.json().await?;
    assert_eq!(ready(&v, "database"), Some((false, json!("query_failed"))));
    Ok(())
}

/// `vigil serve` with `VIGIL_LOG_FORMAT=json`: every line on stderr is a JSON object, and a
/// request is logged once, with the id its response carries.
#[tokio::test]
async fn json_logs_carry_the_request_id() -> R {
    use tokio::io::{AsyncBufReadExt, AsyncReadExt};
    let dir = tempfile::tempdir()?;
    let (data, dist) = (dir.path().join("data"), dir.path().join("dist"));
    std::fs::create_dir_all(&dist)?;
    std::fs::write(
        dist.join("index.html"),
        "<!doctype html><title>vigil</title>",
    )?;
    let key = dir.path().join("audit.key");
    vigil_relay::audit::AuditKey::generate(&key)?;
    let mut child = tokio::process::Command::new(env!("CARGO_BIN_EXE_vigil"))
        .env("VIGIL_DATA_DIR", &data)
        .env("VIGIL_AUDIT_KEY_FILE", &key)
        .env("VIGIL_DIST_DIR", &dist)
        .env("VIGIL_BIND", "127.0.0.1:0")
        .env("VIGIL_LOG_FORMAT", "json")
        .env("RUST_LOG", "info")
        .arg("serve")
        .stdin(std::process::Stdio::null())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .kill_on_drop(true)
        .spawn()?;
    let stdout = child.stdout.take().ok_or("no stdout")?;
    let mut lines = tokio::io::BufReader::new(stdout).lines();
    let line = tokio::time::timeout(Duration::from_secs(30), lines.next_line())
        .await??
        .ok_or("vigil serve exited")?;
    let origin = line
        .strip_prefix("vigil: serving on ")
        .ok_or_else(|| format!("unexpected line {line:?}"))?
        .to_string();
    let c = Client::new();
    let resp = c
        .get(format!("{origin}/some/page?token=secret-in-query"))
        .send()
        .await?;
    assert_eq!(resp.status(), StatusCode::OK);
    let id = resp
        .headers()
        .get("x-request-id")
        .and_then(|v| v.to_str().ok())
        .ok_or("no x-request-id")?
        .to_string();
    // A proxy's id is kept; a forged one is replaced.
    let resp = c
        .get(format!("{origin}/healthz"))
        .header("x-request-id", "lb-42")
        .send()
        .await?;
    assert_eq!(
        resp.headers().get("x-request-id").map(|v| v.as_bytes()),
        Some(&b"lb-42"[..])
    );
    let resp = c
        .get(format!("{origin}/healthz"))
        .header("x-request-id", "a\"b")
        .send()
        .await?;
    assert_ne!(
        resp.headers().get("x-request-id").map(|v| v.as_bytes()),
        Some(&b"a\"b"[..])
    );
    child.start_kill()?;
    let mut stderr = child.stderr.take().ok_or("no stderr")?;
    let mut text = String::new();
    tokio::time::timeout(Duration::from_secs(10), stderr.read_to_string(&mut text)).await??;
    child.wait().await?;
    let mut requests = Vec::new();
    for line in text.lines().filter(|l| !l.trim().is_empty()) {
        let v: Value =
            serde_json::from_str(line).map_err(|e| format!("not JSON: {line:?}: {e}"))?;
        assert!(
            v["timestamp"].is_string() && v["level"].is_string(),
            "{line}"
        );
        if v["target"] == "vigil::http" {
            requests.push(v);
        }
    }
    let page: Vec<&Value> = requests
        .iter()
        .filter(|v| v["request_id"] == id.as_str())
        .collect();
    assert_eq!(page.len(), 1, "one event for the request: {requests:?}");
    let e = page[0];
    assert_eq!(e["method"], "GET");
    assert_eq!(e["path"], "/some/page");
    assert_eq!(e["status"], 200);
    assert!(e["latency_ms"].is_number());
    assert_eq!(e["span"]["request_id"], id.as_str());
    assert_eq!(e["span"]["path"], "/some/page");
    assert!(
        !text.contains("secret-in-query"),
        "the query string is never logged"
    );
    assert!(
        !requests.iter().any(|v| v["path"] == "/healthz"),
        "probes log at debug only"
    );
    Ok(())
}
