//! A flood against the relay's HTTP face: thousands of slowloris connections held open
//! while a burst of wrong passwords hits a real user's name from other addresses. The
//! attacking addresses end up locked out; the user, from their own address, still logs in.

use std::net::{Ipv4Addr, SocketAddr};
use std::time::{Duration, Instant};

use reqwest::StatusCode;
use serde_json::json;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpSocket, TcpStream};
use vigil_relay::throttle::{FREE_FAILURES, FREE_FAILURES_PER_ADDRESS};

use crate::support::{client_from, relay_with, Relay, R};

/// Slowloris connections held open, spread over `IDLE_SOURCES` addresses from 127.0.0.2.
const IDLE_CONNECTIONS: usize = 2000;
const IDLE_SOURCES: usize = 100;
/// Bad logins against the real user's name, spread over `ATTACKERS` addresses from
/// 127.0.1.2: ten each, so every address goes past its `FREE_FAILURES`.
const BAD_LOGINS: usize = 200;
const ATTACKERS: usize = 20;
// Each address goes past its pair's free failures, but not its own.
const _: () = assert!(BAD_LOGINS / ATTACKERS > FREE_FAILURES as usize);
const _: () = assert!(BAD_LOGINS / ATTACKERS < FREE_FAILURES_PER_ADDRESS as usize);
/// Both ends of every connection live in this process, plus some slack.
const FDS_NEEDED: u64 = 2 * (IDLE_CONNECTIONS + BAD_LOGINS) as u64 + 512;
/// Bounds: the real user's login, the whole flood, the relay's shutdown.
const LOGIN_BOUND: Duration = Duration::from_secs(30);
const FLOOD_BOUND: Duration = Duration::from_secs(45);
const STOP_BOUND: Duration = Duration::from_secs(10);
/// A request line and a header never finished.
const PARTIAL_HEADER: &[u8] = b"GET /api/v1/me HTTP/1.1\r\nHost: relay\r\nX-Slow: ";
const USER: &str = "alice";

/// Raises the soft limit on open files to the hard limit; returns the soft limit now.
#[cfg(unix)]
fn raise_fd_limit() -> R<u64> {
    use nix::sys::resource::{getrlimit, setrlimit, Resource, RLIM_INFINITY};
    let (soft, hard) = getrlimit(Resource::RLIMIT_NOFILE)?;
    // An unlimited hard limit still stops at the kernel's nr_open (2^20 by default).
    let want = if hard == RLIM_INFINITY { 1 << 20 } else { hard };
    if soft < want {
        if let Err(error) = setrlimit(Resource::RLIMIT_NOFILE, want, hard) {
            eprintln!("flood: cannot raise the open-file limit from {soft} to {want}: {error}");
        }
    }
    Ok(getrlimit(Resource::RLIMIT_NOFILE)?.0)
}

