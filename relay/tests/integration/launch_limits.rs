//! Sessions per request, set per Smart Rule (the strictest covering rule applies), and
//! the launch check serialised across relays that share one database: two relays in
//! this process with their own pools and launch gates, and two `vigil serve` processes
//! on one data directory.
//!
//! Launches here are real: the asset has a managed password and points at a target that
//! accepts TCP and never answers, so each launched session stays live (connecting) for
//! the hub's connect timeout (10 s), long enough for the launches that follow.

use reqwest::{Client, StatusCode};
use serde_json::json;
use vigil_relay::store::{self, now_ms};
use vigil_wire::api::{ApiError, Launched, NewAsset, Protocol, RequestStatus, SmartRule};

use crate::support::{self, login_at, post, Relay, R};

/// A target that accepts connections and never says a word; it holds them while it lives.
async fn silent_target() -> R<(u16, tokio::task::JoinHandle<()>)> {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
    let port = listener.local_addr()?.port();
    let task = tokio::spawn(async move {
        let mut held = Vec::new();
        while let Ok((stream, _)) = listener.accept().await {
            held.push(stream);
        }
    });
    Ok((port, task))
}

/// An SSH asset with a managed password, at the silent target.
async fn asset(r: &Relay, name: &str, port: u16) -> R<i64> {
    let new = NewAsset {
        name: name.into(),
        protocol: Protocol::Ssh,
        host: "127.0.0.1".into(),
        port,
        tags: vec![],
        account: "svc".into(),
        password: Some("target-password".into()),
        private_key: None,
        host_key: None,
    };
    Ok(vigil_relay::api::assets::create_asset(&r.state.db, &r.state.vault, &new).await?)
}

/// Launches under `request`: `Ok(session id)` or `Err((status, code))`.
async fn launch(
    c: &Client,
    base: &str,
    csrf: &str,
    asset: i64,
    request: i64,
) -> R<Result<String, (StatusCode, String)>> {
    let body = json!({"asset_id": asset, "request_id": request, "cols": 80, "rows": 24});
    let resp = post(c, format!("{base}/sessions"), csrf, body).await?;
    let status = resp.status();
    if status == StatusCode::OK {
        Ok(Ok(resp.json::<Launched>().await?.session_id))
    } else {
        Ok(Err((status, resp.json::<ApiError>().await?.code)))
    }
}

async fn live_under(r: &Relay, request: i64) -> R<i64> {
    Ok(store::sessions::count_live_under_request(&r.state.db, request).await?)
}

fn in_use() -> Result<String, (StatusCode, String)> {
    Err((StatusCode::CONFLICT, "request_in_use".into()))
}

#[tokio::test]
async fn sessions_per_request_follow_the_strictest_smart_rule() -> R {
    let (port, _target) = silent_target().await?;
    let r = support::start(tempfile::tempdir()?, |_| {}).await?;
    let b = r.base.clone();
    r.user("root", true, &[]).await?;
    let alice = r.user("alice", false, &["devs", "oncall"]).await?;
    let web = asset(&r, "web-1", port).await?;
    let (root, root_csrf) = login_at(&b, "root").await?;
    let rule = |name: &str, group: &str, n: Option<u32>| {
        let mut body = json!({
            "name": name,
            "selector": {"name_glob": "web-*"},
            "group": group,
            "roles": ["requestor"],
        });
        if let Some(n) = n {
            body["sessions_per_request"] = json!(n);
        }
        body
    };
    // Out of range is refused; absent means 1.
    for bad in [0, 101] {
        let resp = post(
            &root,
            format!("{b}/rules"),
            &root_csrf,
            rule("bad", "devs", Some(bad)),
        )
        .await?;
        assert_eq!(resp.status(), StatusCode::BAD_REQUEST, "{bad}");
        let e: ApiError = resp.json().await?;
        assert!(e.message.contains("1 to 100"), "{}", e.message);
    }
    let plain: SmartRule = post(
        &root,
        format!("{b}/rules"),
        &root_csrf,
        rule("plain", "nobody", None),
    )
    .await?
    .json()
    .await?;
    assert_eq!(plain.sessions_per_request, 1);
    let two: SmartRule = post(
        &root,
        format!("{b}/rules"),
        &root_csrf,
        rule("devs-two", "devs", Some(2)),
    )
    .await?
    .json()
    .await?;
    assert_eq!(two.sessions_per_request, 2);
    let listed: Vec<SmartRule> = root.get(format!("{b}/rules")).send().await?.json().await?;
    let limits: Vec<_> = listed
        .iter()
        .map(|r| (r.name.as_str(), r.sessions_per_request))
        .collect();
    assert_eq!(limits, [("plain", 1), ("devs-two", 2)]);

    // One rule allowing 2: two concurrent sessions under one request, not a third.
    let (c, csrf) = login_at(&b, "alice").await?;
    let req = r.approved_request(alice, web, now_ms() + 3_600_000).await?;
    let first = launch(&c, &b, &csrf, web, req).await?;
    let second = launch(&c, &b, &csrf, web, req).await?;
    assert!(first.is_ok() && second.is_ok(), "{first:?} {second:?}");
    assert_eq!(live_under(&r, req).await?, 2, "both live at once");
    assert_eq!(launch(&c, &b, &csrf, web, req).await?, in_use());
    assert_eq!(live_under(&r, req).await?, 2);

    // A second covering rule allowing 1 (alice is in its group too): the strictest applies.
    let one: SmartRule = post(
        &root,
        format!("{b}/rules"),
        &root_csrf,
        rule("oncall-one", "oncall", Some(1)),
    )
    .await?
    .json()
    .await?;
    assert_eq!(one.sessions_per_request, 1);
    let req2 = r.approved_request(alice, web, now_ms() + 3_600_000).await?;
    assert!(launch(&c, &b, &csrf, web, req2).await?.is_ok());
    assert_eq!(launch(&c, &b, &csrf, web, req2).await?, in_use());
    assert_eq!(live_under(&r, req2).await?, 1);
    // Deleting the strict rule brings the limit back to 2.
    let resp = root
        .delete(format!("{b}/rules/{}", one.id))
        .header(vigil_wire::CSRF_HEADER, &root_csrf)
        .send()
        .await?;
    assert_eq!(resp.status(), StatusCode::NO_CONTENT);
    assert!(launch(&c, &b, &csrf, web, req2).await?.is_ok());
    assert_eq!(launch(&c, &b, &csrf, web, req2).await?, in_use());
    assert_eq!(live_under(&r, req2).await?, 2);
    Ok(())
}

