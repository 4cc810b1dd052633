//! Sessions asked for 1920×1080 come up at that size, on both servers.

use std::time::{Duration, Instant};

use anyhow::{ensure, Context, Result};
use tokio::sync::mpsc;
use vigil_hub::{Hub, HubConfig, RdpCodec, RdpSize};
use vigil_wire::desktop::DesktopParams;
use vigil_wire::live::Participant;
use vigil_wire::recording::{Kind, Reader};

use crate::browser::*;
use crate::rdp_support::{pump_until, spec_at, Server, PASSWORD, XRDP_TURN};
use crate::sessions::*;

/// The `Params` records of a desktop recording, as (t_ms, width, height).
fn recorded_params(data: &[u8]) -> Result<Vec<(u32, u16, u16)>> {
    let mut reader = Reader::file(data)?;
    let mut out = Vec::new();
    while let Some(r) = reader.next_record()? {
        if r.kind == Kind::Params {
            let p: DesktopParams = serde_json::from_slice(r.payload)?;
            out.push((r.t_ms, p.width, p.height));
        }
    }
    Ok(out)
}

/// A session asked for `size` on the server at `port` comes up at `expect`: the user's
/// `DesktopActivated`, the decoded picture (not blank), a joiner's attachment and the
/// recording's `Params` all say so.
async fn sized_session(port: u16, label: &str, size: RdpSize, expect: (u16, u16)) -> Result<()> {
    let dir = tempfile::tempdir()?;
    let (tx, mut lifecycle) = mpsc::unbounded_channel();
    let hub = Hub::new(HubConfig::new(dir.path().to_path_buf()), tx);
    let id = format!("rdp-size-{label}");
    let started = Instant::now();
    hub.launch(spec_at(&id, port, PASSWORD, RdpCodec::RemoteFx, size))?;
    let mut user = FakeBrowser::new(hub.attach(&id, Participant::User).context("attach")?);
    let area = usize::from(expect.0) * usize::from(expect.1);
    // The desktop's background covers the screen once the session's X clients are up.
    let shown = pump_until(&mut [&mut user], Duration::from_secs(30), |b| {
        b[0].ended.is_some() || lit(b[0].rgba()) > area / 2
    })
    .await?;
    ensure!(
        shown && user.ended.is_none(),
        "[{label}] no desktop: {:?} {:?}; activations {:?}, {} lit pixels",
        user.error,
        user.ended,
        user.sizes,
        lit(user.rgba())
    );
    let screen = user.screen.as_ref().context("no screen")?;
    println!(
        "[{label}] asked {size}: activations {:?}, picture {}x{} with {} lit pixels after {} ms",
        user.sizes,
        screen.width(),
        screen.height(),
        lit(user.rgba()),
        started.elapsed().as_millis()
    );
    ensure!(
        user.sizes.last() == Some(&expect),
        "[{label}] activated at {:?}, not {expect:?}",
        user.sizes
    );
    ensure!(
        (screen.width(), screen.height()) == expect && screen.errors() == 0,
        "[{label}] the user's decoder is {}x{} with {} errors",
        screen.width(),
        screen.height(),
        screen.errors()
    );
    let observer = hub
        .attach(&id, Participant::Observer)
        .context("attach observer")?;
    ensure!(
        (observer.cols, observer.rows) == expect,
        "[{label}] a joiner is told {}x{}",
        observer.cols,
        observer.rows
    );
    drop(observer);
    hub.terminate(&id, "size checked".into())?;
    wait_lifecycle_end(&mut lifecycle, &id).await?;
    let data = std::fs::read(hub.desktop_recording_path(&id))?;
    let params = recorded_params(&data)?;
    ensure!(
        params.last().map(|p| (p.1, p.2)) == Some(expect),
        "[{label}] the recording's Params: {params:?}"
    );
    hub.shutdown().await;
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn xrdp_session_at_1920x1080() -> Result<()> {
    let _turn = XRDP_TURN.lock().await;
    let server = Server::start("xrdp");
    let size = RdpSize::new(1920, 1080)?;
    sized_session(server.port, "xrdp-1080p", size, (1920, 1080)).await
}

/// freerdp-shadow shares its own screen: asked 1920×1080 on a 1920×1080 display it gives
/// that, and asked the default size it still gives its own (the server's answer wins).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn shadow_session_at_1920x1080() -> Result<()> {
    let server = Server::start_with("shadow", &[("SHADOW_GEOMETRY", "1920x1080")]);
    let size = RdpSize::new(1920, 1080)?;
    sized_session(server.port, "shadow-1080p", size, (1920, 1080)).await?;
    sized_session(
        server.port,
        "shadow-asked-default",
        RdpSize::default(),
        (1920, 1080),
    )
    .await
}
