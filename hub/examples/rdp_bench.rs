//! Relay-side cost of desktop sessions, in a release build:
//! `cargo run --release -p vigil-hub --example rdp_bench -- [xrdp|shadow]…`
//!
//! For each server (started with `scripts/targets/start-<kind>.sh`, `top` on its
//! desktop): process CPU over 20 s with no session (baseline), then over 20 s of one
//! session with a user attached (acknowledging frames), then a late observer's time from
//! attach to its `DesktopSnapshot` at 10 s and 60 s into the session.

use std::path::PathBuf;
use std::process::Command;
use std::time::{Duration, Instant};

use tokio::sync::mpsc;
use vigil_hub::{
    Attachment, Hub, HubConfig, LaunchSpec, RdpCodec, RdpSize, RdpTarget, Secret, Target,
};
use vigil_wire::live::{ClientControl, ClientMsg, Participant, ServerMsg};

/// User + system CPU time of this process, from /proc/self/stat.
fn cpu_time() -> Duration {
    let stat = std::fs::read_to_string("/proc/self/stat").unwrap_or_default();
    let after = stat.rsplit_once(')').map_or("", |(_, s)| s);
    let fields: Vec<&str> = after.split_whitespace().collect();
    // Fields 14 and 15 of the file; after the `)` the state is index 0, so 11 and 12.
    let ticks: u64 = fields
        .get(11..13)
        .map_or(0, |f| f.iter().filter_map(|v| v.parse::<u64>().ok()).sum());
    Duration::from_millis(ticks * 10) // USER_HZ = 100
}

fn scripts() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../scripts/targets")
}

fn start(kind: &str, dir: &std::path::Path, port: u16) {
    let var = if kind == "xrdp" {
        "XRDP_PORT"
    } else {
        "SHADOW_PORT"
    };
    let out = Command::new(scripts().join(format!("start-{kind}.sh")))
        .env("VIGIL_TARGETS_DIR", dir)
        .env(var, port.to_string())
        .output()
        .expect("start script");
    assert!(out.status.success(), "start-{kind}.sh failed");
}

fn stop(kind: &str, dir: &std::path::Path) {
    let _ = Command::new(scripts().join(format!("stop-{kind}.sh")))
        .env("VIGIL_TARGETS_DIR", dir)
        .output();
}

/// Drains a user's queue, acknowledging frames as a browser would (without decoding).
fn user_loop(mut att: Attachment) {
    tokio::spawn(async move {
        while let Some(msg) = att.rx.recv().await {
            if let (
                ServerMsg::Graphics {
                    frame_end: Some(id),
                    ..
                },
                Some(input),
            ) = (&msg, &att.input)
            {
                let _ = input
                    .send(ClientMsg::Control(ClientControl::FrameDecoded {
                        frame_id: *id,
                    }))
                    .await;
            }
        }
    });
}

async fn observer_join(hub: &Hub, id: &str) -> Option<(Duration, usize)> {
    let attached = Instant::now();
    let mut att = hub.attach(id, Participant::Observer)?;
    let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
    while let Ok(Some(msg)) = tokio::time::timeout_at(deadline, att.rx.recv()).await {
        if let ServerMsg::DesktopSnapshot(z) = msg {
            return Some((attached.elapsed(), z.len()));
        }
    }
    None
}

async fn bench(kind: &'static str) {
    let dir = std::env::temp_dir().join(format!("vigil-rdp-bench-{}-{kind}", std::process::id()));
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .expect("port");
    start(kind, &dir, port);
    let rec = tempfile::tempdir().expect("tempdir");
    let (tx, mut lifecycle) = mpsc::unbounded_channel();
    tokio::spawn(async move { while lifecycle.recv().await.is_some() {} });
    let hub = Hub::new(HubConfig::new(rec.path().to_path_buf()), tx);

    let c0 = cpu_time();
    tokio::time::sleep(Duration::from_secs(20)).await;
    let idle = cpu_time().saturating_sub(c0);

    let id = format!("bench-{kind}");
    hub.launch(LaunchSpec {
        session_id: id.clone(),
        target: Target::Rdp(RdpTarget {
            host: "127.0.0.1".into(),
            port,
            username: "gwrdp".into(),
            password: Secret::new("gwrdp-Secret1"),
            domain: None,
            pinned_cert: None,
            codec: RdpCodec::RemoteFx,
            size: RdpSize::default(),
            keyboard_layout: Default::default(),
        }),
        cols: 80,
        rows: 24,
        title: "bench".into(),
    })
    .expect("launch");
    let started = Instant::now();
    user_loop(hub.attach(&id, Participant::User).expect("attach"));
    let c1 = cpu_time();
    tokio::time::sleep(Duration::from_secs(10)).await;
    let at10 = observer_join(&hub, &id).await;
    tokio::time::sleep(Duration::from_secs(20).saturating_sub(started.elapsed())).await;
    let busy = cpu_time().saturating_sub(c1);
    let window = started.elapsed();
    tokio::time::sleep(Duration::from_secs(60).saturating_sub(started.elapsed())).await;
    let at60 = observer_join(&hub, &id).await;
    let size = std::fs::metadata(hub.desktop_recording_path(&id)).map_or(0, |m| m.len());
    hub.shutdown().await;
    stop(kind, &dir);
    println!(
        "[{kind}] CPU: idle hub {:.1} ms/s; one RFX session with a user {:.1} ms/s over {:.1} s (= {:.2}% of a core, {:.2}% net of idle)",
        idle.as_secs_f64() * 1000.0 / 20.0,
        busy.as_secs_f64() * 1000.0 / window.as_secs_f64(),
        window.as_secs_f64(),
        busy.as_secs_f64() * 100.0 / window.as_secs_f64(),
        (busy.as_secs_f64() / window.as_secs_f64() - idle.as_secs_f64() / 20.0) * 100.0,
    );
    println!("[{kind}] late observer attach → DesktopSnapshot: at 10 s {at10:?}, at 60 s {at60:?} (time, compressed bytes); recording {size} bytes after {:.0} s", started.elapsed().as_secs_f64());
}

#[tokio::main(flavor = "multi_thread", worker_threads = 2)]
async fn main() {
    let kinds: Vec<String> = std::env::args().skip(1).collect();
    let kinds = if kinds.is_empty() {
        vec!["xrdp".into(), "shadow".into()]
    } else {
        kinds
    };
    for kind in kinds {
        match kind.as_str() {
            "xrdp" => bench("xrdp").await,
            "shadow" => bench("shadow").await,
            other => eprintln!("unknown server {other}"),
        }
    }
}
