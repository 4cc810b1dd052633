//! The kiosk view (`/kiosk`) in headless Chromium at 1366×768, one scenario on one relay
//! and one xrdp desktop: alice works on her desktop in her browser; an ISA user logs in at
//! the kiosk (a session cookie), locks and unlocks alice's session from the kiosk's Active
//! Sessions (alice sees the lock message, then it clears), opens the kiosk's player, which
//! enters full screen and gets the Keyboard Lock; no link leads off the kiosk; then, left
//! alone, the kiosk logs out after the idle time the relay's configuration sets, and its
//! old cookie no longer works.

use std::time::{Duration, Instant};

use anyhow::{ensure, Context, Result};
use serde_json::{json, Value};
use vigil_testkit::browser::LockShown;
use vigil_testkit::vigil_wire::SESSION_COOKIE;
use vigil_testkit::{poll_until, secs, step, tid, Browser, Relay};

/// The kiosk's idle time in this test's relay (`VIGIL_KIOSK_IDLE_SECS`): long enough for
/// the steps between two clicks, short enough to wait for.
const IDLE_SECS: u64 = 8;

fn session_row(id: &str) -> String {
    format!("{}[data-session-id=\"{id}\"]", tid("session-row"))
}

/// Every `a[href]` on the page that leads anywhere but a kiosk page of this origin, and
/// how many links there are in all.
async fn links_off_the_kiosk(b: &Browser) -> Result<(Vec<String>, usize)> {
    let v = b
        .js(
            "const all = Array.from(document.querySelectorAll('a[href]')).map(a => a.href);\
             const off = all.filter(h => { const u = new URL(h, location.href);\
               return u.origin !== location.origin\
                 || !(u.pathname === '/kiosk' || u.pathname.startsWith('/kiosk/')); });\
             return [off, all.length];",
            vec![],
        )
        .await?;
    let off = v
        .get(0)
        .and_then(Value::as_array)
        .map(|a| {
            a.iter()
                .filter_map(Value::as_str)
                .map(String::from)
                .collect()
        })
        .unwrap_or_default();
    let all = v.get(1).and_then(Value::as_u64).unwrap_or(0);
    Ok((off, usize::try_from(all)?))
}

/// The smallest visible button or button-like link of the kiosk (height, width, its text),
/// and whether the page scrolls sideways.
async fn smallest_target(b: &Browser) -> Result<Value> {
    b.js(
        "const els = Array.from(document.querySelectorAll('.kiosk button, .kiosk a.btn, .kiosk a.thumb'))\
           .filter(e => e.offsetParent !== null);\
         let min = null;\
         for (const e of els) { const r = e.getBoundingClientRect();\
           const s = Math.min(r.width, r.height);\
           if (min === null || s < min[0]) min = [s, e.innerText.trim()]; }\
         return { min, count: els.length,\
           sideways: document.documentElement.scrollWidth > window.innerWidth };",
        vec![],
    )
    .await
}

