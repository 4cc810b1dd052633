//! A `/live` client that stops reading is dropped by the relay once one message has
//! waited `feed_send_timeout` to be accepted, while other feeds keep receiving.
//!
//! The stalled client is a raw TCP socket with a small receive buffer that performs the
//! WebSocket handshake and then never reads. Feed traffic is one session's changes,
//! announced through `AppState::notify` (what Lock, Unlock and the lifecycle do), paced
//! by a healthy feed that must see every one of them. The session's asset has a 16 KiB
//! name, so that each change is a 16 KiB message: on loopback the kernel grows the
//! relay's send buffer to megabytes, which a few hundred such changes fill (a few
//! thousand changes of ordinary size did not, in a minute). Whether the relay still holds its
//! end of the stalled connection is read from `/proc/net/tcp` (Linux): a socket the relay
//! closed while data was still queued for the peer is orphaned (inode 0) or gone.

#![cfg(target_os = "linux")]

use std::time::{Duration, Instant};

use futures_util::StreamExt;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio_tungstenite::tungstenite::client::IntoClientRequest;
use tokio_tungstenite::tungstenite::http::HeaderValue;
use tokio_tungstenite::tungstenite::Message;
use vigil_relay::auth;
use vigil_relay::store::{self, now_ms, sessions::NewSession};
use vigil_wire::api::{Protocol, SessionKind};
use vigil_wire::codec::Frame;
use vigil_wire::live::FeedMsg;

use crate::support::{self, Relay, R};

const SEND_TIMEOUT: Duration = Duration::from_secs(1);

/// Logs `name` in; returns the session cookie (`name=value`).
async fn login_cookie(r: &Relay, name: &str) -> R<String> {
    Ok(support::login_with_cookie_at(&r.base, name).await?.2)
}

/// The relay's side of the connection from client port `client`: `Some((inode, tx_queue))`
/// while a socket of that connection exists, inode 0 once nobody owns it.
fn relay_side(relay: u16, client: u16) -> R<Option<(u64, u64)>> {
    let table = std::fs::read_to_string("/proc/net/tcp")?;
    let port =
        |addr: &str| -> Option<u16> { u16::from_str_radix(addr.split(':').nth(1)?, 16).ok() };
    for line in table.lines().skip(1) {
        let f: Vec<&str> = line.split_whitespace().collect();
        if f.len() < 10 || port(f[1]) != Some(relay) || port(f[2]) != Some(client) {
            continue;
        }
        let tx_queue = f[4]
            .split(':')
            .next()
            .and_then(|q| u64::from_str_radix(q, 16).ok())
            .unwrap_or(0);
        return Ok(Some((f[9].parse()?, tx_queue)));
    }
    Ok(None)
}