/// Two relays on one database, each with its own pool and its own in-process launch
/// gate (as two relay processes would have): concurrent launches under one request that
/// allows one session, split between them, start exactly one session. Several rounds,
/// since a lost race needs the two relays' checks to interleave.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn launches_on_two_relays_sharing_a_database_are_serialised() -> R {
    const ROUNDS: usize = 6;
    const PER_RELAY: usize = 4;
    let (port, _target) = silent_target().await?;
    let r1 = support::start(tempfile::tempdir()?, |c| c.max_sessions_per_user = 1000).await?;
    let shared = r1.dir.path().join("data");
    let r2 = support::start(tempfile::tempdir()?, |c| {
        c.data_dir = shared;
        c.max_sessions_per_user = 1000;
    })
    .await?;
    assert_ne!(r1.base, r2.base);
    r1.user("alice", false, &["devs"]).await?;
    let alice = store::users::by_name(&r2.state.db, "alice")
        .await?
        .ok_or("the second relay sees the first's user")?
        .id;
    let web = asset(&r1, "web-1", port).await?;
    let sel = vigil_wire::api::AssetSelector {
        name_glob: Some("web-*".into()),
        protocol: None,
        tags: vec![],
    };
    store::rules::insert(
        &r1.state.db,
        "devs",
        &sel,
        "devs",
        &[vigil_wire::api::GrantedRole::Requestor],
        false,
    )
    .await?;
    let logins = [
        (r1.base.clone(), login_at(&r1.base, "alice").await?),
        (r2.base.clone(), login_at(&r2.base, "alice").await?),
    ];
    for round in 0..ROUNDS {
        let req = r1
            .approved_request(alice, web, now_ms() + 3_600_000)
            .await?;
        let mut launches = Vec::new();
        for _ in 0..PER_RELAY {
            for (base, (c, csrf)) in &logins {
                let (c, csrf, base) = (c.clone(), csrf.clone(), base.clone());
                launches.push(tokio::spawn(async move {
                    launch(&c, &base, &csrf, web, req)
                        .await
                        .map_err(|e| e.to_string())
                }));
            }
        }
        let mut started = 0;
        for l in launches {
            match l.await?? {
                Ok(_) => started += 1,
                refused => assert_eq!(refused, in_use(), "round {round}"),
            }
        }
        assert_eq!(started, 1, "round {round}: sessions started");
        assert_eq!(live_under(&r1, req).await?, 1, "round {round}: live rows");
    }
    Ok(())
}

/// A `vigil` command on the shared data dir, its output discarded.
fn vigil(data: &std::path::Path, dist: &std::path::Path) -> tokio::process::Command {
    // The audit key beside the data dir; made by the first command.
    let key = std::path::PathBuf::from(format!("{}.audit.key", data.display()));
    if !key.exists() {
        vigil_relay::audit::AuditKey::generate(&key).expect("audit key");
    }
    let mut cmd = tokio::process::Command::new(env!("CARGO_BIN_EXE_vigil"));
    cmd.env("VIGIL_DATA_DIR", data)
        .env("VIGIL_AUDIT_KEY_FILE", key)
        .env("VIGIL_DIST_DIR", dist)
        .env("VIGIL_BIND", "127.0.0.1:0")
        .env("RUST_LOG", "warn")
        .env("VIGIL_TEST_PASSWORD", "pw-alice")
        .stdin(std::process::Stdio::null())
        .kill_on_drop(true);
    cmd
}

