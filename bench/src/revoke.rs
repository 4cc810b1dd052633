//! `bench-revoke`: how fast a viewer who lost the right to watch is cut off, against the
//! goal of one second.
//!
//! 1. Revoke: bob (a user with no role) redeems a fresh share link to a live SSH session
//!    and watches; an administrator revokes the link; the time from the revoke request
//!    to bob's stream receiving `link_revoked`.
//! 2. Group removal: a reviewer (whose role comes from the group `audit`) watches; an
//!    administrator removes them from the group (`DELETE /users/{name}/groups/audit`); the
//!    time from the request to their stream receiving `access_revoked`.
//!
//! It starts its own sshd (the project's script) and relay (`$VIGIL_BIN`, else
//! `target/release/vigil`) on loopback, and stops both. Usage: `bench-revoke [--trials N]`
//! (default 20).

use std::path::Path;
use std::time::{Duration, Instant};

use anyhow::{bail, Context, Result};
use serde_json::json;
use vigil_bench::relay_kit::{
    add_admin, add_ssh_asset, free_port, prompt_seen, serve, vigil, wait_control, wait_output, Api,
    Sshd,
};
use vigil_wire::end::ErrorCode;
use vigil_wire::live::ServerControl;

const PASSWORD: &str = "bench-Revoke-1";
/// The goal for every cut-off.
const GOAL: Duration = Duration::from_secs(1);

fn trials() -> Result<usize> {
    let mut trials = 20;
    let mut it = std::env::args().skip(1);
    while let Some(a) = it.next() {
        let v = it.next().context("flag without a value")?;
        match a.as_str() {
            "--trials" => trials = v.parse()?,
            other => bail!("unknown flag {other}"),
        }
    }
    Ok(trials.max(1))
}

/// Adds user `name` (password [`PASSWORD`]) in `groups`.
fn add_user(data: &Path, name: &str, groups: &[&str]) -> Result<()> {
    let mut args = vec!["user", "add", name, "--password-env", "BENCH_PW"];
    for g in groups {
        args.extend(["--group", g]);
    }
    vigil(data, &args, &[("BENCH_PW", PASSWORD)])
}

fn add_rule(data: &Path, name: &str, role: &str) -> Result<()> {
    vigil(
        data,
        &[
            "rule",
            "add",
            name,
            "--group",
            name,
            "--role",
            role,
            "--name-glob",
            "*",
        ],
        &[],
    )
}

/// The `ErrorCode` a viewer's stream is cut off with.
async fn cut_off(ws: &mut vigil_bench::relay_kit::Ws, want: ErrorCode) -> Result<()> {
    wait_control(
        ws,
        |c| matches!(c, ServerControl::Error { code, .. } if *code == want),
    )
    .await
}

/// One revoke trial: a fresh link for bob, redeemed, watched, revoked.
async fn revoke_trial(root: &Api, bob: &Api, id: &str) -> Result<Duration> {
    let created = root
        .post(
            &format!("sessions/{id}/shares"),
            json!({"audience": {"type": "named", "users": ["bob"], "groups": []}}),
        )
        .await?;
    let url = created["url"].as_str().context("no url")?;
    let token = url.split_once("/share#").context("no fragment")?.1;
    let link = created["link"]["id"].as_str().context("no link id")?;
    bob.post("shares/redeem", json!({"token": token})).await?;
    let mut ws = bob.stream(id).await?;
    wait_control(&mut ws, |c| matches!(c, ServerControl::Welcome { .. })).await?;
    let path = format!("shares/{link}/revoke");
    let t = Instant::now();
    let revoke = root.post(&path, json!({}));
    let told = cut_off(&mut ws, ErrorCode::LinkRevoked);
    let (revoke, told) = tokio::join!(revoke, told);
    revoke?;
    told?;
    Ok(t.elapsed())
}

/// One group-removal trial: reviewer `name` watches, then leaves the group `audit`.
async fn removal_trial(root: &Api, port: u16, name: &str, id: &str) -> Result<Duration> {
    let reviewer = Api::login(port, name, PASSWORD).await?;
    let mut ws = reviewer.stream(id).await?;
    wait_control(&mut ws, |c| matches!(c, ServerControl::Welcome { .. })).await?;
    let path = format!("users/{name}/groups/audit");
    let t = Instant::now();
    let remove = root.delete(&path);
    let told = cut_off(&mut ws, ErrorCode::AccessRevoked);
    let (remove, told) = tokio::join!(remove, told);
    remove?;
    told?;
    Ok(t.elapsed())
}

fn ms(d: Duration) -> f64 {
    d.as_secs_f64() * 1000.0
}

/// p50, p95 and max of `v`, in ms.
fn summary(mut v: Vec<Duration>) -> (f64, f64, f64) {
    v.sort();
    let at = |p: f64| {
        let last = v.len().saturating_sub(1);
        // Nearest rank: the smallest value with at least p of the trials at or below it.
        let rank = (p * v.len() as f64).ceil() as usize;
        ms(v[rank.saturating_sub(1).min(last)])
    };
    (at(0.5), at(0.95), ms(v[v.len() - 1]))
}

#[tokio::main]
async fn main() -> Result<()> {
    let trials = trials()?;
    let tmp = tempfile::tempdir()?;
    let data = tmp.path().join("data");
    let sshd = Sshd::start(&tmp.path().join("targets"))?;
    add_admin(&data, "root", PASSWORD)?;
    add_user(&data, "ivy", &["isa"])?;
    add_user(&data, "bob", &[])?;
    let reviewers: Vec<String> = (0..trials).map(|i| format!("rev{i}")).collect();
    for r in &reviewers {
        add_user(&data, r, &["audit"])?;
    }
    add_rule(&data, "isa", "isa")?;
    add_rule(&data, "audit", "active_session_reviewer")?;
    add_ssh_asset(&data, "bench-ssh", sshd.port)?;
    let port = free_port();
    let _relay = serve(&data, port, &[])?;
    let root = Api::login(port, "root", PASSWORD).await?;
    let ivy = Api::login(port, "ivy", PASSWORD).await?;
    let bob = Api::login(port, "bob", PASSWORD).await?;
    // An ISA session: reviewers on the asset see it, and an administrator shares it.
    let id = ivy.launch(ivy.asset_id().await?).await?;
    let mut user = ivy.stream(&id).await?;
    wait_output(&mut user, prompt_seen).await?;

    let mut revokes = Vec::with_capacity(trials);
    for _ in 0..trials {
        revokes.push(revoke_trial(&root, &bob, &id).await?);
    }
    let mut removals = Vec::with_capacity(trials);
    for name in &reviewers {
        removals.push(removal_trial(&root, port, name, &id).await?);
    }
    drop(user);

    println!(
        "\n== viewer cut-off ({trials} trials each; goal < {} ms) ==",
        GOAL.as_millis()
    );
    println!(
        "{:<40} {:>8} {:>8} {:>8} {:>6}",
        "", "p50 ms", "p95 ms", "max ms", "goal"
    );
    let mut missed = false;
    for (what, times) in [
        ("revoke → link viewer cut off", revokes),
        ("group removal → reviewer detached", removals),
    ] {
        let (p50, p95, max) = summary(times);
        let met = max < ms(GOAL);
        missed |= !met;
        println!(
            "{what:<40} {p50:>8.1} {p95:>8.1} {max:>8.1} {:>6}",
            if met { "met" } else { "MISSED" }
        );
    }
    if missed {
        bail!(
            "a cut-off took longer than the goal of {} ms",
            GOAL.as_millis()
        );
    }
    Ok(())
}
