//! SSH end to end: real Chromium browsers (a user and the people watching), the real
//! relay, a real sshd on loopback.
//!
//! `a_watched_session_is_locked_unlocked_and_terminated` follows one session through
//! the browsers: launch under an auto-approved request, output, Active Sessions and its
//! thumbnail, the live player, a late joiner, Keystrokes, Lock/Unlock, Terminate, the
//! replay; an outsider reviewer and the user themselves are refused the controls, and
//! nothing any of them receive carries the target's credentials.
//!
//! `terminate_and_cancel_checks_the_request_in` drives a key-based session over the
//! wire protocol, checks the lock gate at the relay, Terminate and Cancel from the
//! browser, and that Admin Sessions cannot be cancelled.

use std::path::Path;
use std::time::{Duration, Instant};

use anyhow::{bail, ensure, Context, Result};
use serde_json::{json, Value};
use vigil_testkit::vigil_wire::api::{
    AccessRequest, Asset, Keystroke, Launched, RequestStatus, Session, SessionKind,
};
use vigil_testkit::vigil_wire::live::{FeedMsg, Participant, ServerControl};
use vigil_testkit::vigil_wire::SSH_LOCK_MESSAGE;
use vigil_testkit::{
    assert_no_secrets, poll_until, secs, sshd, step, tid, unique, Api, Browser, Cast, Relay,
};

/// One relay for this binary: `live` for the browser flow, `cancel` for the other test.
const CASTS: &[&str] = &["live", "cancel"];

fn relay() -> &'static Relay {
    Relay::shared(CASTS)
}

fn session_row(id: &str) -> String {
    format!("{}[data-session-id=\"{id}\"]", tid("session-row"))
}

async fn asset_id(api: &Api, name: &str) -> Result<i64> {
    let assets: Vec<Asset> = api.get("/api/v1/assets").await?;
    assets
        .iter()
        .find(|a| a.name == name)
        .map(|a| a.id)
        .with_context(|| format!("asset {name} is not listed ({} assets)", assets.len()))
}

fn is_refusal(status: u16) -> bool {
    status == 403 || status == 404
}

/// Waits until `path` exists (or fails after `timeout`).
async fn wait_file(path: &Path, timeout: Duration) -> Result<()> {
    poll_until(&format!("{} to exist", path.display()), timeout, || async {
        Ok(path.exists().then_some(()))
    })
    .await
}

/// Keys shown in the Keystrokes panel, in page order.
async fn keystroke_keys(b: &Browser) -> Result<Vec<String>> {
    let v = b
        .js(
            "return Array.from(document.querySelectorAll('[data-testid=\"keystroke\"]'))
                 .map(e => { const k = e.querySelector('.k-key'); return (k ? k.innerText : e.innerText).trim(); });",
            vec![],
        )
        .await?;
    Ok(serde_json::from_value(v).unwrap_or_default())
}

/// Every REST list and detail `api` may read about `sid`, so their bodies are kept.
async fn read_everything(api: &Api, sid: &str, admin: bool) -> Result<()> {
    let mut paths = vec![
        "/api/v1/me".to_string(),
        "/api/v1/assets".into(),
        "/api/v1/requests".into(),
        "/api/v1/sessions?state=active".into(),
        "/api/v1/sessions?state=ended".into(),
        format!("/api/v1/sessions/{sid}"),
        format!("/api/v1/sessions/{sid}/keystrokes"),
        format!("/api/v1/sessions/{sid}/recording"),
        "/api/v1/openapi.json".into(),
    ];
    if admin {
        paths.push("/api/v1/rules".into());
        paths.push("/api/v1/audit".into());
    }
    for p in paths {
        api.send(reqwest::Method::GET, &p, None).await?;
    }
    Ok(())
}

