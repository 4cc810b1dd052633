//! The keyboard alone, and a narrow window, in headless Chromium against one relay and
//! the test sshd, with two browsers: alice (the session's user, who connects with the
//! mouse) and an ISA monitor who uses only Tab, Enter, Space and the arrow keys, then
//! the same monitor at 400 px wide.
//!
//! (a) The monitor logs in on the login page, opens Active Sessions from the navigation,
//! selects alice's session, locks and unlocks it from the selection toolbar and opens its
//! player; every stop of the focus shows a focus ring. Alice sees the lock message, then
//! it clears; both pages' live regions announce it. The focus escape chord
//! (Ctrl+Alt+Shift) leaves the player's terminal and alice's own.
//!
//! (b) At 400 px, Menu opens the navigation (Escape closes it and gives the focus back),
//! Active Sessions opens from it, and Lock and Unlock work there, with no control cut off.

use anyhow::{ensure, Result};
use serde_json::{json, Value};
use vigil_testkit::browser::LockShown;
use vigil_testkit::fantoccini::key::Key;
use vigil_testkit::vigil_wire::SSH_LOCK_MESSAGE;
use vigil_testkit::{secs, step, tid, Browser, Relay};

fn session_row(id: &str) -> String {
    format!("{}[data-session-id=\"{id}\"]", tid("session-row"))
}

/// The words in a page's live region (both its parts).
async fn announced(b: &Browser) -> Result<String> {
    let v = b
        .js(
            "const r = document.querySelector('[data-testid=\"live-region\"]'); return r ? r.textContent : null;",
            vec![],
        )
        .await?;
    Ok(v.as_str().unwrap_or_default().trim().to_string())
}

async fn wait_announced(b: &Browser, starts: &str) -> Result<String> {
    b.wait_js(
        &format!("the live region to announce {starts:?}"),
        "(() => { const r = document.querySelector('[data-testid=\"live-region\"]'); return r && r.textContent.trim().startsWith(arguments[0]) ? r.textContent.trim() : null; })()",
        vec![json!(starts)],
        secs(5.0),
    )
    .await
    .map(|v| v.as_str().unwrap_or_default().to_string())
}

/// Waits until the toolbar's buttons are usable exactly as `usable` says (testid, usable).
async fn wait_toolbar(b: &Browser, usable: &[(&str, bool)]) -> Result<()> {
    let want: Value = usable
        .iter()
        .map(|(t, u)| (t.to_string(), json!(!u)))
        .collect::<serde_json::Map<_, _>>()
        .into();
    b.wait_js(
        &format!("the toolbar to read {want}"),
        "Object.entries(arguments[0]).every(([t, off]) => { const e = document.querySelector(`[data-testid=\"${t}\"]`); return e && e.getAttribute('aria-disabled') === String(off); })",
        vec![want.clone()],
        secs(5.0),
    )
    .await
    .map(|_| ())
}

const CHORD: [Key; 3] = [Key::Control, Key::Alt, Key::Shift];

fn chord() -> Vec<char> {
    CHORD.iter().map(|k| char::from(*k)).collect()
}

/// Presses the focus escape chord in `terminal`'s xterm (which has the focus); the
/// focus must land on the hint beside it, visibly, and Tab then go on past it (to `next`
/// when the page has a control after it).
async fn escape_terminal(b: &Browser, terminal: &str, next: Option<&str>) -> Result<()> {
    let area = format!("{terminal} .xterm-helper-textarea");
    ensure!(
        b.focus_is(&area).await?,
        "{}: the terminal does not have the focus: {}",
        b.name,
        b.focus_state().await?
    );
    b.expect_focus_ring("in the terminal").await?;
    // Tab stays in the terminal: xterm.js keeps it for the target.
    b.press(&[Key::Tab.into()]).await?;
    ensure!(
        b.focus_is(&area).await?,
        "{}: Tab left the terminal by itself: the chord would not be needed",
        b.name
    );
    b.chord(&chord()).await?;
    b.wait_js(
        "the focus to move to the focus escape hint",
        "document.activeElement && document.activeElement.matches('[data-testid=\"focus-escape-hint\"]')",
        vec![],
        secs(3.0),
    )
    .await?;
    b.expect_focus_ring("after the focus escape chord").await?;
    let hint = b.text(&tid("focus-escape-hint")).await?.unwrap_or_default();
    ensure!(
        hint.contains("Ctrl+Alt+Shift"),
        "the hint does not name the chord: {hint:?}"
    );
    b.press(&[Key::Tab.into()]).await?;
    let after = b.focus_state().await?;
    let went_on = match next {
        Some(css) => b.focus_is(css).await?,
        None => !b.focus_is(&area).await? && !b.focus_is(&tid("focus-escape-hint")).await?,
    };
    ensure!(went_on, "{}: Tab after the hint went to {after}", b.name);
    if next.is_some() {
        b.expect_focus_ring("after the hint").await?;
    }
    Ok(())
}

