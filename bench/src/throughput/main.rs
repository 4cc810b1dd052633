//! `bench-throughput`: SSH bulk output through the relay, beside a bare TCP⇄WebSocket
//! splice of the same output from the same sshd, in the same run.
//!
//! The shell runs `head -c <N> /dev/zero | base64` and then prints an end marker; each
//! path is timed from the command's Enter until its reader has seen the marker, and its
//! rate is the terminal output it received (MB = 10^6 bytes) over that time.
//!
//! - **relay**: sshd → relay (russh, the session's core, the recorder, fan-out) →
//!   WebSocket to the user, with one observer attached; both read as fast as they can.
//! - **splice** (the baseline): sshd → a russh client → TCP → a task that copies each read
//!   into one output frame, unparsed → WebSocket to a reader like the user's. Its reads are
//!   capped at the relay's mean frame size in the same round, so both send as many frames.
//! - **direct** (context only): sshd → a russh client, no WebSocket.
//!
//! Both compared paths decrypt the SSH leg with the same russh and carry the bytes over a
//! loopback WebSocket from the same pty; what the relay adds over the splice is its own work.
//! Usage: `bench-throughput [--mib N] [--rounds N]` (defaults 4 and 3: N MiB of zeros, so
//! 4/3 of that in base64 lines). Rounds alternate the paths; each figure is the median.
//! The relay binary is `$VIGIL_BIN`, else `target/release/vigil`.

mod rdp;
mod splice;

use std::time::{Duration, Instant};

use anyhow::{bail, Context, Result};
use tokio::io::AsyncWriteExt;
use vigil_bench::relay_kit::{
    add_admin, add_ssh_asset, direct_pty_shell, free_port, next_msg, prompt_seen, send, serve,
    wait_control, wait_output, Api, Sshd, Trusting, Ws,
};
use vigil_bench::rows::{self, Baseline, Goal, Measure, Row, Unit};
use vigil_bench::throughput_kit::{bulk_command, EndMarker, Rate, Verdict, MARKER};
use vigil_wire::live::{ClientMsg, ServerControl, ServerMsg};

const ADMIN_PASSWORD: &str = "bench-Admin-1";
const GOAL: f64 = 0.9;
/// The longest wait for any one message.
const QUIET: Duration = Duration::from_secs(30);

struct Args {
    mib: u64,
    rounds: usize,
    pdus: u32,
}

fn args() -> Result<Args> {
    let mut out = Args {
        mib: 4,
        rounds: 3,
        pdus: 1000,
    };
    let mut it = std::env::args().skip(1);
    while let Some(a) = it.next() {
        let v = it.next().context("flag without a value")?;
        match a.as_str() {
            "--mib" => out.mib = v.parse()?,
            "--rounds" => out.rounds = v.parse()?,
            "--pdus" => out.pdus = v.parse()?,
            other => bail!("unknown flag {other}"),
        }
    }
    if out.rounds == 0 || out.mib == 0 {
        bail!("--mib and --rounds must be at least 1");
    }
    Ok(out)
}

/// What one reader received until the marker.
#[derive(Debug, Clone, Copy)]
struct Reading {
    bytes: u64,
    frames: u64,
    /// Snapshots instead of output: a viewer that lagged and was resynchronised.
    snapshots: u64,
    done: Instant,
}

/// Reads a session stream until the marker.
async fn read_ws(ws: &mut Ws) -> Result<Reading> {
    let mut end = EndMarker::new(MARKER);
    let (mut bytes, mut frames, mut snapshots) = (0u64, 0u64, 0u64);
    loop {
        let msg = tokio::time::timeout(QUIET, next_msg(ws))
            .await
            .context("no output for 30 s")??;
        let chunk = match msg {
            ServerMsg::Output(b) => b,
            ServerMsg::Snapshot(b) => {
                snapshots += 1;
                b
            }
            ServerMsg::Control(ServerControl::Error { code, message }) => {
                bail!("{code}: {message}")
            }
            ServerMsg::Control(ServerControl::Ended { reason }) => bail!("ended: {reason}"),
            _ => continue,
        };
        bytes += chunk.len() as u64;
        frames += 1;
        if end.feed(&chunk) {
            return Ok(Reading {
                bytes,
                frames,
                snapshots,
                done: Instant::now(),
            });
        }
    }
}

type Channel = russh::Channel<russh::client::Msg>;

