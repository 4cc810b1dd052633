//! Share links end to end: real Chromium browsers for several people at once, the real
//! relay, a real sshd and xrdp on loopback.
//!
//! - [`live`]: a reviewer shares alice's live SSH session with bob (a user with no role on
//!   the asset), from the player's Share dialog. Bob must log in first and comes back to
//!   the link; he watches the screen and the Keystrokes with no control, and every REST path
//!   and the stream refuse him more. carol, a wrong token, an expired link and a wrong
//!   verification code are refused. The participants list says how each came in. Revoke
//!   cuts bob off at once; a reviewer taken out of their group is detached. The session's
//!   audit lists each step with its actor.
//! - [`recording`]: a recording link opens the replay for the named user only; without the
//!   download, the recording path refuses them.
//! - [`desktop`]: an RDP session (xrdp) shared with bob: his canvas gets a complete frame.
//!
//! One binary, one shared relay (with the desktop assets); each test has its own cast.

use std::path::Path;
use std::time::{Duration, Instant};

use anyhow::{bail, ensure, Context, Result};
use serde_json::{json, Value};
use vigil_testkit::vigil_wire::api::{AuditEntry, Session};
use vigil_testkit::vigil_wire::audit::AuditVerification;
use vigil_testkit::vigil_wire::end::ErrorCode;
use vigil_testkit::vigil_wire::live::{ClientMsg, Participant, ServerControl};
use vigil_testkit::vigil_wire::share::{CreatedShareLink, Redeemed, ShareKind, ShareLink};
use vigil_testkit::{
    poll_until, secs, step, tid, unique, Api, Browser, Cast, Login, Relay, WsRecorder,
};

mod desktop;
mod live;
mod recording;

pub(crate) const CASTS: &[&str] = &["share", "shrec", "shrdp"];

pub(crate) fn relay() -> &'static Relay {
    Relay::shared_with_rdp(CASTS)
}

/// What a link viewer's player says once the link is revoked or expired.
pub(crate) const LINK_ENDED: &str = "Your access through the shared link has ended.";

pub(crate) fn is_refusal(status: u16) -> bool {
    status == 403 || status == 404
}

/// Terminal input as the user's stream sends it.
pub(crate) fn input(s: &str) -> vigil_testkit::vigil_wire::codec::Frame {
    ClientMsg::Input(s.as_bytes().to_vec()).encode()
}

/// A link made over the REST API by `api` for session `sid`.
pub(crate) async fn share_api(api: &Api, sid: &str, body: Value) -> Result<CreatedShareLink> {
    api.post(&format!("/api/v1/sessions/{sid}/shares"), &body)
        .await
}

/// `POST /shares/redeem` for `token` (and `code`): the status and the error code, if any.
pub(crate) async fn redeem(api: &Api, token: &str, code: Option<&str>) -> Result<(u16, String)> {
    let r = api
        .send(
            reqwest::Method::POST,
            "/api/v1/shares/redeem",
            Some(&json!({"token": token, "code": code})),
        )
        .await?;
    let code = if (200..300).contains(&r.status) {
        let done: Redeemed = r.json()?;
        format!("{:?}", done.kind)
    } else {
        r.json::<Value>()
            .ok()
            .and_then(|v| v.get("code").and_then(Value::as_str).map(str::to_string))
            .unwrap_or_default()
    };
    Ok((r.status, code))
}

/// The token of a link's URL (`…/share#<token>`).
pub(crate) fn token_of(url: &str) -> Result<String> {
    let (_, token) = url
        .split_once("/share#")
        .with_context(|| format!("the link {url:?} is not …/share#<token>"))?;
    ensure!(!token.is_empty(), "the link has no token");
    Ok(token.to_string())
}