#[cfg(not(unix))]
fn raise_fd_limit() -> R<u64> {
    Ok(u64::MAX)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn slowloris_and_a_login_flood_leave_the_real_user_able_to_log_in() -> R {
    let fds = raise_fd_limit()?;
    assert!(
        fds >= FDS_NEEDED,
        "this test needs {FDS_NEEDED} open files, the limit is {fds} (ulimit -n)"
    );
    let r = relay_with(|c| {
        c.max_connections = 4096;
        c.header_timeout = Duration::from_secs(30);
        c.idle_timeout = Duration::from_secs(60);
    })
    .await?;
    r.user(USER, false, &[]).await?;
    // The flood's sockets and clients are dropped with its future, even on a timeout.
    let flooded = tokio::time::timeout(FLOOD_BOUND, flood(&r)).await;
    let stopped = r.stop(STOP_BOUND).await;
    let line = flooded.map_err(|_| "the flood did not finish within 45 s")??;
    stopped?;
    println!("{line}");
    Ok(())
}

/// Runs the flood and the real user's login; returns the line to print.
async fn flood(r: &Relay) -> R<String> {
    // Slowloris: connections that never finish their headers, each holding a slot.
    let mut held = Vec::with_capacity(IDLE_CONNECTIONS);
    for i in 0..IDLE_CONNECTIONS {
        let source = Ipv4Addr::new(127, 0, 0, u8::try_from(2 + i % IDLE_SOURCES)?);
        let socket = TcpSocket::new_v4()?;
        socket.bind(SocketAddr::new(source.into(), 0))?;
        let mut s = socket.connect(r.addr).await?;
        s.write_all(PARTIAL_HEADER).await?;
        held.push(s);
    }

    // The login flood, in parallel, against the real user's name.
    let url = format!("{}/auth/login", r.base);
    let attackers = (0..ATTACKERS)
        .map(|a| client_from(&format!("127.0.1.{}", 2 + a)))
        .collect::<R<Vec<_>>>()?;
    let guesses = (0..BAD_LOGINS).map(|i| {
        let a = i % ATTACKERS;
        let c = attackers[a].clone();
        let url = url.clone();
        async move {
            c.post(url)
                .json(&json!({"username": USER, "password": format!("guess-{i}")}))
                .send()
                .await
                .map(|resp| (a, resp.status()))
        }
    });
    let answers = futures_util::future::join_all(guesses).await;
    // Per attacking address: 401, 429, 503.
    let mut per_address = vec![[0usize; 3]; ATTACKERS];
    for answer in answers {
        let (a, status) = answer?;
        let slot = match status {
            StatusCode::UNAUTHORIZED => 0,
            StatusCode::TOO_MANY_REQUESTS => 1,
            StatusCode::SERVICE_UNAVAILABLE => 2,
            other => return Err(format!("a bad login was answered {other}").into()),
        };
        per_address[a][slot] += 1;
    }
    let total = |slot: usize| per_address.iter().map(|c| c[slot]).sum::<usize>();
    let (unauthorized, throttled, busy) = (total(0), total(1), total(2));
    assert!(
        per_address.iter().all(|c| c[0] <= FREE_FAILURES as usize),
        "no address checks more than {FREE_FAILURES} passwords: {per_address:?}"
    );

    // The real user, from their own address, while every slowloris connection is held.
    let user = client_from("127.0.0.1")?;
    let started = Instant::now();
    let resp = tokio::time::timeout(
        LOGIN_BOUND,
        user.post(&url)
            .json(&json!({"username": USER, "password": format!("pw-{USER}")}))
            .send(),
    )
    .await
    .map_err(|_| "the real user's login took over 30 s")??;
    let login_ms = started.elapsed().as_millis();
    assert_eq!(resp.status(), StatusCode::OK, "the real user logs in");
    let me = user.get(format!("{}/me", r.base)).send().await?;
    assert_eq!(me.status(), StatusCode::OK);

    // Every address that had five wrong passwords checked is locked out for this user.
    let locked: Vec<usize> = (0..ATTACKERS)
        .filter(|&a| per_address[a][0] >= FREE_FAILURES as usize)
        .collect();
    assert!(
        !locked.is_empty(),
        "no attacking address got {FREE_FAILURES} answers of 401: {per_address:?}"
    );
    for &a in &locked {
        let again = attackers[a]
            .post(&url)
            .json(&json!({"username": USER, "password": "one-more-guess"}))
            .send()
            .await?;
        assert_eq!(
            again.status(),
            StatusCode::TOO_MANY_REQUESTS,
            "127.0.1.{} after {:?}",
            2 + a,
            per_address[a]
        );
    }

    // The relay held every slowloris connection through all of it.
    let open = futures_util::future::join_all(held.iter_mut().map(still_open))
        .await
        .into_iter()
        .filter(|open| *open)
        .count();
    assert_eq!(open, IDLE_CONNECTIONS, "slowloris connections still open");

    Ok(format!(
        "flood: {open} idle connections held, {BAD_LOGINS} bad logins \
         ({unauthorized} 401, {throttled} 429, {busy} 503), \
         real user logged in after {login_ms} ms"
    ))
}

/// Whether the server has neither answered nor closed `s` (nothing to read for 200 ms).
async fn still_open(s: &mut TcpStream) -> bool {
    let mut buf = [0u8; 64];
    tokio::time::timeout(Duration::from_millis(200), s.read(&mut buf))
        .await
        .is_err()
}