/// A russh client's shell on the sshd, with the relay's pty (xterm-256color, 80×24),
/// at its first prompt.
async fn direct_shell(port: u16) -> Result<(russh::client::Handle<Trusting>, Channel)> {
    let (session, mut ch) = direct_pty_shell(port).await?;
    let mut seen = Vec::new();
    while !prompt_seen(&seen) {
        match tokio::time::timeout(QUIET, ch.wait()).await? {
            Some(russh::ChannelMsg::Data { data }) => seen.extend_from_slice(&data),
            Some(_) => {}
            None => bail!("direct channel closed"),
        }
    }
    Ok((session, ch))
}

/// Runs the command on `ch`, handing each piece of output to `out` until the marker.
async fn pump(ch: &mut Channel, cmd: &str, mut out: impl AsyncWriteExt + Unpin) -> Result<Reading> {
    let mut end = EndMarker::new(MARKER);
    let (mut bytes, mut frames) = (0u64, 0u64);
    ch.data(cmd.as_bytes()).await?;
    loop {
        match tokio::time::timeout(QUIET, ch.wait()).await? {
            Some(russh::ChannelMsg::Data { data }) => {
                out.write_all(&data).await?;
                bytes += data.len() as u64;
                frames += 1;
                if end.feed(&data) {
                    out.flush().await?;
                    return Ok(Reading {
                        bytes,
                        frames,
                        snapshots: 0,
                        done: Instant::now(),
                    });
                }
            }
            Some(_) => {}
            None => bail!("direct channel closed"),
        }
    }
}

/// sshd → russh client, nothing after it.
async fn direct_round(ssh_port: u16, cmd: &str) -> Result<(Rate, Reading)> {
    let (_session, mut ch) = direct_shell(ssh_port).await?;
    let t0 = Instant::now();
    let r = pump(&mut ch, cmd, tokio::io::sink()).await?;
    Ok((rate(&r, t0), r))
}

/// sshd → russh client → TCP → splice → WebSocket reader.
async fn splice_round(ssh_port: u16, cmd: &str, frame: usize) -> Result<(Rate, Reading)> {
    let (_session, mut ch) = direct_shell(ssh_port).await?;
    let splice = splice::start(frame, ServerMsg::Output).await?;
    let (mut reader, _) =
        tokio_tungstenite::connect_async(format!("ws://127.0.0.1:{}/", splice.ws_port)).await?;
    let mut src = tokio::net::TcpStream::connect(("127.0.0.1", splice.tcp_port)).await?;
    // The source hands on each piece as it comes, as the SSH server does.
    src.set_nodelay(true)?;
    let reading = tokio::spawn(async move { read_ws(&mut reader).await });
    let t0 = Instant::now();
    pump(&mut ch, cmd, &mut src).await?;
    let r = reading.await??;
    drop(src);
    splice.task.await??;
    Ok((rate(&r, t0), r))
}

/// A relay session's user and one observer, at the prompt.
async fn relay_session(api: &Api, asset: i64) -> Result<(Ws, Ws)> {
    let id = api.launch(asset).await?;
    let mut user = api.stream(&id).await?;
    wait_output(&mut user, prompt_seen).await?;
    let mut observer = api.stream(&id).await?;
    wait_control(&mut observer, |c| {
        matches!(c, ServerControl::Welcome { .. })
    })
    .await?;
    Ok((user, observer))
}

/// sshd → relay → the user's WebSocket, the observer's reading alongside; also the relay
/// process's CPU seconds (`pid`) while timed.
async fn relay_round(
    api: &Api,
    asset: i64,
    cmd: &str,
    pid: u32,
) -> Result<(Rate, Reading, Reading, f64)> {
    let (mut user, mut observer) = relay_session(api, asset).await?;
    let watching = tokio::spawn(async move { read_ws(&mut observer).await });
    let cpu0 = cpu_seconds(pid)?;
    let t0 = Instant::now();
    send(&mut user, ClientMsg::Input(cmd.as_bytes().to_vec())).await?;
    let r = read_ws(&mut user).await?;
    let cpu = cpu_seconds(pid)? - cpu0;
    let o = watching.await??;
    // Ends the session (an administrator may not terminate their own).
    send(&mut user, ClientMsg::Input(b"exit\r".to_vec())).await?;
    Ok((rate(&r, t0), r, o, cpu))
}

