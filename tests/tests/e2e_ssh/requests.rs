//! Requests and their end: Terminate and Cancel, the lock gate at the relay, and no launch
//! without a request.

use super::*;

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
    let db = bob.asset_id(&cast.db).await?;
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
    let web = admin.asset_id(&cast.web).await?;
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
    bob.read_everything(&sid, false, false).await?;
    admin.read_everything(&sid, true, false).await?;
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
    let web = alice.asset_id(&cast.web).await?;
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
