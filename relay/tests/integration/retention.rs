//! Retention and legal hold: recordings of sessions that ended long ago are deleted
//! (`vigil retention run`, and the relay's own task), a held one is kept, each deletion
//! is audited and answered 410 `recording_deleted`, and `vigil audit verify` still passes,
//! also after the audit log is pruned (the seals of kept recordings are carried). A
//! recording deleted without a `recording_deleted` entry is still reported.

use reqwest::{Client, StatusCode};
use serde_json::{json, Value};
use vigil_relay::store::{self, now_ms};
use vigil_wire::api::{Protocol, Session, SessionKind};
use vigil_wire::audit::{AuditProblem, RecordingSeal};
use vigil_wire::end::EndReason;

use crate::support::{self, error_code, Relay, R};

const DAY_MS: i64 = 86_400_000;

/// `vigil <args>` on the relay's data dir and key, with `env`: (success, output).
async fn cli(r: &Relay, args: &[&str], env: &[(&str, &str)]) -> R<(bool, String)> {
    let out = tokio::process::Command::new(env!("CARGO_BIN_EXE_vigil"))
        .args(args)
        .env("VIGIL_DATA_DIR", r.dir.path().join("data"))
        .env("VIGIL_AUDIT_KEY_FILE", r.dir.path().join("audit.key"))
        .env("RUST_LOG", "warn")
        .envs(env.iter().copied())
        .stdin(std::process::Stdio::null())
        .output()
        .await?;
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    Ok((out.status.success(), text))
}

/// An SSH session of `user` that ended `days_ago` days ago, with its recording and
/// keystroke log written and sealed.
async fn ended_session(r: &Relay, user: i64, asset: i64, days_ago: i64, text: &str) -> R<String> {
    let id = r.session(user, asset, SessionKind::Admin, None).await?;
    let cast = r.state.hub.recording_path(&id);
    std::fs::create_dir_all(cast.parent().ok_or("no parent")?)?;
    std::fs::write(
        &cast,
        format!("{{\"version\":2}}\n[0.5,\"o\",\"{text}\\r\\n\"]\n"),
    )?;
    std::fs::write(r.state.hub.keystrokes_path(&id), "")?;
    let ended = now_ms() - days_ago * DAY_MS;
    store::sessions::end(&r.state.db, &id, ended, &EndReason::plain("closed")).await?;
    let sealed = vigil_relay::audit::seal::seal(
        &r.state.db,
        &r.state.audit_key,
        r.state.config.recordings_dir(),
        &id,
    )
    .await?;
    assert!(sealed);
    Ok(id)
}

