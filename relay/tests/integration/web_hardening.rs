//! Hardening of the relay's HTTP face: login throttling under parallel guesses, HTTP
//! timeouts and the connection cap, response headers, the cookie name, and the
//! permissions of the data directory.

use std::time::{Duration, Instant};

use reqwest::{Client, StatusCode};
use serde_json::json;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use vigil_relay::auth;
use vigil_relay::config::Config;
use vigil_relay::store;

use crate::support::{client_from, relay, relay_with, R};

#[tokio::test]
async fn parallel_guesses_are_throttled_and_the_user_still_gets_in() -> R {
    let r = relay().await?;
    r.user("bob", false, &[]).await?;
    let attacker = client_from("127.0.0.1")?;
    let url = format!("{}/auth/login", r.base);
    let guesses = (0..20).map(|i| {
        let c = attacker.clone();
        let url = url.clone();
        async move {
            c.post(url)
                .json(&json!({"username": "bob", "password": format!("guess-{i}")}))
                .send()
                .await
                .map(|resp| resp.status())
        }
    });
    let statuses = futures_util::future::join_all(guesses).await;
    let mut unauthorized = 0;
    let mut throttled = 0;
    for s in statuses {
        match s? {
            StatusCode::UNAUTHORIZED => unauthorized += 1,
            StatusCode::TOO_MANY_REQUESTS => throttled += 1,
            other => panic!("unexpected status {other}"),
        }
    }
    assert_eq!(
        (unauthorized, throttled),
        (vigil_relay::throttle::FREE_FAILURES as usize, 20 - 5),
        "only the free attempts reach Argon2"
    );
    // The attacker's address stays locked out for bob, even with the right password.
    let again = attacker
        .post(&url)
        .json(&json!({"username": "bob", "password": "pw-bob"}))
        .send()
        .await?;
    assert_eq!(again.status(), StatusCode::TOO_MANY_REQUESTS);
    // Bob, from his own address, is not locked out.
    let bob = client_from("127.0.0.2")?;
    let resp = bob
        .post(&url)
        .json(&json!({"username": "bob", "password": "pw-bob"}))
        .send()
        .await?;
    assert_eq!(resp.status(), StatusCode::OK);
    let me = bob.get(format!("{}/me", r.base)).send().await?;
    assert_eq!(me.status(), StatusCode::OK);
    Ok(())
}

/// Reads until the server closes the connection; `Err` on timeout.
async fn closed_within(mut s: TcpStream, limit: Duration) -> Result<(), &'static str> {
    let mut buf = [0u8; 1024];
    let deadline = tokio::time::Instant::now() + limit;
    loop {
        match tokio::time::timeout_at(deadline, s.read(&mut buf)).await {
            Err(_) => return Err("still open"),
            Ok(Ok(0)) | Ok(Err(_)) => return Ok(()),
            Ok(Ok(_)) => {} // a 408 or similar before the close is fine
        }
    }
}

#[tokio::test]
async fn slow_headers_are_cut_off() -> R {
    let r = relay_with(|c| c.header_timeout = Duration::from_secs(1)).await?;
    let started = Instant::now();
    let mut slow = Vec::new();
    for _ in 0..50 {
        let mut s = TcpStream::connect(r.addr).await?;
        s.write_all(b"GET /api/v1/me HTTP/1.1\r\nHost: relay\r\nX-Slow: ")
            .await?;
        slow.push(s);
    }
    // Meanwhile a normal request is served.
    let resp = Client::new().get(format!("{}/me", r.base)).send().await?;
    assert_eq!(resp.status(), StatusCode::UNAUTHORIZED);
    let results = futures_util::future::join_all(
        slow.into_iter()
            .map(|s| closed_within(s, Duration::from_secs(5))),
    )
    .await;
    assert!(
        results.iter().all(|r| r.is_ok()),
        "every slow connection is closed by the server"
    );
    assert!(
        started.elapsed() >= Duration::from_millis(900),
        "not before the timeout"
    );
    // An idle keep-alive connection is closed too.
    let idle = TcpStream::connect(r.addr).await?;
    assert!(closed_within(idle, Duration::from_secs(5)).await.is_ok());
    let resp = Client::new().get(format!("{}/me", r.base)).send().await?;
    assert_eq!(resp.status(), StatusCode::UNAUTHORIZED);
    Ok(())
}

