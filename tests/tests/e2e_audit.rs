//! The audit trail end to end: a real relay of its own (the test edits its database), a
//! real sshd, headless Chromium.
//!
//! An ISA user's live SSH session is locked and unlocked by an administrator in the
//! player; the Audit page, opened from the player's "Audit trail" link (a deep link
//! filtered by the session), lists both with the administrator as actor and says the
//! chain is verified. The session ends and its recording is sealed: one byte changed in
//! the recording makes `vigil audit verify` name it. Then one entry is edited directly in
//! the database: `vigil audit verify` exits non-zero naming that entry, and the Audit page,
//! reloaded, shows "Broken at entry N". The relay's log holds the chain head.

use anyhow::{bail, ensure, Context, Result};
use serde_json::json;
use vigil_testkit::vigil_wire::api::Launched;
use vigil_testkit::vigil_wire::audit::{AuditEntry, AuditVerification};
use vigil_testkit::{poll_until, secs, sshd, step, tid, unique, vigil_cli, Api, Browser, Relay};

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn the_audit_trail_lists_monitor_actions_and_shows_a_broken_chain() -> Result<()> {
    let relay = Relay::start(&["audit"])?;
    let cast = relay.cast("audit");
    let _sshd = sshd();
    let u = unique("");

    step("the ISA user launches a session on the SSH asset and attaches");
    let isa = Api::login_as(&relay, &cast.isa).await?;
    let admin = Api::login_as(&relay, &cast.admin).await?;
    let web = isa.asset_id(&cast.web).await?;
    let launched: Launched = isa
        .post(
            "/api/v1/sessions",
            &json!({"asset_id": web, "cols": 100, "rows": 30}),
        )
        .await?;
    let sid = launched.session_id;
    let stream = isa.session_stream(&sid, secs(15.0)).await?;

    step("an administrator locks and unlocks it in the player");
    let b = Browser::open(&relay, "audit-admin").await?;
    b.login(&cast.admin).await?;
    b.goto(&format!("/sessions/{sid}")).await?;
    b.click(&tid("lock-button"), secs(15.0)).await?;
    b.wait_for_testid("unlock-button", secs(10.0)).await?;
    b.click(&tid("unlock-button"), secs(5.0)).await?;
    b.wait_for_testid("lock-button", secs(10.0)).await?;

    step("the player's Audit trail link opens the session's entries: lock and unlock, by the administrator, verified");
    b.click(&tid("audit-trail-link"), secs(10.0)).await?;
    b.wait_js(
        "the Audit page filtered by the session",
        "location.pathname === '/audit' && new URLSearchParams(location.search).get('session') === arguments[0]",
        vec![json!(sid)],
        secs(10.0),
    )
    .await?;
    let admin_name = &cast.admin.username;
    for action in ["lock", "unlock"] {
        b.wait_for(
            &format!(
                "{}[data-action=\"{action}\"][data-actor=\"{admin_name}\"]",
                tid("audit-row")
            ),
            secs(10.0),
        )
        .await?;
    }
    let actions: Vec<String> = b
        .js(
            "return [...document.querySelectorAll(arguments[0])].map(r => r.dataset.action);",
            vec![json!(tid("audit-row"))],
        )
        .await?
        .as_array()
        .context("rows")?
        .iter()
        .filter_map(|v| v.as_str().map(str::to_string))
        .collect();
    ensure!(
        actions
            .iter()
            .all(|a| a != "rule_create" && a != "user_create"),
        "entries of other sessions are listed: {actions:?}"
    );
    let status = b
        .wait_text(
            &format!("{}[data-ok=\"true\"]", tid("audit-status")),
            "to say verified",
            secs(10.0),
            |t| t.starts_with("Verified: "),
        )
        .await?;
    eprintln!("    Audit page: {status}");
    b.snapshot("audit-verified").await?;

    step("the session is terminated; its recording is sealed, and one changed byte is named");
    let _: serde_json::Value = admin
        .post(&format!("/api/v1/sessions/{sid}/terminate"), &json!({}))
        .await?;
    let seal = poll_until("the recording's seal", secs(15.0), || async {
        let list: Vec<AuditEntry> = admin
            .get(&format!(
                "/api/v1/audit?session={sid}&action=recording_sealed"
            ))
            .await?;
        Ok(list.into_iter().next())
    })
    .await?;
    let verified: AuditVerification = admin.get("/api/v1/audit/verify").await?;
    ensure!(verified.ok, "not verified before any edit: {verified:?}");
    let cast_file = relay
        .data_dir
        .join("recordings")
        .join(format!("{sid}.cast"));
    let original = std::fs::read(&cast_file).context("the recording")?;
    let mut edited = original.clone();
    let at = edited.len() / 2;
    edited[at] ^= 0x01;
    std::fs::write(&cast_file, &edited)?;
    let err = match vigil_cli(&relay.data_dir, &["audit", "verify"], &[]) {
        Ok(out) => bail!("vigil audit verify passed an edited recording: {out}"),
        Err(e) => format!("{e:#}"),
    };
    ensure!(
        err.contains(&format!(
            "recording {sid} ({sid}.cast) changed since it was sealed"
        )) && err.contains(&format!("broken at entry seq {}", seal.seq)),
        "vigil audit verify did not name the recording: {err}"
    );
    std::fs::write(&cast_file, &original)?;
    vigil_cli(&relay.data_dir, &["audit", "verify"], &[]).context("verify once restored")?;

    step("an entry is edited in the database: the CLI names it and the page shows it broken");
    let lock: Vec<AuditEntry> = admin
        .get(&format!("/api/v1/audit?session={sid}&action=lock"))
        .await?;
    let lock = lock.first().context("the lock entry")?;
    let db = relay.data_dir.join("vigil.db");
    let update = format!(
        "UPDATE audit_log SET detail = 'nothing to see {u}' WHERE seq = {}",
        lock.seq
    );
    let out = std::process::Command::new("sqlite3")
        .arg(&db)
        .arg(&update)
        .output()
        .context("run sqlite3")?;
    ensure!(
        out.status.success(),
        "sqlite3: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let err = match vigil_cli(&relay.data_dir, &["audit", "verify"], &[]) {
        Ok(out) => bail!("vigil audit verify passed an edited entry: {out}"),
        Err(e) => format!("{e:#}"),
    };
    ensure!(
        err.contains(&format!("broken at entry seq {}: edited", lock.seq)),
        "vigil audit verify did not name entry {}: {err}",
        lock.seq
    );
    b.goto(&format!("/audit?session={sid}")).await?;
    let status = b
        .wait_text(
            &format!("{}[data-ok=\"false\"]", tid("audit-status")),
            "to say broken",
            secs(10.0),
            |t| t.starts_with(&format!("Broken at entry {}", lock.seq)),
        )
        .await?;
    eprintln!("    Audit page after the edit: {status}");

    step("the relay logged the chain head at start, for an outside anchor");
    let log = without_ansi(&std::fs::read_to_string(&relay.log).context("the relay's log")?);
    let head_line = log
        .lines()
        .find(|l| l.contains("Audit chain head") && l.contains("vigil::audit"))
        .with_context(|| format!("no chain head in the relay's log:\n{log}"))?;
    ensure!(
        head_line.contains("seq=") && head_line.contains("hash="),
        "the head line lacks seq or hash: {head_line}"
    );
    b.snapshot("audit-broken").await?;
    drop(stream);
    b.close().await?;
    Ok(())
}

/// `text` without terminal colour sequences (`ESC [ … m`).
fn without_ansi(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    let mut chars = text.chars();
    while let Some(c) = chars.next() {
        if c == '\u{1b}' {
            for c in chars.by_ref() {
                if c == 'm' {
                    break;
                }
            }
        } else {
            out.push(c);
        }
    }
    out
}