/// The outsider (a reviewer whose rule covers other assets) sees nothing of `sid`.
async fn outsider_sees_nothing(
    relay: &Relay,
    cast: &Cast,
    sid: &str,
    b: Option<&Browser>,
) -> Result<Api> {
    let api = Api::login_as(relay, &cast.outsider).await?;
    for (method, path) in [
        (reqwest::Method::GET, format!("/api/v1/sessions/{sid}")),
        (
            reqwest::Method::GET,
            format!("/api/v1/sessions/{sid}/keystrokes"),
        ),
        (
            reqwest::Method::GET,
            format!("/api/v1/sessions/{sid}/recording"),
        ),
        (
            reqwest::Method::POST,
            format!("/api/v1/sessions/{sid}/lock"),
        ),
        (
            reqwest::Method::POST,
            format!("/api/v1/sessions/{sid}/terminate"),
        ),
    ] {
        let r = api.send(method.clone(), &path, None).await?;
        ensure!(
            is_refusal(r.status),
            "outsider: {method} {path} answered HTTP {} (expected 403/404)",
            r.status
        );
    }
    let active: Vec<Session> = api.get("/api/v1/sessions?state=active").await?;
    ensure!(
        active.iter().all(|s| s.id != sid),
        "outsider: GET /sessions lists the session"
    );
    // The session's WebSocket: refused at the upgrade, or closed before anything of it.
    match api
        .ws_try(&format!("/api/v1/sessions/{sid}/stream"), true)
        .await?
    {
        Err(status) => ensure!(
            is_refusal(status),
            "outsider: stream upgrade answered HTTP {status}"
        ),
        Ok(ws) => {
            tokio::time::sleep(secs(2.0)).await;
            let leaked = ws.server_msgs().iter().any(|m| {
                !matches!(
                    m,
                    vigil_testkit::vigil_wire::live::ServerMsg::Control(
                        ServerControl::Error { .. }
                    )
                )
            });
            ensure!(!leaked, "outsider: the stream sent {:?}", ws.server_msgs());
            ensure!(ws.closed().is_some(), "outsider: the stream stayed open");
        }
    }
    // The Active Sessions feed never mentions it.
    let feed = api.ws("/api/v1/live", false).await?;
    tokio::time::sleep(secs(1.5)).await;
    let mentions = feed
        .received()
        .iter()
        .any(|f| vigil_testkit::contains_bytes(f, sid.as_bytes()));
    ensure!(!mentions, "outsider: the /live feed mentions the session");
    feed.close();
    if let Some(b) = b {
        b.goto("/active").await?;
        b.wait_for(
            &format!("{}, {}", tid("sessions-empty"), tid("session-row")),
            secs(10.0),
        )
        .await?;
        tokio::time::sleep(secs(1.0)).await;
        if b.exists(&tid("session-row")).await? {
            return Err(b.fail("outsider: Active Sessions shows a session").await);
        }
        b.goto(&format!("/sessions/{sid}")).await?;
        b.wait_for_testid("session-unavailable", secs(10.0)).await?;
    }
    Ok(api)
}

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
        let keys = keystroke_keys(&monitor).await?;
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
            let keys = keystroke_keys(&monitor).await?;
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
    let newest_first = keystroke_keys(&monitor).await?;
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
        keystroke_keys(&monitor).await? == keys,
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
    let banner = user
        .wait_text(
            &tid("lock-banner"),
            "to carry the lock message",
            secs(5.0),
            |t| t.contains(SSH_LOCK_MESSAGE),
        )
        .await?;
    eprintln!("    user's lock banner: {banner:?}");
    // The terminal itself says it too, word for word.
    user.wait_terminal(&tid("terminal"), SSH_LOCK_MESSAGE, secs(5.0))
        .await?;
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
        read_everything(api, &sid, admin).await?;
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

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn terminate_and_cancel_checks_the_request_in() -> Result<()> {
    let relay = relay();
    let cast = relay.cast("cancel");
    let sshd = sshd();
    let u = unique("");
    let marker = format!("cancel-42-{u}");
    let lock_probe = Path::new("/tmp").join(format!("vigil-lock-probe-ws-{u}"));
    let unlock_probe = Path::new("/tmp").join(format!("vigil-unlock-probe-ws-{u}"));

    step("bob requests access to the key-based asset (auto-approved) and launches over the API");
    let bob = Api::login_as(relay, &cast.bob).await?;
    let reviewer_api = Api::login_as(relay, &cast.reviewer).await?;
    let admin = Api::login_as(relay, &cast.admin).await?;
    let db = asset_id(&bob, &cast.db).await?;
    let req: AccessRequest = bob
        .post(
            "/api/v1/requests",
            &json!({"asset_id": db, "reason": format!("cancel {u}"), "duration_minutes": 30}),
        )
        .await?;
    ensure!(
        req.status == RequestStatus::Approved,
        "the request is {:?}, not auto-approved",
        req.status
    );
    let launched: Launched = bob
        .post(
            "/api/v1/sessions",
            &json!({"asset_id": db, "request_id": req.id, "cols": 100, "rows": 30}),
        )
        .await?;
    let sid = launched.session_id;
    let stream = bob
        .ws(&format!("/api/v1/sessions/{sid}/stream"), true)
        .await?;
    let welcome = stream
        .wait_control("Welcome", secs(10.0), |c| {
            matches!(c, ServerControl::Welcome { .. })
        })
        .await?;
    if let ServerControl::Welcome {
        participant,
        session,
        ..
    } = &welcome
    {
        ensure!(
            *participant == Participant::User,
            "bob joined his own session as {participant:?}"
        );
        ensure!(
            session.kind == SessionKind::Request,
            "bob's session is {:?}",
            session.kind
        );
    }
    stream.wait_output("$", secs(20.0)).await?;
    let input =
        |s: &str| vigil_testkit::vigil_wire::live::ClientMsg::Input(s.as_bytes().to_vec()).encode();
    stream.send(input(&format!("echo cancel-$((6*7))-{u}\r")))?;
    stream.wait_output(&marker, secs(10.0)).await?;

    step("the WebSocket refuses another Origin");
    match bob
        .ws_try_origin(
            &format!("/api/v1/sessions/{sid}/stream"),
            true,
            "http://attacker.invalid",
        )
        .await?
    {
        Err(status) => ensure!(
            (400..500).contains(&status),
            "foreign Origin: HTTP {status}"
        ),
        Ok(ws) => {
            tokio::time::sleep(secs(1.0)).await;
            ensure!(
                ws.terminal_output().is_empty() && ws.closed().is_some(),
                "a foreign Origin got the stream"
            );
        }
    }

    step("the reviewer watches it in the browser");
    let reviewer = Browser::open(relay, "reviewer").await?;
    reviewer.login(&cast.reviewer).await?;
    reviewer.goto("/active").await?;
    reviewer
        .click(
            &format!("{} {}", session_row(&sid), tid("thumbnail")),
            secs(10.0),
        )
        .await?;
    reviewer
        .wait_terminal(&tid("player-terminal"), &marker, secs(10.0))
        .await?;
    reviewer
        .wait_for_testid("terminate-cancel-button", secs(5.0))
        .await?;

    step("the lock gate holds at the relay, whatever a client sends");
    let locked: Session = reviewer_api
        .post(&format!("/api/v1/sessions/{sid}/lock"), &json!({}))
        .await?;
    ensure!(locked.locked, "lock answered an unlocked session");
    let msg = stream
        .wait_control("Locked", secs(5.0), |c| {
            matches!(c, ServerControl::Locked { .. })
        })
        .await?;
    if let ServerControl::Locked { message } = msg {
        ensure!(message == SSH_LOCK_MESSAGE, "lock message is {message:?}");
    }
    stream.send(input(&format!("touch {}\r", lock_probe.display())))?;
    tokio::time::sleep(secs(2.0)).await;
    ensure!(
        !lock_probe.exists(),
        "input sent while locked ran on the target"
    );
    for action in ["unlock", "terminate", "terminate-and-cancel"] {
        let r = bob
            .send(
                reqwest::Method::POST,
                &format!("/api/v1/sessions/{sid}/{action}"),
                None,
            )
            .await?;
        ensure!(
            r.status == 403,
            "bob's own POST {action}: HTTP {} (expected 403)",
            r.status
        );
    }
    let _: Session = reviewer_api
        .post(&format!("/api/v1/sessions/{sid}/unlock"), &json!({}))
        .await?;
    stream
        .wait_control("Unlocked", secs(5.0), |c| {
            matches!(c, ServerControl::Unlocked)
        })
        .await?;
    stream.send(input(&format!("touch {}\r", unlock_probe.display())))?;
    wait_file(&unlock_probe, secs(10.0)).await?;
    ensure!(
        !lock_probe.exists(),
        "input sent while locked was replayed after unlocking"
    );

    step("an outsider reviewer is refused this session too");
    let outsider_api = outsider_sees_nothing(relay, cast, &sid, None).await?;

    step("Terminate and Cancel from the browser checks the request in");
    reviewer
        .click(&tid("terminate-cancel-button"), secs(5.0))
        .await?;
    stream
        .wait_control("Ended", secs(10.0), |c| {
            matches!(c, ServerControl::Ended { .. })
        })
        .await?;
    reviewer
        .wait_for_testid("session-ended", secs(10.0))
        .await?;
    let requests: Vec<AccessRequest> = bob.get("/api/v1/requests").await?;
    let after = requests
        .iter()
        .find(|r| r.id == req.id)
        .context("bob's request is gone from /requests")?;
    ensure!(
        after.status == RequestStatus::CheckedIn,
        "the request is {:?} after Terminate and Cancel",
        after.status
    );
    let relaunch = bob
        .send(
            reqwest::Method::POST,
            "/api/v1/sessions",
            Some(&json!({"asset_id": db, "request_id": req.id, "cols": 80, "rows": 24})),
        )
        .await?;
    ensure!(
        (400..500).contains(&relaunch.status),
        "relaunch under a checked-in request: HTTP {}",
        relaunch.status
    );

    step("an Admin Session cannot be cancelled, and reviewers do not see it");
    let web = asset_id(&admin, &cast.web).await?;
    let admin_launch: Launched = admin
        .post(
            "/api/v1/sessions",
            &json!({"asset_id": web, "request_id": null, "cols": 80, "rows": 24}),
        )
        .await?;
    let asid = admin_launch.session_id;
    let admin_session: Session = admin.get(&format!("/api/v1/sessions/{asid}")).await?;
    ensure!(
        admin_session.kind == SessionKind::Admin,
        "the administrator's session is {:?}",
        admin_session.kind
    );
    let r = admin
        .send(
            reqwest::Method::POST,
            &format!("/api/v1/sessions/{asid}/terminate-and-cancel"),
            None,
        )
        .await?;
    ensure!(
        r.status == 403,
        "terminate-and-cancel on an Admin Session: HTTP {} (expected 403)",
        r.status
    );
    let r = reviewer_api
        .send(
            reqwest::Method::GET,
            &format!("/api/v1/sessions/{asid}"),
            None,
        )
        .await?;
    ensure!(
        is_refusal(r.status),
        "a reviewer reads an Admin Session: HTTP {}",
        r.status
    );
    // A session's own user never controls it, an administrator's own Admin Session
    // included; it ends with the relay.
    let r = admin
        .send(
            reqwest::Method::POST,
            &format!("/api/v1/sessions/{asid}/terminate"),
            None,
        )
        .await?;
    ensure!(
        r.status == 403,
        "an administrator terminates their own Admin Session: HTTP {} (expected 403)",
        r.status
    );

    step("nothing received carries the target's password or key");
    read_everything(&bob, &sid, false).await?;
    read_everything(&admin, &sid, true).await?;
    reviewer.capture_network().await?;
    let secrets = sshd.secrets();
    for (name, data) in [
        ("bob REST", bob.received()),
        ("bob stream", stream.received()),
        ("reviewer REST", reviewer_api.received()),
        ("admin REST", admin.received()),
        ("outsider REST", outsider_api.received()),
        ("reviewer browser", reviewer.received()),
    ] {
        assert_no_secrets(name, &data, &secrets)?;
    }
    if !stream.terminal_output().contains(&marker) {
        bail!("the stream recorder lost the output");
    }
    stream.close();
    let _ = std::fs::remove_file(&unlock_probe);
    reviewer.close().await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_regular_user_cannot_launch_without_a_request() -> Result<()> {
    let relay = relay();
    let cast = relay.cast("cancel");
    let alice = Api::login_as(relay, &cast.alice).await?;
    let web = asset_id(&alice, &cast.web).await?;
    let r = alice
        .send(
            reqwest::Method::POST,
            "/api/v1/sessions",
            Some(&json!({"asset_id": web, "request_id": null, "cols": 80, "rows": 24})),
        )
        .await?;
    ensure!(
        (400..500).contains(&r.status),
        "a direct launch by a regular user: HTTP {}",
        r.status
    );
    // Nor under someone else's request.
    let bob = Api::login_as(relay, &cast.bob).await?;
    let req: AccessRequest = bob
        .post(
            "/api/v1/requests",
            &json!({"asset_id": web, "reason": "not alice's", "duration_minutes": 5}),
        )
        .await?;
    let r = alice
        .send(
            reqwest::Method::POST,
            "/api/v1/sessions",
            Some(&json!({"asset_id": web, "request_id": req.id, "cols": 80, "rows": 24})),
        )
        .await?;
    ensure!(
        (400..500).contains(&r.status),
        "a launch under another user's request: HTTP {}",
        r.status
    );
    // A state-changing request without the CSRF header is refused.
    let plain = reqwest::Client::builder().cookie_store(true).build()?;
    let login = plain
        .post(relay.url("/api/v1/auth/login"))
        .json(&json!({"username": cast.bob.username, "password": cast.bob.password}))
        .send()
        .await?;
    ensure!(login.status() == 200, "login: HTTP {}", login.status());
    let no_csrf = plain
        .post(relay.url("/api/v1/requests"))
        .json(&json!({"asset_id": web, "reason": "no csrf", "duration_minutes": 5}))
        .send()
        .await?;
    ensure!(
        no_csrf.status() == 403 || no_csrf.status() == 401,
        "POST without CSRF header: HTTP {}",
        no_csrf.status()
    );
    Ok(())
}