#[tokio::test]
async fn connections_over_the_cap_are_closed() -> R {
    let r = relay_with(|c| c.max_connections = 5).await?;
    let mut held = Vec::new();
    for _ in 0..5 {
        held.push(TcpStream::connect(r.addr).await?);
    }
    // Give the server the time to accept them.
    tokio::time::sleep(Duration::from_millis(200)).await;
    let extra = TcpStream::connect(r.addr).await?;
    assert!(
        closed_within(extra, Duration::from_secs(2)).await.is_ok(),
        "the sixth connection is closed at once"
    );
    drop(held);
    tokio::time::sleep(Duration::from_millis(300)).await;
    let resp = Client::new().get(format!("{}/me", r.base)).send().await?;
    assert_eq!(resp.status(), StatusCode::UNAUTHORIZED);
    Ok(())
}

#[tokio::test]
async fn api_answers_are_not_cached_and_no_hsts_without_tls() -> R {
    let r = relay().await?;
    r.user("carol", false, &[]).await?;
    let anon = Client::new().get(format!("{}/me", r.base)).send().await?;
    assert_eq!(anon.status(), StatusCode::UNAUTHORIZED);
    assert_eq!(
        anon.headers().get("cache-control").map(|v| v.as_bytes()),
        Some(&b"no-store"[..])
    );
    let c = client_from("127.0.0.1")?;
    let login = c
        .post(format!("{}/auth/login", r.base))
        .json(&json!({"username": "carol", "password": "pw-carol"}))
        .send()
        .await?;
    assert_eq!(login.status(), StatusCode::OK);
    assert_eq!(
        login.headers().get("cache-control").map(|v| v.as_bytes()),
        Some(&b"no-store"[..])
    );
    let me = c.get(format!("{}/me", r.base)).send().await?;
    assert_eq!(me.status(), StatusCode::OK);
    assert_eq!(
        me.headers().get("cache-control").map(|v| v.as_bytes()),
        Some(&b"no-store"[..])
    );
    assert!(me.headers().get("strict-transport-security").is_none());
    let cookie = login
        .headers()
        .get("set-cookie")
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default();
    assert!(cookie.starts_with("vigil_session="), "{cookie}");
    Ok(())
}

#[tokio::test]
async fn a_secure_cookie_is_host_prefixed_and_read_back_under_that_name() -> R {
    let r = relay_with(|c| c.public_origin = Some("https://vigil.example".into())).await?;
    r.user("dave", false, &[]).await?;
    let login = Client::new()
        .post(format!("{}/auth/login", r.base))
        .json(&json!({"username": "dave", "password": "pw-dave"}))
        .send()
        .await?;
    assert_eq!(login.status(), StatusCode::OK);
    let set = login
        .headers()
        .get("set-cookie")
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default()
        .to_string();
    assert!(set.starts_with("__Host-vigil_session="), "{set}");
    assert!(set.contains("; Secure") && set.contains("Path=/"), "{set}");
    assert!(!set.to_ascii_lowercase().contains("domain="), "{set}");
    let pair = set.split(';').next().unwrap_or_default().to_string();
    let token = pair.split_once('=').map(|(_, v)| v).unwrap_or_default();
    let me = |cookie: String| {
        Client::new()
            .get(format!("{}/me", r.base))
            .header("cookie", cookie)
            .send()
    };
    assert_eq!(me(pair.clone()).await?.status(), StatusCode::OK);
    assert_eq!(
        me(format!("vigil_session={token}")).await?.status(),
        StatusCode::UNAUTHORIZED,
        "the unprefixed name is not accepted when cookies are secure"
    );
    Ok(())
}