fn rate(r: &Reading, t0: Instant) -> Rate {
    Rate {
        bytes: r.bytes,
        elapsed: r.done - t0,
    }
}

/// The process's user and system CPU time so far, in seconds (`/proc/<pid>/stat`).
fn cpu_seconds(pid: u32) -> Result<f64> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat"))?;
    // Fields after the command name (which may hold spaces) start at the state, field 3.
    let rest = stat.rsplit_once(')').context("stat without a command")?.1;
    let fields: Vec<&str> = rest.split_whitespace().collect();
    let ticks: u64 = fields.get(11).context("utime")?.parse::<u64>()?
        + fields.get(12).context("stime")?.parse::<u64>()?;
    Ok(ticks as f64 / clock_ticks()?)
}

/// Clock ticks per second (`getconf CLK_TCK`).
fn clock_ticks() -> Result<f64> {
    let out = std::process::Command::new("getconf")
        .arg("CLK_TCK")
        .output()?;
    Ok(String::from_utf8(out.stdout)?.trim().parse()?)
}

fn median(mut v: Vec<Rate>) -> Rate {
    v.sort_by(|a, b| a.mb_per_s().total_cmp(&b.mb_per_s()));
    v[v.len() / 2]
}

/// The table of medians: per path, its rate, bytes and mean frame size.
fn table(rows: &[(&str, Rate, u64)]) {
    println!(
        "\n{:<44} {:>9} {:>11} {:>9}",
        "path (median of rounds)", "MB/s", "bytes", "B/frame"
    );
    for (path, r, frames) in rows {
        println!(
            "{:<44} {:>9.1} {:>11} {:>9.0}",
            path,
            r.mb_per_s(),
            r.bytes,
            r.bytes as f64 / (*frames).max(1) as f64
        );
    }
}

async fn rdp_section(
    args: &Args,
    api: &Api,
    data: &std::path::Path,
    metrics_url: &str,
) -> Result<()> {
    println!(
        "\n== RDP fast-path forwarding: {} PDUs of {} bytes (a 64×64 uncompressed tile), {} round(s) ==",
        args.pdus,
        vigil_testkit::targets::fake_rdp::bulk_pdu().len(),
        args.rounds
    );
    let (mut relay, mut forwarding, mut spliced) = (Vec::new(), Vec::new(), Vec::new());
    let (mut relay_frames, mut splice_frames, mut observer) = (0, 0, (0, 0));
    let mut copy_seconds = 0.0;
    for round in 0..args.rounds {
        let r = rdp::relay_round(api, data, metrics_url, round, args.pdus).await?;
        let (s, sr) = rdp::splice_round(args.pdus).await?;
        println!(
            "round {}: relay {:.1} MB/s, its forwarding (screen-copy work of {:.0} ms excluded) {:.1} MB/s, splice {:.1} MB/s",
            round + 1,
            r.rate.mb_per_s(),
            r.copy_seconds * 1e3,
            r.forwarding.mb_per_s(),
            s.mb_per_s()
        );
        relay_frames = r.user.frames;
        splice_frames = sr.frames;
        observer = (r.observer.bytes, r.observer.frames);
        copy_seconds += r.copy_seconds;
        relay.push(r.rate);
        forwarding.push(r.forwarding);
        spliced.push(s);
    }
    let relay_time: f64 = relay.iter().map(|r| r.elapsed.as_secs_f64()).sum();
    let (relay, forwarding, spliced) = (median(relay), median(forwarding), median(spliced));
    table(&[
        ("relay → user (+1 observer, recorded)", relay, relay_frames),
        (
            "  its forwarding, screen-copy work excluded",
            forwarding,
            relay_frames,
        ),
        ("splice: TCP → WebSocket (baseline)", spliced, splice_frames),
    ]);
    println!(
        "observer (last round): {} bytes in {} frames",
        observer.0, observer.1
    );
    println!(
        "the relay's screen-copy work (decode, peek, snapshots, thumbnails): {:.0}% of its time (all rounds)",
        100.0 * copy_seconds / relay_time.max(f64::MIN_POSITIVE)
    );
    println!(
        "relay (all) / splice: {:.2}×",
        Verdict::of(relay, spliced, GOAL).ratio
    );
    println!(
        "forwarding / splice: {}",
        Verdict::of(forwarding, spliced, GOAL).line()
    );
    rows::emit(&Row {
        measure: Measure::RdpThroughput,
        label: format!(
            "{} fast-path PDUs, user + observer, recorded, screen-copy work excluded",
            args.pdus
        ),
        value: forwarding.mb_per_s(),
        unit: Unit::MbPerS,
        baseline: Some(Baseline {
            label: "TCP → WebSocket splice".into(),
            value: spliced.mb_per_s(),
        }),
        goal: Goal::RatioAtLeast(GOAL),
    })
}

