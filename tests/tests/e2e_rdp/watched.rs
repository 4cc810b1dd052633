//! One RemoteFX desktop followed through the browsers, from launch to replay.

use super::*;

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_watched_remotefx_desktop_is_locked_terminated_and_replayed() -> Result<()> {
    let relay = relay();
    let cast = relay.cast("rdp");
    let xrdp = &rdp_targets().xrdp;

    step("rfx: open two browsers at once: the user (alice) and the monitor (reviewer)");
    let (user, monitor) = tokio::try_join!(
        Browser::open(relay, "rdp-alice"),
        Browser::open(relay, "rdp-reviewer"),
    )?;
    tokio::try_join!(user.login(&cast.alice), monitor.login(&cast.reviewer))?;
    let alice_api = Api::login_as(relay, &cast.alice).await?;
    let reviewer_api = Api::login_as(relay, &cast.reviewer).await?;
    let admin_api = Api::login_as(relay, &cast.admin).await?;
    let feed = reviewer_api.ws("/api/v1/live", false).await?;
    monitor.goto("/active").await?;

    step("rfx (1): the user requests access (auto-approved) and connects to the xrdp desktop");
    let sid = user
        .connect_by_request(&cast.rdp.rfx, "rdp end-to-end test")
        .await?;
    let launched = Instant::now();
    // A client of our own on the session's stream for its whole life (secret check).
    let observer = reviewer_api
        .ws(&format!("/api/v1/sessions/{sid}/stream"), true)
        .await?;
    let first = user.wait_desktop("desktop-canvas", secs(40.0)).await?;
    eprintln!(
        "    desktop on the user's canvas after {} ms: {}x{}, {} lit pixels",
        launched.elapsed().as_millis(),
        first.width,
        first.height,
        first.lit
    );
    ensure!(
        (first.width, first.height) == (1024, 768),
        "the user's canvas is {}x{}, not 1024x768",
        first.width,
        first.height
    );
    let later = user
        .wait_desktop_change("desktop-canvas", &first, secs(10.0))
        .await?;
    eprintln!(
        "    the picture changes (hash {} -> {}, {})",
        first.hash,
        later.hash,
        first.diff(&later, 0)
    );
    user.snapshot("rdp-user-desktop").await?;

    step("rfx (2): text typed on the canvas reaches the target");
    let word = unique_word("rfx");
    let took = type_and_arrive(&user, "desktop-canvas", xrdp, &word).await?;
    eprintln!("    {word} arrived in {} ms", took.as_millis());

    step("rfx (3): the monitor sees the session and joins late (session ≥ 10 s old)");
    monitor.wait_for(&session_row(&sid), secs(10.0)).await?;
    let age = launched.elapsed();
    if age < Duration::from_secs(10) {
        tokio::time::sleep(Duration::from_secs(10) - age).await;
    }
    let opened = Instant::now();
    monitor.goto(&format!("/sessions/{sid}")).await?;
    let loaded = opened.elapsed();
    let stats = poll_until("the player's first complete frame", secs(10.0), || async {
        let stats = monitor.decode_stats().await?;
        let drawn = stats
            .as_ref()
            .and_then(|s| s.get("snapshots"))
            .and_then(Value::as_u64)
            .unwrap_or(0)
            > 0;
        if !drawn {
            return Ok(None);
        }
        let shot = monitor.canvas_shot("player-canvas").await?;
        Ok(shot.filter(|s| s.shows_desktop()).map(|_| stats))
    })
    .await;
    let stats = match stats {
        Ok(s) => s,
        Err(e) => return Err(monitor.fail(format!("{e:#}")).await),
    };
    let first_frame = opened.elapsed();
    eprintln!(
        "    late observer: page loaded in {} ms, first complete frame {} ms after opening the player; stats {}",
        loaded.as_millis(),
        first_frame.as_millis(),
        stats.map(|s| s.to_string()).unwrap_or_default()
    );
    tokio::time::sleep(secs(1.5)).await;
    let (diff, matched) = compare_canvases(
        (&user, "desktop-canvas"),
        (&monitor, "player-canvas"),
        6,
        0.01,
        secs(8.0),
    )
    .await?;
    eprintln!("    user vs late observer after settling: {diff}");
    monitor.snapshot("rdp-late-observer").await?;
    if !matched {
        return Err(monitor
            .fail(format!(
                "the late observer's picture does not match the user's: {diff}"
            ))
            .await);
    }

    step("rfx (6): keystrokes appear live in the player's Keystrokes panel");
    let before = monitor.keystroke_keys().await?.len();
    let live_word = unique_word("key");
    type_and_arrive(&user, "desktop-canvas", xrdp, &live_word).await?;
    let mut expected: Vec<String> = live_word.chars().map(|c| c.to_string()).collect();
    expected.push("Enter".into());
    // The RDP keystroke log has one entry per key event: each key is listed at its press
    // and at its release (the raw column tells them apart).
    let doubled: Vec<String> = expected
        .iter()
        .flat_map(|k| [k.clone(), k.clone()])
        .collect();
    let keys = poll_until(
        "the typed word's keystrokes in the panel",
        secs(10.0),
        || async {
            let keys = monitor.keystroke_keys().await?;
            let tail = &keys[before.min(keys.len())..];
            let found = [&expected, &doubled]
                .iter()
                .any(|want| tail.windows(want.len()).any(|w| w == want.as_slice()));
            Ok(found.then_some(keys))
        },
    )
    .await
    .with_context(|| format!("expected {expected:?}"));
    let keys = match keys {
        Ok(k) => k,
        Err(e) => {
            let shown = monitor.keystroke_keys().await.unwrap_or_default();
            return Err(monitor
                .fail(format!("{e:#}; the panel shows {shown:?}"))
                .await);
        }
    };
    eprintln!(
        "    the panel lists {} keystrokes, {} before this word",
        keys.len(),
        before
    );

    step("rfx: the server's pointer shape is the user's cursor; the monitor sees where the user points");
    let point = (TYPING_AT.0 + 17, TYPING_AT.1 + 9);
    user.click_desktop("desktop-canvas", point.0, point.1)
        .await?;
    let overlay = poll_until(
        "the monitor's pointer overlay where the user clicked",
        secs(10.0),
        || async {
            let v = monitor
                .js(
                    "const o = document.querySelector('[data-testid=pointer-overlay]');\
                     return o ? [Number(o.dataset.x), Number(o.dataset.y)] : null;",
                    vec![],
                )
                .await?;
            let xy = v
                .as_array()
                .and_then(|a| Some((a.first()?.as_u64()?, a.get(1)?.as_u64()?)));
            Ok(xy.filter(|&(x, y)| {
                x.abs_diff(u64::from(point.0)) <= 2 && y.abs_diff(u64::from(point.1)) <= 2
            }))
        },
    )
    .await;
    if let Err(e) = overlay {
        return Err(monitor.fail(format!("{e:#}")).await);
    }
    let cursor = user
        .js(
            "return getComputedStyle(document.querySelector('[data-testid=desktop-canvas]')).cursor;",
            vec![],
        )
        .await?;
    let cursor = cursor.as_str().unwrap_or_default();
    ensure!(
        cursor.contains("url(\"data:image/png"),
        "the user's canvas does not show the server's pointer shape: cursor is {cursor:?}"
    );

    step("rfx (4): Lock from the player: the overlay's message, and typing does not arrive");
    monitor.click(&tid("lock-button"), secs(5.0)).await?;
    let overlay = user.wait_lock_shown(LockShown::Desktop).await?;
    ensure!(
        overlay.trim() == RDP_LOCK_MESSAGE,
        "overlay text {overlay:?}"
    );
    ensure!(
        user.exists(&format!("{} svg", tid("lock-overlay"))).await?,
        "the lock overlay has no icon"
    );
    monitor.wait_for_testid("lock-banner", secs(5.0)).await?;
    ensure!(
        !monitor.exists(&tid("lock-overlay")).await?,
        "the observer's view shows the user's lock overlay"
    );
    monitor.wait_for_testid("unlock-button", secs(5.0)).await?;
    user.snapshot("rdp-user-locked").await?;
    let blocked = unique_word("locked");
    user.type_desktop("desktop-canvas", &format!("{blocked}\n"))
        .await?;
    let leaked = xrdp.wait_typed(&blocked, secs(3.0)).await;
    ensure!(
        !leaked,
        "text typed while locked ({blocked}) reached the target"
    );

    step("rfx (4): Unlock: typing arrives again");
    monitor.click(&tid("unlock-button"), secs(5.0)).await?;
    user.wait_gone(&tid("lock-overlay"), secs(5.0)).await?;
    let again = unique_word("unlocked");
    type_and_arrive(&user, "desktop-canvas", xrdp, &again).await?;
    ensure!(
        !xrdp.typed().contains(&blocked),
        "input typed while locked was replayed after unlocking"
    );

    step("rfx (5): Terminate: the user's view ends and the session leaves Active Sessions");
    monitor.click(&tid("terminate-button"), secs(5.0)).await?;
    user.wait_for(
        &format!(
            "{}[data-status=\"ended\"], {}",
            tid("session-status"),
            tid("session-ended")
        ),
        secs(10.0),
    )
    .await?;
    user.snapshot("rdp-user-ended").await?;
    observer
        .wait_control("Ended", secs(10.0), |c| {
            matches!(c, ServerControl::Ended { .. })
        })
        .await?;
    let ended: Session = reviewer_api.get(&format!("/api/v1/sessions/{sid}")).await?;
    ensure!(ended.ended_at.is_some(), "the session is not ended");
    monitor.goto("/active").await?;
    monitor
        .wait_for(
            &format!("{}, {}", tid("sessions-empty"), tid("session-row")),
            secs(10.0),
        )
        .await?;
    monitor.wait_gone(&session_row(&sid), secs(10.0)).await?;

    step("rfx (5): the replay plays, and seeking to the middle shows the desktop");
    monitor.goto(&format!("/replay/{sid}")).await?;
    monitor.wait_for_testid("replay-seek", secs(15.0)).await?;
    let max = monitor
        .js(
            "const s = document.querySelector(arguments[0]); const m = Number(s.max);
             s.value = String(Math.round(m / 2)); s.dispatchEvent(new Event('input', {bubbles: true}));
             return m;",
            vec![json!(tid("replay-seek"))],
        )
        .await?;
    eprintln!("    replay is {max} ms long; seeking to the middle");
    let mid = monitor.wait_desktop("replay-canvas", secs(15.0)).await?;
    monitor.snapshot("rdp-replay-middle").await?;
    monitor.click(&tid("replay-play"), secs(5.0)).await?;
    monitor
        .wait_desktop_change("replay-canvas", &mid, secs(10.0))
        .await?;

    step("rfx (9): nothing received carries the target's password");
    for (api, admin) in [
        (&alice_api, false),
        (&reviewer_api, false),
        (&admin_api, true),
    ] {
        api.read_everything(&sid, admin, true).await?;
    }
    let checked = no_password_anywhere(
        &[&user, &monitor],
        &[
            ("alice REST", alice_api.received()),
            ("reviewer REST", reviewer_api.received()),
            ("admin REST", admin_api.received()),
            ("reviewer /live", feed.received()),
            ("reviewer stream", observer.received()),
        ],
    )
    .await?;
    ensure!(
        observer.received().len() > 10,
        "the stream client received only {} frames",
        observer.received().len()
    );
    eprintln!("    {checked} frames and bodies checked");
    feed.close();
    observer.close();
    user.close().await?;
    monitor.close().await?;
    Ok(())
}
