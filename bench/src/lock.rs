//! `bench-lock`: how soon a lock acts, timed inside the relay, over N locks of one SSH
//! session whose user keeps typing (a key every `--every-ms`, so there is input to drop).
//!
//! The relay times each lock from the instant its request entered the relay
//! (`vigil_hub::lock_timing`): the gate closed, the first input dropped after it, the
//! `Locked` notice written to the user's socket. It logs each figure as a JSON line on
//! target `vigil::lock`, read here (exact per lock; `/metrics` has the same figures as
//! bucketed histograms). Beside them: what the clients saw (the `Locked` notice received,
//! the lock's HTTP answer) and, for scale, the keystroke round trip of the same run.
//!
//! It starts its own sshd (the project's script) and relay on loopback, and stops both.
//! Usage: `bench-lock [--locks N] [--keys N] [--every-ms N]` (defaults 100, 200 and 1).
//! The relay binary is `$VIGIL_BIN`, else `target/release/vigil`.

use std::io::BufRead as _;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use anyhow::{bail, Context, Result};
use futures_util::{SinkExt, StreamExt};
use tokio::sync::mpsc;
use tokio_tungstenite::tungstenite::Message;
use vigil_bench::relay_kit::{
    add_admin, add_ssh_asset, free_port, keystroke_round_trips, percentile, prompt_seen,
    serve_logging_json, wait_output, Api, Sshd, Ws,
};
use vigil_bench::rows::{self, Goal, Measure, Row, Unit};
use vigil_hub::lock_timing::{LockStage, LOG_TARGET};
use vigil_wire::codec::Frame;
use vigil_wire::live::{ClientMsg, ServerControl, ServerMsg};

const ADMIN_PASSWORD: &str = "bench-Admin-1";
/// Locks and unlocks "bench"'s session (nobody controls their own session).
const MONITOR: &str = "bench-monitor";
/// The goal for lock request → first input dropped, p99.
const FIRST_DROP_GOAL: Duration = Duration::from_millis(20);
/// How long each lock is held while the user types on.
const HOLD: Duration = Duration::from_millis(30);

struct Args {
    locks: usize,
    keys: usize,
    every: Duration,
}

fn args() -> Result<Args> {
    let mut out = Args {
        locks: 100,
        keys: 200,
        every: Duration::from_millis(1),
    };
    let mut it = std::env::args().skip(1);
    while let Some(a) = it.next() {
        let v = it.next().context("flag without a value")?;
        match a.as_str() {
            "--locks" => out.locks = v.parse()?,
            "--keys" => out.keys = v.parse()?,
            "--every-ms" => out.every = Duration::from_millis(v.parse()?),
            other => bail!("unknown flag {other}"),
        }
    }
    if out.locks == 0 || out.keys == 0 || out.every.is_zero() {
        bail!("--locks, --keys and --every-ms must be at least 1");
    }
    Ok(out)
}

/// One `vigil::lock` line of the relay's JSON log (`flatten_event`: fields at the top).
#[derive(serde::Deserialize)]
struct LockLine {
    target: String,
    stage: LockStage,
    micros: u64,
}

/// The relay's lock figures, by stage, in the order they were logged.
#[derive(Default)]
struct Figures {
    applied: Vec<Duration>,
    first_drop: Vec<Duration>,
    notice: Vec<Duration>,
}

impl Figures {
    fn push(&mut self, line: &LockLine) {
        let took = Duration::from_micros(line.micros);
        match line.stage {
            LockStage::Applied => self.applied.push(took),
            LockStage::FirstDrop => self.first_drop.push(took),
            LockStage::Notice => self.notice.push(took),
        }
    }
}

