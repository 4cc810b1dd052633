//! Foundation, end to end in real Chromium: logging in as each kind of user, what the
//! navigation shows, a wrong password, logging out, a deep link while logged out, and the
//! production bundle (no `bench` feature) opening a session.

use anyhow::{ensure, Result};
use serde_json::json;
use vigil_testkit::{secs, step, tid, unique, Api, Browser, Relay};

/// One relay for this binary; every test here reads, none changes what others see.
const CASTS: &[&str] = &["found"];

fn relay() -> &'static Relay {
    Relay::shared(CASTS)
}

const NAV_LABELS: [&str; 4] = ["Active Sessions", "Replay Sessions", "Assets", "Requests"];
/// Administrators also get the Audit page.
const ADMIN_NAV_LABELS: [&str; 5] = [
    "Active Sessions",
    "Replay Sessions",
    "Assets",
    "Requests",
    "Audit",
];
const NAV_PATHS: [&str; 5] = ["/active", "/replay", "/assets", "/requests", "/audit"];

async fn nav_labels(b: &Browser) -> Result<Vec<String>> {
    let labels = b.texts(&format!("{} a", tid("nav"))).await?;
    Ok(labels.into_iter().map(|l| l.trim().to_string()).collect())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_kind_of_user_sees_the_navigation_and_their_name() -> Result<()> {
    let relay = relay();
    let cast = relay.cast("found");
    let b = Browser::open(relay, "nav").await?;
    for (kind, login) in cast.users() {
        step(&format!("log in as {kind} {}", login.username));
        b.goto("/login").await?;
        b.login(login).await?;
        let labels = nav_labels(&b).await?;
        let expected: &[&str] = if kind == "administrator" {
            &ADMIN_NAV_LABELS
        } else {
            &NAV_LABELS
        };
        if labels != expected {
            return Err(b
                .fail(format!(
                    "{kind}: navigation shows {labels:?}, expected {expected:?}"
                ))
                .await);
        }
        let user = b.text(&tid("nav-user")).await?.unwrap_or_default();
        ensure!(
            user.contains(&login.username),
            "{kind}: nav-user shows {user:?}, not {}",
            login.username
        );
        // Each section opens from the navigation.
        for (label, path) in expected.iter().zip(NAV_PATHS) {
            let link = format!("{} a[href=\"{path}\"]", tid("nav"));
            b.click(&link, secs(5.0)).await?;
            b.wait_js(
                &format!("{label} at {path}"),
                "location.pathname === arguments[0]",
                vec![json!(path)],
                secs(5.0),
            )
            .await?;
        }
        b.click(&tid("logout"), secs(5.0)).await?;
        b.wait_for_testid("login-username", secs(10.0)).await?;
    }
    b.close().await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_wrong_password_shows_the_error_and_lets_nobody_in() -> Result<()> {
    let relay = relay();
    let cast = relay.cast("found");
    let b = Browser::open(relay, "wrong-password").await?;
    b.goto("/login").await?;
    b.submit_login(&cast.reviewer.username, "not-the-password")
        .await?;
    let err = b.wait_for_testid("login-error", secs(10.0)).await?;
    let text = err.text().await?;
    ensure!(!text.trim().is_empty(), "login-error is empty");
    ensure!(
        b.path().await?.starts_with("/login"),
        "left the login page after a wrong password"
    );
    ensure!(
        !b.exists(&tid("nav")).await?,
        "the navigation is shown after a wrong password"
    );
    // An unknown user gets the same answer as a wrong password.
    b.submit_login(&unique("nobody-"), "whatever-password")
        .await?;
    b.wait_text(&tid("login-error"), "to stay shown", secs(10.0), |t| {
        !t.trim().is_empty()
    })
    .await?;
    // The REST answer behind it.
    let api = Api::new(&relay.base)?;
    let reply = api
        .send(
            reqwest::Method::POST,
            "/api/v1/auth/login",
            Some(&json!({"username": cast.reviewer.username, "password": "not-the-password"})),
        )
        .await?;
    ensure!(
        reply.status == 401,
        "wrong password: HTTP {} (expected 401)",
        reply.status
    );
    ensure!(
        api.send(reqwest::Method::GET, "/api/v1/me", None)
            .await?
            .status
            == 401,
        "/me answers without a login"
    );
    // And the right password still works afterwards.
    b.login(&cast.reviewer).await?;
    b.close().await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn logout_ends_the_session() -> Result<()> {
    let relay = relay();
    let cast = relay.cast("found");
    let b = Browser::open(relay, "logout").await?;
    b.goto("/login").await?;
    b.login(&cast.alice).await?;
    let cookie = b
        .client
        .get_named_cookie(vigil_testkit::vigil_wire::SESSION_COOKIE)
        .await?;
    let cookie_header = format!("{}={}", cookie.name(), cookie.value());
    // The cookie works before logging out…
    let http = reqwest::Client::new();
    let me = http
        .get(relay.url("/api/v1/me"))
        .header("Cookie", &cookie_header)
        .send()
        .await?;
    ensure!(
        me.status() == 200,
        "/me with the browser's cookie: HTTP {}",
        me.status()
    );

    b.click(&tid("logout"), secs(5.0)).await?;
    b.wait_for_testid("login-username", secs(10.0)).await?;
    ensure!(
        !b.exists(&tid("nav")).await?,
        "the navigation is still shown after logout"
    );
    // …and not after: the relay forgot it, not only the browser.
    let me = http
        .get(relay.url("/api/v1/me"))
        .header("Cookie", &cookie_header)
        .send()
        .await?;
    ensure!(
        me.status() == 401,
        "/me with the old cookie after logout: HTTP {} (expected 401)",
        me.status()
    );
    // A page that needs a login sends back to the login page.
    b.goto("/active").await?;
    b.wait_for_testid("login-username", secs(10.0)).await?;
    b.wait_js(
        "the login page",
        "location.pathname.startsWith('/login')",
        vec![],
        secs(5.0),
    )
    .await?;
    b.close().await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_deep_link_while_logged_out_goes_to_login() -> Result<()> {
    let relay = relay();
    let cast = relay.cast("found");
    let b = Browser::open(relay, "deep-link").await?;
    let id = unique("s");
    b.goto(&format!("/sessions/{id}")).await?;
    b.wait_for_testid("login-username", secs(15.0)).await?;
    b.wait_js(
        "the login page",
        "location.pathname.startsWith('/login')",
        vec![],
        secs(5.0),
    )
    .await?;
    ensure!(
        !b.exists(&tid("player-terminal")).await?,
        "the player is shown while logged out"
    );
    // After logging in, the unknown id is not confirmed: the page says it is not available.
    b.login(&cast.isa).await?;
    b.goto(&format!("/sessions/{id}")).await?;
    b.wait_for_testid("session-unavailable", secs(10.0)).await?;
    b.close().await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_login_page_goes_on_only_to_a_path_of_vigil() -> Result<()> {
    let relay = relay();
    let cast = relay.cast("found");
    let b = Browser::open(relay, "login-next").await?;
    let go = |next: &str| format!("/login?next={}", urlencoding(next));
    // Logging in with a foreign `next` lands on the start page, not elsewhere.
    b.goto(&go("//evil.example/x")).await?;
    b.login(&cast.isa).await?;
    wait_at(&b, "/active", "//evil.example/x").await?;
    // Logged in, the login page goes straight on: each `next` is checked the same way.
    for bad in [
        "//evil.example/x",
        "/\\evil.example/x",
        "/\t/evil.example/x",
        "https://evil.example/x",
        "javascript:alert(1)",
        "evil.example",
        "/login?next=/requests",
        "/api/v1/me",
    ] {
        b.goto(&go(bad)).await?;
        wait_at(&b, "/active", bad).await?;
    }
    b.goto(&go("/requests?x=1")).await?;
    wait_at(&b, "/requests", "/requests?x=1").await?;
    b.close().await
}

/// The production bundle (`dist/`, which `scripts/setup.sh` builds) has no benchmark page,
/// and every route after the one it leaves out still works: a session opens from Assets
/// through `/connect/:id`. The other tests serve the benchmark bundle.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_production_bundle_opens_a_session_and_has_no_benchmark_page() -> Result<()> {
    let relay = Relay::start_production(&["prod"])?;
    let cast = relay.cast("prod");
    let b = Browser::open(&relay, "production").await?;
    b.goto("/login").await?;
    b.login(&cast.isa).await?;
    step("an SSH session from Assets, through /connect/:id");
    b.connect_directly(&cast.web).await?;
    b.wait_terminal(&tid("terminal"), "$", secs(30.0)).await?;
    step("the benchmark page is not there");
    b.goto(&format!("/bench/decode/{}", unique("s"))).await?;
    b.wait_text("main", "Page not found", secs(10.0), |t| {
        t.contains("Page not found")
    })
    .await?;
    b.close().await
}

/// Waits until `b` shows the app at `path` (after a login page given `next`).
async fn wait_at(b: &Browser, path: &str, next: &str) -> Result<()> {
    b.wait_js(
        &format!("{path} after next={next:?}"),
        "location.origin === arguments[1] && location.pathname === arguments[0] && !!document.querySelector('[data-testid=\"nav-user\"]')",
        vec![json!(path), json!(b.url("").trim_end_matches('/'))],
        secs(15.0),
    )
    .await?;
    Ok(())
}

/// `s` as a URL query value.
fn urlencoding(s: &str) -> String {
    s.bytes()
        .map(|c| match c {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' => {
                (c as char).to_string()
            }
            _ => format!("%{c:02X}"),
        })
        .collect()
}
