//! The foundation, SSH and RDP scenarios in Firefox ESR (through geckodriver), lean: the
//! Chromium suites (`e2e_foundation`, `e2e_ssh`, `e2e_rdp`) cover the rest of each flow;
//! these check what a browser can get wrong: the static login page, Active Sessions and its
//! controls, the xterm terminal and its live copy, the Keystrokes panel, the desktop canvas
//! and the keys typed on it (a capital letter, Enter and keypad Enter), and both lock
//! messages.

use std::path::Path;

use anyhow::{ensure, Result};
use serde_json::json;
use vigil_testkit::browser::BrowserKind;
use vigil_testkit::browser::LockShown;
use vigil_testkit::fantoccini::key::Key;
use vigil_testkit::vigil_wire::{RDP_LOCK_MESSAGE, SSH_LOCK_MESSAGE};
use vigil_testkit::{
    poll_until, rdp_targets, secs, step, tid, unique, unique_word, Api, Browser, RdpServer,
};

use super::relay;

const CAST: &str = "ffx";

fn session_row(id: &str) -> String {
    format!("{}[data-session-id=\"{id}\"]", tid("session-row"))
}

/// The product's words, exactly.
#[test]
fn the_lock_messages_are_the_products_words() {
    assert_eq!(
        SSH_LOCK_MESSAGE,
        "Your session has been locked, please contact your Administrator."
    );
    assert_eq!(
        RDP_LOCK_MESSAGE,
        "Your session has been locked. Please contact your administrator."
    );
}

/// Login on the static page, Active Sessions listing a live SSH session, Lock and Unlock
/// from its row (the user's message, input dropped, then restored), the live player and
/// its Keystrokes: two Firefoxes, the user (alice) and the monitor (ISA).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn firefox_logs_in_watches_locks_and_unlocks_an_ssh_session() -> Result<()> {
    let relay = relay();
    let cast = relay.cast(CAST);
    let u = unique("");
    let lock_probe = Path::new("/tmp").join(format!("vigil-ffx-lock-{u}"));
    let unlock_probe = Path::new("/tmp").join(format!("vigil-ffx-unlock-{u}"));

    step("firefox: open two Firefoxes and log in on the login page");
    let (user, monitor) = tokio::try_join!(
        Browser::open_firefox(relay, "ffx-alice"),
        Browser::open_firefox(relay, "ffx-isa"),
    )?;
    ensure!(user.kind == BrowserKind::Firefox, "not a Firefox");
    let agent = user.js("return navigator.userAgent;", vec![]).await?;
    eprintln!("    {}", agent.as_str().unwrap_or_default());
    ensure!(
        agent.as_str().unwrap_or_default().contains("Firefox/"),
        "the browser is not Firefox: {agent}"
    );
    // Chromium-only commands say so instead of failing obscurely.
    let cdp = user.cdp("Network.enable", json!({})).await;
    ensure!(
        cdp.as_ref()
            .is_err_and(|e| format!("{e:#}").contains("Firefox")),
        "a DevTools command in Firefox: {cdp:?}"
    );
    tokio::try_join!(
        async {
            user.goto("/login").await?;
            user.login(&cast.alice).await
        },
        async {
            monitor.goto("/login").await?;
            monitor.login(&cast.isa).await
        },
    )?;
    monitor.goto("/active").await?;
    monitor
        .wait_for(
            &format!("{}, {}", tid("sessions-empty"), tid("session-row")),
            secs(15.0),
        )
        .await?;

    step("firefox: alice connects to the SSH target; Active Sessions lists the session");
    let sid = user.connect_by_request(&cast.web, "firefox test").await?;
    monitor.wait_for(&session_row(&sid), secs(10.0)).await?;
    user.wait_terminal(&tid("terminal"), "$", secs(20.0))
        .await?;
    let marker = format!("ffx-{}-{u}", 6 * 7);
    user.type_terminal(&tid("terminal"), &format!("echo ffx-$((6*7))-{u}\n"))
        .await?;
    user.wait_terminal(&tid("terminal"), &marker, secs(10.0))
        .await?;

    step("firefox: Lock from the row: the user's message, and typing does not reach the target");
    let row = session_row(&sid);
    monitor
        .click(&format!("{row} {}", tid("lock-button")), secs(5.0))
        .await?;
    user.wait_lock_shown(LockShown::Terminal).await?;
    monitor
        .wait_for(&format!("{row}[data-locked=\"true\"]"), secs(5.0))
        .await?;
    user.type_terminal(
        &tid("terminal"),
        &format!("touch {}\n", lock_probe.display()),
    )
    .await?;

    step("firefox: Unlock from the row: typing works again, and nothing typed while locked ran");
    monitor
        .click(&format!("{row} {}", tid("unlock-button")), secs(5.0))
        .await?;
    user.wait_gone(&tid("lock-banner"), secs(5.0)).await?;
    monitor
        .wait_for(&format!("{row}[data-locked=\"false\"]"), secs(5.0))
        .await?;
    user.type_terminal(
        &tid("terminal"),
        &format!("touch {}\n", unlock_probe.display()),
    )
    .await?;
    poll_until("the probe typed after Unlock", secs(10.0), || async {
        Ok(unlock_probe.exists().then_some(()))
    })
    .await?;
    // The shell runs lines in order: had the locked line arrived, its file would exist.
    ensure!(
        !lock_probe.exists(),
        "a command typed while locked ran on the target ({})",
        lock_probe.display()
    );
    let _ = std::fs::remove_file(&unlock_probe);

    step("firefox: the player shows the terminal live, and its Keystrokes");
    monitor.goto(&format!("/sessions/{sid}")).await?;
    monitor
        .wait_terminal(&tid("player-terminal"), &marker, secs(10.0))
        .await?;
    let live = format!("live-{u}");
    user.type_terminal(&tid("terminal"), &format!("echo {live}\n"))
        .await?;
    monitor
        .wait_terminal(&tid("player-terminal"), &format!("\n{live}"), secs(10.0))
        .await?;
    // The panel names the space bar `Space`, as the Chromium suite sees it.
    let typed: Vec<String> = format!("echo {live}")
        .chars()
        .map(|c| match c {
            ' ' => "Space".to_string(),
            c => c.to_string(),
        })
        .chain(["Enter".to_string()])
        .collect();
    let keys = poll_until(
        "the typed line in the Keystrokes panel",
        secs(10.0),
        || async {
            let keys = monitor.keystroke_keys().await?;
            let found = keys.windows(typed.len()).any(|w| w == typed.as_slice());
            Ok(found.then_some(keys))
        },
    )
    .await;
    if let Err(e) = keys {
        let shown = monitor.keystroke_keys().await.unwrap_or_default();
        return Err(monitor
            .fail(format!("{e:#}; the panel shows {shown:?}"))
            .await);
    }
    let label = monitor
        .text(&tid("keystroke-sort"))
        .await?
        .unwrap_or_default();
    ensure!(
        label.trim() == "Oldest to Newest",
        "sort label is {label:?}"
    );
    monitor.click(&tid("terminate-button"), secs(5.0)).await?;
    user.wait_for_testid("session-ended", secs(10.0)).await?;
    user.close().await?;
    monitor.close().await?;
    Ok(())
}

