//! `vigil backup` and `vigil restore` end to end: the relay binary, a real sshd.
//!
//! One SSH session ends (its recording sealed) and another is live when `vigil backup`
//! runs; the live one prints more afterwards. The backup holds a manifest, private files
//! and the keys, and says to store the keys apart; it refuses a non-empty destination. A
//! restore of an altered backup is refused before anything is written; the real one,
//! into a fresh data dir and key path, passes `vigil audit verify`, and a relay started on
//! it serves both recordings as they were at the backup.

use std::path::Path;
use std::process::{Child, Command, Stdio};

use anyhow::{bail, ensure, Context, Result};
use serde_json::json;
use vigil_testkit::vigil_wire::api::{Launched, Session};
use vigil_testkit::vigil_wire::audit::AuditEntry;
use vigil_testkit::vigil_wire::live::ClientMsg;
use vigil_testkit::{
    dist_dir, free_port, poll_until, secs, sshd, step, unique, vigil_bin, Api, Relay, WsRecorder,
};

/// `vigil <args>` with `env`: (success, stdout, stderr).
fn vigil(args: &[&str], env: &[(&str, &Path)]) -> Result<(bool, String, String)> {
    let mut cmd = Command::new(vigil_bin());
    cmd.args(args).env("RUST_LOG", "warn").stdin(Stdio::null());
    for (k, v) in env {
        cmd.env(k, v);
    }
    let out = cmd
        .output()
        .with_context(|| format!("run vigil {}", args.join(" ")))?;
    Ok((
        out.status.success(),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    ))
}

/// A relay binary serving `data` with `key`, killed when dropped.
struct Served {
    child: Child,
    base: String,
}

impl Served {
    fn start(data: &Path, key: &Path, log: &Path) -> Result<Served> {
        let port = free_port();
        let base = format!("http://127.0.0.1:{port}");
        let child = Command::new(vigil_bin())
            .arg("serve")
            .env("VIGIL_BIND", format!("127.0.0.1:{port}"))
            .env("VIGIL_DATA_DIR", data)
            .env("VIGIL_AUDIT_KEY_FILE", key)
            .env("VIGIL_DIST_DIR", dist_dir())
            .env("VIGIL_PUBLIC_ORIGIN", &base)
            .env("RUST_LOG", "info")
            .stdin(Stdio::null())
            .stdout(std::fs::File::create(log)?)
            .stderr(std::fs::File::create(log.with_extension("err"))?)
            .spawn()
            .context("spawn the restored relay")?;
        Ok(Served { child, base })
    }
}

