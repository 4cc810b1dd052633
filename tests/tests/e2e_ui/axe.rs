//! axe-core on every page of Vigil: 0 serious or critical violations.
//!
//! One walk in one browser ([`check_every_page`]), so the same walk runs in any browser
//! the harness opens: the login page, Active Sessions with a live session and its
//! emergency controls, Assets, Requests with a request, the SSH player with its Share
//! dialog, the share link page asking for its code (and a wrong one), Replay Sessions, a
//! replay, Audit, Page not found, and the connect page while it connects (its connect
//! steps), ended, and live.

use anyhow::{ensure, Result};
use serde_json::{json, Value};
use vigil_testkit::browser::BrowserKind;
use vigil_testkit::vigil_wire::share::CreatedShareLink;
use vigil_testkit::{secs, step, tid, unique, Api, Browser, Cast, Relay, WsRecorder};

use crate::relay;

/// What the walk needs made before it starts, over the REST API.
pub struct Seeded {
    /// alice's live SSH session (her stream kept open).
    pub live: String,
    /// alice's ended SSH session, with its recording.
    pub ended: String,
    /// A link to the live session for the administrator, with a verification code.
    pub link: CreatedShareLink,
    _stream: WsRecorder,
}

/// alice's two sessions (one live, one ended) and a share link for the administrator.
pub async fn seed(relay: &Relay, cast: &Cast) -> Result<Seeded> {
    let (alice, admin) = tokio::try_join!(
        Api::login_as(relay, &cast.alice),
        Api::login_as(relay, &cast.admin)
    )?;
    let u = unique("");
    let (why_live, why_ended) = (format!("axe live {u}"), format!("axe replay {u}"));
    let ((live, stream), (ended, done)) = tokio::try_join!(
        alice.launch_ssh_by_request(&cast.web, &why_live),
        alice.launch_ssh_by_request(&cast.web, &why_ended),
    )?;
    drop(done);
    terminate(&admin, &ended).await?;
    let link: CreatedShareLink = admin
        .post(
            &format!("/api/v1/sessions/{live}/shares"),
            &json!({"audience": {"type": "named", "users": [cast.admin.username], "groups": []},
                   "with_code": true, "allow_download": false}),
        )
        .await?;
    Ok(Seeded {
        live,
        ended,
        link,
        _stream: stream,
    })
}

async fn terminate(admin: &Api, sid: &str) -> Result<()> {
    admin
        .send(
            reqwest::Method::POST,
            &format!("/api/v1/sessions/{sid}/terminate"),
            None,
        )
        .await?
        .ok()?;
    Ok(())
}

/// An SSH asset `name` whose target accepts connections and never says a word: a
/// session on it stays at its handshake (the relay's connect timeout is far off). The
/// target lives as long as the returned task.
async fn silent_target(admin: &Api, name: &str) -> Result<AbortOnDrop> {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
    let port = listener.local_addr()?.port();
    let task = tokio::spawn(async move {
        let mut held = Vec::new();
        while let Ok((socket, _)) = listener.accept().await {
            held.push(socket);
        }
    });
    let _: Value = admin
        .post(
            "/api/v1/assets",
            &json!({"name": name, "protocol": "ssh", "host": "127.0.0.1", "port": port,
                "tags": [], "account": "nobody", "password": "unused", "private_key": null}),
        )
        .await?;
    Ok(AbortOnDrop(task))
}

/// Ends its task when dropped.
struct AbortOnDrop(tokio::task::JoinHandle<()>);

impl Drop for AbortOnDrop {
    fn drop(&mut self) {
        self.0.abort();
    }
}

/// The pages checked so far, and what axe-core found on them: the walk goes on past a
/// page with violations, and fails at its end with every one of them.
struct Walk<'a> {
    b: &'a Browser,
    checked: usize,
    found: Vec<String>,
}

impl Walk<'_> {
    /// Runs axe-core on the page as it is now.
    async fn axe(&mut self, page: &str) -> Result<()> {
        self.checked += 1;
        if let Some(report) = self.b.axe_serious(page).await? {
            self.found.push(report);
        }
        Ok(())
    }

    /// Waits for `css`, then runs axe-core on the page.
    async fn check(&mut self, page: &str, css: &str) -> Result<()> {
        self.b.wait_for(css, secs(10.0)).await?;
        self.axe(page).await
    }
}