/// Runs a bootstrap command to success.
async fn bootstrap(data: &std::path::Path, dist: &std::path::Path, args: &[&str]) -> R {
    let out = vigil(data, dist).args(args).output().await?;
    assert!(
        out.status.success(),
        "vigil {args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    Ok(())
}

/// Starts `vigil serve`; returns the process and its API base, read from the line it
/// prints once listening.
async fn serve(
    data: &std::path::Path,
    dist: &std::path::Path,
) -> R<(tokio::process::Child, String)> {
    use tokio::io::AsyncBufReadExt;
    let mut child = vigil(data, dist)
        .arg("serve")
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::null())
        .spawn()?;
    let stdout = child.stdout.take().ok_or("no stdout")?;
    let mut lines = tokio::io::BufReader::new(stdout).lines();
    let line = tokio::time::timeout(std::time::Duration::from_secs(30), lines.next_line())
        .await??
        .ok_or("vigil serve exited")?;
    let origin = line
        .strip_prefix("vigil: serving on ")
        .ok_or_else(|| format!("unexpected line {line:?}"))?;
    Ok((child, format!("{origin}/api/v1")))
}

/// The same with two `vigil serve` processes on one data directory (SQLite allows it):
/// nothing is shared between them but the database file.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn launches_on_two_relay_processes_sharing_a_data_dir_are_serialised() -> R {
    const ROUNDS: usize = 4;
    const PER_RELAY: usize = 4;
    let (port, _target) = silent_target().await?;
    let dir = tempfile::tempdir()?;
    let (data, dist) = (dir.path().join("data"), dir.path().join("dist"));
    std::fs::create_dir_all(&dist)?;
    std::fs::write(
        dist.join("index.html"),
        "<!doctype html><title>vigil</title>",
    )?;
    let port = port.to_string();
    for args in [
        &[
            "user",
            "add",
            "alice",
            "--password-env",
            "VIGIL_TEST_PASSWORD",
            "--group",
            "devs",
        ][..],
        &[
            "asset",
            "add",
            "web-1",
            "--protocol",
            "ssh",
            "--host",
            "127.0.0.1",
            "--port",
            &port,
            "--account",
            "svc",
            "--password-env",
            "VIGIL_TEST_PASSWORD",
        ],
        &[
            "rule",
            "add",
            "devs",
            "--group",
            "devs",
            "--role",
            "requestor",
            "--name-glob",
            "web-*",
            "--auto-approve",
        ],
    ] {
        bootstrap(&data, &dist, args).await?;
    }
    let (_p1, b1) = serve(&data, &dist).await?;
    let (_p2, b2) = serve(&data, &dist).await?;
    assert_ne!(b1, b2);
    let logins = [
        (b1.clone(), login_at(&b1, "alice").await?),
        (b2.clone(), login_at(&b2, "alice").await?),
    ];
    let (c, csrf) = &logins[0].1;
    let assets: Vec<vigil_wire::api::Asset> =
        c.get(format!("{b1}/assets")).send().await?.json().await?;
    let web = assets.first().ok_or("alice sees web-1")?.id;
    for round in 0..ROUNDS {
        // Auto-approved by the rule.
        let body = json!({"asset_id": web, "reason": "fix", "duration_minutes": 30});
        let req: vigil_wire::api::AccessRequest = post(c, format!("{b1}/requests"), csrf, body)
            .await?
            .json()
            .await?;
        assert_eq!(req.status, RequestStatus::Approved);
        let mut launches = Vec::new();
        for _ in 0..PER_RELAY {
            for (base, (c, csrf)) in &logins {
                let (c, csrf, base) = (c.clone(), csrf.clone(), base.clone());
                launches.push(tokio::spawn(async move {
                    launch(&c, &base, &csrf, web, req.id)
                        .await
                        .map_err(|e| e.to_string())
                }));
            }
        }
        let mut started = Vec::new();
        for l in launches {
            match l.await?? {
                Ok(id) => started.push(id),
                refused => assert_eq!(refused, in_use(), "round {round}"),
            }
        }
        assert_eq!(started.len(), 1, "round {round}: sessions started");
        let live: Vec<vigil_wire::api::Session> = c
            .get(format!("{b2}/sessions?state=active"))
            .send()
            .await?
            .json()
            .await?;
        let under: Vec<_> = live
            .iter()
            .filter(|s| s.request_id == Some(req.id))
            .map(|s| &s.id)
            .collect();
        assert_eq!(under, [&started[0]], "round {round}: live sessions");
    }
    Ok(())
}
