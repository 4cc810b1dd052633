//! Viewers are detached from a live session's stream the moment they lose the right to
//! it: here, by logging out. The session itself, and its user, carry on. Driven over the
//! wire protocol against the real relay and a real sshd. The emergency controls too,
//! from the API, the CLI, and the app's Active Sessions page (headless Chromium).

use anyhow::{ensure, Result};
use serde_json::json;
use vigil_testkit::vigil_wire::api::{Asset, Launched, Session};
use vigil_testkit::vigil_wire::end::ErrorCode;
use vigil_testkit::vigil_wire::live::{ClientMsg, ServerControl};
use vigil_testkit::{secs, tid, vigil_cli, Api, Browser, Cast, Relay, WsRecorder};

/// The ISA user's live session on `web-T`, their stream open and connected.
async fn isa_session(relay: &Relay, cast: &Cast) -> Result<(Api, String, WsRecorder)> {
    let isa = Api::login_as(relay, &cast.isa).await?;
    let assets: Vec<Asset> = isa.get("/api/v1/assets").await?;
    let web = assets
        .iter()
        .find(|a| a.name == cast.web)
        .map(|a| a.id)
        .ok_or_else(|| anyhow::anyhow!("no asset {}", cast.web))?;
    let launched: Launched = isa
        .post(
            "/api/v1/sessions",
            &json!({"asset_id": web, "request_id": null, "cols": 80, "rows": 24}),
        )
        .await?;
    let path = stream_path(&launched.session_id);
    let user = isa.ws(&path, true).await?;
    user.wait_control("Connected", secs(20.0), |c| {
        matches!(c, ServerControl::Connected)
    })
    .await?;
    Ok((isa, launched.session_id, user))
}

fn stream_path(id: &str) -> String {
    format!("/api/v1/sessions/{id}/stream")
}

/// Waits for the stream to be told `code` and then closed.
async fn wait_detached(ws: &WsRecorder, code: ErrorCode) -> Result<()> {
    ws.wait_control(
        code.as_str(),
        secs(5.0),
        |c| matches!(c, ServerControl::Error { code: got, .. } if *got == code),
    )
    .await?;
    let deadline = std::time::Instant::now() + secs(5.0);
    while ws.closed().is_none() && std::time::Instant::now() < deadline {
        tokio::time::sleep(secs(0.05)).await;
    }
    ensure!(ws.closed().is_some(), "the socket stayed open after {code}");
    Ok(())
}

/// The user's stream still carries their typing to the target and back.
async fn still_typing(user: &WsRecorder, n: u32) -> Result<()> {
    ensure!(user.closed().is_none(), "the user's stream closed");
    // The shell computes the marker, so the echo of the typed line cannot match it.
    user.send(ClientMsg::Input(format!("echo alive-$(({n}+1000))\r").into_bytes()).encode())?;
    user.wait_output(&format!("alive-{}", n + 1000), secs(10.0))
        .await?;
    Ok(())
}

/// Removing the watcher from their group with the CLI, in its own process, cuts their
/// stream (through the database's change counter) and hides the session from them.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_watcher_removed_from_their_group_by_the_cli_is_detached() -> Result<()> {
    let relay = Relay::start(&["revoke"])?;
    let cast = relay.cast("revoke");
    let (_isa, id, user) = isa_session(&relay, cast).await?;
    let reviewer = Api::login_as(&relay, &cast.reviewer).await?;
    let watcher = reviewer.session_stream(&id, secs(10.0)).await?;
    let group = format!("auditors-{}", cast.tag);
    vigil_cli(
        &relay.data_dir,
        &["user", "remove-group", &cast.reviewer.username, &group],
        &[],
    )?;
    wait_detached(&watcher, ErrorCode::AccessRevoked).await?;
    let r = reviewer
        .send(
            reqwest::Method::GET,
            &format!("/api/v1/sessions/{id}"),
            None,
        )
        .await?;
    ensure!(
        r.status == 404,
        "the session after revocation: HTTP {}",
        r.status
    );
    still_typing(&user, 1).await
}

/// Disabling a user through the API ends their logins, closes their stream and
/// terminates their live session; they cannot log in again.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_disabled_user_is_cut_off_and_their_session_ends() -> Result<()> {
    let relay = Relay::start(&["disable"])?;
    let cast = relay.cast("disable");
    let (isa, id, user) = isa_session(&relay, cast).await?;
    let admin = Api::login_as(&relay, &cast.admin).await?;
    admin
        .send(
            reqwest::Method::POST,
            &format!("/api/v1/users/{}/disable", cast.isa.username),
            None,
        )
        .await?
        .ok()?;
    wait_detached(&user, ErrorCode::LoginEnded).await?;
    let r = isa.send(reqwest::Method::GET, "/api/v1/me", None).await?;
    ensure!(
        r.status == 401,
        "a disabled user's login: HTTP {}",
        r.status
    );
    let session: Session = admin.get(&format!("/api/v1/sessions/{id}")).await?;
    ensure!(
        session.ended_at.is_some(),
        "the disabled user's session is still live"
    );
    let again = Api::new(&relay.base)?;
    ensure!(
        again
            .login(&cast.isa.username, &cast.isa.password)
            .await
            .is_err(),
        "a disabled user logged in again"
    );
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_watcher_who_logs_out_is_detached_at_once() -> Result<()> {
    let relay = Relay::start(&["detach"])?;
    let cast = relay.cast("detach");
    let (_isa, id, user) = isa_session(&relay, cast).await?;

    let reviewer = Api::login_as(&relay, &cast.reviewer).await?;
    let watcher = reviewer.session_stream(&id, secs(10.0)).await?;
    ensure!(watcher.closed().is_none(), "the watcher was closed early");

    reviewer
        .send(reqwest::Method::POST, "/api/v1/auth/logout", None)
        .await?;
    // Event-driven: the logout itself detaches the watcher (the bound is generous).
    wait_detached(&watcher, ErrorCode::LoginEnded).await?;
    // The session and its user are untouched.
    still_typing(&user, 0).await
}

