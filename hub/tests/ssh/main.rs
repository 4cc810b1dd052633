//! The hub against a real OpenSSH server on loopback, started by
//! `scripts/targets/start-ssh.sh` (needs root; skipped with a message without sshd).
//!
//! One binary: the sessions here, and [`kill`] (a SIGKILLed relay leaves a parseable cast).

#[path = "../support/mod.rs"]
mod support;

mod kill;

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use anyhow::{bail, Context, Result};
use support::*;
use vigil_hub::{HubError, LaunchSpec, Lifecycle, Secret, SshAuth};
use vigil_wire::end::{EndReason, ErrorCode};
use vigil_wire::live::{ClientControl, ClientMsg, Participant, ServerControl, ServerMsg};
use vigil_wire::SSH_LOCK_MESSAGE;

#[tokio::test]
async fn runs_a_command_and_sees_its_output() -> Result<()> {
    let Some(t) = target() else { return Ok(()) };
    let mut f = fixture(256);
    let mut user = connected_user(&f, "run1", t).await?;
    type_line(&user, "echo hub-$((6*7))").await?;
    until_output(&mut user, "hub-42").await?;
    let first = tokio::time::timeout(WAIT, f.lifecycle.recv()).await?;
    assert!(
        matches!(first, Some(Lifecycle::HostKeyLearned { ref host_key, .. }) if host_key.starts_with("ssh-"))
    );
    assert_eq!(
        f.lifecycle.recv().await,
        Some(Lifecycle::Connected { id: "run1".into() })
    );
    let keys = f.hub.keystrokes("run1").context("live")?;
    assert_eq!(keys.first().map(|k| k.key.as_str()), Some("e"));
    assert_eq!(keys.last().map(|k| k.key.as_str()), Some("Enter"));
    f.hub.shutdown().await;
    Ok(())
}

#[tokio::test]
async fn key_user_logs_in_and_a_pinned_key_is_accepted() -> Result<()> {
    let Some(t) = target() else { return Ok(()) };
    let mut f = fixture(256);
    let key = || SshAuth::PrivateKey(Secret::new(t.client_key.clone()));
    f.hub.launch(spec("key1", t, key(), t.port, None))?;
    let learned = match tokio::time::timeout(WAIT, f.lifecycle.recv()).await? {
        Some(Lifecycle::HostKeyLearned { host_key, .. }) => host_key,
        other => bail!("expected HostKeyLearned, got {other:?}"),
    };
    f.hub
        .launch(spec("key2", t, key(), t.port, Some(learned)))?;
    let mut user = f.hub.attach("key2", Participant::User).context("attach")?;
    until_control(&mut user, |c| *c == ServerControl::Connected).await?;
    type_line(&user, "echo I am $(whoami)").await?;
    until_output(&mut user, "I am gwkey").await?;
    f.hub.shutdown().await;
    Ok(())
}

#[tokio::test]
async fn late_observer_snapshot_shows_the_screen() -> Result<()> {
    let Some(t) = target() else { return Ok(()) };
    let f = fixture(256);
    let mut user = connected_user(&f, "snap1", t).await?;
    type_line(&user, "echo snap-$((40+2))").await?;
    until_output(&mut user, "snap-42").await?;
    let mut observer = f
        .hub
        .attach("snap1", Participant::Observer)
        .context("attach")?;
    assert!(observer.input.is_none(), "observers get no input");
    let ServerMsg::Snapshot(snapshot) = next(&mut observer).await? else {
        bail!("snapshot first")
    };
    let mut screen = vt100::Parser::new(24, 80, 0);
    screen.process(&snapshot);
    let text = screen.screen().contents();
    assert!(
        text.contains("echo snap-$((40+2))") && text.contains("\nsnap-42"),
        "{text}"
    );
    f.hub.shutdown().await;
    Ok(())
}

