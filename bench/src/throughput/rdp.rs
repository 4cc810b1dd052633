//! RDP fast-path forwarding: a fake RDP server (the testkit's, over TLS) sends the same
//! 64×64 uncompressed Surface Bits PDU again and again once the desktop is up, through the
//! relay's RDP leg to the user's WebSocket with one observer attached; beside it, the same
//! bytes from a plain TCP source through the splice.
//!
//! The relay always keeps its decoded copy of the screen (there is no switch to leave it
//! out, and none is added for a benchmark), and it reads its target again only once that
//! copy has caught up: forwarding and the copy's work alternate. So the round also reads
//! the relay's own timers of the copy (decode, peek, snapshots, thumbnails: histogram
//! sums at `/metrics`) over the timed span, and the forwarding figure is the bytes over
//! the span minus that work. The TLS of its RDP leg stays in; the splice has none.

use std::time::Instant;

use anyhow::{bail, Context, Result};
use tokio::io::AsyncWriteExt;
use vigil_bench::relay_kit::{next_msg, vigil, wait_control, Api, Ws};
use vigil_bench::scrape::{scrape, seconds_in, SCREEN_COPY_HISTOGRAMS};
use vigil_bench::throughput_kit::Rate;
use vigil_testkit::targets::fake_rdp::{self, Misbehaviour};
use vigil_wire::live::{ServerControl, ServerMsg};

use super::{splice, QUIET};

/// Desktop PDUs and their bytes read until `want` bytes of them arrived.
#[derive(Debug, Clone, Copy)]
pub struct Reading {
    pub bytes: u64,
    pub frames: u64,
    pub done: Instant,
}

async fn read_pdus(ws: &mut Ws, want: u64) -> Result<Reading> {
    let (mut bytes, mut frames) = (0u64, 0u64);
    while bytes < want {
        let msg = tokio::time::timeout(QUIET, next_msg(ws))
            .await
            .context("no desktop PDU for 30 s")??;
        match msg {
            ServerMsg::Graphics { pdu, .. } => {
                bytes += pdu.len() as u64;
                frames += 1;
            }
            ServerMsg::Control(ServerControl::Error { code, message }) => {
                bail!("{code}: {message}")
            }
            ServerMsg::Control(ServerControl::Ended { reason }) => bail!("ended: {reason}"),
            _ => {}
        }
    }
    Ok(Reading {
        bytes,
        frames,
        done: Instant::now(),
    })
}

/// The id of the asset called `name`.
async fn asset_named(api: &Api, name: &str) -> Result<i64> {
    let v: serde_json::Value = serde_json::from_slice(&api.get_bytes("assets").await?)?;
    v.as_array()
        .context("assets")?
        .iter()
        .find(|a| a["name"] == name)
        .and_then(|a| a["id"].as_i64())
        .with_context(|| format!("no asset {name}"))
}

/// One relay round's figures.
pub struct RelayRound {
    /// Everything, as the user received it.
    pub rate: Rate,
    /// The same bytes over the span minus the relay's screen-copy work in it.
    pub forwarding: Rate,
    /// Seconds of screen-copy work in the span.
    pub copy_seconds: f64,
    pub user: Reading,
    pub observer: Reading,
}

/// One round through the relay: a new fake (its own asset), the user and an observer
/// attached once the desktop is up, then the fake is cued and timed until the user has
/// every PDU.
pub async fn relay_round(
    api: &Api,
    data: &std::path::Path,
    metrics_url: &str,
    round: usize,
    pdus: u32,
) -> Result<RelayRound> {
    let (port, cue) = fake_rdp::serve_on_cue(Misbehaviour::Bulk { pdus }).await?;
    let name = format!("bench-rdp-{round}");
    let port_s = port.to_string();
    vigil(
        data,
        &[
            "asset",
            "add",
            &name,
            "--protocol",
            "rdp",
            "--host",
            "127.0.0.1",
            "--port",
            &port_s,
            "--account",
            "anyone",
            "--password-env",
            "BENCH_SECRET",
            "--rdp-codec",
            "remotefx",
        ],
        &[("BENCH_SECRET", "anything")],
    )?;
    let id = api.launch(asset_named(api, &name).await?).await?;
    let mut user = api.stream(&id).await?;
    wait_control(&mut user, |c| {
        matches!(c, ServerControl::DesktopActivated { .. })
    })
    .await?;
    let mut observer = api.stream(&id).await?;
    wait_control(&mut observer, |c| {
        matches!(c, ServerControl::Welcome { .. })
    })
    .await?;
    let want = u64::from(pdus) * fake_rdp::bulk_pdu().len() as u64;
    let watching = tokio::spawn(async move { read_pdus(&mut observer, want).await });
    let http = reqwest::Client::new();
    let copy0 = seconds_in(&scrape(&http, metrics_url).await?, &SCREEN_COPY_HISTOGRAMS);
    let t0 = Instant::now();
    cue.give();
    let r = read_pdus(&mut user, want).await?;
    let o = watching.await??;
    // The copy's work of this span: its jobs have all ended once the user has every PDU
    // (the target is read again only after each job), bar the last one's.
    let copy_seconds =
        seconds_in(&scrape(&http, metrics_url).await?, &SCREEN_COPY_HISTOGRAMS) - copy0;
    let elapsed = r.done - t0;
    let forwarding =
        elapsed.saturating_sub(std::time::Duration::from_secs_f64(copy_seconds.max(0.0)));
    Ok(RelayRound {
        rate: Rate {
            bytes: r.bytes,
            elapsed,
        },
        forwarding: Rate {
            bytes: r.bytes,
            elapsed: forwarding,
        },
        copy_seconds,
        user: r,
        observer: o,
    })
}

/// The same PDUs from a plain TCP source through the splice, one read per PDU at most.
pub async fn splice_round(pdus: u32) -> Result<(Rate, Reading)> {
    let pdu = fake_rdp::bulk_pdu();
    let want = u64::from(pdus) * pdu.len() as u64;
    let graphics = |pdu| ServerMsg::Graphics {
        frame_end: None,
        pdu,
    };
    let splice = splice::start(pdu.len(), graphics).await?;
    let (mut reader, _) =
        tokio_tungstenite::connect_async(format!("ws://127.0.0.1:{}/", splice.ws_port)).await?;
    let mut src = tokio::net::TcpStream::connect(("127.0.0.1", splice.tcp_port)).await?;
    let reading = tokio::spawn(async move { read_pdus(&mut reader, want).await });
    let t0 = Instant::now();
    for _ in 0..pdus {
        src.write_all(&pdu).await?;
    }
    src.flush().await?;
    let r = reading.await??;
    drop(src);
    splice.task.await??;
    Ok((
        Rate {
            bytes: r.bytes,
            elapsed: r.done - t0,
        },
        r,
    ))
}
