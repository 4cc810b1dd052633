//! The audit log as a keyed hash chain: entries carry their source address; an entry
//! edited, deleted or swapped in the database is named by `GET /audit/verify` and by
//! `vigil audit verify`; a recording edited after its seal is named; the relay refuses a
//! misplaced or missing key; CLI changes and refused session requests are in the chain.

use reqwest::{Client, StatusCode};
use serde_json::{json, Value};
use vigil_wire::api::{Me, Protocol, SessionKind};
use vigil_wire::audit::{AuditEntry, AuditProblem, AuditVerification, RecordingSeal};

use crate::support::{self, client_from, post, relay, Relay, R};

const FROM: &str = "127.0.0.7";

/// Logs `name` in from `ip`.
async fn login_from(r: &Relay, ip: &str, name: &str) -> R<(Client, String)> {
    let c = client_from(ip)?;
    let resp = c
        .post(format!("{}/auth/login", r.base))
        .json(&json!({"username": name, "password": format!("pw-{name}")}))
        .send()
        .await?;
    assert_eq!(resp.status(), StatusCode::OK, "login {name}");
    let me: Me = resp.json().await?;
    Ok((c, me.csrf_token))
}

/// `vigil <args>` on the relay's data dir and key: (success, stdout + stderr).
async fn cli(r: &Relay, args: &[&str]) -> R<(bool, String)> {
    let out = tokio::process::Command::new(env!("CARGO_BIN_EXE_vigil"))
        .args(args)
        .env("VIGIL_DATA_DIR", r.dir.path().join("data"))
        .env("VIGIL_AUDIT_KEY_FILE", r.dir.path().join("audit.key"))
        .env("RUST_LOG", "warn")
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

/// A relay whose log holds five entries by the administrator `root`, made from `FROM`.
async fn five_entries() -> R<(Relay, Client)> {
    let r = relay().await?;
    r.user("root", true, &[]).await?;
    r.user("bob", false, &[]).await?;
    let (c, csrf) = login_from(&r, FROM, "root").await?;
    for path in ["disable", "enable", "end-logins", "disable", "enable"] {
        let resp = post(&c, format!("{}/users/bob/{path}", r.base), &csrf, json!({})).await?;
        assert_eq!(resp.status(), StatusCode::NO_CONTENT, "{path}");
    }
    Ok((r, c))
}

async fn sql(r: &Relay, statement: &str) -> R {
    sqlx::query(statement).execute(&r.state.db).await?;
    Ok(())
}

fn broken(v: &AuditVerification) -> R<(i64, AuditProblem)> {
    let b = v
        .broken
        .as_ref()
        .ok_or_else(|| format!("verified: {v:?}"))?;
    assert!(!v.ok);
    Ok((b.seq, b.problem))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn entries_carry_their_source_and_an_edited_entry_is_named() -> R {
    let (r, c) = five_entries().await?;
    let list = support::audit_entries(&r, &c, "?actor=root").await?;
    assert_eq!(list.len(), 5, "{list:?}");
    assert!(
        list.iter().all(|e| e.source.as_deref() == Some(FROM)),
        "{list:?}"
    );
    assert!(list.windows(2).all(|w| w[0].seq > w[1].seq), "newest first");
    let v = support::audit_verify(&r, &c).await?;
    assert!(v.ok, "{v:?}");
    assert_eq!((v.entries, v.head_seq), (5, 5));
    let (ok, said) = cli(&r, &["audit", "verify"]).await?;
    assert!(ok, "{said}");
    assert!(
        said.contains("audit verify: 5 entries, head seq 5 hash"),
        "{said}"
    );
    assert!(said.contains("verified"), "{said}");

    sql(
        &r,
        "UPDATE audit_log SET detail = detail || '!' WHERE seq = 3",
    )
    .await?;
    assert_eq!(
        broken(&support::audit_verify(&r, &c).await?)?,
        (3, AuditProblem::Edited)
    );
    let (ok, said) = cli(&r, &["audit", "verify"]).await?;
    assert!(!ok, "verify must fail: {said}");
    assert!(said.contains("broken at entry seq 3: edited"), "{said}");

    // The export: JSON Lines, oldest first, one entry a line.
    let resp = c
        .get(format!("{}/audit/export?actor=root", r.base))
        .send()
        .await?;
    assert_eq!(resp.status(), StatusCode::OK);
    assert_eq!(
        resp.headers()
            .get("content-type")
            .and_then(|v| v.to_str().ok()),
        Some("application/x-ndjson")
    );
    let body = resp.text().await?;
    let seqs: Vec<i64> = body
        .lines()
        .map(|l| serde_json::from_str::<AuditEntry>(l).map(|e| e.seq))
        .collect::<Result<_, _>>()?;
    assert_eq!(seqs, [1, 2, 3, 4, 5]);
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_deleted_or_swapped_entry_is_named() -> R {
    let (r, c) = five_entries().await?;
    sql(&r, "DELETE FROM audit_log WHERE seq = 3").await?;
    assert_eq!(
        broken(&support::audit_verify(&r, &c).await?)?,
        (4, AuditProblem::DeletedOrReordered)
    );
    let (ok, said) = cli(&r, &["audit", "verify"]).await?;
    assert!(
        !ok && said.contains("broken at entry seq 4: deleted or reordered before it"),
        "{said}"
    );

    let (r, c) = five_entries().await?;
    sql(&r, "UPDATE audit_log SET seq = -seq WHERE seq IN (2, 3)").await?;
    sql(
        &r,
        "UPDATE audit_log SET seq = CASE seq WHEN -2 THEN 3 ELSE 2 END WHERE seq IN (-2, -3)",
    )
    .await?;
    assert_eq!(
        broken(&support::audit_verify(&r, &c).await?)?,
        (2, AuditProblem::DeletedOrReordered)
    );

    // The newest entry deleted: the chain alone is whole, the head says otherwise.
    let (r, c) = five_entries().await?;
    sql(&r, "DELETE FROM audit_log WHERE seq = 5").await?;
    assert_eq!(
        broken(&support::audit_verify(&r, &c).await?)?,
        (5, AuditProblem::HeadMismatch)
    );
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn pruning_behind_a_checkpoint_still_verifies() -> R {
    let (r, c) = five_entries().await?;
    let (ok, said) = cli(&r, &["audit", "prune", "--through-seq", "3"]).await?;
    assert!(ok, "{said}");
    let v = support::audit_verify(&r, &c).await?;
    assert!(v.ok, "{v:?}");
    assert_eq!((v.entries, v.head_seq), (3, 6));
    // The checkpoint removed: nobody vouches for the entries before seq 4.
    sql(
        &r,
        "DELETE FROM audit_log WHERE action = 'audit_checkpoint'",
    )
    .await?;
    sql(
        &r,
        "UPDATE audit_head SET seq = 5, hash = (SELECT hash FROM audit_log WHERE seq = 5)",
    )
    .await?;
    assert_eq!(
        broken(&support::audit_verify(&r, &c).await?)?,
        (4, AuditProblem::DeletedOrReordered)
    );
    Ok(())
}

/// An SSH session a crash left open, with its recording: the next start ends it and
/// seals its files; one byte changed afterwards is named by both checks.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_edited_recording_is_named() -> R {
    let before = support::start(tempfile::tempdir()?, |_| {}).await?;
    let root = before.user("root", true, &[]).await?;
    let ssh = before.asset("web-1", Protocol::Ssh).await?;
    let id = before.session(root, ssh, SessionKind::Admin, None).await?;
    let cast = before.state.hub.recording_path(&id);
    std::fs::create_dir_all(cast.parent().ok_or("no parent")?)?;
    std::fs::write(&cast, "{\"version\":2}\n[0.5,\"o\",\"$ uptime\\r\\n\"]\n")?;
    std::fs::write(before.state.hub.keystrokes_path(&id), "")?;
    let dir = before
        .stop_keeping_dir(std::time::Duration::from_secs(10))
        .await?;

    let r = support::start(dir, |_| {}).await?;
    let (c, _) = r.login("root").await?;
    let sealed =
        support::audit_entries(&r, &c, &format!("?session={id}&action=recording_sealed")).await?;
    let [seal] = sealed.as_slice() else {
        return Err(format!("one seal expected: {sealed:?}").into());
    };
    let files: RecordingSeal = serde_json::from_str(&seal.detail)?;
    let names: Vec<_> = files.files.iter().map(|f| f.name.clone()).collect();
    assert_eq!(names, [format!("{id}.cast"), format!("{id}.keys.jsonl")]);
    assert!(support::audit_verify(&r, &c).await?.ok);

    let mut bytes = std::fs::read(&cast)?;
    bytes[20] ^= 0x20;
    std::fs::write(&cast, bytes)?;
    let v = support::audit_verify(&r, &c).await?;
    assert_eq!(broken(&v)?, (seal.seq, AuditProblem::RecordingChanged));
    let detail = v.broken.map(|b| b.detail).unwrap_or_default();
    assert!(detail.contains(&id) && detail.contains(".cast"), "{detail}");
    let (ok, said) = cli(&r, &["audit", "verify"]).await?;
    assert!(!ok, "{said}");
    assert!(
        said.contains(&format!(
            "recording {id} ({id}.cast) changed since it was sealed"
        )),
        "{said}"
    );
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_relay_refuses_a_key_inside_the_data_dir_or_missing() -> R {
    let dir = tempfile::tempdir()?;
    let data = dir.path().join("data");
    std::fs::create_dir_all(&data)?;
    let inside = data.join("audit.key");
    vigil_relay::audit::AuditKey::generate(&inside)?;
    let err = support::start(dir, |c| c.audit_key_file = Some(inside.clone()))
        .await
        .err()
        .ok_or("started with the key inside the data dir")?;
    assert!(
        err.to_string().contains("inside the data directory"),
        "{err}"
    );

    let dir = tempfile::tempdir()?;
    let missing = dir.path().join("nowhere.key");
    let err = support::start(dir, |c| c.audit_key_file = Some(missing))
        .await
        .err()
        .ok_or("started without a key")?;
    let said = err.to_string();
    assert!(
        said.contains("does not exist") && said.contains("vigil audit keygen"),
        "{said}"
    );
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_cli_change_is_in_the_chain() -> R {
    let r = relay().await?;
    r.user("root", true, &[]).await?;
    r.rule("ops-isa", "*", "ops", &[vigil_wire::api::GrantedRole::Isa])
        .await?;
    let (ok, said) = cli(&r, &["rule", "delete", "ops-isa"]).await?;
    assert!(ok, "{said}");
    let (c, _) = r.login("root").await?;
    let list = support::audit_entries(&r, &c, "?action=rule_delete").await?;
    assert!(
        list.iter().any(|e| e.actor == "cli"
            && e.source.as_deref() == Some("cli")
            && e.detail == "rule ops-isa deleted"),
        "{list:?}"
    );
    assert!(support::audit_verify(&r, &c).await?.ok);
    let (ok, said) = cli(&r, &["audit", "verify"]).await?;
    assert!(ok, "{said}");
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn refused_session_requests_are_audited_unknown_ids_are_not() -> R {
    let r = relay().await?;
    let root = r.user("root", true, &[]).await?;
    r.user("uma", false, &[]).await?;
    let web = r.asset("web-1", Protocol::Ssh).await?;
    let id = r.session(root, web, SessionKind::Admin, None).await?;
    // Nobody controls their own session: 403.
    let (admin, csrf) = login_from(&r, FROM, "root").await?;
    let resp = post(
        &admin,
        format!("{}/sessions/{id}/lock", r.base),
        &csrf,
        json!({}),
    )
    .await?;
    assert_eq!(resp.status(), StatusCode::FORBIDDEN);
    // Hidden from uma: 404, audited; an id that does not exist: 404, not audited.
    let (uma, _) = login_from(&r, "127.0.0.8", "uma").await?;
    let resp = uma.get(format!("{}/sessions/{id}", r.base)).send().await?;
    assert_eq!(resp.status(), StatusCode::NOT_FOUND);
    let unknown = vigil_relay::auth::new_session_id();
    let resp = uma
        .get(format!("{}/sessions/{unknown}", r.base))
        .send()
        .await?;
    assert_eq!(resp.status(), StatusCode::NOT_FOUND);

    let denied = support::audit_entries(&r, &admin, "?action=access_denied").await?;
    let by = |who: &str| denied.iter().find(|e| e.actor == who).cloned();
    let lock = by("root").ok_or("the refused lock is not audited")?;
    assert_eq!(lock.session_id.as_deref(), Some(id.as_str()));
    assert_eq!(lock.source.as_deref(), Some(FROM));
    assert!(lock.detail.contains("403"), "{lock:?}");
    let hidden = by("uma").ok_or("the hidden session's 404 is not audited")?;
    assert_eq!(hidden.session_id.as_deref(), Some(id.as_str()));
    assert_eq!(hidden.source.as_deref(), Some("127.0.0.8"));
    assert!(hidden.detail.contains("404"), "{hidden:?}");
    assert_eq!(denied.len(), 2, "{denied:?}");
    let all: Vec<Value> = admin
        .get(format!("{}/audit", r.base))
        .send()
        .await?
        .json()
        .await?;
    assert!(
        !all.iter().any(|e| e["session_id"] == json!(unknown)),
        "an unknown id was audited"
    );
    Ok(())
}