#[tokio::test]
async fn lock_blocks_typed_commands_until_unlock() -> Result<()> {
    let Some(t) = target() else { return Ok(()) };
    let mut f = fixture(256);
    let flag = PathBuf::from(format!("/tmp/vigil-hub-lock-{}", std::process::id()));
    let _ = std::fs::remove_file(&flag);
    let mut user = connected_user(&f, "lock1", t).await?;
    let mut observer = f
        .hub
        .attach("lock1", Participant::Observer)
        .context("attach")?;

    f.hub.lock("lock1")?;
    assert_eq!(f.hub.is_locked("lock1"), Some(true));
    let locked = ServerControl::Locked {
        message: SSH_LOCK_MESSAGE.into(),
    };
    until_control(&mut user, |c| *c == locked).await?;
    until_control(&mut observer, |c| *c == locked).await?;
    type_line(&user, &format!("touch {}", flag.display())).await?;
    let input = user.input.clone().context("input")?;
    input
        .send(ClientMsg::Control(ClientControl::Resize {
            cols: 100,
            rows: 30,
        }))
        .await?;
    tokio::time::sleep(Duration::from_millis(1500)).await;
    assert!(
        !flag.exists(),
        "a command typed while locked ran on the target"
    );

    f.hub.unlock("lock1")?;
    until_control(&mut user, |c| *c == ServerControl::Unlocked).await?;
    // The size the user took while locked reaches the target only now.
    until_control(&mut user, |c| {
        *c == ServerControl::Resized {
            cols: 100,
            rows: 30,
        }
    })
    .await?;
    type_line(
        &user,
        &format!(
            "touch {} && stty size && echo done-$((1+1))",
            flag.display()
        ),
    )
    .await?;
    until_output(&mut user, "done-2").await?;
    assert!(flag.exists(), "after unlock the command runs");
    let _ = std::fs::remove_file(&flag);

    f.hub.shutdown().await;
    let events = until_ended(&mut f.lifecycle).await?;
    let locks: Vec<_> = events
        .iter()
        .filter(|e| matches!(e, Lifecycle::Locked { .. } | Lifecycle::Unlocked { .. }))
        .collect();
    assert_eq!(
        locks,
        [
            &Lifecycle::Locked { id: "lock1".into() },
            &Lifecycle::Unlocked { id: "lock1".into() }
        ]
    );
    let cast = std::fs::read_to_string(f.hub.recording_path("lock1"))?;
    assert!(cast.contains(r#""m","lock"]"#) && cast.contains(r#""m","unlock"]"#));
    assert!(cast.contains(r#""r","100x30"]"#));
    assert!(cast.contains("30 100"), "stty size saw the deferred resize");
    Ok(())
}

#[tokio::test]
async fn terminate_ends_the_session_and_the_cast_parses() -> Result<()> {
    let Some(t) = target() else { return Ok(()) };
    let mut f = fixture(256);
    let mut user = connected_user(&f, "term1", t).await?;
    type_line(&user, "echo bye-$((3*3)) é€").await?;
    until_output(&mut user, "bye-9").await?;
    f.hub.terminate("term1", "terminated by test".into())?;
    assert!(!f.hub.is_live("term1"));
    until_control(&mut user, |c| {
        *c == ServerControl::Ended {
            reason: EndReason::plain("terminated by test"),
        }
    })
    .await?;
    let events = until_ended(&mut f.lifecycle).await?;
    assert_eq!(
        events.last(),
        Some(&Lifecycle::Ended {
            id: "term1".into(),
            reason: EndReason::plain("terminated by test")
        })
    );
    assert!(f.hub.attach("term1", Participant::Observer).is_none());

    let path = f.hub.recording_path("term1");
    let (header, events) = parse_cast(&path)?;
    assert_eq!(header["version"], 2);
    assert_eq!(
        (header["width"].as_u64(), header["height"].as_u64()),
        (Some(80), Some(24))
    );
    assert_eq!(header["env"]["TERM"], "xterm-256color");
    let output: String = events
        .iter()
        .filter(|e| e.1 == "o")
        .map(|e| e.2.as_str())
        .collect();
    assert!(output.contains("bye-9 é€"));
    assert!(events.iter().any(|e| e.1 == "i"));
    assert_eq!(
        events.last().map(|e| (e.1.as_str(), e.2.as_str())),
        Some(("m", "terminate: terminated by test"))
    );
    assert!(
        events.windows(2).all(|w| w[0].0 <= w[1].0),
        "time never goes back"
    );
    let keys = vigil_hub::read_keystrokes(&f.hub.keystrokes_path("term1"))?;
    assert_eq!(keys.len(), "echo bye-$((3*3)) é€\r".chars().count());
    assert!(keys.iter().enumerate().all(|(i, k)| k.seq == i as u64));

    // Stock asciinema, when installed, must accept it too. It insists on a terminal,
    // which `script` provides.
    let asciinema = format!("asciinema cat {}", path.display());
    let installed =
        Path::new("/usr/bin/asciinema").exists() && Path::new("/usr/bin/script").exists();
    if let Some(out) = installed.then(|| {
        std::process::Command::new("script")
            .args(["-qec", &asciinema, "/dev/null"])
            .output()
    }) {
        let out = out?;
        assert!(
            out.status.success(),
            "asciinema cat: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        assert!(String::from_utf8_lossy(&out.stdout).contains("bye-9"));
    } else {
        eprintln!("asciinema not installed: skipped `asciinema cat`");
    }
    Ok(())
}

#[tokio::test]
async fn remote_exit_ends_with_closed() -> Result<()> {
    let Some(t) = target() else { return Ok(()) };
    let mut f = fixture(256);
    let mut user = connected_user(&f, "exit1", t).await?;
    type_line(&user, "exit").await?;
    until_control(&mut user, |c| {
        *c == ServerControl::Ended {
            reason: EndReason::plain("closed"),
        }
    })
    .await?;
    let events = until_ended(&mut f.lifecycle).await?;
    assert_eq!(
        events.last(),
        Some(&Lifecycle::Ended {
            id: "exit1".into(),
            reason: EndReason::plain("closed")
        })
    );
    assert!(!f.hub.is_live("exit1"));
    Ok(())
}

/// Launches, attaches at once (the test runtime is single-threaded, so the session task
/// has not run yet) and expects `code` as an error, then the end.
async fn expect_failure(f: &mut Fixture, spec: LaunchSpec, code: ErrorCode) -> Result<()> {
    let id = spec.session_id.clone();
    f.hub.launch(spec)?;
    let mut user = f
        .hub
        .attach(&id, Participant::User)
        .context("attach while connecting")?;
    let mut controls = Vec::new();
    while let Some(msg) = tokio::time::timeout(WAIT, user.rx.recv()).await? {
        if let ServerMsg::Control(c) = msg {
            controls.push(c);
        }
    }
    let n = controls.len();
    assert!(n >= 2, "{controls:?}");
    assert!(
        matches!(&controls[n - 2], ServerControl::Error { code: c, .. } if *c == code),
        "{controls:?}"
    );
    assert!(
        matches!(&controls[n - 1], ServerControl::Ended { .. }),
        "{controls:?}"
    );
    let events = until_ended(&mut f.lifecycle).await?;
    assert!(
        !events
            .iter()
            .any(|e| matches!(e, Lifecycle::Connected { .. })),
        "{events:?}"
    );
    assert!(
        matches!(events.last(), Some(Lifecycle::Ended { reason, .. }) if reason.code == Some(code)),
        "{events:?}"
    );
    assert!(!f.hub.is_live(&id));
    Ok(())
}

#[tokio::test]
async fn wrong_password_is_auth_failed() -> Result<()> {
    let Some(t) = target() else { return Ok(()) };
    let mut f = fixture(256);
    let wrong = SshAuth::Password(Secret::new("not-the-password"));
    expect_failure(
        &mut f,
        spec("auth1", t, wrong, t.port, None),
        ErrorCode::AuthFailed,
    )
    .await
}

#[tokio::test]
async fn unreachable_port_is_target_unreachable() -> Result<()> {
    let Some(t) = target() else { return Ok(()) };
    let mut f = fixture(256);
    expect_failure(
        &mut f,
        spec("unr1", t, password(t), free_port(), None),
        ErrorCode::TargetUnreachable,
    )
    .await
}

#[tokio::test]
async fn changed_host_key_is_refused() -> Result<()> {
    let Some(t) = target() else { return Ok(()) };
    let mut f = fixture(256);
    let pinned = Some(t.other_key.clone());
    expect_failure(
        &mut f,
        spec("hk1", t, password(t), t.port, pinned),
        ErrorCode::HostKeyChanged,
    )
    .await
}

#[tokio::test]
async fn a_fingerprint_pin_is_enforced_and_a_refused_key_reported() -> Result<()> {
    let Some(t) = target() else { return Ok(()) };
    // The target's key, learned on first use, and its fingerprint.
    let mut f = fixture(256);
    f.hub.launch(spec("fp0", t, password(t), t.port, None))?;
    let learned = match tokio::time::timeout(WAIT, f.lifecycle.recv()).await? {
        Some(Lifecycle::HostKeyLearned { host_key, .. }) => host_key,
        other => bail!("expected HostKeyLearned, got {other:?}"),
    };
    f.hub.shutdown().await;
    let real = vigil_hub::host_pin::fingerprint_of_pin(&learned);
    let wrong = vigil_hub::host_pin::fingerprint_of_pin(&t.other_key);
    assert!(
        real.starts_with("SHA256:") && real != wrong,
        "{real} {wrong}"
    );

    // Pinned by another fingerprint: refused, and the offered fingerprint reported
    // before the end.
    let mut f = fixture(256);
    f.hub
        .launch(spec("fp1", t, password(t), t.port, Some(wrong)))?;
    let events = until_ended(&mut f.lifecycle).await?;
    assert_eq!(
        events.first(),
        Some(&Lifecycle::HostKeyRefused {
            id: "fp1".into(),
            offered: real.clone()
        }),
        "{events:?}"
    );
    assert!(
        matches!(events.last(), Some(Lifecycle::Ended { reason, .. }) if reason.code == Some(ErrorCode::HostKeyChanged)),
        "{events:?}"
    );

    // Pinned by its own fingerprint: connects, and learns nothing.
    f.hub
        .launch(spec("fp2", t, password(t), t.port, Some(real)))?;
    assert_eq!(
        tokio::time::timeout(WAIT, f.lifecycle.recv()).await?,
        Some(Lifecycle::Connected { id: "fp2".into() })
    );
    f.hub.shutdown().await;
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn slow_observer_does_not_slow_the_user() -> Result<()> {
    let Some(t) = target() else { return Ok(()) };
    let f = fixture(16);
    let mut user = connected_user(&f, "slow1", t).await?;
    // Reads its join snapshot, then nothing until the end.
    let mut slow = f
        .hub
        .attach("slow1", Participant::Observer)
        .context("attach")?;
    assert!(matches!(next(&mut slow).await?, ServerMsg::Snapshot(_)));
    type_line(&user, "seq 1 30000; echo flood-$((2*2))").await?;
    until_output(&mut user, "flood-4").await?;
    assert!(
        slow.rx.len() >= 16,
        "the observer's queue is full ({})",
        slow.rx.len()
    );

    let started = Instant::now();
    type_line(&user, "echo fast-$((5+5))").await?;
    until_output(&mut user, "fast-10").await?;
    let echo = started.elapsed();
    assert!(
        echo < Duration::from_secs(2),
        "the user's echo took {echo:?}"
    );

    // Once the observer reads, it is resynchronised with a snapshot.
    let mut got_snapshot = false;
    while let Ok(Some(msg)) = tokio::time::timeout(Duration::from_secs(2), slow.rx.recv()).await {
        if let ServerMsg::Snapshot(s) = msg {
            got_snapshot |= String::from_utf8_lossy(&s).contains("fast-10");
            break;
        }
    }
    assert!(got_snapshot, "the lagging observer got a fresh snapshot");
    f.hub.shutdown().await;
    Ok(())
}

/// One id, one session and one record: a second launch of a live session's id is refused,
/// and so is a launch of an ended one's (its record files exist and are never overwritten).
#[tokio::test]
async fn a_second_launch_of_one_id_is_a_duplicate() -> Result<()> {
    let Some(t) = target() else { return Ok(()) };
    let mut f = fixture(256);
    f.hub
        .launch(spec("dup1", t, password(t), free_port(), None))?;
    let again = f.hub.launch(spec("dup1", t, password(t), t.port, None));
    assert!(
        matches!(again, Err(HubError::Duplicate(ref id)) if id == "dup1"),
        "{again:?}"
    );
    until_ended(&mut f.lifecycle).await?;
    assert!(!f.hub.is_live("dup1"));
    let after_end = f.hub.launch(spec("dup1", t, password(t), t.port, None));
    assert!(
        matches!(after_end, Err(HubError::Duplicate(ref id)) if id == "dup1"),
        "{after_end:?}"
    );
    Ok(())
}