/// Opens the Share dialog in the player `b` is on, makes a link for `users` and returns
/// its URL and code, as the page shows them once. Copy link is checked to put the URL on
/// the clipboard.
pub(crate) async fn share_in_browser(
    b: &Browser,
    users: &str,
    with_code: bool,
) -> Result<(String, Option<String>)> {
    b.click(&tid("share-button"), secs(10.0)).await?;
    b.wait_for_testid("share-dialog", secs(5.0)).await?;
    let expiry = b
        .js(
            "const s = document.querySelector('[data-testid=\"share-expiry\"]'); return s ? s.options[s.selectedIndex].text : null;",
            vec![],
        )
        .await?;
    ensure!(
        expiry == json!("1 hour"),
        "the dialog's default expiry is {expiry} (expected 1 hour)"
    );
    b.fill(&tid("share-users"), users).await?;
    if with_code {
        b.click(&tid("share-with-code"), secs(5.0)).await?;
    }
    b.click(&tid("share-create"), secs(5.0)).await?;
    b.wait_for_testid("share-url", secs(10.0)).await?;
    let url = b
        .js(
            "return document.querySelector('[data-testid=\"share-url\"]').value;",
            vec![],
        )
        .await?
        .as_str()
        .unwrap_or_default()
        .to_string();
    let readonly = b
        .js(
            "return document.querySelector('[data-testid=\"share-url\"]').readOnly;",
            vec![],
        )
        .await?;
    ensure!(readonly == json!(true), "the link's field is not read-only");
    let code = if with_code {
        let c = b
            .text(&tid("share-code-value"))
            .await?
            .unwrap_or_default()
            .trim()
            .to_string();
        ensure!(
            c.len() == 6 && c.chars().all(|c| c.is_ascii_digit()),
            "the verification code is {c:?}, not 6 digits"
        );
        Some(c)
    } else {
        ensure!(
            !b.exists(&tid("share-code-value")).await?,
            "a link without a code shows a code"
        );
        None
    };
    copy_link_copies(b, &url).await?;
    b.click(&tid("share-done"), secs(5.0)).await?;
    b.wait_gone(&tid("share-dialog"), secs(5.0)).await?;
    Ok((url, code))
}

/// Copy link puts `url` on the clipboard (read back with the page's permission).
async fn copy_link_copies(b: &Browser, url: &str) -> Result<()> {
    let origin = b.url("");
    b.cdp(
        "Browser.grantPermissions",
        json!({"origin": origin, "permissions": ["clipboardReadWrite", "clipboardSanitizedWrite"]}),
    )
    .await?;
    b.click(&tid("share-copy"), secs(5.0)).await?;
    b.wait_for_testid("share-copied", secs(5.0)).await?;
    let copied = b
        .js("return navigator.clipboard.readText();", vec![])
        .await?;
    ensure!(
        copied.as_str() == Some(url),
        "the clipboard holds {copied} after Copy link, not the link"
    );
    Ok(())
}

/// `b`, logged out, opens `url`: the login page comes first, with no token in its
/// address; after logging in as `login` the browser comes back to the link.
pub(crate) async fn open_link_logging_in(b: &Browser, url: &str, login: &Login) -> Result<()> {
    let token = token_of(url)?;
    b.goto(url).await?;
    b.wait_js(
        "the login page",
        "location.pathname === '/login'",
        vec![],
        secs(15.0),
    )
    .await?;
    let href = b
        .js("return location.href;", vec![])
        .await?
        .as_str()
        .unwrap_or_default()
        .to_string();
    if href.contains(&token) {
        return Err(b
            .fail(format!("the login page's address holds the token: {href}"))
            .await);
    }
    b.submit_login(&login.username, &login.password).await?;
    Ok(())
}

/// `b` (logged in) opens `url`. From another page first: a browser already on `/share`
/// would only change the fragment, without loading the page.
pub(crate) async fn open_link(b: &Browser, url: &str) -> Result<()> {
    b.goto("/active").await?;
    b.goto(url).await
}

/// Waits until `session_audit` holds each `(action, actor)`; fails listing what it holds.
pub(crate) async fn wait_audit(admin: &Api, sid: &str, wanted: &[(&str, &str)]) -> Result<()> {
    let deadline = Instant::now() + secs(10.0);
    loop {
        let entries = session_audit(admin, sid).await?;
        match audit_holds(&entries, wanted) {
            Ok(()) => return Ok(()),
            Err(e) if Instant::now() >= deadline => return Err(e),
            Err(_) => tokio::time::sleep(secs(0.3)).await,
        }
    }
}

/// Waits until `b` is on `path`.
pub(crate) async fn wait_path(b: &Browser, path: &str, timeout: Duration) -> Result<()> {
    b.wait_js(
        &format!("the page {path}"),
        "location.pathname === arguments[0]",
        vec![json!(path)],
        timeout,
    )
    .await
    .map(|_| ())
}

/// Waits for the link page's refusal with `reason` (the relay's code).
pub(crate) async fn wait_refused(b: &Browser, reason: &str) -> Result<String> {
    let css = format!("{}[data-reason=\"{reason}\"]", tid("share-refused"));
    b.wait_for(&css, secs(10.0)).await?;
    Ok(b.text(&css).await?.unwrap_or_default())
}

