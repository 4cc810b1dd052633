//! Host keys beyond trust on first use, against the real relay and the real sshd: a
//! provisioned fingerprint is enforced from the first connection; the key the target
//! offered instead is recorded and shown; only that fingerprint is accepted (the CLI
//! shows it and accepts it); then sessions connect.

use std::process::Command;

use anyhow::{ensure, Context, Result};
use serde_json::json;
use vigil_testkit::vigil_wire::api::{ApiError, Asset, Launched, Session};
use vigil_testkit::vigil_wire::end::ErrorCode;
use vigil_testkit::{poll_until, secs, sshd, step, vigil_cli, Api, Relay};

/// A well-formed fingerprint of no key the test sshd has (SHA-256 of "abc").
const WRONG: &str = "SHA256:ungWv48Bz+pBQUDeXa4iI7ADYaOWF3qctBD/YfIAFa0";

/// `ssh-keygen -lf` of each of the sshd's host keys: what an administrator compares.
fn host_fingerprints() -> Result<Vec<String>> {
    let mut out = Vec::new();
    for key in ["hk_ed25519.pub", "hk_rsa.pub"] {
        let path = sshd().dir.join(key);
        let printed = Command::new("ssh-keygen")
            .arg("-lf")
            .arg(&path)
            .output()
            .with_context(|| format!("ssh-keygen -lf {}", path.display()))?;
        let text = String::from_utf8_lossy(&printed.stdout).into_owned();
        let fp = text
            .split_whitespace()
            .nth(1)
            .with_context(|| format!("no fingerprint in `{text}`"))?;
        out.push(fp.to_string());
    }
    Ok(out)
}

async fn launch(api: &Api, asset: i64) -> Result<String> {
    let launched: Launched = api
        .post(
            "/api/v1/sessions",
            &json!({"asset_id": asset, "request_id": null, "cols": 80, "rows": 24}),
        )
        .await?;
    Ok(launched.session_id)
}

async fn asset(api: &Api, id: i64) -> Result<Asset> {
    let all: Vec<Asset> = api.get("/api/v1/assets").await?;
    all.into_iter()
        .find(|a| a.id == id)
        .context("the asset is listed")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_provisioned_host_key_is_enforced_and_only_the_offered_one_accepted() -> Result<()> {
    let relay = Relay::start(&["hk"])?;
    let cast = relay.cast("hk");
    let sshd = sshd();
    let admin = Api::login_as(&relay, &cast.admin).await?;
    let host_fps = host_fingerprints()?;

    step("an asset provisioned with a fingerprint the target does not have");
    let created: Asset = admin
        .post(
            "/api/v1/assets",
            &json!({"name": "pinned-hk", "protocol": "ssh", "host": "127.0.0.1",
                "port": sshd.port, "tags": [], "account": sshd.password_account,
                "password": sshd.password, "private_key": null, "host_key": WRONG}),
        )
        .await?;
    ensure!(created.host_key.as_deref() == Some(WRONG), "{created:?}");

    step("the first launch is refused with the mismatch code");
    let sid = launch(&admin, created.id).await?;
    let ended: Session = poll_until("the refused session to end", secs(20.0), || async {
        let s: Session = admin.get(&format!("/api/v1/sessions/{sid}")).await?;
        Ok(s.end_reason.is_some().then_some(s))
    })
    .await?;
    let reason = ended.end_reason.context("no end reason")?;
    ensure!(reason.code == Some(ErrorCode::HostKeyChanged), "{reason}");

    step("the asset shows the pinned and the offered fingerprint");
    let offered = poll_until("the offered fingerprint", secs(10.0), || async {
        Ok(asset(&admin, created.id).await?.host_key_offered)
    })
    .await?;
    ensure!(
        host_fps.contains(&offered),
        "offered {offered}, the sshd's keys are {host_fps:?}"
    );
    ensure!(asset(&admin, created.id).await?.host_key.as_deref() == Some(WRONG));

    step("the CLI shows the offer; another fingerprint is refused");
    let shown = vigil_cli(
        &relay.data_dir,
        &["asset", "accept-host-key", "pinned-hk"],
        &[],
    )?;
    ensure!(
        shown.contains(&format!("offered {offered}")) && shown.contains(WRONG),
        "{shown}"
    );
    let other = host_fps
        .iter()
        .find(|fp| **fp != offered)
        .context("two host keys")?;
    let refused = admin
        .send(
            reqwest::Method::POST,
            &format!("/api/v1/assets/{}/accept-host-key", created.id),
            Some(&json!({ "fingerprint": other })),
        )
        .await?;
    let error: ApiError = refused.json()?;
    ensure!(
        refused.status == 409 && error.code == "fingerprint_not_offered",
        "{} {error:?}",
        refused.status
    );

    step("the CLI accepts the offered fingerprint; a launch then connects");
    let accepted = vigil_cli(
        &relay.data_dir,
        &[
            "asset",
            "accept-host-key",
            "pinned-hk",
            "--fingerprint",
            &offered,
        ],
        &[],
    )?;
    ensure!(
        accepted.contains(&format!("pinned {offered}")),
        "{accepted}"
    );
    let now = asset(&admin, created.id).await?;
    ensure!(
        now.host_key.as_deref() == Some(offered.as_str()) && now.host_key_offered.is_none(),
        "{now:?}"
    );
    let sid = launch(&admin, created.id).await?;
    let stream = admin
        .ws(&format!("/api/v1/sessions/{sid}/stream"), true)
        .await?;
    stream.wait_output("$", secs(20.0)).await?;
    let s: Session = admin.get(&format!("/api/v1/sessions/{sid}")).await?;
    ensure!(s.end_reason.is_none(), "{s:?}");
    Ok(())
}