async fn check_page(b: &Browser, page: &str) -> Result<()> {
    let (off, all) = links_off_the_kiosk(b).await?;
    ensure!(all > 0, "{page}: no link at all (not even Active Sessions)");
    ensure!(off.is_empty(), "{page}: links off the kiosk: {off:?}");
    ensure!(
        !b.exists(&tid("nav")).await?,
        "{page}: the app's navigation shows in the kiosk"
    );
    let t = smallest_target(b).await?;
    let min = t["min"][0].as_f64().unwrap_or(0.0);
    ensure!(
        min >= 44.0,
        "{page}: a touch target is under 44 px: {}",
        t["min"]
    );
    ensure!(
        t["sideways"] == json!(false),
        "{page}: the page scrolls sideways at 1366×768"
    );
    eprintln!(
        "    {page}: {all} links, none off the kiosk; {} targets, the smallest {min} px",
        t["count"]
    );
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn an_isa_user_locks_a_desktop_from_the_kiosk_which_logs_out_when_idle() -> Result<()> {
    let t0 = Instant::now();
    // This relay's kiosk idle time, from its configuration.
    let idle = IDLE_SECS.to_string();
    let relay = Relay::start_with_rdp_env(&["kiosk"], &[("VIGIL_KIOSK_IDLE_SECS", &idle)])?;
    let cast = relay.cast("kiosk");

    step("kiosk: alice connects to her xrdp desktop; the ISA user opens /kiosk at 1366×768");
    let (alice, isa) = tokio::try_join!(
        Browser::open(&relay, "kiosk-alice"),
        Browser::open(&relay, "kiosk-isa"),
    )?;
    isa.client.set_window_size(1366, 768).await?;
    // The page stays 1366×768 in full screen too (headless Chromium's screen is smaller).
    isa.cdp(
        "Emulation.setDeviceMetricsOverride",
        json!({"width": 1366, "height": 768, "deviceScaleFactor": 1, "mobile": false,
               "screenWidth": 1366, "screenHeight": 768}),
    )
    .await?;
    // The ISA user logs in once alice's desktop is up: the kiosk's idle time runs from then.
    let alice_desktop = async {
        alice.login(&cast.alice).await?;
        let sid = alice
            .connect_by_request(&cast.rdp.rfx, "kiosk test")
            .await?;
        alice.wait_desktop("desktop-canvas", secs(40.0)).await?;
        anyhow::Ok(sid)
    };
    let kiosk_login_page = async {
        isa.goto("/kiosk").await?;
        isa.wait_login_form(secs(15.0)).await?;
        anyhow::Ok(isa.client.current_url().await?)
    };
    let (sid, login_url) = tokio::try_join!(alice_desktop, kiosk_login_page)?;
    ensure!(
        login_url.path() == "/login" && login_url.query() == Some("next=%2Fkiosk"),
        "/kiosk sent the ISA user to {login_url}"
    );
    isa.submit_login(&cast.isa.username, &cast.isa.password)
        .await?;
    isa.wait_text(&tid("nav-user"), "to name the ISA user", secs(15.0), |t| {
        t.contains(&cast.isa.username)
    })
    .await?;
    ensure!(isa.path().await? == "/kiosk", "not back at /kiosk");

    step("kiosk: the kiosk's login cookie is a session cookie (no Max-Age, no Expires)");
    let cookies = isa.client.get_all_cookies().await?;
    let cookie = cookies
        .iter()
        .find(|c| c.name() == SESSION_COOKIE)
        .with_context(|| format!("no {SESSION_COOKIE} cookie in {cookies:?}"))?;
    ensure!(
        cookie.expires().is_none() && cookie.max_age().is_none(),
        "the kiosk's login cookie outlives the browser: {cookie:?}"
    );
    let old_cookie = format!("{SESSION_COOKIE}={}", cookie.value());

    step("kiosk: Lock and Unlock alice's session from the kiosk's Active Sessions");
    let row = session_row(&sid);
    isa.wait_for(&row, secs(10.0)).await?;
    check_page(&isa, "Active Sessions").await?;
    isa.click(&format!("{row} {}", tid("lock-button")), secs(5.0))
        .await?;
    alice.wait_lock_shown(LockShown::Desktop).await?;
    isa.wait_for(&format!("{row}[data-locked=\"true\"]"), secs(5.0))
        .await?;
    isa.click(&format!("{row} {}", tid("unlock-button")), secs(5.0))
        .await?;
    alice.wait_gone(&tid("lock-overlay"), secs(5.0)).await?;
    isa.wait_for(&format!("{row}[data-locked=\"false\"]"), secs(5.0))
        .await?;

    step("kiosk: the thumbnail opens the kiosk's player in full screen, with the Keyboard Lock");
    isa.click(&format!("{row} {}", tid("thumbnail")), secs(5.0))
        .await?;
    let last_input = Instant::now();
    let lock = isa
        .wait_for("[data-keyboard-lock=\"locked\"]", secs(10.0))
        .await;
    if lock.is_err() {
        let state = isa
            .js("const e = document.querySelector('[data-testid=keyboard-lock]');\
                 return [e && e.dataset.keyboardLock, e && e.innerText, !!document.fullscreenElement];", vec![])
            .await?;
        return Err(isa
            .fail(format!("the keyboard was not locked: {state}"))
            .await);
    }
    ensure!(
        isa.path().await? == format!("/kiosk/sessions/{sid}"),
        "the thumbnail did not open the kiosk's player"
    );
    let fullscreen = isa
        .js(
            "return document.fullscreenElement === document.documentElement;",
            vec![],
        )
        .await?;
    ensure!(fullscreen == json!(true), "the kiosk is not in full screen");
    isa.wait_for(&tid("player-canvas"), secs(5.0)).await?;
    let size = isa
        .js("return [window.innerWidth, window.innerHeight];", vec![])
        .await?;
    ensure!(
        size == json!([1366, 768]),
        "the kiosk's page is {size}, not 1366×768"
    );
    check_page(&isa, "the player").await?;
    isa.snapshot("kiosk-player").await?;

    step("kiosk: left alone, the kiosk logs out after its idle time");
    let out = poll_until(
        "the kiosk back at the login page",
        secs(IDLE_SECS as f64 + 6.0),
        || async {
            let path = isa.path().await?;
            Ok((path == "/login").then_some(()))
        },
    )
    .await;
    if let Err(e) = out {
        return Err(isa.fail(format!("{e:#}")).await);
    }
    let idle = last_input.elapsed();
    eprintln!(
        "    logged out {} ms after the last click",
        idle.as_millis()
    );
    ensure!(
        idle >= Duration::from_secs(IDLE_SECS - 1),
        "logged out after {idle:?}, before the idle time ({IDLE_SECS} s)"
    );
    let next = isa.client.current_url().await?;
    ensure!(
        next.query() == Some("next=%2Fkiosk"),
        "the logout went to {next}, not back to the kiosk's login"
    );
    let me = reqwest::Client::new()
        .get(relay.url("/api/v1/me"))
        .header("cookie", &old_cookie)
        .send()
        .await?;
    ensure!(
        me.status() == reqwest::StatusCode::UNAUTHORIZED,
        "the kiosk's old cookie still works: {}",
        me.status()
    );

    tokio::try_join!(alice.close(), isa.close())?;
    eprintln!("    kiosk scenario: {} ms", t0.elapsed().as_millis());
    Ok(())
}