async fn put_hold(
    r: &Relay,
    c: &Client,
    csrf: &str,
    id: &str,
    body: Value,
) -> R<reqwest::Response> {
    Ok(c.put(format!("{}/sessions/{id}/legal-hold", r.base))
        .header(vigil_wire::CSRF_HEADER, csrf)
        .json(&body)
        .send()
        .await?)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn old_recordings_go_a_held_one_stays_and_the_chain_still_verifies() -> R {
    let r = support::relay().await?;
    let root = r.user("root", true, &[]).await?;
    r.user("ada", true, &[]).await?;
    let ssh = r.asset("web-1", Protocol::Ssh).await?;
    let old = ended_session(&r, root, ssh, 40, "old").await?;
    let held = ended_session(&r, root, ssh, 40, "held").await?;
    let recent = ended_session(&r, root, ssh, 2, "recent").await?;
    let (c, csrf) = r.login("ada").await?;

    // The hold: a reason is required; the session's JSON shows it; it is audited.
    let resp = put_hold(&r, &c, &csrf, &held, json!({"hold": true})).await?;
    assert_eq!(
        error_code(resp).await?,
        (StatusCode::BAD_REQUEST, "bad_request".into())
    );
    let resp = put_hold(
        &r,
        &c,
        &csrf,
        &held,
        json!({"hold": true, "reason": "case 42"}),
    )
    .await?;
    assert_eq!(resp.status(), StatusCode::OK);
    let s: Session = resp.json().await?;
    let hold = s.legal_hold.ok_or("no hold in the session's JSON")?;
    assert_eq!((hold.by.as_str(), hold.reason.as_str()), ("ada", "case 42"));
    assert!(
        s.controls.legal_hold,
        "an administrator is offered the hold"
    );
    let set =
        support::audit_entries(&r, &c, &format!("?session={held}&action=legal_hold_set")).await?;
    assert_eq!(set.len(), 1, "{set:?}");
    assert_eq!(
        (set[0].actor.as_str(), set[0].detail.as_str()),
        ("ada", "case 42")
    );
    // root may not hold their own session, whatever they are.
    let (rc, rcsrf) = r.login("root").await?;
    let resp = put_hold(
        &r,
        &rc,
        &rcsrf,
        &old,
        json!({"hold": true, "reason": "mine"}),
    )
    .await?;
    assert_eq!(
        error_code(resp).await?,
        (StatusCode::FORBIDDEN, "forbidden".into())
    );
    // The command line holds too: placed on `recent`, then released, both audited.
    let (ok, said) = cli(
        &r,
        &["session", "hold", &recent, "--reason", "ticket 7"],
        &[],
    )
    .await?;
    assert!(ok && said.contains("legal hold placed"), "{said}");
    let (ok, said) = cli(&r, &["session", "release", &recent], &[]).await?;
    assert!(ok && said.contains("legal hold released"), "{said}");
    let released = support::audit_entries(
        &r,
        &c,
        &format!("?session={recent}&action=legal_hold_released"),
    )
    .await?;
    assert_eq!(released.first().map(|e| e.actor.as_str()), Some("cli"));

    // 30 days: `old` goes; `held` (as old, on hold) and `recent` stay.
    let days = [("VIGIL_RETENTION_RECORDINGS_DAYS", "30")];
    let (ok, said) = cli(&r, &["retention", "run"], &days).await?;
    assert!(ok, "{said}");
    assert!(said.contains("1 recording(s) deleted"), "{said}");
    let recordings = r.state.config.recordings_dir();
    assert!(!recordings.join(format!("{old}.cast")).exists());
    assert!(!recordings.join(format!("{old}.keys.jsonl")).exists());
    assert!(recordings.join(format!("{held}.cast")).exists());
    assert!(recordings.join(format!("{recent}.cast")).exists());
    let deleted =
        support::audit_entries(&r, &c, &format!("?session={old}&action=recording_deleted")).await?;
    let [deleted] = deleted.as_slice() else {
        return Err(format!("one deletion entry expected: {deleted:?}").into());
    };
    assert_eq!(deleted.actor, "cli");
    let files: RecordingSeal = serde_json::from_str(&deleted.detail)?;
    let names: Vec<_> = files.files.iter().map(|f| f.name.clone()).collect();
    assert_eq!(names, [format!("{old}.cast"), format!("{old}.keys.jsonl")]);
    assert!(files.files.iter().all(|f| f.sha256.len() == 64));
    // Reading it answers a clear 410, and the session says when.
    let resp = c
        .get(format!("{}/sessions/{old}/recording", r.base))
        .send()
        .await?;
    assert_eq!(
        error_code(resp).await?,
        (StatusCode::GONE, "recording_deleted".into())
    );
    let resp = c
        .get(format!("{}/sessions/{old}/replay", r.base))
        .send()
        .await?;
    assert_eq!(
        error_code(resp).await?,
        (StatusCode::GONE, "recording_deleted".into())
    );
    let s: Session = c
        .get(format!("{}/sessions/{old}", r.base))
        .send()
        .await?
        .json()
        .await?;
    assert!(s.recording_deleted_at.is_some());
    let resp = c
        .get(format!("{}/sessions/{held}/recording", r.base))
        .send()
        .await?;
    assert_eq!(resp.status(), StatusCode::OK);
    // The chain verifies, through the API and the command line.
    assert!(support::audit_verify(&r, &c).await?.ok);
    let (ok, said) = cli(&r, &["audit", "verify"], &[]).await?;
    assert!(ok, "{said}");
    // A second pass deletes nothing more.
    let (ok, said) = cli(&r, &["retention", "run"], &days).await?;
    assert!(ok && said.contains("0 recording(s) deleted"), "{said}");

    // The audit log pruned (0 days: everything before now), the seals of the two kept
    // recordings carried: it verifies, and still checks them.
    let (ok, said) = cli(
        &r,
        &["retention", "run"],
        &[("VIGIL_RETENTION_AUDIT_DAYS", "0")],
    )
    .await?;
    assert!(ok, "{said}");
    assert!(
        said.contains("2 seal(s) of kept recordings carried"),
        "{said}"
    );
    let left = support::audit_entries(&r, &c, "?limit=1000").await?;
    assert!(
        left.iter()
            .all(|e| e.session_id.as_deref() != Some(old.as_str())),
        "the deleted recording's entries went with the prune: {left:?}"
    );
    for id in [&held, &recent] {
        let seals =
            support::audit_entries(&r, &c, &format!("?session={id}&action=recording_sealed"))
                .await?;
        assert_eq!(seals.len(), 1, "{id}: {seals:?}");
    }
    assert!(support::audit_verify(&r, &c).await?.ok);
    let (ok, said) = cli(&r, &["audit", "verify"], &[]).await?;
    assert!(ok, "{said}");

    // A kept recording deleted without an entry is reported, carried seal and all.
    std::fs::remove_file(recordings.join(format!("{held}.cast")))?;
    let v = support::audit_verify(&r, &c).await?;
    let b = v.broken.ok_or("a missing recording verified")?;
    assert_eq!(b.problem, AuditProblem::RecordingChanged);
    assert!(b.detail.contains(&held), "{}", b.detail);
    let (ok, said) = cli(&r, &["audit", "verify"], &[]).await?;
    assert!(
        !ok && said.contains(&format!("recording {held} ({held}.cast")),
        "{said}"
    );
    Ok(())
}

/// The relay's own task: with `recordings_days = 0` a recording a previous run left is
/// sealed at start and deleted by the first pass, as `relay`.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_relay_task_deletes_due_recordings() -> R {
    let before = support::relay().await?;
    let root = before.user("root", true, &[]).await?;
    let ssh = before.asset("web-1", Protocol::Ssh).await?;
    let kept = ended_session(&before, root, ssh, 1, "held").await?;
    sqlx::query("UPDATE sessions SET legal_hold_at = 1, legal_hold_by = 'x', legal_hold_reason = 'y' WHERE id = $1")
        .bind(&kept)
        .execute(&before.state.db)
        .await?;
    let id = before.session(root, ssh, SessionKind::Admin, None).await?;
    let cast = before.state.hub.recording_path(&id);
    std::fs::write(&cast, "{\"version\":2}\n")?;
    let dir = before
        .stop_keeping_dir(std::time::Duration::from_secs(10))
        .await?;

    let r = support::start(dir, |c| {
        c.retention.recordings_days = Some(0);
        c.retention.interval = std::time::Duration::from_secs(1);
    })
    .await?;
    let (c, _) = r.login("root").await?;
    let mut found = Vec::new();
    for _ in 0..100 {
        found = support::audit_entries(&r, &c, &format!("?session={id}&action=recording_deleted"))
            .await?;
        if !found.is_empty() {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
    assert_eq!(
        found.first().map(|e| e.actor.as_str()),
        Some("relay"),
        "{found:?}"
    );
    assert!(!cast.exists());
    assert!(
        r.state.hub.recording_path(&kept).exists(),
        "the held recording is kept"
    );
    assert!(support::audit_verify(&r, &c).await?.ok);

    // `vigil audit prune` past the held recording's seal carries it too.
    let seal =
        support::audit_entries(&r, &c, &format!("?session={kept}&action=recording_sealed")).await?;
    let seq = seal
        .first()
        .ok_or("the held recording's seal")?
        .seq
        .to_string();
    let (ok, said) = cli(&r, &["audit", "prune", "--through-seq", &seq], &[]).await?;
    assert!(
        ok && said.contains("(1 seal(s) of kept recordings carried)"),
        "{said}"
    );
    let seal =
        support::audit_entries(&r, &c, &format!("?session={kept}&action=recording_sealed")).await?;
    assert_eq!(seal.len(), 1, "{seal:?}");
    std::fs::write(r.state.hub.recording_path(&kept), "edited")?;
    let v = support::audit_verify(&r, &c).await?;
    assert_eq!(
        v.broken.map(|b| b.problem),
        Some(AuditProblem::RecordingChanged)
    );
    Ok(())
}

/// A seal edited in the database is never carried (which would put it under the key
/// again): the prune refuses, and nothing is removed.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_edited_seal_is_not_carried() -> R {
    let r = support::relay().await?;
    let root = r.user("root", true, &[]).await?;
    let ssh = r.asset("web-1", Protocol::Ssh).await?;
    let id = ended_session(&r, root, ssh, 1, "kept").await?;
    let (c, _) = r.login("root").await?;
    let seal =
        support::audit_entries(&r, &c, &format!("?session={id}&action=recording_sealed")).await?;
    let seq = seal.first().ok_or("the seal")?.seq;
    sqlx::query("UPDATE audit_log SET detail = '{\"files\":[]}' WHERE seq = $1")
        .bind(seq)
        .execute(&r.state.db)
        .await?;
    let (ok, said) = cli(
        &r,
        &["audit", "prune", "--through-seq", &seq.to_string()],
        &[],
    )
    .await?;
    assert!(!ok, "{said}");
    assert!(
        said.contains(&format!(
            "seal at audit entry {seq} does not match its hash or MAC"
        )),
        "{said}"
    );
    let left = support::audit_entries(&r, &c, "?limit=1000").await?;
    assert!(left.iter().any(|e| e.seq == 1), "nothing was pruned");
    let (ok, said) = cli(
        &r,
        &["retention", "run"],
        &[("VIGIL_RETENTION_AUDIT_DAYS", "0")],
    )
    .await?;
    assert!(!ok && said.contains("does not verify"), "{said}");
    Ok(())
}

/// Entries the audit export has not delivered are never pruned: retention stops just
/// behind the sink's cursor, and `vigil audit prune` past it is refused.
#[tokio::test]
async fn entries_not_yet_exported_are_kept() -> R {
    let r = support::relay().await?;
    let root = r.user("root", true, &[]).await?;
    let ssh = r.asset("web-1", Protocol::Ssh).await?;
    for text in ["one", "two", "three", "four", "five"] {
        ended_session(&r, root, ssh, 1, text).await?;
    }
    // A sink that has accepted entries 1 and 2 only.
    store::export::register(&r.state.db, "test-sink").await?;
    let holder = "test";
    let now = now_ms();
    store::export::claim(&r.state.db, "test-sink", holder, now, now + 60_000)
        .await?
        .ok_or("lease")?;
    assert!(store::export::advance(&r.state.db, "test-sink", holder, 2, now + 60_000).await?);
    let (c, _) = r.login("root").await?;
    let before = support::audit_entries(&r, &c, "?limit=1000").await?;
    let newest = before.iter().map(|e| e.seq).max().ok_or("entries")?;
    assert!(newest > 3, "enough entries to prune: {newest}");

    let (ok, said) = cli(
        &r,
        &["audit", "prune", "--through-seq", &newest.to_string()],
        &[],
    )
    .await?;
    assert!(!ok, "{said}");
    assert!(
        said.contains("entry 3 is not yet delivered"),
        "names the first undelivered entry: {said}"
    );

    let (ok, said) = cli(
        &r,
        &["retention", "run"],
        &[("VIGIL_RETENTION_AUDIT_DAYS", "0")],
    )
    .await?;
    assert!(ok, "{said}");
    let left = support::audit_entries(&r, &c, "?limit=1000").await?;
    assert!(
        left.iter().any(|e| e.seq == 3),
        "the first undelivered entry stays"
    );
    assert!(
        !left.iter().any(|e| e.seq == 2),
        "delivered entries went behind the checkpoint"
    );
    assert!(support::audit_verify(&r, &c).await?.ok);
    Ok(())
}
