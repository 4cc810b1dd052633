//! One session followed through the browsers, from launch to replay.

use super::*;

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_watched_session_is_locked_unlocked_and_terminated() -> Result<()> {
    let relay = relay();
    let cast = relay.cast("live");
    let sshd = sshd();
    let u = unique("");
    let marker = format!("vigil-42-{u}");
    let lock_probe = Path::new("/tmp").join(format!("vigil-lock-probe-{u}"));
    let unlock_probe = Path::new("/tmp").join(format!("vigil-unlock-probe-{u}"));

    step("open four browsers: user, ISA monitor, late administrator, outsider reviewer");
    let (user, monitor, late, outsider) = tokio::try_join!(
        Browser::open(relay, "alice"),
        Browser::open(relay, "isa"),
        Browser::open(relay, "admin"),
        Browser::open(relay, "outsider"),
    )?;
    tokio::try_join!(
        user.login(&cast.alice),
        monitor.login(&cast.isa),
        late.login(&cast.admin),
        outsider.login(&cast.outsider)
    )?;
    let alice_api = Api::login_as(relay, &cast.alice).await?;
    let isa_api = Api::login_as(relay, &cast.isa).await?;
    let admin_api = Api::login_as(relay, &cast.admin).await?;
    let isa_feed = isa_api.ws("/api/v1/live", false).await?;

    step("the monitor waits on Active Sessions");
    monitor.goto("/active").await?;
    monitor
        .wait_for_testid("sessions-empty", secs(15.0))
        .await?;

    step("(1) the user requests access (auto-approved) and connects");
    user.goto("/assets").await?;
    let asset_row = format!("{}[data-asset-name=\"{}\"]", tid("asset-row"), cast.web);
    user.click(
        &format!("{asset_row} {}", tid("request-button")),
        secs(15.0),
    )
    .await?;
    user.fill(&tid("request-reason"), &format!("end-to-end test {u}"))
        .await?;
    user.fill(&tid("request-duration"), "30").await?;
    user.click(&tid("request-submit"), secs(5.0)).await?;
    let approved = format!("{}[data-status=\"approved\"]", tid("request-row"));
    let req_row = user.wait_for(&approved, secs(10.0)).await?;
    let request_id: i64 = req_row
        .attr("data-request-id")
        .await?
        .unwrap_or_default()
        .parse()
        .unwrap_or(0);
    user.click(&format!("{approved} {}", tid("connect-button")), secs(5.0))
        .await?;
    let sid = user.connect_page_id().await?;
    let launched_at = Instant::now();

    step("(2) the monitor sees the session in Active Sessions within 1 s");
    monitor.wait_for(&session_row(&sid), secs(10.0)).await?;
    let seen_after = launched_at.elapsed();
    eprintln!(
        "    session row shown {} ms after the terminal page opened",
        seen_after.as_millis()
    );
    if seen_after > Duration::from_secs(1) {
        return Err(monitor
            .fail(format!(
                "the session appeared after {seen_after:?} (more than 1 s)"
            ))
            .await);
    }
    let observer = isa_api
        .ws(&format!("/api/v1/sessions/{sid}/stream"), true)
        .await?;

    step("(1) the command's output appears in the user's terminal");
    user.wait_terminal(&tid("terminal"), "$", secs(20.0))
        .await?;
    user.type_terminal(&tid("terminal"), &format!("echo vigil-$((6*7))-{u}\n"))
        .await?;
    user.wait_terminal(&tid("terminal"), &marker, secs(10.0))
        .await?;
    user.snapshot("ssh-user-terminal").await?;

    step("(2) the thumbnail shows it, and opens the player on the same screen");
    let thumb = format!("{} {}", session_row(&sid), tid("thumbnail"));
    monitor
        .wait_text(&thumb, &format!("to show {marker}"), secs(10.0), |t| {
            t.contains(&marker)
        })
        .await?;
    monitor.snapshot("ssh-active-sessions").await?;
    monitor.click(&thumb, secs(5.0)).await?;
    monitor
        .wait_js(
            "the player page",
            "location.pathname === arguments[0]",
            vec![json!(format!("/sessions/{sid}"))],
            secs(10.0),
        )
        .await?;
    monitor
        .wait_terminal(&tid("player-terminal"), &marker, secs(5.0))
        .await?;
    observer.wait_output(&marker, secs(5.0)).await?;

    step("(3) an administrator who joins late sees the current screen at once");
    late.goto(&format!("/sessions/{sid}")).await?;
    late.wait_for_testid("player-terminal", secs(15.0)).await?;
    let joined = Instant::now();
    late.wait_terminal(&tid("player-terminal"), &marker, secs(3.0))
        .await?;
    eprintln!(
        "    late joiner saw the screen {} ms after the player appeared",
        joined.elapsed().as_millis()
    );

    step("(4) keystrokes appear live, both orders, not selectable");
    let typed_first = format!("echo vigil-$((6*7))-{u}").chars().count() + 1;
    let before = poll_until("the first command's keystrokes", secs(10.0), || async {
        let keys = monitor.keystroke_keys().await?;
        Ok((keys.len() >= typed_first).then_some(keys))
    })
    .await?;
    user.type_terminal(&tid("terminal"), &format!("echo again-{u}\n"))
        .await?;
    user.wait_terminal(&tid("terminal"), &format!("again-{u}\n"), secs(10.0))
        .await
        .ok();
    let more = format!("echo again-{u}").chars().count() + 1;
    let keys = poll_until(
        "the second command's keystrokes, live",
        secs(10.0),
        || async {
            let keys = monitor.keystroke_keys().await?;
            Ok((keys.len() >= before.len() + more).then_some(keys))
        },
    )
    .await?;
    let label = monitor
        .text(&tid("keystroke-sort"))
        .await?
        .unwrap_or_default();
    ensure!(
        label.trim() == "Oldest to Newest",
        "sort label is {label:?} (expected Oldest to Newest)"
    );
    ensure!(
        keys.first().map(String::as_str) == Some("e")
            && keys.last().map(String::as_str) == Some("Enter"),
        "oldest first should run from `e` to `Enter`: {keys:?}"
    );
    monitor.click(&tid("keystroke-sort"), secs(5.0)).await?;
    monitor
        .wait_text(
            &tid("keystroke-sort"),
            "to read Newest to Oldest",
            secs(5.0),
            |t| t.trim() == "Newest to Oldest",
        )
        .await?;
    let newest_first = monitor.keystroke_keys().await?;
    let mut reversed = keys.clone();
    reversed.reverse();
    ensure!(
        newest_first == reversed,
        "Newest to Oldest is not the reverse:\n{keys:?}\n{newest_first:?}"
    );
    monitor.click(&tid("keystroke-sort"), secs(5.0)).await?;
    monitor
        .wait_text(
            &tid("keystroke-sort"),
            "to read Oldest to Newest",
            secs(5.0),
            |t| t.trim() == "Oldest to Newest",
        )
        .await?;
    ensure!(
        monitor.keystroke_keys().await? == keys,
        "toggling twice did not restore the order"
    );
    let unselectable = monitor
        .js(
            "const k = document.querySelector('[data-testid=\"keystroke\"] .k-key') || document.querySelector('[data-testid=\"keystroke\"]');
             for (let e = k; e; e = e.parentElement) {
                 if (getComputedStyle(e).userSelect === 'none') return true;
                 if (e.getAttribute('data-testid') === 'keystrokes') break;
             }
             return false;",
            vec![],
        )
        .await?;
    ensure!(
        unselectable == Value::Bool(true),
        "keystrokes are selectable (no user-select: none)"
    );
    monitor.snapshot("ssh-player-keystrokes").await?;
    let api_keys: Vec<Keystroke> = isa_api
        .get(&format!("/api/v1/sessions/{sid}/keystrokes"))
        .await?;
    ensure!(
        api_keys.len() >= keys.len(),
        "REST keystrokes: {} < {} shown",
        api_keys.len(),
        keys.len()
    );

    step("(10) the user has no controls: no Lock button, and the API refuses");
    ensure!(
        !user.exists(&tid("lock-button")).await?,
        "the user's page has a Lock button"
    );
    let own: Session = alice_api.get(&format!("/api/v1/sessions/{sid}")).await?;
    ensure!(
        own.kind == SessionKind::Request && own.request_id == Some(request_id),
        "the session is {:?} under request {:?}, not Request under {request_id}",
        own.kind,
        own.request_id
    );
    ensure!(
        !own.controls.lock && !own.controls.terminate,
        "the user's controls: {:?}",
        own.controls
    );
    for action in ["lock", "terminate", "terminate-and-cancel"] {
        let r = alice_api
            .send(
                reqwest::Method::POST,
                &format!("/api/v1/sessions/{sid}/{action}"),
                None,
            )
            .await?;
        ensure!(
            r.status == 403,
            "the user's POST {action}: HTTP {} (expected 403)",
            r.status
        );
    }

    step("(9) a reviewer whose rule does not cover the asset sees nothing");
    let outsider_api = outsider_sees_nothing(relay, cast, &sid, Some(&outsider)).await?;

    step("(5) Lock: the user sees the message, and typing does not reach the target");
    late.goto("/active").await?;
    late.wait_for(&session_row(&sid), secs(10.0)).await?;
    monitor.click(&tid("lock-button"), secs(5.0)).await?;
    // The banner and the terminal itself say it, word for word.
    let banner = user.wait_lock_shown(LockShown::Terminal).await?;
    eprintln!("    user's lock banner: {banner:?}");
    user.snapshot("ssh-user-locked").await?;
    observer
        .wait_control("Locked", secs(5.0), |c| {
            matches!(c, ServerControl::Locked { .. })
        })
        .await?;
    late.wait_for(
        &format!("{}[data-locked=\"true\"]", session_row(&sid)),
        secs(5.0),
    )
    .await?;
    monitor.wait_for_testid("unlock-button", secs(5.0)).await?;
    user.type_terminal(
        &tid("terminal"),
        &format!("touch {}\n", lock_probe.display()),
    )
    .await?;
    tokio::time::sleep(secs(2.0)).await;
    ensure!(
        !lock_probe.exists(),
        "a command typed while locked ran on the target ({})",
        lock_probe.display()
    );

    step("(6) Unlock: typing works again");
    monitor.click(&tid("unlock-button"), secs(5.0)).await?;
    user.wait_gone(&tid("lock-banner"), secs(5.0)).await?;
    late.wait_for(
        &format!("{}[data-locked=\"false\"]", session_row(&sid)),
        secs(5.0),
    )
    .await?;
    user.type_terminal(
        &tid("terminal"),
        &format!("touch {}\n", unlock_probe.display()),
    )
    .await?;
    wait_file(&unlock_probe, secs(10.0)).await?;
    ensure!(
        !lock_probe.exists(),
        "input typed while locked was replayed after unlocking"
    );

    step("(7) Terminate: the user's view ends, the row leaves, the replay plays");
    monitor.click(&tid("terminate-button"), secs(5.0)).await?;
    user.wait_for(
        &format!("{}[data-status=\"ended\"]", tid("session-status")),
        secs(10.0),
    )
    .await?;
    user.wait_for_testid("session-ended", secs(5.0)).await?;
    late.wait_gone(&session_row(&sid), secs(5.0)).await?;
    let ended: Session = isa_api.get(&format!("/api/v1/sessions/{sid}")).await?;
    ensure!(
        ended.ended_at.is_some(),
        "GET /sessions/{sid} after Terminate: not ended"
    );
    observer
        .wait_control("Ended", secs(5.0), |c| {
            matches!(c, ServerControl::Ended { .. })
        })
        .await?;
    monitor.goto("/replay").await?;
    let replay_row = format!("{}[data-session-id=\"{sid}\"]", tid("replay-row"));
    monitor
        .click(&format!("{replay_row} {}", tid("replay-link")), secs(10.0))
        .await?;
    monitor
        .wait_js(
            "the replay page",
            "location.pathname === arguments[0]",
            vec![json!(format!("/replay/{sid}"))],
            secs(10.0),
        )
        .await?;
    monitor.wait_for_testid("replay-seek", secs(15.0)).await?;
    monitor.wait_for_testid("replay-speed", secs(5.0)).await?;
    let time_before = monitor.text(&tid("replay-time")).await?.unwrap_or_default();
    monitor.click(&tid("replay-play"), secs(15.0)).await?;
    monitor
        .wait_terminal(&tid("replay-terminal"), &marker, secs(20.0))
        .await?;
    monitor
        .wait_text(
            &tid("replay-time"),
            "to move on from the start",
            secs(5.0),
            |t| t != time_before,
        )
        .await?;
    monitor.snapshot("ssh-replay").await?;

    step("(11) nothing received carries the target's password or key");
    for (api, admin) in [(&alice_api, false), (&isa_api, false), (&admin_api, true)] {
        api.read_everything(&sid, admin, false).await?;
    }
    let secrets = sshd.secrets();
    let mut checked = 0;
    for b in [&user, &monitor, &late, &outsider] {
        b.capture_network().await?;
        let (ws, bodies, missed) = b.received_counts();
        eprintln!(
            "    {}: {ws} WebSocket frames, {bodies} HTTP bodies ({missed} not retrievable)",
            b.name
        );
        assert_no_secrets(&format!("browser {}", b.name), &b.received(), &secrets)?;
        checked += ws + bodies;
    }
    // The capture is not blind: the output the user saw is in what the browser received,
    // and the password is among the strings searched for.
    let saw_marker = user
        .received()
        .iter()
        .any(|d| vigil_testkit::contains_bytes(d, marker.as_bytes()));
    ensure!(
        saw_marker,
        "the user's captured frames do not hold the command's output"
    );
    ensure!(
        secrets.contains(&sshd.password) && secrets.len() >= 3,
        "too few secrets to search for"
    );
    let (user_ws, _, _) = user.received_counts();
    let (monitor_ws, _, _) = monitor.received_counts();
    ensure!(
        user_ws > 0 && monitor_ws > 0,
        "the browsers' WebSocket frames were not captured"
    );
    for (name, data) in [
        ("alice REST", alice_api.received()),
        ("isa REST", isa_api.received()),
        ("admin REST", admin_api.received()),
        ("outsider REST", outsider_api.received()),
        ("isa /live", isa_feed.received()),
        ("isa stream", observer.received()),
    ] {
        checked += data.len();
        assert_no_secrets(name, &data, &secrets)?;
    }
    eprintln!("    {checked} frames and bodies checked");
    // Only the feed's messages that concern this session; the recorder saw it come and go.
    let feed_saw = isa_feed
        .feed_msgs()
        .iter()
        .any(|m| matches!(m, FeedMsg::Removed { id } if *id == sid));
    ensure!(feed_saw, "the ISA's /live feed never removed the session");
    ensure!(request_id > 0, "the request row had no data-request-id");

    isa_feed.close();
    observer.close();
    let _ = std::fs::remove_file(&unlock_probe);
    for b in [user, monitor, late, outsider] {
        b.close().await?;
    }
    Ok(())
}