#[tokio::main]
async fn main() -> Result<()> {
    let args = args()?;
    let tmp = tempfile::tempdir()?;
    let data = tmp.path().join("data");
    let sshd = Sshd::start(&tmp.path().join("targets"))?;
    add_admin(&data, "bench", ADMIN_PASSWORD)?;
    add_ssh_asset(&data, "bench-ssh", sshd.port)?;
    let relay_port = free_port();
    // Every round's session is the one administrator's, and the last may still be ending.
    let cap = (2 * args.rounds + 2).to_string();
    let relay = serve(
        &data,
        relay_port,
        &[
            ("VIGIL_MAX_SESSIONS_PER_USER", &cap),
            ("VIGIL_MAX_LIVE_SESSIONS", &cap),
            // The relay's own timers of its screen copy (the RDP part reads them).
            ("VIGIL_METRICS_ENABLED", "true"),
        ],
    )?;
    let pid = relay.0.id();
    let api = Api::login(relay_port, "bench", ADMIN_PASSWORD).await?;
    let asset = api.asset_id().await?;
    let cmd = bulk_command(args.mib);

    println!(
        "== SSH bulk output: head -c {} MiB /dev/zero | base64, {} round(s), loopback ==",
        args.mib, args.rounds
    );
    let (mut relay, mut spliced, mut direct) = (Vec::new(), Vec::new(), Vec::new());
    let (mut relay_frames, mut splice_frames, mut direct_frames) = (0, 0, 0);
    let mut observer = (0u64, 0u64, 0u64);
    let (mut relay_cpu, mut relay_time) = (0.0, 0.0);
    for round in 0..args.rounds {
        let (r, user, obs, cpu) = relay_round(&api, asset, &cmd, pid).await?;
        relay_cpu += cpu;
        relay_time += r.elapsed.as_secs_f64();
        let frame = user.bytes.div_ceil(user.frames.max(1));
        let (s, sr) = splice_round(sshd.port, &cmd, usize::try_from(frame)?).await?;
        let (d, dr) = direct_round(sshd.port, &cmd).await?;
        println!(
            "round {}: relay {:.1} MB/s, splice {:.1} MB/s, direct {:.1} MB/s",
            round + 1,
            r.mb_per_s(),
            s.mb_per_s(),
            d.mb_per_s()
        );
        relay_frames = user.frames;
        splice_frames = sr.frames;
        direct_frames = dr.frames;
        observer = (obs.bytes, obs.frames, obs.snapshots);
        relay.push(r);
        spliced.push(s);
        direct.push(d);
    }
    let (relay, spliced, direct) = (median(relay), median(spliced), median(direct));
    table(&[
        ("relay → user (+1 observer, recorded)", relay, relay_frames),
        (
            "splice: russh → TCP → WebSocket (baseline)",
            spliced,
            splice_frames,
        ),
        ("direct: russh client only (context)", direct, direct_frames),
    ]);
    println!(
        "observer (last round): {} bytes in {} frames, {} resynchronised by snapshot",
        observer.0, observer.1, observer.2
    );
    println!(
        "relay process CPU while timed: {:.0}% of one core (all rounds)",
        100.0 * relay_cpu / relay_time.max(f64::MIN_POSITIVE)
    );
    println!(
        "relay / splice: {}",
        Verdict::of(relay, spliced, GOAL).line()
    );
    rows::emit(&Row {
        measure: Measure::SshThroughput,
        label: format!("{} MiB base64 output, user + observer, recorded", args.mib),
        value: relay.mb_per_s(),
        unit: Unit::MbPerS,
        baseline: Some(Baseline {
            label: "russh → TCP → WebSocket splice".into(),
            value: spliced.mb_per_s(),
        }),
        goal: Goal::RatioAtLeast(GOAL),
    })?;
    if args.pdus > 0 {
        let metrics_url = format!("http://127.0.0.1:{relay_port}/metrics");
        rdp_section(&args, &api, &data, &metrics_url).await?;
    }
    Ok(())
}
