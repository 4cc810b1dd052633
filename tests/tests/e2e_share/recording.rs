//! A recording shared with bob: the replay opens for him only, the download only if granted.

use super::*;

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_recording_link_opens_the_replay_for_the_named_user_only() -> Result<()> {
    let relay = relay();
    let cast = relay.cast("shrec");
    let u = unique("");
    let marker = format!("replay-42-{u}");

    step("alice runs a command in a session, which then ends");
    let alice = Api::login_as(relay, &cast.alice).await?;
    let (sid, user) = alice
        .launch_ssh_by_request(&cast.web, &format!("recording test {u}"))
        .await?;
    user.send(input(&format!("echo replay-$((6*7))-{u}\r")))?;
    user.wait_output(&marker, secs(10.0)).await?;
    let admin = Api::login_as(relay, &cast.admin).await?;
    let reviewer_api = Api::login_as(relay, &cast.reviewer).await?;
    reviewer_api
        .post::<Session>(&format!("/api/v1/sessions/{sid}/terminate"), &json!({}))
        .await?;
    wait_ended(&reviewer_api, &sid).await?;
    user.close();

    step("the reviewer shares the recording with bob from the replay (no download)");
    let (rev, bob, carol) = tokio::try_join!(
        Browser::open(relay, "rec-reviewer"),
        Browser::open(relay, "rec-bob"),
        Browser::open(relay, "rec-carol"),
    )?;
    rev.login(&cast.reviewer).await?;
    rev.goto(&format!("/replay/{sid}")).await?;
    rev.wait_for_testid("replay-seek", secs(15.0)).await?;
    rev.click(&tid("share-button"), secs(10.0)).await?;
    ensure!(
        rev.exists(&tid("share-allow-download")).await?,
        "a recording's Share dialog does not offer the download"
    );
    rev.click(&tid("share-button"), secs(5.0)).await?;
    let (url, _) = share_in_browser(&rev, &cast.bob.username, false).await?;
    let listed = links(&reviewer_api, &sid).await?;
    ensure!(
        listed.len() == 1 && listed[0].kind == ShareKind::Recording && !listed[0].allow_download,
        "the recording's links: {listed:?}"
    );

    step("bob opens it: after logging in, the replay plays the session");
    open_link_logging_in(&bob, &url, &cast.bob).await?;
    wait_path(&bob, &format!("/replay/{sid}"), secs(15.0)).await?;
    bob.wait_for_testid("replay-seek", secs(15.0)).await?;
    bob.click(&tid("replay-play"), secs(10.0)).await?;
    bob.wait_terminal(&tid("replay-terminal"), &marker, secs(20.0))
        .await?;
    for absent in ["download-link", "share-button"] {
        if bob.exists(&tid(absent)).await? {
            return Err(bob.fail(format!("bob's replay shows `{absent}`")).await);
        }
    }
    bob.snapshot("share-bob-replay").await?;

    step("without the download, the recording path refuses bob; the replay path serves him");
    let bob_api = Api::login_as(relay, &cast.bob).await?;
    let download = bob_api
        .send(
            reqwest::Method::GET,
            &format!("/api/v1/sessions/{sid}/recording"),
            None,
        )
        .await?;
    ensure!(
        download.status == 403,
        "bob's download: HTTP {} (expected 403)",
        download.status
    );
    let replay = bob_api
        .send(
            reqwest::Method::GET,
            &format!("/api/v1/sessions/{sid}/replay"),
            None,
        )
        .await?;
    ensure!(
        replay.status == 200 && vigil_testkit::contains_bytes(&replay.body, marker.as_bytes()),
        "bob's replay: HTTP {}",
        replay.status
    );
    controls_refused(&bob_api, "bob", &sid).await?;

    step("carol, not named, is refused the link and the recording");
    open_link_logging_in(&carol, &url, &cast.carol).await?;
    wait_refused(&carol, "link_not_for_you").await?;
    let carol_api = Api::login_as(relay, &cast.carol).await?;
    for path in ["replay", "recording"] {
        let r = carol_api
            .send(
                reqwest::Method::GET,
                &format!("/api/v1/sessions/{sid}/{path}"),
                None,
            )
            .await?;
        ensure!(
            is_refusal(r.status),
            "carol's GET {path}: HTTP {} (expected 403/404)",
            r.status
        );
    }

    step("a link that grants the download lets its user download the recording");
    let with_download = share_api(
        &reviewer_api,
        &sid,
        json!({"audience": {"type": "named", "users": [cast.carol.username], "groups": []},
               "with_code": false, "allow_download": true}),
    )
    .await?;
    open_link(&carol, &with_download.url).await?;
    wait_path(&carol, &format!("/replay/{sid}"), secs(15.0)).await?;
    carol.wait_for_testid("download-link", secs(15.0)).await?;
    let got = carol_api
        .send(
            reqwest::Method::GET,
            &format!("/api/v1/sessions/{sid}/recording"),
            None,
        )
        .await?;
    ensure!(
        got.status == 200 && vigil_testkit::contains_bytes(&got.body, marker.as_bytes()),
        "carol's download: HTTP {}",
        got.status
    );

    step("the audit lists the share and each link's use");
    let (rv, b, c) = (
        cast.reviewer.username.as_str(),
        cast.bob.username.as_str(),
        cast.carol.username.as_str(),
    );
    wait_audit(
        &admin,
        &sid,
        &[
            ("share", rv),
            ("link_use", b),
            ("link_use", c),
            ("download", c),
        ],
    )
    .await?;

    for b in [rev, bob, carol] {
        b.close().await?;
    }
    Ok(())
}
