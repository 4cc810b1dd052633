//! The end-to-end checks every real target goes through.

use std::time::Duration;

use vigil_rdp::screen::differing_pixels;
use vigil_rdp::{Codec, ConnectOptions, InputEvent};

use super::connection::Connection;
use super::{target, typing, unique_word, Server, PASSWORD};

/// Pump until `word` shows up in the server's typed file (or `limit` passes).
pub async fn wait_typed(
    s: &mut Connection,
    server: &Server,
    word: &str,
    limit: Duration,
) -> anyhow::Result<bool> {
    let deadline = std::time::Instant::now() + limit;
    while std::time::Instant::now() < deadline {
        s.pump(Duration::from_millis(250)).await?;
        if server.typed().contains(word) {
            return Ok(true);
        }
    }
    Ok(false)
}

/// Connect with `codec`, then: frames change, the primary browser equals the relay's copy,
/// typed keys arrive, locked keys do not, a late joiner's snapshot equals the relay's copy and
/// stays equal to the primary under live updates. Returns the learned pin.
pub async fn exercise(
    server: &Server,
    codec: Codec,
    label: &str,
    pinned: Option<String>,
) -> anyhow::Result<String> {
    let options = ConnectOptions {
        codec,
        pinned,
        ..ConnectOptions::default()
    };
    let mut s = Connection::connect(&target(server, PASSWORD), &options).await?;
    println!(
        "[{label}] connected in {} ms, nla={}, params={:?}",
        s.connect_time.as_millis(),
        s.nla,
        s.params
    );

    // xrdp needs ~2 s to start the X session and its clients.
    s.pump(Duration::from_secs(4)).await?;
    anyhow::ensure!(s.ended.is_none(), "session ended early: {:?}", s.ended);
    let first = s.screen.rgba().to_vec();
    let lit = first
        .chunks_exact(4)
        .filter(|p| p[..3] != [0, 0, 0])
        .count();
    anyhow::ensure!(
        lit > 10_000,
        "[{label}] screen still mostly black ({lit} lit pixels)"
    );
    s.pump(Duration::from_secs(2)).await?;
    let changed = differing_pixels(&first, s.screen.rgba());
    println!("[{label}] {lit} lit pixels; {changed} pixels changed over 2 s");
    anyhow::ensure!(changed > 0, "[{label}] frames did not change");
    anyhow::ensure!(
        s.primary_vs_screen() == 0,
        "[{label}] primary browser differs from relay copy"
    );

    // Focus follows the pointer (no window manager): move over the typing xterm, then type.
    let word = unique_word(&format!("{}ok", &label[..1]));
    s.send(&[InputEvent::MouseMove { x: 300, y: 200 }]).await?;
    let sent = s.send(&typing(&word)).await?;
    anyhow::ensure!(
        sent.keystrokes.len() == 2 * (word.len() + 1),
        "keystroke log incomplete"
    );
    let mut arrived = wait_typed(&mut s, server, &word, Duration::from_secs(6)).await?;
    if !arrived {
        // The typing xterm may have come up after the first attempt.
        s.send(&typing(&word)).await?;
        arrived = wait_typed(&mut s, server, &word, Duration::from_secs(6)).await?;
    }
    anyhow::ensure!(
        arrived,
        "[{label}] typed word {word} never reached {:?}",
        server.typed_path()
    );
    println!("[{label}] typed '{word}' arrived");

    // Lock: nothing reaches the target.
    s.lock().await?;
    let blocked = unique_word(&format!("{}lk", &label[..1]));
    let out = s.send(&typing(&blocked)).await?;
    anyhow::ensure!(
        out.to_server.is_empty() && out.keystrokes.is_empty(),
        "locked input went upstream"
    );
    let leaked = wait_typed(&mut s, server, &blocked, Duration::from_secs(3)).await?;
    anyhow::ensure!(!leaked, "[{label}] locked input '{blocked}' arrived");
    s.gate.unlock();
    println!("[{label}] locked input '{blocked}' did not arrive");

    // Late joiner: relay snapshot, then live.
    let (n, bytes) = s.join().await?;
    let at_join = differing_pixels(s.joiners[0].image.data(), s.screen.rgba());
    anyhow::ensure!(
        at_join == 0,
        "[{label}] snapshot differs from relay copy by {at_join} px"
    );
    s.pump(Duration::from_secs(3)).await?;
    let live = differing_pixels(s.joiners[0].image.data(), s.primary.image.data());
    println!("[{label}] late joiner: snapshot {n} PDUs / {bytes} bytes, equal at join; after 3 s live: {live} px differ, joiner errors {}", s.joiners[0].errors);
    anyhow::ensure!(
        live == 0 && s.joiners[0].errors == 0,
        "[{label}] joiner diverged under live updates"
    );

    anyhow::ensure!(
        s.primary_vs_screen() == 0,
        "[{label}] primary browser differs from relay copy"
    );
    anyhow::ensure!(s.screen.errors() == 0, "[{label}] relay decode errors");
    let png_path = format!("/tmp/vigil-rdp-{label}.png");
    std::fs::write(&png_path, s.screen.png()?)?;
    std::fs::write(
        format!("/tmp/vigil-rdp-{label}-thumb.png"),
        s.screen.thumbnail_png(256)?,
    )?;
    println!("[{label}] wrote {png_path}");
    s.report(label);
    Ok(s.pin)
}
