//! RDP end to end: real Chromium browsers (the user and a monitor at once), the real relay,
//! real RDP servers on loopback started by the project's scripts: xrdp (TLS; a RemoteFX
//! and a bitmap-codec asset on the same server) and freerdp-shadow (NLA).
//!
//! `a_watched_remotefx_desktop_is_locked_terminated_and_replayed` follows one xrdp
//! RemoteFX session: the desktop on the user's canvas and its clock ticking, typed text
//! reaching the target, a monitor joining late and getting the same picture (and how long
//! the first complete frame took), live keystrokes, Lock (no input, the overlay's exact
//! message) and Unlock, Terminate, the replay with a seek, and no byte any browser or
//! client received carrying the target's password.
//!
//! `a_bitmap_codec_desktop_shows_and_takes_input` runs the same server with plain bitmaps.
//!
//! `an_nla_target_works_and_a_wrong_password_is_reported` connects to freerdp-shadow with
//! the injected credential (NLA), then to an asset whose managed password is wrong.

//! One binary, one shared relay: [`watched`] and [`codecs`] hold the tests.

use std::time::{Duration, Instant};

use anyhow::{ensure, Context, Result};
use serde_json::{json, Value};
use vigil_testkit::browser::LockShown;
use vigil_testkit::vigil_wire::api::Session;
use vigil_testkit::vigil_wire::live::ServerControl;
use vigil_testkit::vigil_wire::RDP_LOCK_MESSAGE;
use vigil_testkit::{
    assert_no_secrets, compare_canvases, poll_until, rdp_targets, secs, step, tid, unique_word,
    Api, Browser, RdpServer, Relay,
};

mod codecs;
mod watched;

pub(crate) const CASTS: &[&str] = &["rdp"];

pub(crate) fn relay() -> &'static Relay {
    Relay::shared_with_rdp(CASTS)
}

/// Where on the desktop the "typing-target" xterm is (focus follows the pointer there).
pub(crate) const TYPING_AT: (u32, u32) = (300, 200);

pub(crate) fn session_row(id: &str) -> String {
    format!("{}[data-session-id=\"{id}\"]", tid("session-row"))
}

/// Clicks the typing xterm on the canvas, types `word` and Enter, and waits for it in the
/// target's typed file (one retry: the xterm may come up after the first attempt).
pub(crate) async fn type_and_arrive(
    b: &Browser,
    canvas: &str,
    server: &RdpServer,
    word: &str,
) -> Result<Duration> {
    let t0 = Instant::now();
    for attempt in 0..2 {
        b.click_desktop(canvas, TYPING_AT.0, TYPING_AT.1).await?;
        tokio::time::sleep(Duration::from_millis(200)).await;
        b.type_desktop(canvas, &format!("{word}\n")).await?;
        if server.wait_typed(word, secs(8.0)).await {
            return Ok(t0.elapsed());
        }
        eprintln!("    {word} not on the target after attempt {}", attempt + 1);
    }
    Err(b
        .fail(format!(
            "typed {word:?} never reached {} ({}); it holds: {:?}",
            server.kind,
            server.typed_path().display(),
            server.typed().lines().rev().take(5).collect::<Vec<_>>()
        ))
        .await)
}

/// Checks every browser's network log and every client's bodies and frames for the
/// targets' passwords.
pub(crate) async fn no_password_anywhere(
    browsers: &[&Browser],
    clients: &[(&str, Vec<Vec<u8>>)],
) -> Result<usize> {
    let secrets = rdp_targets().secrets();
    ensure!(secrets.len() >= 6, "too few secrets to search for");
    let mut checked = 0;
    for b in browsers {
        b.capture_network().await?;
        let (ws, bodies, missed) = b.received_counts();
        eprintln!(
            "    {}: {ws} WebSocket frames, {bodies} HTTP bodies ({missed} not retrievable)",
            b.name
        );
        ensure!(ws > 0, "{}: no WebSocket frames were captured", b.name);
        assert_no_secrets(&format!("browser {}", b.name), &b.received(), &secrets)?;
        checked += ws + bodies;
    }
    for (name, data) in clients {
        checked += data.len();
        assert_no_secrets(name, data, &secrets)?;
    }
    Ok(checked)
}