/// Reads the relay's stderr: lock lines into the figures, every other line to our stderr.
fn read_log(stderr: std::process::ChildStderr, figures: Arc<Mutex<Figures>>) {
    std::thread::spawn(move || {
        for line in std::io::BufReader::new(stderr).lines() {
            let Ok(line) = line else { break };
            match serde_json::from_str::<LockLine>(&line) {
                Ok(lock) if lock.target == LOG_TARGET => {
                    if let Ok(mut f) = figures.lock() {
                        f.push(&lock);
                    }
                }
                _ => eprintln!("{line}"),
            }
        }
    });
}

/// p50 and p99; `None` without samples.
fn summary(v: &[Duration]) -> Option<(Duration, Duration)> {
    let mut v = v.to_vec();
    v.sort();
    (!v.is_empty()).then(|| (percentile(&v, 0.5), percentile(&v, 0.99)))
}

fn ms(d: Duration) -> f64 {
    d.as_secs_f64() * 1000.0
}

/// The lock state the user's stream announced.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Told {
    Locked,
    Unlocked,
}

fn encode(msg: &ClientMsg) -> Message {
    match msg.encode() {
        Frame::Text(t) => Message::text(t),
        Frame::Binary(b) => Message::binary(b),
    }
}

/// Waits up to 15 s for the user's stream to announce `want`, with the instant it came.
async fn told(rx: &mut mpsc::UnboundedReceiver<(Told, Instant)>, want: Told) -> Result<Instant> {
    loop {
        match tokio::time::timeout(Duration::from_secs(15), rx.recv()).await? {
            Some((t, at)) if t == want => return Ok(at),
            Some(_) => {}
            None => bail!("the user's stream closed"),
        }
    }
}

/// Client-side figures of the locks: `Locked` received, and the lock's HTTP answer.
struct Seen {
    notice: Vec<Duration>,
    answered: Vec<Duration>,
}

/// `locks` locks of session `id`, each held for [`HOLD`], while the user types a key every
/// `every` (an `x`, then a delete, and so on).
async fn locks(monitor: &Api, id: &str, user: Ws, locks: usize, every: Duration) -> Result<Seen> {
    let (mut sink, mut stream) = user.split();
    let (tx, mut rx) = mpsc::unbounded_channel();
    let reader = tokio::spawn(async move {
        while let Some(m) = stream.next().await {
            let Ok(m) = m else { break };
            let frame = match m {
                Message::Text(t) => Frame::Text(t.to_string()),
                Message::Binary(b) => Frame::Binary(b.to_vec()),
                Message::Close(_) => break,
                _ => continue,
            };
            let at = Instant::now();
            let told = match ServerMsg::decode(&frame) {
                Ok(ServerMsg::Control(ServerControl::Locked { .. })) => Told::Locked,
                Ok(ServerMsg::Control(ServerControl::Unlocked)) => Told::Unlocked,
                Ok(ServerMsg::Control(ServerControl::Ended { .. })) | Err(_) => break,
                Ok(_) => continue,
            };
            if tx.send((told, at)).is_err() {
                break;
            }
        }
    });
    let typist = tokio::spawn(async move {
        let mut tick = tokio::time::interval(every);
        tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Skip);
        for n in 0u64.. {
            tick.tick().await;
            let key = if n % 2 == 0 {
                b"x".to_vec()
            } else {
                vec![0x7f]
            };
            if sink.send(encode(&ClientMsg::Input(key))).await.is_err() {
                break;
            }
        }
    });
    let mut seen = Seen {
        notice: Vec::with_capacity(locks),
        answered: Vec::with_capacity(locks),
    };
    let outcome: Result<()> = async {
        for _ in 0..locks {
            let t = Instant::now();
            let lock = async {
                monitor
                    .post(&format!("sessions/{id}/lock"), serde_json::json!({}))
                    .await?;
                Ok::<_, anyhow::Error>(t.elapsed())
            };
            let (answered, notice) = tokio::join!(lock, told(&mut rx, Told::Locked));
            seen.answered.push(answered?);
            seen.notice.push(notice?.saturating_duration_since(t));
            tokio::time::sleep(HOLD).await;
            monitor
                .post(&format!("sessions/{id}/unlock"), serde_json::json!({}))
                .await?;
            told(&mut rx, Told::Unlocked).await?;
            // Typed on between locks, so the next lock finds input under way.
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
        Ok(())
    }
    .await;
    typist.abort();
    reader.abort();
    outcome.map(|()| seen)
}

