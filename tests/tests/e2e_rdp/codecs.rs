//! The bitmap codec, and NLA with a right and a wrong managed password.

use super::*;
use vigil_testkit::Cast;

/// Terminates `sid` as the cast's administrator and waits until `b` shows it ended.
async fn terminate_as_admin(relay: &Relay, cast: &Cast, sid: &str, b: &Browser) -> Result<()> {
    let admin_api = Api::login_as(relay, &cast.admin).await?;
    let _: Session = admin_api
        .post(&format!("/api/v1/sessions/{sid}/terminate"), &json!({}))
        .await?;
    b.wait_for(
        &format!(
            "{}[data-status=\"ended\"], {}",
            tid("session-status"),
            tid("session-ended")
        ),
        secs(10.0),
    )
    .await?;
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_bitmap_codec_desktop_shows_and_takes_input() -> Result<()> {
    let relay = relay();
    let cast = relay.cast("rdp");
    let xrdp = &rdp_targets().xrdp;
    let isa_api = Api::login_as(relay, &cast.isa).await?;
    isa_api.asset_id(&cast.rdp.bitmap).await?;

    step("bitmap (1): the ISA connects directly to the bitmap-codec asset");
    let b = Browser::open(relay, "rdp-bitmap-isa").await?;
    b.login(&cast.isa).await?;
    let sid = b.connect_directly(&cast.rdp.bitmap).await?;
    let t0 = Instant::now();
    let first = b.wait_desktop("desktop-canvas", secs(40.0)).await?;
    eprintln!(
        "    bitmap desktop after {} ms: {}x{}, {} lit pixels",
        t0.elapsed().as_millis(),
        first.width,
        first.height,
        first.lit
    );
    b.wait_desktop_change("desktop-canvas", &first, secs(10.0))
        .await?;
    b.snapshot("rdp-bitmap-desktop").await?;
    let stats = b.decode_stats().await?;
    eprintln!(
        "    decode stats: {}",
        stats.map(|s| s.to_string()).unwrap_or_default()
    );

    step("bitmap (2): typed text arrives");
    let word = unique_word("bmp");
    type_and_arrive(&b, "desktop-canvas", xrdp, &word).await?;

    // A session's own user never controls it: an administrator ends it.
    terminate_as_admin(relay, cast, &sid, &b).await?;
    no_password_anywhere(&[&b], &[("isa REST", isa_api.received())]).await?;
    b.close().await?;
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_nla_target_works_and_a_wrong_password_is_reported() -> Result<()> {
    let relay = relay();
    let cast = relay.cast("rdp");
    let shadow = &rdp_targets().shadow;
    let isa_api = Api::login_as(relay, &cast.isa).await?;

    step("nla (7): the ISA connects to freerdp-shadow (NLA) with the injected credential");
    let b = Browser::open(relay, "rdp-nla-isa").await?;
    b.login(&cast.isa).await?;
    let sid = b.connect_directly(&cast.rdp.nla).await?;
    let t0 = Instant::now();
    let first = b.wait_desktop("desktop-canvas", secs(40.0)).await?;
    eprintln!(
        "    NLA desktop after {} ms: {}x{}, {} lit pixels",
        t0.elapsed().as_millis(),
        first.width,
        first.height,
        first.lit
    );
    b.snapshot("rdp-nla-desktop").await?;
    let word = unique_word("nla");
    type_and_arrive(&b, "desktop-canvas", shadow, &word).await?;
    // A session's own user never controls it: an administrator ends it.
    terminate_as_admin(relay, cast, &sid, &b).await?;

    step("nla (8): a wrong managed password gives the user a clear error");
    b.connect_directly(&cast.rdp.nla_bad).await?;
    let shown = b
        .wait_js(
            "an error or an end naming the failed authentication",
            "Array.from(document.querySelectorAll(arguments[0])).map(e => e.innerText).join(' | ')",
            vec![json!(format!(
                "{}, {}",
                tid("session-error"),
                tid("session-ended")
            ))],
            secs(30.0),
        )
        .await?;
    let shown = shown.as_str().unwrap_or_default().to_string();
    eprintln!("    shown to the user: {shown:?}");
    b.snapshot("rdp-wrong-password").await?;
    let lower = shown.to_lowercase();
    if !(lower.contains("auth_failed")
        || lower.contains("authentication")
        || lower.contains("password")
        || lower.contains("credential"))
    {
        return Err(b
            .fail(format!(
                "the error does not say the authentication failed: {shown:?}"
            ))
            .await);
    }
    ensure!(
        !b.exists(&tid("desktop-canvas")).await?
            || b.canvas_shot("desktop-canvas")
                .await?
                .is_none_or(|s| !s.shows_desktop()),
        "a desktop is shown despite the wrong password"
    );
    no_password_anywhere(&[&b], &[("isa REST", isa_api.received())]).await?;
    b.close().await?;
    Ok(())
}