/// Opens `/live` on a socket with a small receive buffer and returns it once upgraded,
/// with its local port. The caller then never reads from it (until it says so).
async fn stalled_feed(r: &Relay, cookie: &str) -> R<(tokio::net::TcpStream, u16)> {
    let socket = tokio::net::TcpSocket::new_v4()?;
    socket.set_recv_buffer_size(4096)?;
    let mut stream = socket.connect(r.addr).await?;
    let port = stream.local_addr()?.port();
    let request = format!(
        "GET /api/v1/live HTTP/1.1\r\nHost: {addr}\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\
         Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\
         Origin: http://{addr}\r\nCookie: {cookie}\r\n\r\n",
        addr = r.addr
    );
    stream.write_all(request.as_bytes()).await?;
    // Read the response head only, a byte at a time, so nothing of the feed is consumed
    // beyond it.
    let mut head = Vec::new();
    while !head.ends_with(b"\r\n\r\n") {
        let mut byte = [0u8; 1];
        if stream.read(&mut byte).await? == 0 {
            return Err("closed during the handshake".into());
        }
        head.push(byte[0]);
    }
    let head = String::from_utf8_lossy(&head);
    assert!(head.starts_with("HTTP/1.1 101"), "{head}");
    Ok((stream, port))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_stalled_live_feed_is_dropped_while_others_keep_receiving() -> R {
    let r = support::start(tempfile::tempdir()?, |c| c.feed_send_timeout = SEND_TIMEOUT).await?;
    let db = &r.state.db;
    r.user("root", true, &[]).await?;
    let alice = r.user("alice", false, &[]).await?;
    let name = format!("web-{}", "x".repeat(16 * 1024));
    let web = r.asset(&name, Protocol::Ssh).await?;
    let id = auth::new_session_id();
    store::sessions::insert(
        db,
        NewSession {
            id: &id,
            user_id: alice,
            asset_id: web,
            kind: SessionKind::Isa,
            request_id: None,
            started_at: now_ms(),
            cols: 80,
            rows: 24,
        },
    )
    .await?;
    let cookie = login_cookie(&r, "root").await?;

    let mut req = format!("ws://{}/api/v1/live", r.addr).into_client_request()?;
    req.headers_mut().insert(
        "origin",
        HeaderValue::from_str(&format!("http://{}", r.addr))?,
    );
    req.headers_mut()
        .insert("cookie", HeaderValue::from_str(&cookie)?);
    let (mut healthy, _) = tokio_tungstenite::connect_async(req).await?;
    let (mut stalled, client_port) = stalled_feed(&r, &cookie).await?;
    let relay_port = r.addr.port();
    assert!(
        matches!(relay_side(relay_port, client_port)?, Some((inode, _)) if inode != 0),
        "the relay holds the stalled feed's socket"
    );

    // The healthy feed's next Upsert of the session.
    let mut next_upsert = async || -> R {
        loop {
            let msg = tokio::time::timeout(Duration::from_secs(5), healthy.next())
                .await?
                .ok_or("healthy feed ended")??;
            let frame = match msg {
                Message::Text(t) => Frame::Text(t.to_string()),
                Message::Binary(b) => Frame::Binary(b.to_vec()),
                _ => continue,
            };
            if let FeedMsg::Upsert { session } = FeedMsg::decode(&frame)? {
                assert_eq!(session.id, id);
                return Ok(());
            }
        }
    };

    // Changes until the relay has let go of the stalled feed, each one seen by the
    // healthy feed. Every change is an Upsert of about 16 KiB to both.
    let started = Instant::now();
    let bound = Duration::from_secs(60);
    let (mut changes, mut most_queued) = (0u64, 0u64);
    let dropped_after = loop {
        r.state.notify(&id);
        next_upsert().await?;
        changes += 1;
        match relay_side(relay_port, client_port)? {
            Some((0, _)) | None => break started.elapsed(),
            Some((_, queued)) => most_queued = most_queued.max(queued),
        }
        assert!(
            started.elapsed() < bound,
            "the relay still holds the stalled feed after {bound:?} and {changes} changes \
             ({most_queued} bytes queued at most)"
        );
    };
    eprintln!(
        "stalled feed dropped {dropped_after:?} after the first change, {changes} changes, \
         up to {most_queued} bytes queued to it"
    );
    assert!(
        most_queued > 4096,
        "the relay's send queue filled ({most_queued} bytes)"
    );
    // Monitoring sees it (the counter is the process's: this drop at least).
    let text = vigil_relay::metrics::render(&r.state);
    let stalls = text
        .lines()
        .find_map(|l| l.strip_prefix("vigil_feed_stalls_total "))
        .and_then(|v| v.trim().parse::<f64>().ok());
    assert!(stalls.is_some_and(|n| n >= 1.0), "{text}");
    // The healthy feed still gets changes afterwards.
    for _ in 0..3 {
        r.state.notify(&id);
        next_upsert().await?;
    }
    // The stalled client, reading at last, gets what was already queued and then the
    // end of the connection, not a feed that goes on.
    let mut buf = vec![0u8; 64 * 1024];
    let mut drained = 0usize;
    let ended = tokio::time::timeout(Duration::from_secs(10), async {
        loop {
            match stalled.read(&mut buf).await {
                Ok(0) | Err(_) => return,
                Ok(n) => drained += n,
            }
        }
    })
    .await;
    assert!(
        ended.is_ok(),
        "the stalled feed's connection is still open after its client drained {drained} bytes"
    );
    Ok(())
}