/// Emergency controls: an administrator locks every live session of a user in one call
/// (the user's stream is told at once), and the CLI, in its own process, terminates
/// every live session on the asset through the running relay.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn emergency_controls_lock_a_user_and_terminate_an_asset() -> Result<()> {
    let relay = Relay::start(&["emerg"])?;
    let cast = relay.cast("emerg");
    let (_isa, id, user) = isa_session(&relay, cast).await?;
    let admin = Api::login_as(&relay, &cast.admin).await?;
    let done: serde_json::Value = admin
        .post(
            "/api/v1/emergency",
            &json!({"scope": "user", "name": cast.isa.username, "action": "lock"}),
        )
        .await?;
    ensure!(
        done["sessions"] == json!([id]),
        "emergency lock answered {done}"
    );
    user.wait_control("Locked", secs(5.0), |c| {
        matches!(c, ServerControl::Locked { .. })
    })
    .await?;
    let out = vigil_cli(
        &relay.data_dir,
        &["emergency", "terminate", "--asset", &cast.web],
        &[],
    )?;
    ensure!(out.contains("1 session(s)"), "the CLI said: {out}");
    user.wait_control("Ended", secs(5.0), |c| {
        matches!(c, ServerControl::Ended { .. })
    })
    .await?;
    let session: Session = admin.get(&format!("/api/v1/sessions/{id}")).await?;
    ensure!(session.ended_at.is_some(), "the session is still live");
    Ok(())
}

/// The same controls from the app: in Active Sessions an administrator locks every live
/// session on the asset, then terminates every live session of the user, each confirmed
/// in a dialog in the page that then says how many sessions it touched. A user who is
/// not an administrator is not offered the control.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn emergency_controls_from_active_sessions() -> Result<()> {
    let relay = Relay::start(&["emapp"])?;
    let cast = relay.cast("emapp");
    let (_isa, id, user) = isa_session(&relay, cast).await?;

    let isa_browser = Browser::open(&relay, "isa").await?;
    isa_browser.login(&cast.isa).await?;
    isa_browser.goto("/active").await?;
    isa_browser
        .wait_for(
            &format!("{}[data-session-id=\"{id}\"]", tid("session-row")),
            secs(10.0),
        )
        .await?;
    ensure!(
        !isa_browser.exists(&tid("emergency-open")).await?,
        "a user who is not an administrator is offered the emergency control"
    );
    isa_browser.close().await?;

    let b = Browser::open(&relay, "admin").await?;
    b.login(&cast.admin).await?;
    b.goto("/active").await?;
    // Lock every live session on the asset.
    b.click(&tid("emergency-open"), secs(10.0)).await?;
    b.click(&tid("emergency-asset"), secs(5.0)).await?;
    b.fill(&tid("emergency-name"), &cast.web).await?;
    b.click(&tid("emergency-lock"), secs(5.0)).await?;
    b.click(&tid("emergency-review"), secs(5.0)).await?;
    let question = b
        .wait_text(&tid("emergency-question"), "to ask", secs(5.0), |t| {
            !t.is_empty()
        })
        .await?;
    ensure!(
        question == format!("Lock every live session on asset {}?", cast.web),
        "the dialog asked {question:?}"
    );
    b.click(&tid("emergency-confirm"), secs(5.0)).await?;
    b.wait_text(&tid("emergency-outcome"), "to count", secs(10.0), |t| {
        t == "1 session locked."
    })
    .await?;
    user.wait_control("Locked", secs(5.0), |c| {
        matches!(c, ServerControl::Locked { .. })
    })
    .await?;
    b.click(&tid("emergency-close"), secs(5.0)).await?;
    b.wait_gone(&tid("emergency-dialog"), secs(5.0)).await?;
    // Terminate every live session of the user.
    b.click(&tid("emergency-open"), secs(5.0)).await?;
    b.click(&tid("emergency-user"), secs(5.0)).await?;
    b.fill(&tid("emergency-name"), &cast.isa.username).await?;
    b.click(&tid("emergency-terminate"), secs(5.0)).await?;
    b.click(&tid("emergency-review"), secs(5.0)).await?;
    b.wait_text(&tid("emergency-question"), "to ask", secs(5.0), |t| {
        t == format!(
            "Terminate every live session of user {}?",
            cast.isa.username
        )
    })
    .await?;
    b.click(&tid("emergency-confirm"), secs(5.0)).await?;
    b.wait_text(&tid("emergency-outcome"), "to count", secs(10.0), |t| {
        t == "1 session terminated."
    })
    .await?;
    user.wait_control("Ended", secs(5.0), |c| {
        matches!(c, ServerControl::Ended { .. })
    })
    .await?;
    let admin = Api::login_as(&relay, &cast.admin).await?;
    let session: Session = admin.get(&format!("/api/v1/sessions/{id}")).await?;
    ensure!(session.ended_at.is_some(), "the session is still live");
    b.close().await?;
    Ok(())
}
