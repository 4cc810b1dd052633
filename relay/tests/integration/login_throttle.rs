//! The login throttle's state is in the database: a lockout outlives the relay that
//! counted it, holds on every relay sharing the database, is never exceeded by parallel
//! guesses spread over two relays, and is stored as hashes only.

use std::net::IpAddr;
use std::time::Duration;

use reqwest::{Client, StatusCode};
use serde_json::json;
use vigil_relay::throttle::FREE_FAILURES;

use crate::support::{self, Relay, R};

const STOP_BOUND: Duration = Duration::from_secs(10);

/// A client whose connections come from `ip` (any 127.x.y.z works on loopback).
fn client_from(ip: &str) -> R<Client> {
    let ip: IpAddr = ip.parse()?;
    Ok(Client::builder().local_address(ip).build()?)
}

async fn login(r: &Relay, c: &Client, user: &str, password: &str) -> R<reqwest::Response> {
    Ok(c.post(format!("{}/auth/login", r.base))
        .json(&json!({"username": user, "password": password}))
        .send()
        .await?)
}

async fn status(r: &Relay, c: &Client, user: &str, password: &str) -> R<StatusCode> {
    Ok(login(r, c, user, password).await?.status())
}

#[tokio::test]
async fn a_lockout_survives_a_restart() -> R {
    let r = support::start(tempfile::tempdir()?, |_| {}).await?;
    r.user("bob", false, &[]).await?;
    let attacker = client_from("127.0.0.1")?;
    for _ in 0..FREE_FAILURES {
        assert_eq!(
            status(&r, &attacker, "bob", "wrong").await?,
            StatusCode::UNAUTHORIZED
        );
    }
    let dir = r.stop_keeping_dir(STOP_BOUND).await?;

    let r = support::start(dir, |_| {}).await?;
    let locked = login(&r, &attacker, "bob", "pw-bob").await?;
    assert_eq!(locked.status(), StatusCode::TOO_MANY_REQUESTS);
    let retry: u64 = locked
        .headers()
        .get("retry-after")
        .ok_or("no Retry-After")?
        .to_str()?
        .parse()?;
    assert!((1..=30).contains(&retry), "Retry-After {retry}");
    // Only the pair is locked out: bob from elsewhere gets in.
    let bob = client_from("127.0.0.2")?;
    assert_eq!(status(&r, &bob, "bob", "pw-bob").await?, StatusCode::OK);
    r.stop(STOP_BOUND).await
}

/// Two relays on one data directory (one database file, one `secret.key`), like two
/// relays behind a load balancer sharing a database. 50 parallel wrong passwords for one
/// pair, alternating between them: five are checked (401), the rest refused (429).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_relays_share_one_lockout_and_parallel_guesses_never_exceed_it() -> R {
    let a = support::start(tempfile::tempdir()?, |_| {}).await?;
    let data_dir = a.state.config.data_dir.clone();
    let b = support::start(tempfile::tempdir()?, |c| c.data_dir = data_dir).await?;
    a.user("carol", false, &[]).await?;
    let attacker = client_from("127.0.0.3")?;
    let guesses = (0..50).map(|i| {
        let relay = if i % 2 == 0 { &a } else { &b };
        let attacker = attacker.clone();
        async move { status(relay, &attacker, "carol", &format!("guess-{i}")).await }
    });
    let mut per_status = std::collections::BTreeMap::new();
    for s in futures_util::future::join_all(guesses).await {
        *per_status.entry(s?.as_u16()).or_insert(0usize) += 1;
    }
    assert_eq!(
        per_status,
        [
            (401, FREE_FAILURES as usize),
            (429, 50 - FREE_FAILURES as usize)
        ]
        .into(),
        "only the free attempts reach Argon2"
    );
    // Both relays refuse the pair, even with the right password.
    for relay in [&a, &b] {
        assert_eq!(
            status(relay, &attacker, "carol", "pw-carol").await?,
            StatusCode::TOO_MANY_REQUESTS
        );
    }
    // Carol from her own address gets in through either.
    let carol = client_from("127.0.0.4")?;
    assert_eq!(
        status(&b, &carol, "carol", "pw-carol").await?,
        StatusCode::OK
    );
    assert_eq!(
        status(&a, &carol, "carol", "pw-carol").await?,
        StatusCode::OK
    );

    // What the throttle stored names neither the user nor the address.
    let stored: Vec<(String, String, i64)> =
        sqlx::query_as("SELECT key_hash, kind, failures FROM login_throttle")
            .fetch_all(&a.state.db)
            .await?;
    assert!(
        stored.iter().any(|(_, kind, n)| kind == "pair" && *n >= 5),
        "{stored:?}"
    );
    let dump = format!("{stored:?}").to_lowercase();
    assert!(
        !dump.contains("carol") && !dump.contains("127.0.0"),
        "{dump}"
    );
    for (hash, ..) in &stored {
        assert!(hash.len() == 32 && hash.chars().all(|c| c.is_ascii_hexdigit()));
    }
    b.stop(STOP_BOUND).await?;
    a.stop(STOP_BOUND).await
}