/// `api`'s POSTs to every control of `sid`, and its share paths: all refused.
pub(crate) async fn controls_refused(api: &Api, who: &str, sid: &str) -> Result<()> {
    let mut tried = Vec::new();
    for action in [
        "lock",
        "unlock",
        "terminate",
        "terminate-and-cancel",
        "shares",
    ] {
        let path = format!("/api/v1/sessions/{sid}/{action}");
        let body =
            json!({"audience": {"type": "any_user"}, "with_code": false, "allow_download": false});
        let r = api.send(reqwest::Method::POST, &path, Some(&body)).await?;
        tried.push(format!("POST {action}: {}", r.status));
        ensure!(
            is_refusal(r.status),
            "{who}: POST {path} answered HTTP {} (expected 403/404)",
            r.status
        );
    }
    for path in ["shares", "participants"] {
        let path = format!("/api/v1/sessions/{sid}/{path}");
        let r = api.send(reqwest::Method::GET, &path, None).await?;
        tried.push(format!("GET {path}: {}", r.status));
        ensure!(
            is_refusal(r.status),
            "{who}: GET {path} answered HTTP {} (expected 403/404)",
            r.status
        );
    }
    eprintln!("    {who}: {}", tried.join(", "));
    Ok(())
}

/// The audit entries of session `sid`, oldest first (as an administrator reads them).
pub(crate) async fn session_audit(admin: &Api, sid: &str) -> Result<Vec<AuditEntry>> {
    let mut all: Vec<AuditEntry> = admin
        .get(&format!("/api/v1/audit?session={sid}&limit=1000"))
        .await?;
    all.sort_by_key(|e| e.seq);
    Ok(all)
}

/// Fails unless the audit of a session holds each `(action, actor)`.
pub(crate) fn audit_holds(entries: &[AuditEntry], wanted: &[(&str, &str)]) -> Result<()> {
    let missing: Vec<String> = wanted
        .iter()
        .filter(|(action, actor)| {
            !entries
                .iter()
                .any(|e| e.action == *action && e.actor == *actor)
        })
        .map(|(action, actor)| format!("{action} by {actor}"))
        .collect();
    if !missing.is_empty() {
        let seen: Vec<String> = entries
            .iter()
            .map(|e| format!("{} by {} ({})", e.action, e.actor, e.detail))
            .collect();
        bail!(
            "the session's audit lacks {}; it holds:\n  {}",
            missing.join(", "),
            seen.join("\n  ")
        );
    }
    Ok(())
}

/// The session as `api` sees it, or the refusal's status.
pub(crate) async fn session_as(api: &Api, sid: &str) -> Result<std::result::Result<Session, u16>> {
    let r = api
        .send(
            reqwest::Method::GET,
            &format!("/api/v1/sessions/{sid}"),
            None,
        )
        .await?;
    Ok(if r.status == 200 {
        Ok(r.json()?)
    } else {
        Err(r.status)
    })
}

/// Waits until `sid` has ended, as `api` sees it.
pub(crate) async fn wait_ended(api: &Api, sid: &str) -> Result<()> {
    poll_until("the session to end", secs(15.0), || async {
        Ok(session_as(api, sid)
            .await?
            .ok()
            .and_then(|s| s.ended_at)
            .map(|_| ()))
    })
    .await
}

/// Removes `user` from `group` (an administrator).
pub(crate) async fn remove_from_group(admin: &Api, user: &str, group: &str) -> Result<()> {
    admin
        .send(
            reqwest::Method::DELETE,
            &format!("/api/v1/users/{user}/groups/{group}"),
            None,
        )
        .await?
        .ok()
        .with_context(|| format!("remove {user} from {group}"))
        .map(|_| ())
}

/// The list of a session's links, as a sharer sees it.
pub(crate) async fn links(api: &Api, sid: &str) -> Result<Vec<ShareLink>> {
    api.get(&format!("/api/v1/sessions/{sid}/shares")).await
}

/// Waits until `ws` is closed after an `Error` with `code`; how long that took from `t0`.
pub(crate) async fn wait_cut_off(
    ws: &WsRecorder,
    code: ErrorCode,
    t0: Instant,
) -> Result<Duration> {
    ws.wait_control(
        &format!("Error {code:?}"),
        secs(10.0),
        |c| matches!(c, ServerControl::Error { code: got, .. } if *got == code),
    )
    .await?;
    poll_until("the stream to close", secs(10.0), || async {
        Ok(ws.closed().map(|_| ()))
    })
    .await?;
    Ok(t0.elapsed())
}

pub(crate) fn probe(u: &str) -> std::path::PathBuf {
    Path::new("/tmp").join(format!("vigil-share-probe-{u}"))
}

pub(crate) fn cast_group(cast: &Cast, prefix: &str) -> String {
    format!("{prefix}-{}", cast.tag)
}

pub(crate) fn welcome_participant(ws: &WsRecorder) -> Option<Participant> {
    ws.server_msgs().into_iter().find_map(|m| match m {
        vigil_testkit::vigil_wire::live::ServerMsg::Control(ServerControl::Welcome {
            participant,
            ..
        }) => Some(participant),
        _ => None,
    })
}
