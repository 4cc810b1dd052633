//! Session controls against their own user, the launch rules (locked, one session per
//! request), a request's end ending its sessions, Terminate and Cancel's audit, and
//! recording reads audited once. Sessions are inserted through the store; none runs in
//! the hub, so checks decided before the hub are what is tested.

use reqwest::{Client, Response, StatusCode};
use serde_json::json;
use vigil_relay::store::{self, now_ms};
use vigil_wire::api::{
    AccessRequest, AuditEntry, Keystroke, Protocol, RequestStatus, Session, SessionKind,
};
use vigil_wire::end::EndReason;
use vigil_wire::recording::{encode, Kind, MAGIC};

use crate::support::{self, error, post, relay, Relay, R};

impl Relay {
    async fn row(&self, id: &str) -> R<store::sessions::SessionRow> {
        Ok(store::sessions::get(&self.state.db, id)
            .await?
            .ok_or("no session")?)
    }

    async fn audit(&self) -> R<Vec<AuditEntry>> {
        Ok(store::audit::list(&self.state.db, &Default::default()).await?)
    }
}

/// web-1 and db-1 (SSH, no credential: a launch that passes every check fails with
/// `bad_request`); ops = ISA on web-*, audit = reviewer on web-*, devs = requestors.
struct World {
    r: Relay,
    web: i64,
    db1: i64,
    root: i64,
    ivy: i64,
    rita: i64,
    alice: i64,
}

impl World {
    /// An approved request of alice's on web-1 ending at `expires_at`, and a live session
    /// under it.
    async fn alice_request_session(&self, expires_at: i64) -> R<(i64, String)> {
        let r = &self.r;
        let req = r.approved_request(self.alice, self.web, expires_at).await?;
        let session = r
            .session(self.alice, self.web, SessionKind::Request, Some(req))
            .await?;
        Ok((req, session))
    }
}

async fn world() -> R<World> {
    let r = relay().await?;
    let root = r.user("root", true, &[]).await?;
    let ivy = r.user("ivy", false, &["ops", "devs"]).await?;
    r.user("rex", false, &["audit"]).await?;
    // A requestor who also reviews web-*.
    let rita = r.user("rita", false, &["devs", "audit"]).await?;
    let alice = r.user("alice", false, &["devs"]).await?;
    let web = r.asset("web-1", Protocol::Ssh).await?;
    let db1 = r.asset("db-1", Protocol::Ssh).await?;
    use vigil_wire::api::GrantedRole::*;
    r.rule("ops", "web-*", "ops", &[Isa]).await?;
    r.rule("audit", "web-*", "audit", &[ActiveSessionReviewer])
        .await?;
    r.rule("devs", "*", "devs", &[Requestor]).await?;
    Ok(World {
        r,
        web,
        db1,
        root,
        ivy,
        rita,
        alice,
    })
}

/// `POST /sessions` by client `c` of the relay at `base`, for `asset` (under `request`).
async fn launch(
    c: &Client,
    base: &str,
    csrf: &str,
    asset: i64,
    request: Option<i64>,
) -> R<Response> {
    let body = json!({"asset_id": asset, "request_id": request, "cols": 80, "rows": 24});
    post(c, format!("{base}/sessions"), csrf, body).await
}

#[tokio::test]
async fn owners_cannot_control_their_own_locked_sessions() -> R {
    let w = world().await?;
    let b = &w.r.base;
    let db = &w.r.state.db;
    let far = now_ms() + 3_600_000;
    let rita_req = w.r.approved_request(w.rita, w.web, far).await?;
    let cases = [
        (
            "root",
            w.r.session(w.root, w.web, SessionKind::Admin, None).await?,
        ),
        (
            "ivy",
            w.r.session(w.ivy, w.web, SessionKind::Isa, None).await?,
        ),
        (
            "rita",
            w.r.session(w.rita, w.web, SessionKind::Request, Some(rita_req))
                .await?,
        ),
    ];
    for (who, id) in &cases {
        store::sessions::set_locked(db, id, true).await?;
        let (c, csrf) = w.r.login(who).await?;
        for control in ["unlock", "lock", "terminate", "terminate-and-cancel"] {
            let resp = post(&c, format!("{b}/sessions/{id}/{control}"), &csrf, json!({})).await?;
            let (status, code, _) = error(resp).await?;
            assert_eq!(
                (status, code.as_str()),
                (StatusCode::FORBIDDEN, "forbidden"),
                "{who} {control}"
            );
        }
        // Still visible to them, still live and locked, no controls offered.
        let s: Session = c
            .get(format!("{b}/sessions/{id}"))
            .send()
            .await?
            .json()
            .await?;
        assert!(s.locked && s.ended_at.is_none(), "{who}");
        assert!(
            !(s.controls.lock || s.controls.terminate || s.controls.terminate_and_cancel),
            "{who}"
        );
    }
    // Someone else still controls them: the reviewer reaches the hub (not live there).
    let (rex, rex_csrf) = w.r.login("rex").await?;
    let resp = post(
        &rex,
        format!("{b}/sessions/{}/unlock", cases[2].1),
        &rex_csrf,
        json!({}),
    )
    .await?;
    assert_eq!(error(resp).await?.1, "not_live");
    Ok(())
}