impl Drop for Served {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

async fn attach(api: &Api, sid: &str) -> Result<WsRecorder> {
    let stream = api.session_stream(sid, secs(15.0)).await?;
    stream.wait_output("$", secs(20.0)).await?;
    Ok(stream)
}

fn type_line(stream: &WsRecorder, line: &str) -> Result<()> {
    stream.send(ClientMsg::Input(format!("{line}\r").into_bytes()).encode())
}

#[cfg(unix)]
fn mode(path: &Path) -> Result<u32> {
    use std::os::unix::fs::PermissionsExt;
    Ok(std::fs::metadata(path)?.permissions().mode() & 0o777)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_backup_taken_during_live_sessions_restores_serves_and_verifies() -> Result<()> {
    let relay = Relay::start(&["backup"])?;
    let cast = relay.cast("backup");
    let _sshd = sshd();
    let u = unique("");
    let isa = Api::login_as(&relay, &cast.isa).await?;
    let admin = Api::login_as(&relay, &cast.admin).await?;
    let web = isa.asset_id(&cast.web).await?;
    let launch = || async {
        let l: Launched = isa
            .post(
                "/api/v1/sessions",
                &json!({"asset_id": web, "cols": 100, "rows": 30}),
            )
            .await?;
        anyhow::Ok(l.session_id)
    };

    step("session A prints and ends (its recording sealed); session B prints and stays live");
    let a = launch().await?;
    let a_stream = attach(&isa, &a).await?;
    type_line(&a_stream, &format!("echo ended-{u}-$((6*7))"))?;
    a_stream
        .wait_output(&format!("ended-{u}-42"), secs(10.0))
        .await?;
    let _: serde_json::Value = admin
        .post(&format!("/api/v1/sessions/{a}/terminate"), &json!({}))
        .await?;
    poll_until("A's seal", secs(15.0), || async {
        let list: Vec<AuditEntry> = admin
            .get(&format!(
                "/api/v1/audit?session={a}&action=recording_sealed"
            ))
            .await?;
        Ok(list.into_iter().next())
    })
    .await?;
    let b = launch().await?;
    let b_stream = attach(&isa, &b).await?;
    type_line(&b_stream, &format!("echo before-{u}-$((6*7))"))?;
    b_stream
        .wait_output(&format!("before-{u}-42"), secs(10.0))
        .await?;

    step("vigil backup DEST while B is live");
    let work = tempfile::Builder::new().prefix("vigil-backup-").tempdir()?;
    let dest = work.path().join("backup");
    let key = vigil_testkit::relay::audit_key_path(&relay.data_dir);
    let source_env: [(&str, &Path); 2] = [
        ("VIGIL_DATA_DIR", &relay.data_dir),
        ("VIGIL_AUDIT_KEY_FILE", &key),
    ];
    let dest_arg = dest.display().to_string();
    let (ok, out, err) = vigil(&["backup", &dest_arg], &source_env)?;
    ensure!(ok, "vigil backup failed:\n{out}{err}");
    eprintln!("    {}", out.trim());
    ensure!(
        err.contains("WARNING") && err.contains("keys/secret.key") && err.contains("apart"),
        "no warning to store the keys apart: {err}"
    );
    type_line(&b_stream, &format!("echo after-{u}-$((6*7))"))?;
    b_stream
        .wait_output(&format!("after-{u}-42"), secs(10.0))
        .await?;

    step("the backup: manifest, both recordings, the keys; 0600 files in 0700 directories");
    let manifest: serde_json::Value =
        serde_json::from_slice(&std::fs::read(dest.join("manifest.json"))?)?;
    let paths: Vec<String> = manifest["files"]
        .as_array()
        .context("manifest files")?
        .iter()
        .filter_map(|f| f["path"].as_str().map(str::to_string))
        .collect();
    for want in [
        "vigil.db".to_string(),
        "keys/secret.key".into(),
        "keys/audit.key".into(),
        format!("recordings/{a}.cast"),
        format!("recordings/{b}.cast"),
    ] {
        ensure!(
            paths.contains(&want),
            "the manifest lacks {want}: {paths:?}"
        );
    }
    #[cfg(unix)]
    {
        for dir in [dest.clone(), dest.join("keys"), dest.join("recordings")] {
            ensure!(mode(&dir)? == 0o700, "{} is not 0700", dir.display());
        }
        for p in &paths {
            ensure!(mode(&dest.join(p))? == 0o600, "{p} is not 0600");
        }
    }
    let (ok, _, err) = vigil(&["backup", &dest_arg], &source_env)?;
    ensure!(
        !ok && err.contains("not an empty directory"),
        "a second backup into DEST: {err}"
    );

    step("B ends; an altered backup is refused before anything is written");
    let _: serde_json::Value = admin
        .post(&format!("/api/v1/sessions/{b}/terminate"), &json!({}))
        .await?;
    let restored = work.path().join("restored");
    let data = restored.join("data");
    let new_key = restored.join("audit.key");
    std::fs::create_dir_all(&restored)?;
    let target_env: [(&str, &Path); 2] = [
        ("VIGIL_DATA_DIR", &data),
        ("VIGIL_AUDIT_KEY_FILE", &new_key),
    ];
    let a_copy = dest.join("recordings").join(format!("{a}.cast"));
    let original = std::fs::read(&a_copy)?;
    let mut altered = original.clone();
    let mid = altered.len() / 2;
    altered[mid] ^= 0x01;
    std::fs::write(&a_copy, &altered)?;
    let (ok, _, err) = vigil(&["restore", &dest_arg], &target_env)?;
    ensure!(
        !ok && err.contains(&format!("recordings/{a}.cast does not match the manifest")),
        "an altered backup was restored: {err}"
    );
    ensure!(
        !data.exists() && !new_key.exists(),
        "a refused restore wrote files"
    );
    std::fs::write(&a_copy, &original)?;

    step("vigil restore into a fresh data dir; vigil audit verify passes");
    let (ok, out, err) = vigil(&["restore", &dest_arg], &target_env)?;
    ensure!(ok, "vigil restore failed:\n{out}{err}");
    eprintln!("    {}", out.trim());
    ensure!(
        std::fs::read(&new_key)? == std::fs::read(&key)?,
        "the audit key was not restored where configured"
    );
    let (ok, out, err) = vigil(&["audit", "verify"], &target_env)?;
    ensure!(ok, "vigil audit verify on the restored data:\n{out}{err}");
    eprintln!("    {}", out.trim());
    let (ok, _, err) = vigil(&["restore", &dest_arg], &target_env)?;
    ensure!(
        !ok && err.contains("is not empty"),
        "a restore over data: {err}"
    );

    step("a relay on the restored data serves both recordings, as they were at the backup");
    let served = Served::start(&data, &new_key, &restored.join("relay.log"))?;
    let api = Api::new(&served.base)?;
    poll_until("the restored relay", secs(30.0), || async {
        Ok(api
            .login(&cast.admin.username, &cast.admin.password)
            .await
            .ok())
    })
    .await?;
    let read = |sid: String| {
        let api = &api;
        async move {
            let reply = api
                .send(
                    reqwest::Method::GET,
                    &format!("/api/v1/sessions/{sid}/recording"),
                    None,
                )
                .await?;
            ensure!(
                reply.status == 200,
                "recording of {sid}: HTTP {}",
                reply.status
            );
            Ok(String::from_utf8_lossy(&reply.body).into_owned())
        }
    };
    let a_text = read(a.clone()).await?;
    ensure!(
        a_text.contains(&format!("ended-{u}-42")),
        "A's recording: {a_text}"
    );
    let b_text = read(b.clone()).await?;
    ensure!(
        b_text.contains(&format!("before-{u}-42")),
        "B's recording: {b_text}"
    );
    ensure!(
        !b_text.contains(&format!("after-{u}-42")),
        "B's restored recording holds output from after the backup"
    );
    let s: Session = api.get(&format!("/api/v1/sessions/{b}")).await?;
    let reason = s.end_reason.map(|r| r.message).unwrap_or_default();
    if reason != "restored from a backup" {
        bail!("B, live at the backup, ended as: {reason:?}");
    }
    let (ok, out, err) = vigil(&["audit", "verify"], &target_env)?;
    ensure!(
        ok,
        "vigil audit verify with the restored relay running:\n{out}{err}"
    );
    drop(served);
    drop(a_stream);
    drop(b_stream);
    Ok(())
}
