//! An RDP session (xrdp) shared with bob: a link viewer gets a complete frame.

use super::*;

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_desktop_link_viewer_gets_a_complete_frame() -> Result<()> {
    let relay = relay();
    let cast = relay.cast("shrdp");

    step("alice connects to the xrdp desktop (RemoteFX)");
    let (user, bob) = tokio::try_join!(
        Browser::open(relay, "rdp-share-alice"),
        Browser::open(relay, "rdp-share-bob"),
    )?;
    user.login(&cast.alice).await?;
    let sid = user
        .connect_by_request(&cast.rdp.rfx, "rdp share test")
        .await?;
    let first = user.wait_desktop("desktop-canvas", secs(40.0)).await?;
    eprintln!(
        "    alice's desktop: {}x{}, {} lit pixels",
        first.width, first.height, first.lit
    );

    step("the reviewer shares it with bob over the API; bob opens the link");
    let reviewer_api = Api::login_as(relay, &cast.reviewer).await?;
    let made = share_api(
        &reviewer_api,
        &sid,
        json!({"audience": {"type": "named", "users": [cast.bob.username], "groups": []},
               "with_code": false, "allow_download": false}),
    )
    .await?;
    ensure!(
        made.link.kind == ShareKind::Live,
        "a live session's link is {:?}",
        made.link.kind
    );
    let opened = Instant::now();
    open_link_logging_in(&bob, &made.url, &cast.bob).await?;
    wait_path(&bob, &format!("/sessions/{sid}"), secs(15.0)).await?;
    let shot = poll_until("bob's first complete frame", secs(30.0), || async {
        let shot = bob.canvas_shot("player-canvas").await?;
        Ok(shot.filter(|s| s.shows_desktop()))
    })
    .await;
    let shot = match shot {
        Ok(s) => s,
        Err(e) => return Err(bob.fail(format!("{e:#}")).await),
    };
    eprintln!(
        "    bob's canvas shows the desktop {} ms after opening the link: {}x{}, {} lit pixels",
        opened.elapsed().as_millis(),
        shot.width,
        shot.height,
        shot.lit
    );
    ensure!(
        (shot.width, shot.height) == (first.width, first.height),
        "bob's canvas is {}x{}, alice's {}x{}",
        shot.width,
        shot.height,
        first.width,
        first.height
    );
    for control in ["lock-button", "terminate-button", "share-button"] {
        if bob.exists(&tid(control)).await? {
            return Err(bob.fail(format!("bob's player shows `{control}`")).await);
        }
    }
    bob.snapshot("share-bob-desktop").await?;
    let bob_api = Api::login_as(relay, &cast.bob).await?;
    controls_refused(&bob_api, "bob", &sid).await?;

    step("revoking the link cuts bob's desktop off");
    let link_id = made.link.id.clone();
    reviewer_api
        .post::<ShareLink>(&format!("/api/v1/shares/{link_id}/revoke"), &json!({}))
        .await?;
    bob.wait_text(
        &tid("access-ended"),
        "to say the link's access ended",
        secs(10.0),
        |t| t.contains(LINK_ENDED),
    )
    .await?;

    reviewer_api
        .post::<Session>(&format!("/api/v1/sessions/{sid}/terminate"), &json!({}))
        .await?;
    for b in [user, bob] {
        b.close().await?;
    }
    Ok(())
}
