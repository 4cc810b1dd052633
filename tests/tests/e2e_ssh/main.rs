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

//! One binary, one shared relay: [`watched`] and [`requests`] hold the tests.

use std::path::Path;
use std::time::{Duration, Instant};

use anyhow::{bail, ensure, Context, Result};
use serde_json::{json, Value};
use vigil_testkit::browser::LockShown;
use vigil_testkit::vigil_wire::api::{
    AccessRequest, Keystroke, Launched, RequestStatus, Session, SessionKind,
};
use vigil_testkit::vigil_wire::live::{FeedMsg, Participant, ServerControl};
use vigil_testkit::vigil_wire::SSH_LOCK_MESSAGE;
use vigil_testkit::{
    assert_no_secrets, poll_until, secs, sshd, step, tid, unique, Api, Browser, Cast, Relay,
};

mod requests;
mod watched;

/// One relay for this binary: `live` for the browser flow, `cancel` for the other test.
pub(crate) const CASTS: &[&str] = &["live", "cancel"];

pub(crate) fn relay() -> &'static Relay {
    Relay::shared(CASTS)
}

pub(crate) fn session_row(id: &str) -> String {
    format!("{}[data-session-id=\"{id}\"]", tid("session-row"))
}

pub(crate) fn is_refusal(status: u16) -> bool {
    status == 403 || status == 404
}

/// Waits until `path` exists (or fails after `timeout`).
pub(crate) async fn wait_file(path: &Path, timeout: Duration) -> Result<()> {
    poll_until(&format!("{} to exist", path.display()), timeout, || async {
        Ok(path.exists().then_some(()))
    })
    .await
}

/// The outsider (a reviewer whose rule covers other assets) sees nothing of `sid`.
pub(crate) async fn outsider_sees_nothing(
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