#[cfg(unix)]
#[tokio::test]
async fn data_is_private_and_a_loose_key_is_refused() -> R {
    use std::os::unix::fs::PermissionsExt;
    let r = relay().await?;
    let data = r.dir.path().join("data");
    let mode = |p: std::path::PathBuf| -> R<u32> {
        Ok(std::fs::metadata(p)?.permissions().mode() & 0o777)
    };
    assert_eq!(mode(data.clone())?, 0o700, "data dir");
    assert_eq!(mode(data.join("recordings"))?, 0o700, "recordings dir");
    assert_eq!(mode(data.join("vigil.db"))?, 0o600, "database");
    assert_eq!(mode(data.join("secret.key"))?, 0o600, "secret key");

    let dir = tempfile::tempdir()?;
    let config = Config::with_data_dir(dir.path().join("data"));
    std::fs::create_dir_all(&config.data_dir)?;
    let key = config.secret_key_path();
    std::fs::write(&key, [7u8; 32])?;
    std::fs::set_permissions(&key, std::fs::Permissions::from_mode(0o644))?;
    let err = match vigil_relay::app::start(config).await {
        Ok(_) => panic!("started with a world-readable secret.key"),
        Err(e) => format!("{e:#}"),
    };
    assert!(
        err.contains("secret.key") && err.contains("chmod 600"),
        "{err}"
    );
    Ok(())
}

#[tokio::test]
async fn hsts_and_host_cookie_under_tls() -> R {
    use tower::ServiceExt;
    let dir = tempfile::tempdir()?;
    let mut config = Config::with_data_dir(dir.path().join("data"));
    config.dist_dir = dir.path().join("dist");
    // Only `serve` reads these files; the router just knows TLS is on.
    config.tls = Some(vigil_relay::config::TlsFiles {
        cert: dir.path().join("cert.pem"),
        key: dir.path().join("key.pem"),
    });
    let audit_key = dir.path().join("audit.key");
    vigil_relay::audit::AuditKey::generate(&audit_key)?;
    config.audit_key_file = Some(audit_key);
    let state = vigil_relay::app::start(config).await?;
    let hash = auth::hash_password("pw-erin")?;
    store::users::create(&state.db, "erin", "erin", &hash, false, &[]).await?;
    let router = vigil_relay::router(state);
    let resp = router
        .clone()
        .oneshot(
            axum::http::Request::post("/api/v1/auth/login")
                .header("content-type", "application/json")
                .body(axum::body::Body::from(
                    r#"{"username":"erin","password":"pw-erin"}"#,
                ))?,
        )
        .await?;
    assert_eq!(resp.status(), StatusCode::OK);
    assert_eq!(
        resp.headers()
            .get("strict-transport-security")
            .map(|v| v.as_bytes()),
        Some(&b"max-age=31536000"[..])
    );
    let set = resp
        .headers()
        .get("set-cookie")
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default();
    assert!(
        set.starts_with("__Host-vigil_session=") && set.contains("; Secure"),
        "{set}"
    );
    let page = router
        .oneshot(axum::http::Request::get("/").body(axum::body::Body::empty())?)
        .await?;
    assert!(page.headers().contains_key("strict-transport-security"));
    Ok(())
}

#[tokio::test]
async fn a_stalled_body_is_cut_off_by_the_idle_timeout() -> R {
    let r = relay_with(|c| c.idle_timeout = Duration::from_secs(1)).await?;
    let mut s = TcpStream::connect(r.addr).await?;
    s.write_all(
        b"POST /api/v1/auth/login HTTP/1.1\r\nHost: relay\r\nContent-Type: application/json\r\nContent-Length: 100\r\n\r\n{\"user",
    )
    .await?;
    let started = Instant::now();
    assert!(closed_within(s, Duration::from_secs(5)).await.is_ok());
    assert!(started.elapsed() >= Duration::from_millis(900));
    Ok(())
}