#[tokio::test]
async fn no_relaunch_while_a_session_on_the_asset_is_locked() -> R {
    let w = world().await?;
    let b = &w.r.base;
    let db = &w.r.state.db;
    let far = now_ms() + 3_600_000;
    let first = w.r.approved_request(w.alice, w.web, far).await?;
    let second = w.r.approved_request(w.alice, w.web, far).await?;
    let locked = [
        (
            "root",
            w.r.session(w.root, w.web, SessionKind::Admin, None).await?,
            None,
        ),
        (
            "ivy",
            w.r.session(w.ivy, w.web, SessionKind::Isa, None).await?,
            None,
        ),
        (
            "alice",
            w.r.session(w.alice, w.web, SessionKind::Request, Some(first))
                .await?,
            Some(second),
        ),
    ];
    for (who, id, request) in &locked {
        store::sessions::set_locked(db, id, true).await?;
        let (c, csrf) = w.r.login(who).await?;
        let resp = launch(&c, b, &csrf, w.web, *request).await?;
        let (status, code, message) = error(resp).await?;
        assert_eq!(
            (status, code.as_str()),
            (StatusCode::FORBIDDEN, "session_locked"),
            "{who}"
        );
        assert_eq!(
            message,
            "Your session on web-1 is locked. Please contact your administrator."
        );
    }
    // Another asset is not held by the lock (the launch passes the checks and then
    // fails on the missing credential).
    let (root, csrf) = w.r.login("root").await?;
    let resp = launch(&root, b, &csrf, w.db1, None).await?;
    assert_eq!(error(resp).await?.1, "bad_request");
    // Once unlocked (or ended), launching is possible again.
    store::sessions::set_locked(db, &locked[0].1, false).await?;
    let resp = launch(&root, b, &csrf, w.web, None).await?;
    assert_eq!(error(resp).await?.1, "bad_request");
    Ok(())
}

#[tokio::test]
async fn one_live_session_per_request() -> R {
    let w = world().await?;
    let b = &w.r.base;
    let (req, live) = w.alice_request_session(now_ms() + 3_600_000).await?;
    let (alice, csrf) = w.r.login("alice").await?;
    let resp = launch(&alice, b, &csrf, w.web, Some(req)).await?;
    let (status, code, message) = error(resp).await?;
    assert_eq!(
        (status, code.as_str()),
        (StatusCode::CONFLICT, "request_in_use")
    );
    assert!(message.contains("already in use"), "{message}");
    // With the first session ended, the request may be used again.
    store::sessions::end(&w.r.state.db, &live, now_ms(), &EndReason::plain("closed")).await?;
    let resp = launch(&alice, b, &csrf, w.web, Some(req)).await?;
    assert_eq!(error(resp).await?.1, "bad_request");
    Ok(())
}