/// What the page saw of the keys typed since [`record_keys`]: each keydown's `key`,
/// `code` and Shift flag (for the log: the differences between browsers).
async fn recorded_keys(b: &Browser) -> Result<String> {
    let v = b
        .js("return JSON.stringify(window.__vigilKeys || []);", vec![])
        .await?;
    Ok(v.as_str().unwrap_or_default().to_string())
}

/// Records every keydown's `key`, `code` and Shift flag in the page (capture phase, before
/// the canvas's own handler).
async fn record_keys(b: &Browser) -> Result<()> {
    b.js(
        "window.__vigilKeys = [];
         document.addEventListener('keydown', e => window.__vigilKeys.push(
             [e.key, e.code, e.getModifierState('Shift')]), true);
         return true;",
        vec![],
    )
    .await?;
    Ok(())
}

/// Sends keypad Enter (`code` `NumpadEnter`) to the canvas as a page event: no WebDriver
/// types it (both of WebDriver's Enter keys arrive as `Enter`).
async fn press_numpad_enter(b: &Browser) -> Result<()> {
    b.js(
        "const c = document.querySelector(arguments[0]);
         for (const type of ['keydown', 'keyup']) {
             c.dispatchEvent(new KeyboardEvent(type, {key: 'Enter', code: 'NumpadEnter',
                 location: KeyboardEvent.DOM_KEY_LOCATION_NUMPAD, bubbles: true, cancelable: true}));
         }
         return true;",
        vec![json!(tid("desktop-canvas"))],
    )
    .await?;
    Ok(())
}