/// Every page of the app in `b` (a browser logged in as nobody), checked by axe-core.
pub async fn check_every_page(b: &Browser, relay: &Relay, cast: &Cast, s: &Seeded) -> Result<()> {
    let mut w = Walk {
        b,
        checked: 0,
        found: Vec::new(),
    };
    step("the login page, and its error");
    b.goto("/login").await?;
    b.wait_login_form(secs(10.0)).await?;
    w.axe("the login page").await?;
    b.submit_login(&cast.admin.username, "not the password")
        .await?;
    w.check("the login page's error", &tid("login-error"))
        .await?;

    step("Active Sessions with a live session, and the emergency controls");
    b.login(&cast.admin).await?;
    b.goto("/active").await?;
    let row = format!("{}[data-session-id=\"{}\"]", tid("session-row"), s.live);
    w.check("Active Sessions", &row).await?;
    b.click(&tid("emergency-open"), secs(5.0)).await?;
    w.check("the emergency controls", &tid("emergency-dialog"))
        .await?;

    step("Assets and Requests");
    b.goto("/assets").await?;
    w.check("Assets", &tid("asset-row")).await?;
    b.goto("/requests").await?;
    w.check("Requests", &tid("request-row")).await?;

    step("the SSH player and its Share dialog");
    b.goto(&format!("/sessions/{}", s.live)).await?;
    b.wait_terminal(&tid("player-terminal"), "$", secs(10.0))
        .await?;
    w.axe("the SSH player").await?;
    b.click(&tid("share-button"), secs(5.0)).await?;
    w.check("the Share dialog", &tid("share-dialog")).await?;

    step("the share link page asking for its code");
    b.goto(&s.link.url).await?;
    w.check("the share link page", &tid("share-code-form"))
        .await?;
    b.fill(&tid("share-code-input"), "000000").await?;
    b.click(&tid("share-code-submit"), secs(5.0)).await?;
    w.check(
        "the share link page, a wrong code",
        &tid("share-code-wrong"),
    )
    .await?;

    step("Replay Sessions and a replay");
    b.goto("/replay").await?;
    w.check(
        "Replay Sessions",
        &format!("{}[data-session-id=\"{}\"]", tid("replay-row"), s.ended),
    )
    .await?;
    b.goto(&format!("/replay/{}", s.ended)).await?;
    w.check("a replay", &tid("replay-terminal")).await?;

    step("Audit and Page not found");
    b.goto("/audit").await?;
    w.check("Audit", &tid("audit-row")).await?;
    b.goto(&format!("/no-such-page-{}", unique(""))).await?;
    w.check("Page not found", "main h1").await?;

    step("the connect page while it connects: a target that accepts and never answers");
    let admin = Api::login_as(relay, &cast.admin).await?;
    let stall = format!("stall-{}", unique(""));
    let silent = silent_target(&admin, &stall).await?;
    b.connect_directly(&stall).await?;
    let step_css = |state: &str| format!("{}[data-state=\"{state}\"]", tid("connect-step"));
    b.wait_for(&step_css("current"), secs(10.0)).await?;
    let done = b.texts(&step_css("done")).await?;
    let current = b.texts(&step_css("current")).await?;
    ensure!(
        done.len() == 1 && done[0].contains("Reaching the target"),
        "while the SSH handshake waits, the steps done are {done:?}"
    );
    ensure!(
        current.len() == 1 && current[0].contains("Securing the connection"),
        "while the SSH handshake waits, the step under way is {current:?}"
    );
    ensure!(
        b.exists(&format!(
            "{}[role=\"status\"]:not([hidden])",
            tid("connect-steps")
        ))
        .await?,
        "the connect steps are not shown in a status region"
    );
    w.axe("the connect page, connecting").await?;

    step("the target hangs up: the step under way is marked failed, and the page says what to do");
    drop(silent);
    b.wait_for(&step_css("failed"), secs(10.0)).await?;
    let ended = b
        .wait_text(
            &tid("session-ended"),
            "to say what to do next",
            secs(10.0),
            |t| t.contains("administrator"),
        )
        .await?;
    eprintln!("    {ended}");
    w.axe("the connect page, failed").await?;

    step("the connect page, live");
    b.connect_directly(&cast.web).await?;
    b.wait_terminal(&tid("terminal"), "$", secs(15.0)).await?;
    w.axe("the connect page").await?;
    eprintln!("    axe-core checked {} page states", w.checked);
    ensure!(
        w.found.is_empty(),
        "axe-core found serious or critical violations on {} of {} page states:\n{}",
        w.found.len(),
        w.checked,
        w.found.join("\n")
    );
    Ok(())
}

/// The walk in a fresh browser of `kind`, on the shared relay with the cast `tag` (one
/// per browser: each seeds its own sessions).
async fn walk_in(kind: BrowserKind, tag: &str) -> Result<()> {
    let relay = relay();
    let cast = relay.cast(tag);
    let name = format!("axe-{tag}");
    let (b, seeded) = tokio::try_join!(Browser::open_kind(kind, relay, &name), seed(relay, cast))?;
    let walked = check_every_page(&b, relay, cast, &seeded).await;
    b.close().await?;
    walked
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_page_has_no_serious_accessibility_violation_in_chromium() -> Result<()> {
    walk_in(BrowserKind::Chromium, "axe").await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_page_has_no_serious_accessibility_violation_in_firefox() -> Result<()> {
    walk_in(BrowserKind::Firefox, "axe-ffx").await
}