#[tokio::test]
async fn a_requests_end_ends_its_sessions() -> R {
    let w = world().await?;
    let b = &w.r.base;
    // Check-in by the requester.
    let (req, s) = w.alice_request_session(now_ms() + 3_600_000).await?;
    let (alice, csrf) = w.r.login("alice").await?;
    let done: AccessRequest = post(
        &alice,
        format!("{b}/requests/{req}/checkin"),
        &csrf,
        json!({}),
    )
    .await?
    .json()
    .await?;
    assert_eq!(done.status, RequestStatus::CheckedIn);
    let row = w.r.row(&s).await?;
    assert!(row.ended_at.is_some());
    assert_eq!(
        row.end_reason.map(|r| r.message).as_deref(),
        Some("access request checked in")
    );
    assert!(w.r.audit().await?.iter().any(|e| e.actor == "alice"
        && e.action == "terminate"
        && e.session_id.as_deref() == Some(s.as_str())));

    // Expiry: the relay's task wakes at the request's end.
    let (_, s) = w.alice_request_session(now_ms() + 1_000).await?;
    w.r.state.request_windows_changed();
    let mut row = w.r.row(&s).await?;
    for _ in 0..100 {
        if row.ended_at.is_some() {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
        row = w.r.row(&s).await?;
    }
    assert_eq!(
        row.end_reason.map(|r| r.message).as_deref(),
        Some("access request expired")
    );
    assert!(w.r.audit().await?.iter().any(|e| e.actor == "relay"
        && e.action == "terminate"
        && e.session_id.as_deref() == Some(s.as_str())));
    Ok(())
}

#[tokio::test]
async fn terminate_and_cancel_audits_what_happened() -> R {
    let w = world().await?;
    let b = &w.r.base;
    let db = &w.r.state.db;
    let far = now_ms() + 3_600_000;
    let (rex, csrf) = w.r.login("rex").await?;
    let detail = |audit: Vec<AuditEntry>, id: &str| {
        audit
            .into_iter()
            .find(|e| e.action == "terminate_and_cancel" && e.session_id.as_deref() == Some(id))
            .map(|e| e.detail)
    };
    // An approved request: checked in.
    let (req, s) = w.alice_request_session(far).await?;
    let resp = post(
        &rex,
        format!("{b}/sessions/{s}/terminate-and-cancel"),
        &csrf,
        json!({}),
    )
    .await?;
    assert_eq!(resp.status(), StatusCode::OK);
    let d = detail(w.r.audit().await?, &s).ok_or("audited")?;
    assert!(
        d.contains("checked in") && !d.contains("not checked in"),
        "{d}"
    );
    let r = store::requests::get(db, req).await?.ok_or("request")?;
    assert_eq!(r.status, "checked_in");
    // A request already checked in: the session ends, the audit says nothing was checked in.
    let (req, s) = w.alice_request_session(far).await?;
    store::requests::transition(
        db,
        req,
        RequestStatus::Approved,
        RequestStatus::CheckedIn,
        None,
        None,
    )
    .await?;
    let resp = post(
        &rex,
        format!("{b}/sessions/{s}/terminate-and-cancel"),
        &csrf,
        json!({}),
    )
    .await?;
    assert_eq!(resp.status(), StatusCode::OK);
    let d = detail(w.r.audit().await?, &s).ok_or("audited")?;
    assert!(d.contains("not checked in"), "{d}");
    assert!(w.r.row(&s).await?.ended_at.is_some());
    Ok(())
}

/// A small desktop recording: two keyframes and its index file.
fn desktop_file() -> (Vec<u8>, String) {
    let mut f = MAGIC.to_vec();
    let first = f.len() as u64;
    f.extend(encode(Kind::Params, 0, b"{}"));
    f.extend(encode(Kind::Keyframe, 0, b"kf-1"));
    let second = f.len() as u64;
    f.extend(encode(Kind::Params, 10_000, b"{}"));
    f.extend(encode(Kind::Keyframe, 10_000, b"kf-2"));
    let idx =
        format!("{{\"t_ms\":0,\"offset\":{first}}}\n{{\"t_ms\":10000,\"offset\":{second}}}\n");
    (f, idx)
}

#[tokio::test]
async fn recording_reads_are_audited_once_per_viewer() -> R {
    let w = world().await?;
    let b = &w.r.base;
    let win = w.r.asset("win-1", Protocol::Rdp).await?;
    let s = w.r.session(w.alice, win, SessionKind::Admin, None).await?;
    store::sessions::end(&w.r.state.db, &s, now_ms(), &EndReason::plain("closed")).await?;
    let (file, idx) = desktop_file();
    let path = w.r.state.hub.desktop_recording_path(&s);
    std::fs::create_dir_all(path.parent().ok_or("no parent")?)?;
    std::fs::write(&path, &file)?;
    std::fs::write(w.r.state.hub.desktop_index_path(&s), idx)?;

    let (root, _) = w.r.login("root").await?;
    let url = format!("{b}/sessions/{s}/recording");
    for range in ["bytes=0-7", "bytes=8-"] {
        let resp = root.get(&url).header("range", range).send().await?;
        assert_eq!(resp.status(), StatusCode::PARTIAL_CONTENT, "{range}");
    }
    let resp = root.get(format!("{url}/index")).send().await?;
    assert_eq!(resp.status(), StatusCode::OK);
    let downloads = |audit: &[AuditEntry], who: &str| {
        audit
            .iter()
            .filter(|e| {
                e.actor == who && e.action == "download" && e.session_id.as_deref() == Some(&s)
            })
            .count()
    };
    // Two ranged reads and the index: one audit row.
    assert_eq!(downloads(&w.r.audit().await?, "root"), 1);
    // A whole read and another index read by the same viewer add nothing.
    let resp = root.get(&url).send().await?;
    assert_eq!(resp.status(), StatusCode::OK);
    let resp = root.get(format!("{url}/index")).send().await?;
    assert_eq!(resp.status(), StatusCode::OK);
    assert_eq!(downloads(&w.r.audit().await?, "root"), 1);
    // Another viewer is audited on their own.
    w.r.user("ada", true, &[]).await?;
    let (ada, _) = w.r.login("ada").await?;
    let resp = ada.get(&url).header("range", "bytes=0-7").send().await?;
    assert_eq!(resp.status(), StatusCode::PARTIAL_CONTENT);
    assert_eq!(downloads(&w.r.audit().await?, "ada"), 1);
    Ok(())
}

/// The keystroke log is read from disk in pages (memory holds one page), and reading it,
/// in however many pages, is audited once per viewer.
#[tokio::test]
async fn keystrokes_are_paged_from_disk_and_audited_once() -> R {
    let w = world().await?;
    let b = &w.r.base;
    let web = w.r.asset("web-k", Protocol::Ssh).await?;
    let s = w.r.session(w.alice, web, SessionKind::Admin, None).await?;
    let path = w.r.state.hub.keystrokes_path(&s);
    std::fs::create_dir_all(path.parent().ok_or("no parent")?)?;
    let mut log = String::new();
    for seq in 0..12u64 {
        let k = Keystroke {
            seq,
            at_ms: seq * 10,
            key: format!("k{seq}"),
            raw: "x".into(),
            browser_text: None,
        };
        log.push_str(&serde_json::to_string(&k)?);
        log.push('\n');
    }
    // A torn last line, as a killed relay may leave, is not a keystroke.
    log.push_str("{\"seq\":12,");
    std::fs::write(&path, log)?;

    let (root, _) = w.r.login("root").await?;
    let page = |after: Option<u64>| {
        let mut url = format!("{b}/sessions/{s}/keystrokes?limit=5");
        if let Some(a) = after {
            url.push_str(&format!("&after={a}"));
        }
        let root = root.clone();
        async move {
            let keys: Vec<Keystroke> = root.get(url).send().await?.json().await?;
            R::<Vec<u64>>::Ok(keys.iter().map(|k| k.seq).collect())
        }
    };
    assert_eq!(page(None).await?, vec![0, 1, 2, 3, 4]);
    assert_eq!(page(Some(4)).await?, vec![5, 6, 7, 8, 9]);
    assert_eq!(page(Some(9)).await?, vec![10, 11]);
    assert_eq!(page(Some(11)).await?, Vec::<u64>::new());
    let views =
        w.r.audit()
            .await?
            .iter()
            .filter(|e| e.action == "view_keystrokes" && e.session_id.as_deref() == Some(&s))
            .count();
    assert_eq!(views, 1, "four pages, one audit row");
    Ok(())
}

/// Live sessions are capped per user and in all: past a cap a launch gets 429
/// `session_limit`, whatever the roles allow.
#[tokio::test]
async fn live_sessions_are_capped_per_user_and_in_all() -> R {
    let w = world().await?;
    let b = &w.r.base;
    // The world's relay has the defaults; a second on the same data with small caps.
    let (ivy, csrf) = w.r.login("ivy").await?;
    let launch = |c: reqwest::Client, csrf: String, base: String, asset: i64| async move {
        error(launch(&c, &base, &csrf, asset, None).await?).await
    };
    // Under the default caps, a launch passes every check (and fails on the credential).
    assert_eq!(
        launch(ivy.clone(), csrf.clone(), b.clone(), w.web).await?.1,
        "bad_request"
    );
    let r = support::start(tempfile::tempdir()?, |c| {
        c.max_sessions_per_user = 2;
        c.max_live_sessions = 3;
    })
    .await?;
    let root = r.user("root", true, &[]).await?;
    let ada = r.user("ada", true, &[]).await?;
    let web = r.asset("web-1", Protocol::Ssh).await?;
    r.session(root, web, SessionKind::Admin, None).await?;
    r.session(root, web, SessionKind::Admin, None).await?;
    let (c, csrf) = r.login("root").await?;
    let (status, code, message) = launch(c, csrf, r.base.clone(), web).await?;
    assert_eq!(
        (status, code.as_str()),
        (StatusCode::TOO_MANY_REQUESTS, "session_limit")
    );
    assert!(message.contains("one user"), "{message}");
    r.session(ada, web, SessionKind::Admin, None).await?;
    let (c, csrf) = r.login("ada").await?;
    let (status, code, message) = launch(c, csrf, r.base.clone(), web).await?;
    assert_eq!(
        (status, code.as_str()),
        (StatusCode::TOO_MANY_REQUESTS, "session_limit")
    );
    assert!(message.contains("try again later"), "{message}");
    Ok(())
}
