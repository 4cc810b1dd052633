//! One slot of the soak: sessions launched, driven, watched, locked and ended in turn.

use super::*;

pub(crate) async fn run_slot(ctx: &Ctx, slot: usize) {
    let mut rng = Rng(0x9e37_79b9_7f4a_7c15 ^ (slot as u64 + 1).wrapping_mul(0x1000_0001));
    let mut n = 0u64;
    while Instant::now() < ctx.deadline {
        n += 1;
        match one_session(ctx, slot, n, &mut rng).await {
            Ok(e) => lock(&ctx.tally.ended).push(e),
            Err(e) => {
                let line = format!("slot {slot} #{n}: {e:#}");
                // The first of each kind as it happens, to be seen while a long run goes on.
                let kind: String = format!("{:#}", e.root_cause())
                    .chars()
                    .filter(|c| !c.is_ascii_hexdigit())
                    .collect();
                if lock(&ctx.tally.failure_kinds).insert(kind) {
                    println!("failure: {line}");
                }
                lock(&ctx.tally.failures).push(line);
            }
        }
    }
}

/// One session, start to end; the number printed by its command is unique to it.
pub(crate) async fn one_session(ctx: &Ctx, slot: usize, n: u64, rng: &mut Rng) -> Result<Ended> {
    let owner = &ctx.owners[slot % ctx.owners.len()];
    let monitor = &ctx.monitors[slot % ctx.monitors.len()];
    let id = launch(ctx, owner).await?;
    ctx.tally.opened.fetch_add(1, Ordering::Relaxed);
    ctx.tally.live.fetch_add(1, Ordering::Relaxed);
    let result = drive(ctx, owner, monitor, &id, slot, n, rng).await;
    ctx.tally.live.fetch_sub(1, Ordering::Relaxed);
    if result.is_err() {
        // Leave nothing running behind a failure.
        let _ = monitor
            .post(&format!("sessions/{id}/terminate"), serde_json::json!({}))
            .await;
    }
    result.with_context(|| format!("session {id}"))
}

/// Launches for `owner`. While another of the owner's sessions on the asset is locked,
/// the relay refuses (`session_locked`), as it must: wait for that lock to go, as a user
/// would, and count the refusal.
pub(crate) async fn launch(ctx: &Ctx, owner: &Api) -> Result<String> {
    let mut refused = 0;
    loop {
        match owner.launch(ctx.asset).await {
            Ok(id) => return Ok(id),
            Err(e) if format!("{e:#}").contains("session_locked") && refused < 100 => {
                refused += 1;
                ctx.tally.refused_locked.fetch_add(1, Ordering::Relaxed);
                tokio::time::sleep(Duration::from_millis(200)).await;
            }
            Err(e) => return Err(e.context("launch")),
        }
    }
}

pub(crate) async fn drive(
    ctx: &Ctx,
    owner: &Api,
    monitor: &Api,
    id: &str,
    slot: usize,
    n: u64,
    rng: &mut Rng,
) -> Result<Ended> {
    let mut user = owner.stream(id).await.context("user stream")?;
    wait_output(&mut user, prompt_seen)
        .await
        .context("prompt")?;
    let mut observer = monitor.stream(id).await.context("observer stream")?;
    wait_control(&mut observer, |c| {
        matches!(c, ServerControl::Welcome { .. })
    })
    .await
    .context("observer welcome")?;

    // The shell computes the number, so what it prints differs from what was typed.
    let base = slot as u64 * 1_000_000 + n;
    let printed = format!("soak-{}", base + 1);
    let typed = format!("echo soak-$(({base}+1))\r");
    send(&mut user, ClientMsg::Input(typed.into_bytes())).await?;
    let want = printed.clone();
    wait_output(&mut user, |b| contains(b, want.as_bytes()))
        .await
        .context("user sees the output")?;
    wait_output(&mut observer, |b| contains(b, want.as_bytes()))
        .await
        .context("observer sees the output")?;

    let hold = ctx.hold.mul_f64(0.5 + rng.unit());
    drain(
        &mut user,
        &mut observer,
        hold.min(ctx.deadline.saturating_duration_since(Instant::now())),
    )
    .await?;

    let locked = rng.unit() < 1.0 / 3.0;
    let mut unlocked = false;
    if locked {
        let path = format!("sessions/{id}/lock");
        let lock = monitor.post(&path, serde_json::json!({}));
        let told = wait_control(&mut user, |c| matches!(c, ServerControl::Locked { .. }));
        let (lock, told) = tokio::join!(lock, told);
        lock.context("lock")?;
        told.context("user told of the lock")?;
        // Typed while locked: never reaches the shell, so it never prints. The relay has
        // read it before the unlock is asked for (input it reads after an unlock is the
        // user's again, whatever the user's own timing).
        send(
            &mut user,
            ClientMsg::Input(b"echo never-$((6*7))\r".to_vec()),
        )
        .await?;
        sync(&mut user)
            .await
            .context("relay read the locked input")?;
        if rng.unit() < 0.5 {
            monitor
                .post(&format!("sessions/{id}/unlock"), serde_json::json!({}))
                .await
                .context("unlock")?;
            wait_control(&mut user, |c| matches!(c, ServerControl::Unlocked))
                .await
                .context("user told of the unlock")?;
            unlocked = true;
            send(
                &mut user,
                ClientMsg::Input(b"echo again-$((6*7))\r".to_vec()),
            )
            .await?;
            let seen = vigil_bench::relay_kit::wait_output_collect(&mut user, |b| {
                contains(b, b"again-42")
            })
            .await
            .context("typing works after unlock")?;
            if contains(&seen, b"never-42") {
                bail!(
                    "input typed while locked reached the shell: {:?}",
                    String::from_utf8_lossy(&seen)
                );
            }
        }
    }

    let path = format!("sessions/{id}/terminate");
    let end = monitor.post(&path, serde_json::json!({}));
    let told = wait_control(&mut user, |c| matches!(c, ServerControl::Ended { .. }));
    let (end, told) = tokio::join!(end, told);
    end.context("terminate")?;
    told.with_context(|| format!("user told of the end (locked: {locked}, unlocked: {unlocked})"))?;
    Ok(Ended {
        id: id.to_string(),
        printed,
        locked,
        unlocked,
    })
}

/// Reads both sockets for `d`, as open browser tabs do; the session must not end.
pub(crate) async fn drain(user: &mut Ws, observer: &mut Ws, d: Duration) -> Result<()> {
    let until = tokio::time::sleep(d);
    tokio::pin!(until);
    loop {
        tokio::select! {
            _ = &mut until => return Ok(()),
            m = user.next() => if !matches!(m, Some(Ok(_))) { bail!("user stream closed while held") },
            m = observer.next() => if !matches!(m, Some(Ok(_))) { bail!("observer stream closed while held") },
        }
    }
}