/// Clicks the typing xterm, types `line` and then `enter` (a WebDriver key, or keypad
/// Enter as a page event), and waits until the target's typed file holds `line` and a
/// newline: the xterm's `cat` reads a line only once Enter arrived. One retry: the xterm
/// may come up after the first try.
async fn type_line(b: &Browser, server: &RdpServer, line: &str, enter: Option<Key>) -> Result<()> {
    let want = format!("{line}\n");
    for attempt in 0..2 {
        b.click_desktop("desktop-canvas", 300, 200).await?;
        match enter {
            Some(key) => {
                b.type_desktop("desktop-canvas", &format!("{line}{}", char::from(key)))
                    .await?
            }
            None => {
                b.type_desktop("desktop-canvas", line).await?;
                press_numpad_enter(b).await?;
            }
        }
        if poll_until("the typed line", secs(8.0), || async {
            Ok(server.typed().contains(&want).then_some(()))
        })
        .await
        .is_ok()
        {
            return Ok(());
        }
        eprintln!("    {line} not on the target after attempt {}", attempt + 1);
    }
    let tail: Vec<String> = server
        .typed()
        .lines()
        .rev()
        .take(5)
        .map(str::to_string)
        .collect();
    Err(b
        .fail(format!(
            "typed {line:?} never reached {} as a line; it holds: {tail:?}",
            server.kind
        ))
        .await)
}

/// The xrdp desktop (TLS) on a Firefox canvas: it draws, `K` reaches the target as `K`,
/// Enter and keypad Enter end a line, Lock shows the overlay's message and icon and drops
/// input, Unlock restores it. One Firefox; Lock and Unlock come from the reviewer's API.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn firefox_draws_an_rdp_desktop_and_types_capitals_and_enter() -> Result<()> {
    let relay = relay();
    let cast = relay.cast(CAST);
    let xrdp = &rdp_targets().xrdp;

    step("firefox rdp: alice logs in and opens the xrdp desktop");
    let (user, reviewer) = tokio::try_join!(
        Browser::open_firefox(relay, "ffx-rdp-alice"),
        Api::login_as(relay, &cast.reviewer),
    )?;
    user.login(&cast.alice).await?;
    let sid = user
        .connect_by_request(&cast.rdp.rfx, "firefox rdp test")
        .await?;
    let first = user.wait_desktop("desktop-canvas", secs(40.0)).await?;
    ensure!(
        (first.width, first.height) == (1024, 768),
        "the canvas is {}x{}, not 1024x768",
        first.width,
        first.height
    );

    step("firefox rdp: a word with capitals, then Enter; a word, then keypad Enter");
    record_keys(&user).await?;
    let upper = format!("K{}Q", unique_word("ffx"));
    type_line(&user, xrdp, &upper, Some(Key::Return)).await?;
    eprintln!("    Firefox's keydowns: {}", recorded_keys(&user).await?);
    let keypad = unique_word("pad");
    type_line(&user, xrdp, &keypad, None).await?;

    step("firefox rdp: Lock: the overlay's message and icon, and typing does not arrive");
    let r = reviewer
        .send(
            reqwest::Method::POST,
            &format!("/api/v1/sessions/{sid}/lock"),
            None,
        )
        .await?;
    ensure!(r.status == 200, "lock: HTTP {}", r.status);
    user.wait_lock_shown(LockShown::Desktop).await?;
    ensure!(
        user.exists(&format!("{} svg", tid("lock-overlay"))).await?,
        "the lock overlay has no icon"
    );
    let blocked = unique_word("locked");
    user.type_desktop("desktop-canvas", &format!("{blocked}\n"))
        .await?;

    step("firefox rdp: Unlock: typing arrives again, and nothing typed while locked");
    let r = reviewer
        .send(
            reqwest::Method::POST,
            &format!("/api/v1/sessions/{sid}/unlock"),
            None,
        )
        .await?;
    ensure!(r.status == 200, "unlock: HTTP {}", r.status);
    user.wait_gone(&tid("lock-overlay"), secs(5.0)).await?;
    let again = unique_word("unlocked");
    type_line(&user, xrdp, &again, Some(Key::Return)).await?;
    ensure!(
        !xrdp.typed().contains(&blocked),
        "input typed while locked reached the target"
    );
    let r = reviewer
        .send(
            reqwest::Method::POST,
            &format!("/api/v1/sessions/{sid}/terminate"),
            None,
        )
        .await?;
    ensure!(r.status == 200, "terminate: HTTP {}", r.status);
    user.close().await?;
    Ok(())
}
