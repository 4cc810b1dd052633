//! A live SSH session shared with bob, from the player, to its revoke.

use super::*;

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_live_link_lets_bob_watch_read_only_until_it_is_revoked() -> Result<()> {
    let relay = relay();
    let cast = relay.cast("share");
    let u = unique("");
    let marker = format!("share-42-{u}");
    let probe = probe(&u);

    let admin = Api::login_as(relay, &cast.admin).await?;
    step("bob is a regular user with no role at all: out of the requestors' group");
    remove_from_group(&admin, &cast.bob.username, &cast_group(cast, "staff")).await?;

    step("alice launches a session on the password asset and runs a command");
    let alice = Api::login_as(relay, &cast.alice).await?;
    let (sid, user) = alice
        .launch_ssh_by_request(&cast.web, &format!("share test {u}"))
        .await?;
    user.send(input(&format!("echo share-$((6*7))-{u}\r")))?;
    user.wait_output(&marker, secs(10.0)).await?;
    let reviewer_api = Api::login_as(relay, &cast.reviewer).await?;
    // For carol: a link that expires in a minute (checked near the end), and one with a code.
    let short = share_api(
        &reviewer_api,
        &sid,
        json!({"audience": {"type": "named", "users": [cast.carol.username], "groups": []},
               "expires_in_minutes": 1, "with_code": false, "allow_download": false}),
    )
    .await?;
    let short_made = Instant::now();
    let coded = share_api(
        &reviewer_api,
        &sid,
        json!({"audience": {"type": "named", "users": [cast.carol.username], "groups": []},
               "with_code": true, "allow_download": false}),
    )
    .await?;
    let code = coded
        .code
        .clone()
        .context("a link with a code came without one")?;

    step("three browsers: the reviewer (logged in), bob and carol (not yet)");
    let (rev, bob, carol) = tokio::try_join!(
        Browser::open(relay, "share-reviewer"),
        Browser::open(relay, "share-bob"),
        Browser::open(relay, "share-carol"),
    )?;
    rev.login(&cast.reviewer).await?;
    rev.goto(&format!("/sessions/{sid}")).await?;
    rev.wait_terminal(&tid("player-terminal"), &marker, secs(15.0))
        .await?;

    step("(1) the reviewer shares the session with bob from the player's Share dialog");
    let (url, none) = share_in_browser(&rev, &cast.bob.username, false).await?;
    ensure!(none.is_none(), "a link without a code has one");
    ensure!(
        url.starts_with(&format!("{}/share#", relay.base)),
        "the link is {url:?}, not {}/share#<token>",
        relay.base
    );
    let token = token_of(&url)?;
    ensure!(
        token.len() >= 22,
        "the token has {} characters: fewer than 128 bits",
        token.len()
    );
    let row = rev
        .wait_for(
            &format!("{}[data-state=\"active\"]", tid("share-link-row")),
            secs(10.0),
        )
        .await?;
    let link_id = row.attr("data-link-id").await?.unwrap_or_default();
    let for_whom = rev.text(&tid("share-link-for")).await?.unwrap_or_default();
    ensure!(
        for_whom.contains(&cast.bob.username),
        "the links list says the link is for {for_whom:?}"
    );

    step("(1) bob opens the link: he logs in first, then lands on the player");
    let opened = Instant::now();
    open_link_logging_in(&bob, &url, &cast.bob).await?;
    wait_path(&bob, &format!("/sessions/{sid}"), secs(15.0)).await?;
    bob.wait_terminal(&tid("player-terminal"), &marker, secs(10.0))
        .await?;
    eprintln!(
        "    bob saw the live screen {} ms after opening the link",
        opened.elapsed().as_millis()
    );
    user.send(input(&format!("echo again-{u}\r")))?;
    bob.wait_terminal(&tid("player-terminal"), &format!("again-{u}"), secs(10.0))
        .await?;
    let keys = poll_until("bob's Keystrokes", secs(10.0), || async {
        let k = bob.keystroke_keys().await?;
        Ok(k.iter().any(|k| k == "Enter").then_some(k))
    })
    .await?;
    eprintln!("    bob's Keystrokes panel lists {} keys", keys.len());
    for control in [
        "lock-button",
        "unlock-button",
        "terminate-button",
        "terminate-cancel-button",
        "share-button",
        "watchers",
    ] {
        if bob.exists(&tid(control)).await? {
            return Err(bob.fail(format!("bob's player shows `{control}`")).await);
        }
    }
    bob.snapshot("share-bob-player").await?;

    step("(1) bob's REST attempts at the controls and at sharing are refused");
    let bob_api = Api::login_as(relay, &cast.bob).await?;
    controls_refused(&bob_api, "bob", &sid).await?;
    let seen = session_as(&bob_api, &sid).await?;
    let seen = seen.map_err(|s| anyhow::anyhow!("bob may not read the session: HTTP {s}"))?;
    ensure!(
        seen.watchers.is_none(),
        "bob is told how many watch ({:?})",
        seen.watchers
    );
    ensure!(
        !seen.controls.lock && !seen.controls.terminate && !seen.controls.share,
        "bob's controls: {:?}",
        seen.controls
    );

    step("(1) on the stream bob is an observer: his input never reaches the target");
    let bob_ws = bob_api
        .ws(&format!("/api/v1/sessions/{sid}/stream"), true)
        .await?;
    bob_ws.wait_output(&marker, secs(10.0)).await?;
    ensure!(
        welcome_participant(&bob_ws) == Some(Participant::Observer),
        "bob joined the stream as {:?}",
        welcome_participant(&bob_ws)
    );
    bob_ws.send(input(&format!("touch {}\r", probe.display())))?;
    tokio::time::sleep(secs(2.0)).await;
    ensure!(
        !probe.exists(),
        "bob's input reached the target ({})",
        probe.display()
    );

    step("(5) the reviewer sees who watches: alice (owner), the reviewer (role), bob (link)");
    for (name, via, participant) in [
        (&cast.alice.username, "owner", "user"),
        (&cast.reviewer.username, "role", "observer"),
        (&cast.bob.username, "link", "observer"),
    ] {
        let css = format!(
            "{}[data-username=\"{name}\"][data-via=\"{via}\"][data-participant=\"{participant}\"]",
            tid("participant")
        );
        rev.wait_for(&css, secs(10.0)).await?;
    }
    rev.wait_text(
        &format!(
            "{}[data-link-id=\"{link_id}\"] {}",
            tid("share-link-row"),
            tid("share-link-used")
        ),
        "to say bob has used the link",
        secs(10.0),
        |t| t.contains(&cast.bob.username),
    )
    .await?;
    rev.snapshot("share-reviewer-watchers").await?;
    let as_reviewer = session_as(&reviewer_api, &sid).await?;
    let watchers = as_reviewer.ok().and_then(|s| s.watchers);
    ensure!(
        watchers.is_some_and(|n| n >= 2),
        "the reviewer is told {watchers:?} watchers"
    );
    let as_alice = session_as(&alice, &sid).await?;
    ensure!(
        as_alice.as_ref().ok().and_then(|s| s.watchers).is_none(),
        "the session's own user is told who watches: {as_alice:?}"
    );
    ensure!(
        !user.server_msgs().iter().any(|m| matches!(
            m,
            vigil_testkit::vigil_wire::live::ServerMsg::Control(ServerControl::Participants { .. })
        )),
        "the session's own user was sent the participants"
    );

    step("(5) Active Sessions shows the reviewer how many watch");
    rev.goto("/active").await?;
    let count = format!(
        "{}[data-session-id=\"{sid}\"] {}",
        tid("session-row"),
        tid("watchers-count")
    );
    let shown = rev
        .wait_text(&count, "to count bob's two views", secs(10.0), |t| {
            t.split_whitespace()
                .next()
                .and_then(|n| n.parse::<u32>().ok())
                .is_some_and(|n| n >= 2)
        })
        .await?;
    eprintln!("    Active Sessions: {shown:?}");
    rev.goto(&format!("/sessions/{sid}")).await?;
    rev.wait_terminal(&tid("player-terminal"), &marker, secs(15.0))
        .await?;

    step("(2) carol, not named, opens the same link: refused");
    open_link_logging_in(&carol, &url, &cast.carol).await?;
    let said = wait_refused(&carol, "link_not_for_you").await?;
    eprintln!("    carol is told: {said:?}");
    let carol_api = Api::login_as(relay, &cast.carol).await?;
    ensure!(
        is_refusal(session_as(&carol_api, &sid).await?.err().unwrap_or(200)),
        "carol may read the session"
    );

    step("(2) a wrong token is refused");
    let last = if token.ends_with('A') { 'B' } else { 'A' };
    let wrong_token = format!("{}{last}", &token[..token.len() - 1]);
    open_link(&carol, &format!("/share#{wrong_token}")).await?;
    wait_refused(&carol, "link_not_found").await?;
    let (status, why) = redeem(&carol_api, "no-such-token", None).await?;
    ensure!(
        (status, why.as_str()) == (404, "link_not_found"),
        "a made-up token: HTTP {status} {why}"
    );

    step("(2) a link with a code asks for it; a wrong code is refused, the right one opens");
    open_link(&carol, &coded.url).await?;
    carol.wait_for_testid("share-code-form", secs(10.0)).await?;
    let wrong = if code == "000000" { "111111" } else { "000000" };
    carol.fill(&tid("share-code-input"), wrong).await?;
    carol.click(&tid("share-code-submit"), secs(5.0)).await?;
    carol
        .wait_for_testid("share-code-wrong", secs(10.0))
        .await?;
    carol.fill(&tid("share-code-input"), &code).await?;
    carol.click(&tid("share-code-submit"), secs(5.0)).await?;
    wait_path(&carol, &format!("/sessions/{sid}"), secs(10.0)).await?;
    carol
        .wait_terminal(&tid("player-terminal"), &marker, secs(10.0))
        .await?;
    let (status, why) = redeem(&carol_api, &token_of(&coded.url)?, Some(wrong)).await?;
    ensure!(
        (status, why.as_str()) == (403, "wrong_code"),
        "a wrong code over REST: HTTP {status} {why}"
    );

    step("(2) five wrong codes block a link for carol, even with the right code after");
    let blocked = share_api(
        &reviewer_api,
        &sid,
        json!({"audience": {"type": "named", "users": [cast.carol.username], "groups": []},
               "with_code": true, "allow_download": false}),
    )
    .await?;
    let (blocked_token, right) = (
        token_of(&blocked.url)?,
        blocked
            .code
            .clone()
            .context("a link with a code came without one")?,
    );
    let wrong = if right == "000000" {
        "111111"
    } else {
        "000000"
    };
    for _ in 0..5 {
        let (status, why) = redeem(&carol_api, &blocked_token, Some(wrong)).await?;
        ensure!(
            (status, why.as_str()) == (403, "wrong_code"),
            "a wrong code: HTTP {status} {why}"
        );
    }
    let (status, why) = redeem(&carol_api, &blocked_token, Some(&right)).await?;
    ensure!(
        (status, why.as_str()) == (429, "too_many_attempts"),
        "the right code after five wrong ones: HTTP {status} {why}"
    );
    open_link(&carol, &blocked.url).await?;
    wait_refused(&carol, "too_many_attempts").await?;

    step("lock and unlock by the reviewer (for the audit)");
    for action in ["lock", "unlock"] {
        reviewer_api
            .post::<Session>(&format!("/api/v1/sessions/{sid}/{action}"), &json!({}))
            .await?;
    }

    step("(3) Revoke while bob watches: his player says so and his stream closes");
    let revoke = format!(
        "{}[data-link-id=\"{link_id}\"] {}",
        tid("share-link-row"),
        tid("share-revoke")
    );
    let t0 = Instant::now();
    rev.click(&revoke, secs(5.0)).await?;
    let cut = wait_cut_off(&bob_ws, ErrorCode::LinkRevoked, t0).await?;
    bob.wait_text(
        &tid("access-ended"),
        "to say the link's access ended",
        secs(10.0),
        |t| t.contains(LINK_ENDED),
    )
    .await?;
    let shown = t0.elapsed();
    eprintln!(
        "    revoke to cut-off: stream closed {} ms, player message {} ms after the click",
        cut.as_millis(),
        shown.as_millis()
    );
    bob.snapshot("share-bob-revoked").await?;
    rev.wait_for(
        &format!(
            "{}[data-link-id=\"{link_id}\"][data-state=\"revoked\"]",
            tid("share-link-row")
        ),
        secs(10.0),
    )
    .await?;
    ensure!(
        is_refusal(session_as(&bob_api, &sid).await?.err().unwrap_or(200)),
        "bob may still read the session after the revoke"
    );
    let (status, why) = redeem(&bob_api, &token, None).await?;
    ensure!(
        (status, why.as_str()) == (410, "link_revoked"),
        "the revoked link: HTTP {status} {why}"
    );
    open_link(&bob, &url).await?;
    wait_refused(&bob, "link_revoked").await?;
    let listed = links(&reviewer_api, &sid).await?;
    let revoked = listed
        .iter()
        .find(|l| l.id == link_id)
        .context("the revoked link left the list")?;
    ensure!(
        revoked.uses.iter().any(|x| x.username == cast.bob.username),
        "the link's uses do not name bob: {:?}",
        revoked.uses
    );

    step("(4) the reviewer, taken out of their group while watching, is detached");
    let rev_ws = reviewer_api
        .ws(&format!("/api/v1/sessions/{sid}/stream"), true)
        .await?;
    rev_ws.wait_output(&marker, secs(10.0)).await?;
    let t0 = Instant::now();
    remove_from_group(
        &admin,
        &cast.reviewer.username,
        &cast_group(cast, "auditors"),
    )
    .await?;
    let cut = wait_cut_off(&rev_ws, ErrorCode::AccessRevoked, t0).await?;
    rev.wait_for_testid("access-ended", secs(10.0)).await?;
    eprintln!(
        "    group removal to detach: {} ms (player message after {} ms)",
        cut.as_millis(),
        t0.elapsed().as_millis()
    );
    ensure!(
        !user.server_msgs().iter().any(|m| matches!(
            m,
            vigil_testkit::vigil_wire::live::ServerMsg::Control(ServerControl::Ended { .. })
        )),
        "the session ended with its watchers"
    );

    step("(2) the one-minute link has expired");
    let short_token = token_of(&short.url)?;
    let wait = Duration::from_secs(62).saturating_sub(short_made.elapsed());
    tokio::time::sleep(wait).await;
    let (status, why) = redeem(&carol_api, &short_token, None).await?;
    ensure!(
        (status, why.as_str()) == (410, "link_expired"),
        "the expired link: HTTP {status} {why}"
    );
    open_link(&carol, &short.url).await?;
    wait_refused(&carol, "link_expired").await?;

    step("(6) the session's audit lists each step with its actor");
    admin
        .post::<Session>(&format!("/api/v1/sessions/{sid}/terminate"), &json!({}))
        .await?;
    wait_ended(&admin, &sid).await?;
    let (rv, b) = (cast.reviewer.username.as_str(), cast.bob.username.as_str());
    wait_audit(
        &admin,
        &sid,
        &[
            ("share", rv),
            ("link_use", b),
            ("view_start", b),
            ("view_end", b),
            ("view_start", rv),
            ("lock", rv),
            ("unlock", rv),
            ("revoke", rv),
        ],
    )
    .await?;
    // Each entry names where it came from, and the chain they joined still holds.
    let entries = session_audit(&admin, &sid).await?;
    for e in entries.iter().filter(|e| e.actor == b || e.actor == rv) {
        ensure!(
            e.source.as_deref() == Some("127.0.0.1"),
            "{} by {} has source {:?}",
            e.action,
            e.actor,
            e.source
        );
    }
    let verified: AuditVerification = admin.get("/api/v1/audit/verify").await?;
    ensure!(verified.ok, "the audit chain after sharing: {verified:?}");

    user.close();
    bob_ws.close();
    rev_ws.close();
    let _ = std::fs::remove_file(&probe);
    for b in [rev, bob, carol] {
        b.close().await?;
    }
    Ok(())
}
