//! Viewers are detached from a live session's stream the moment they lose the right to
//! it: here, by logging out. The session itself, and its user, carry on. Driven over the
//! wire protocol against the real relay and a real sshd.

use anyhow::{ensure, Result};
use serde_json::json;
use vigil_tests::vigil_wire::api::{Asset, Launched};
use vigil_tests::vigil_wire::live::ServerControl;
use vigil_tests::{secs, Api, Relay};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_watcher_who_logs_out_is_detached_at_once() -> Result<()> {
    let relay = Relay::start(&["detach"])?;
    let cast = relay.cast("detach");
    let isa = Api::login_as(&relay, &cast.isa).await?;
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
    let path = format!("/api/v1/sessions/{}/stream", launched.session_id);
    let user = isa.ws(&path, true).await?;
    user.wait_control("Connected", secs(20.0), |c| {
        matches!(c, ServerControl::Connected)
    })
    .await?;

    let reviewer = Api::login_as(&relay, &cast.reviewer).await?;
    let watcher = reviewer.ws(&path, true).await?;
    watcher
        .wait_control("Welcome", secs(10.0), |c| {
            matches!(c, ServerControl::Welcome { .. })
        })
        .await?;
    ensure!(watcher.closed().is_none(), "the watcher was closed early");

    reviewer
        .send(reqwest::Method::POST, "/api/v1/auth/logout", None)
        .await?;
    // Event-driven: the logout itself detaches the watcher (the bound is generous).
    let detached = watcher
        .wait_control(
            "login_ended",
            secs(5.0),
            |c| matches!(c, ServerControl::Error { code, .. } if code == "login_ended"),
        )
        .await?;
    ensure!(
        matches!(detached, ServerControl::Error { .. }),
        "unexpected {detached:?}"
    );
    let deadline = std::time::Instant::now() + secs(5.0);
    while watcher.closed().is_none() && std::time::Instant::now() < deadline {
        tokio::time::sleep(secs(0.05)).await;
    }
    ensure!(
        watcher.closed().is_some(),
        "the watcher's socket stayed open"
    );

    // The session and its user are untouched.
    ensure!(user.closed().is_none(), "the user's stream closed too");
    // The shell computes the marker, so the echo of the typed line cannot match it.
    user.send(
        vigil_tests::vigil_wire::live::ClientMsg::Input(b"echo still-here-$((40+2))\r".to_vec())
            .encode(),
    )?;
    user.wait_output("still-here-42", secs(10.0)).await?;
    Ok(())
}
