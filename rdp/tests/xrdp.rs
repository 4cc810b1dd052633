//! Against a real xrdp (TLS, no NLA) started by scripts/targets/start-xrdp.sh.

mod support;

use std::time::Duration;

use support::checks::{exercise, wait_typed};
use support::connection::Connection;
use support::{target, typing, unique_word, Server, PASSWORD};
use vigil_rdp::{Codec, ConnectErrorKind, ConnectOptions, InputEvent, KeyboardLayout};

/// One test, one server: the checks run in sequence and the server is stopped at the end.
#[tokio::test(flavor = "current_thread")]
async fn xrdp_remotefx_and_bitmap_sessions() -> anyhow::Result<()> {
    let server = Server::start("xrdp");

    let pin = exercise(&server, Codec::RemoteFx, "xrdp-rfx", None).await?;
    println!("[xrdp] learned pin {pin}");
    // The bitmap run uses the learned pin: trust on first use, then verification.
    exercise(&server, Codec::Bitmap, "xrdp-bitmap", Some(pin.clone())).await?;
    german_layout(&server, pin).await?;

    // A different pin: refused before anything is sent over TLS.
    let wrong = ConnectOptions {
        pinned: Some(format!("sha256:{}", "0".repeat(64))),
        ..ConnectOptions::default()
    };
    let err = vigil_rdp::connect(&target(&server, PASSWORD), &wrong)
        .await
        .err()
        .expect("must fail");
    println!("[xrdp] wrong pin: {err}");
    assert_eq!(err.kind, ConnectErrorKind::CertChanged);
    Ok(())
}

/// A session announced as German: xrdp types the scancodes in that layout (the keys a US
/// keyboard calls Y and Z swap), and the relay's keystroke log reads them the same way,
/// flagging the US labels the events carry.
async fn german_layout(server: &Server, pin: String) -> anyhow::Result<()> {
    let options = ConnectOptions {
        pinned: Some(pin),
        keyboard_layout: KeyboardLayout::DeDe,
        ..ConnectOptions::default()
    };
    let mut s = Connection::connect(&target(server, PASSWORD), &options).await?;
    s.pump(Duration::from_secs(4)).await?;
    anyhow::ensure!(s.ended.is_none(), "session ended early: {:?}", s.ended);
    s.send(&[InputEvent::MouseMove { x: 300, y: 200 }]).await?;
    // Typed by US key positions (and labelled so); a German server makes z of y and y of z.
    let word = unique_word("zy");
    let german: String = word
        .chars()
        .map(|c| match c {
            'y' => 'z',
            'z' => 'y',
            c => c,
        })
        .collect();
    let mut sent = s.send(&typing(&word)).await?;
    let mut arrived = wait_typed(&mut s, server, &german, Duration::from_secs(6)).await?;
    if !arrived {
        // The typing xterm may have come up after the first attempt.
        sent = s.send(&typing(&word)).await?;
        arrived = wait_typed(&mut s, server, &german, Duration::from_secs(6)).await?;
    }
    anyhow::ensure!(
        arrived,
        "[xrdp-de] {word} typed on a German session never arrived as {german} in {:?}",
        server.typed_path()
    );
    let read: String = sent
        .keystrokes
        .iter()
        .filter(|k| k.down && k.key != "Enter")
        .map(|k| k.key.as_str())
        .collect();
    anyhow::ensure!(
        read == german,
        "[xrdp-de] the keystroke log read {read}, the server typed {german}"
    );
    let flagged: Vec<&str> = sent
        .keystrokes
        .iter()
        .filter(|k| k.down)
        .filter_map(|k| k.browser_text.as_deref())
        .collect();
    let differing = word.chars().filter(|c| matches!(c, 'y' | 'z')).count();
    anyhow::ensure!(
        flagged.len() == differing,
        "[xrdp-de] {} flagged entries, {differing} letters differ: {flagged:?}",
        flagged.len()
    );
    println!(
        "[xrdp-de] typed '{word}' by US positions; the server and the log both read '{german}'"
    );
    Ok(())
}