#[tokio::main]
async fn main() -> Result<()> {
    let args = args()?;
    let tmp = tempfile::tempdir()?;
    let data = tmp.path().join("data");
    let sshd = Sshd::start(&tmp.path().join("targets"))?;
    add_admin(&data, "bench", ADMIN_PASSWORD)?;
    add_admin(&data, MONITOR, ADMIN_PASSWORD)?;
    add_ssh_asset(&data, "bench-ssh", sshd.port)?;
    let port = free_port();
    let log = format!("warn,{LOG_TARGET}=debug");
    let (relay, stderr) = serve_logging_json(&data, port, &log, &[])?;
    let figures = Arc::new(Mutex::new(Figures::default()));
    read_log(stderr, figures.clone());

    let api = Api::login(port, "bench", ADMIN_PASSWORD).await?;
    let monitor = Api::login(port, MONITOR, ADMIN_PASSWORD).await?;
    let asset = api.asset_id().await?;
    let id = api.launch(asset).await?;
    let mut user = api.stream(&id).await?;
    wait_output(&mut user, prompt_seen).await?;
    let keys = keystroke_round_trips(&mut user, args.keys).await?;
    let seen = locks(&monitor, &id, user, args.locks, args.every).await?;
    // The relay's last lines (the last lock's figures) are written by now; let them be read.
    tokio::time::sleep(Duration::from_millis(300)).await;
    drop(relay);
    let relay_figures =
        std::mem::take(&mut *figures.lock().map_err(|_| anyhow::anyhow!("poisoned"))?);

    println!(
        "== lock latency ({} locks of an SSH session, the user typing a key every {} ms; loopback) ==",
        args.locks,
        args.every.as_millis()
    );
    println!(
        "{:<48} {:>7} {:>9} {:>9}  goal",
        "from the lock request entering the relay to", "samples", "p50 ms", "p99 ms"
    );
    let row = |name: &str, v: &[Duration], goal: Option<Duration>| {
        let Some((p50, p99)) = summary(v) else {
            println!("{name:<48} {:>7} {:>9} {:>9}", 0, "-", "-");
            return;
        };
        let goal = goal.map_or_else(String::new, |g| {
            let mark = if p99 < g { "✓" } else { "✗" };
            format!("p99 < {} ms {mark}", g.as_millis())
        });
        println!(
            "{name:<48} {:>7} {:>9.3} {:>9.3}  {goal}",
            v.len(),
            ms(p50),
            ms(p99)
        );
    };
    row("  the gate closed (relay)", &relay_figures.applied, None);
    row(
        "  the first input dropped (relay)",
        &relay_figures.first_drop,
        Some(FIRST_DROP_GOAL),
    );
    row(
        "  Locked written to the user's socket (relay)",
        &relay_figures.notice,
        None,
    );
    println!("from the lock request sent by the client to");
    row("  Locked received by the user (client)", &seen.notice, None);
    row("  the lock's HTTP answer (client)", &seen.answered, None);
    println!("for scale, the same run");
    row("  keystroke round trip through the relay", &keys, None);
    if let Some((_, p99)) = summary(&relay_figures.first_drop) {
        rows::emit(&Row {
            measure: Measure::LockFirstDrop,
            label: format!("p99 over {} locks", relay_figures.first_drop.len()),
            value: ms(p99),
            unit: Unit::Ms,
            baseline: None,
            goal: Goal::Below(ms(FIRST_DROP_GOAL)),
        })?;
    }
    if relay_figures.applied.len() != args.locks || relay_figures.notice.len() != args.locks {
        bail!("the relay did not time every lock (see the counts above)");
    }
    Ok(())
}
