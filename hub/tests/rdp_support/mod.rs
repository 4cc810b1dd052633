//! Shared by the hub's RDP integration tests: the project's RDP servers (started by
//! `scripts/targets/start-*.sh`, stopped on drop), launch specs, snapshot splitting, and
//! pumping simulated browsers.
#![allow(dead_code)] // Each test binary uses its own part.

use std::io::Read as _;
use std::time::{Duration, Instant};

use anyhow::{ensure, Result};
use vigil_hub::{Attachment, LaunchSpec, RdpCodec, RdpSize, RdpTarget, Secret, Target};
use vigil_wire::live::ServerMsg;

pub use vigil_testkit::targets::rdp::StartedRdp as Server;
pub use vigil_testkit::targets::{RDP_ACCOUNT as USER, RDP_PASSWORD as PASSWORD};

/// xrdp finds its session manager on a fixed port (3350), so every xrdp started on this
/// machine shares the first one's, and stopping that server kills the others' sessions:
/// tests that start xrdp take turns.
pub static XRDP_TURN: tokio::sync::Mutex<()> = tokio::sync::Mutex::const_new(());

pub fn spec(id: &str, server: &Server, password: &str, codec: RdpCodec) -> LaunchSpec {
    spec_at(id, server.port, password, codec, RdpSize::default())
}

pub fn spec_at(id: &str, port: u16, password: &str, codec: RdpCodec, size: RdpSize) -> LaunchSpec {
    LaunchSpec {
        session_id: id.into(),
        target: Target::Rdp(RdpTarget {
            host: "127.0.0.1".into(),
            port,
            username: USER.into(),
            password: Secret::new(password),
            domain: None,
            pinned_cert: None,
            codec,
            size,
            keyboard_layout: Default::default(),
        }),
        cols: 80,
        rows: 24,
        title: format!("test@{id}"),
    }
}

/// The fast-path PDUs of a `DesktopSnapshot` payload.
pub fn snapshot_pdus(z: &[u8]) -> Result<Vec<Vec<u8>>> {
    let mut raw = Vec::new();
    flate2::read::ZlibDecoder::new(z).read_to_end(&mut raw)?;
    let mut pdus = Vec::new();
    let mut rest = &raw[..];
    while !rest.is_empty() {
        ensure!(rest.len() >= 2, "truncated snapshot");
        let len = if rest[1] & 0x80 != 0 {
            ensure!(rest.len() >= 3, "truncated snapshot");
            (usize::from(rest[1] & 0x7f) << 8) | usize::from(rest[2])
        } else {
            usize::from(rest[1])
        };
        ensure!(len > 0 && len <= rest.len(), "bad PDU length in snapshot");
        pdus.push(rest[..len].to_vec());
        rest = &rest[len..];
    }
    Ok(pdus)
}

/// A simulated browser: an attachment whose messages the tests handle.
#[allow(async_fn_in_trait)] // Test-only; never used across threads.
pub trait Pumped {
    fn attachment(&mut self) -> &mut Attachment;
    async fn handle(&mut self, msg: ServerMsg) -> Result<()>;
}

/// Pumps every viewer for `dur`.
pub async fn pump<V: Pumped>(viewers: &mut [&mut V], dur: Duration) -> Result<()> {
    let deadline = tokio::time::Instant::now() + dur;
    loop {
        let mut any = false;
        for v in viewers.iter_mut() {
            while let Ok(msg) = v.attachment().rx.try_recv() {
                v.handle(msg).await?;
                any = true;
            }
        }
        if tokio::time::Instant::now() >= deadline {
            return Ok(());
        }
        if !any {
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
    }
}

/// Pumps until `cond` holds (or `limit` passes); whether it held.
pub async fn pump_until<V: Pumped>(
    viewers: &mut [&mut V],
    limit: Duration,
    cond: impl Fn(&[&mut V]) -> bool,
) -> Result<bool> {
    let deadline = Instant::now() + limit;
    while Instant::now() < deadline {
        pump(viewers, Duration::from_millis(50)).await?;
        if cond(viewers) {
            return Ok(true);
        }
    }
    Ok(false)
}