/// Nothing in the window is wider than it, and every visible control in `scope` lies
/// inside it.
async fn nothing_cut_off(b: &Browser, scope: &str) -> Result<()> {
    let v = b
        .js(
            "const w = window.innerWidth;
             const out = [];
             if (document.documentElement.scrollWidth > w) out.push(`the page is ${document.documentElement.scrollWidth}px wide`);
             for (const e of document.querySelectorAll(arguments[0])) {
               const r = e.getBoundingClientRect();
               if (r.width === 0 && r.height === 0) continue;
               if (r.left < 0 || r.right > w + 0.5) out.push(`${e.tagName} \"${(e.innerText || e.getAttribute('aria-label') || '').trim()}\" spans ${Math.round(r.left)}..${Math.round(r.right)}`);
             }
             return { width: w, out };",
            vec![json!(scope)],
        )
        .await?;
    let out = v["out"].as_array().cloned().unwrap_or_default();
    if !out.is_empty() {
        return Err(b
            .fail(format!(
                "cut off at {} px: {}",
                v["width"],
                Value::Array(out)
            ))
            .await);
    }
    Ok(())
}

/// Waits until `b` is on Active Sessions (`/active`).
async fn on_active_sessions(b: &Browser) -> Result<()> {
    b.wait_js(
        "Active Sessions",
        "location.pathname === '/active'",
        vec![],
        secs(5.0),
    )
    .await?;
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn keyboard_alone_and_a_narrow_window() -> Result<()> {
    let relay = Relay::start(&["keys"])?;
    let cast = relay.cast("keys");

    step("two browsers: alice connects (mouse), the ISA monitor uses the keyboard alone");
    let (user, isa) = tokio::try_join!(
        Browser::open(&relay, "alice"),
        Browser::open(&relay, "isa-keyboard")
    )?;
    user.login(&cast.alice).await?;
    let sid = user.connect_by_request(&cast.web, "keyboard test").await?;
    user.wait_terminal(&tid("terminal"), "$", secs(20.0))
        .await?;

    step("(a) log in: Tab to the fields, type, Enter");
    isa.goto("/login?next=%2Fassets").await?;
    isa.wait_login_form(secs(15.0)).await?;
    isa.tab_to(&tid("login-username"), 3).await?;
    isa.type_keys(&cast.isa.username).await?;
    isa.tab_to(&tid("login-password"), 2).await?;
    isa.type_keys(&cast.isa.password).await?;
    isa.press(&[Key::Enter.into()]).await?;
    isa.wait_text(&tid("nav-user"), "to name the ISA", secs(15.0), |t| {
        t.contains(&cast.isa.username)
    })
    .await?;
    ensure!(
        isa.path().await? == "/assets",
        "the login went to {}",
        isa.path().await?
    );

    step("(a) open Active Sessions from the navigation");
    isa.tab_to(&format!("{} a[href=\"/active\"]", tid("nav")), 8)
        .await?;
    isa.press(&[Key::Enter.into()]).await?;
    on_active_sessions(&isa).await?;
    isa.wait_for(&session_row(&sid), secs(10.0)).await?;
    wait_toolbar(&isa, &[("toolbar-lock", false), ("toolbar-unlock", false)]).await?;

    step("(a) select the session: Tab to its radio button, Space");
    let radio = format!("{} {}", session_row(&sid), tid("session-select"));
    isa.tab_to(&radio, 12).await?;
    isa.press(&[' ']).await?;
    isa.wait_for(
        &format!("{}[data-selected=\"true\"]", session_row(&sid)),
        secs(3.0),
    )
    .await?;
    // A session under a request: Lock, Terminate, Terminate and Cancel; not Unlock.
    wait_toolbar(
        &isa,
        &[
            ("toolbar-lock", true),
            ("toolbar-unlock", false),
            ("toolbar-terminate", true),
            ("toolbar-terminate-cancel", true),
        ],
    )
    .await?;
    let label = isa.text(&tid("selection-label")).await?.unwrap_or_default();
    ensure!(
        label.contains(&cast.alice.username) && label.contains(&cast.web),
        "the toolbar names {label:?}"
    );

    step("(a) Lock from the toolbar: alice sees the message, both pages announce it");
    isa.tab_to(&tid("toolbar-lock"), 8).await?;
    isa.press(&[Key::Enter.into()]).await?;
    user.wait_lock_shown(LockShown::Terminal).await?;
    let said = wait_announced(&user, "Session locked.").await?;
    ensure!(
        said.contains(SSH_LOCK_MESSAGE),
        "alice's live region: {said:?}"
    );
    wait_announced(&isa, "Session locked").await?;
    wait_toolbar(&isa, &[("toolbar-lock", false), ("toolbar-unlock", true)]).await?;
    // The pressed button keeps the focus, though it no longer applies.
    ensure!(
        isa.focus_is(&tid("toolbar-lock")).await?,
        "the focus left Lock: {}",
        isa.focus_state().await?
    );

    step("(a) Unlock: the message clears, both pages announce it");
    isa.tab_to(&tid("toolbar-unlock"), 2).await?;
    isa.press(&[Key::Enter.into()]).await?;
    user.wait_gone(&tid("lock-banner"), secs(5.0)).await?;
    wait_announced(&user, "Session unlocked.").await?;
    wait_announced(&isa, "Session unlocked.").await?;
    wait_toolbar(&isa, &[("toolbar-lock", true), ("toolbar-unlock", false)]).await?;

    step("(a) open its player from the toolbar, and leave its terminal with the chord");
    isa.tab_to(&tid("toolbar-watch"), 6).await?;
    isa.press(&[Key::Enter.into()]).await?;
    isa.wait_js(
        "the player",
        "location.pathname === arguments[0]",
        vec![json!(format!("/sessions/{sid}"))],
        secs(5.0),
    )
    .await?;
    isa.wait_for(
        &format!("{} .xterm-helper-textarea", tid("player-terminal")),
        secs(10.0),
    )
    .await?;
    isa.tab_to(
        &format!("{} .xterm-helper-textarea", tid("player-terminal")),
        25,
    )
    .await?;
    escape_terminal(&isa, &tid("player-terminal"), Some(&tid("keystroke-sort"))).await?;

    step("(a) the chord leaves alice's own terminal too");
    escape_terminal(&user, &tid("terminal"), None).await?;
    ensure!(
        announced(&user).await? == "Session unlocked.",
        "alice's live region changed: {:?}",
        announced(&user).await?
    );

    step("(b) at 400 px wide: Menu opens the navigation, Escape closes it");
    isa.client.set_window_size(400, 800).await?;
    let width = isa.js("return window.innerWidth;", vec![]).await?;
    if width.as_f64().unwrap_or(0.0) > 400.0 {
        // A window manager may refuse so small a window: emulate the width instead.
        isa.cdp(
            "Emulation.setDeviceMetricsOverride",
            json!({"width": 400, "height": 800, "deviceScaleFactor": 1, "mobile": false}),
        )
        .await?;
    }
    isa.wait_js(
        "a 400 px window",
        "window.innerWidth <= 400",
        vec![],
        secs(3.0),
    )
    .await?;
    let menu = tid("nav-menu");
    let active_link = format!("{} a[href=\"/active\"]", tid("nav"));
    let shown = "(() => { const e = document.querySelector(arguments[0]); return !!e && e.getBoundingClientRect().width > 0; })()";
    ensure!(
        isa.js(&format!("return {shown};"), vec![json!(active_link)])
            .await?
            == Value::Bool(false),
        "the navigation shows without Menu at 400 px"
    );
    isa.click(&menu, secs(5.0)).await?;
    isa.wait_for(&format!("{menu}[aria-expanded=\"true\"]"), secs(3.0))
        .await?;
    isa.wait_js(
        "the opened navigation",
        shown,
        vec![json!(active_link)],
        secs(3.0),
    )
    .await?;
    nothing_cut_off(&isa, "header nav a, header button").await?;
    isa.press(&[Key::Escape.into()]).await?;
    isa.wait_for(&format!("{menu}[aria-expanded=\"false\"]"), secs(3.0))
        .await?;
    ensure!(
        isa.focus_is(&menu).await?,
        "Escape did not give the focus back to Menu: {}",
        isa.focus_state().await?
    );

    step("(b) Click Menu and then click Active Sessions");
    isa.click(&menu, secs(5.0)).await?;
    isa.click(&active_link, secs(3.0)).await?;
    on_active_sessions(&isa).await?;
    isa.wait_for(&format!("{menu}[aria-expanded=\"false\"]"), secs(3.0))
        .await?;
    ensure!(
        isa.focus_is(&menu).await?,
        "choosing a link did not give the focus back to Menu"
    );

    step("(b) select the row with a click; Lock and Unlock at 400 px");
    isa.click(
        &format!("{} td[data-label=\"User\"]", session_row(&sid)),
        secs(10.0),
    )
    .await?;
    wait_toolbar(&isa, &[("toolbar-lock", true), ("toolbar-unlock", false)]).await?;
    nothing_cut_off(&isa, "header button, main a, main button, main input").await?;
    isa.click(&tid("toolbar-lock"), secs(3.0)).await?;
    user.wait_for_testid("lock-banner", secs(5.0)).await?;
    wait_toolbar(&isa, &[("toolbar-lock", false), ("toolbar-unlock", true)]).await?;
    nothing_cut_off(&isa, "main a, main button, main input").await?;
    isa.click(&tid("toolbar-unlock"), secs(3.0)).await?;
    user.wait_gone(&tid("lock-banner"), secs(5.0)).await?;
    isa.snapshot("keyboard-narrow-active-sessions").await?;

    isa.close().await?;
    user.close().await?;
    Ok(())
}
