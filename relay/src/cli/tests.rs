//! The command line's parsing and commands, against a database of the test's.

use clap::Parser;
use vigil_wire::desktop::KeyboardLayout;

use super::commands::{accept_host_key, rule_line};
use super::*;

/// A configuration on `dir/data`, with an audit key beside it.
pub(super) fn test_config(dir: &std::path::Path) -> Config {
    let mut config = Config::with_data_dir(dir.join("data"));
    let key = dir.join("audit.key");
    crate::audit::AuditKey::generate(&key).expect("audit key");
    config.audit_key_file = Some(key);
    config
}

fn asset_add(extra: &[&str]) -> Result<Cli, clap::Error> {
    let mut args = vec![
        "vigil",
        "asset",
        "add",
        "desk",
        "--protocol",
        "rdp",
        "--host",
        "h",
        "--port",
        "3389",
        "--account",
        "a",
    ];
    args.extend_from_slice(extra);
    Cli::try_parse_from(args)
}

fn size_of(cli: Cli) -> Option<vigil_hub::RdpSize> {
    match cli.command {
        Command::Asset {
            cmd: AssetCmd::Add { rdp_size, .. },
        } => rdp_size,
        _ => None,
    }
}

#[test]
fn rdp_size_is_parsed_and_checked() {
    let cli = asset_add(&["--rdp-size", "1920x1080"]).expect("parse");
    assert_eq!(size_of(cli), vigil_hub::RdpSize::new(1920, 1080).ok());
    assert_eq!(size_of(asset_add(&[]).expect("parse")), None);
    for (bad, says) in [("100x100", "out of range"), ("1920", "WIDTHxHEIGHT")] {
        let err = asset_add(&["--rdp-size", bad])
            .expect_err("refused")
            .to_string();
        assert!(err.contains("--rdp-size") && err.contains(says), "{err}");
    }
}

#[tokio::test]
async fn asset_add_stores_the_rdp_size() -> anyhow::Result<()> {
    let dir = tempfile::tempdir()?;
    let config = test_config(dir.path());
    let add = |name: &str, protocol: &str, extra: &[&str]| {
        let mut args = vec![
            "vigil",
            "asset",
            "add",
            name,
            "--protocol",
            protocol,
            "--host",
            "h",
            "--port",
            "1",
            "--account",
            "a",
        ];
        args.extend_from_slice(extra);
        Cli::try_parse_from(args)
    };
    let Command::Asset { cmd } = add("hd", "rdp", &["--rdp-size", "1920x1080"])?.command else {
        anyhow::bail!("not an asset command");
    };
    asset(config.clone(), cmd).await?;
    let Command::Asset { cmd } = add("plain", "rdp", &[])?.command else {
        anyhow::bail!("not an asset command");
    };
    asset(config.clone(), cmd).await?;
    let Command::Asset { cmd } = add("web", "ssh", &["--rdp-size", "1920x1080"])?.command else {
        anyhow::bail!("not an asset command");
    };
    let err = asset(config.clone(), cmd)
        .await
        .expect_err("SSH with a size");
    assert!(err.to_string().contains("RDP assets only"), "{err}");

    let db = app::open_storage(&config).await?;
    let sizes: Vec<_> = store::assets::list(&db)
        .await?
        .into_iter()
        .map(|a| (a.name, a.rdp_size.map(|s| s.to_string())))
        .collect();
    assert_eq!(
        sizes,
        [
            ("hd".into(), Some("1920x1080".into())),
            ("plain".into(), None)
        ]
    );
    // The database refuses what the type refuses, and half a size.
    for (w, h) in [(Some(100), Some(1080)), (Some(1920), None)] {
        let r = sqlx::query("UPDATE assets SET rdp_width = $1, rdp_height = $2")
            .bind(w)
            .bind(h)
            .execute(&db)
            .await;
        assert!(r.is_err(), "{w:?}x{h:?} stored");
    }
    Ok(())
}

#[tokio::test]
async fn host_keys_are_provisioned_shown_and_accepted_by_fingerprint() -> anyhow::Result<()> {
    const FP: &str = "SHA256:ungWv48Bz+pBQUDeXa4iI7ADYaOWF3qctBD/YfIAFa0";
    const OFFERED: &str = "SHA256:47DEQpj8HBSa+/TImW+5JCeuQeRkm5NMpJWZG3hSuFU";
    let dir = tempfile::tempdir()?;
    let config = test_config(dir.path());
    let add = |name: &str, host_key: &str| {
        Cli::try_parse_from([
            "vigil",
            "asset",
            "add",
            name,
            "--protocol",
            "ssh",
            "--host",
            "h",
            "--port",
            "22",
            "--account",
            "a",
            "--host-key",
            host_key,
        ])
    };
    let Command::Asset { cmd } = add("bad", "SHA256:nope")?.command else {
        anyhow::bail!("not an asset command");
    };
    let err = asset(config.clone(), cmd).await.expect_err("malformed");
    assert!(err.to_string().contains("ssh-keygen"), "{err}");
    let Command::Asset { cmd } = add("web", FP)?.command else {
        anyhow::bail!("not an asset command");
    };
    asset(config.clone(), cmd).await?;

    let (db, key) = app::open_audited(&config).await?;
    let shown = accept_host_key(&db, &key, "web", None).await?;
    assert_eq!(shown, format!("web: pinned {FP}; no other key offered"));
    let err = accept_host_key(&db, &key, "web", Some(OFFERED))
        .await
        .expect_err("nothing offered");
    assert!(err.to_string().contains("offered no key"), "{err}");

    let id = store::assets::by_name(&db, "web").await?.context("web")?.id;
    store::assets::record_offered(&db, id, OFFERED).await?;
    let shown = accept_host_key(&db, &key, "web", None).await?;
    assert!(
        shown.contains(&format!("pinned {FP}")) && shown.contains(&format!("offered {OFFERED}")),
        "{shown}"
    );
    assert!(accept_host_key(&db, &key, "web", Some(FP)).await.is_err());
    let said = accept_host_key(&db, &key, "web", Some(OFFERED)).await?;
    assert_eq!(said, format!("web: pinned {OFFERED}"));
    let row = store::assets::by_name(&db, "web").await?.context("web")?;
    assert_eq!(
        (row.host_key.as_deref(), row.host_key_offered),
        (Some(OFFERED), None)
    );
    let audit = store::audit::list(&db, &Default::default()).await?;
    assert!(
        audit.iter().any(|e| e.actor == "cli"
            && e.action == "accept_host_key"
            && e.detail == format!("web: {FP} -> {OFFERED}")),
        "{audit:?}"
    );
    Ok(())
}

#[tokio::test]
async fn rule_add_takes_sessions_per_request() -> anyhow::Result<()> {
    let dir = tempfile::tempdir()?;
    let config = test_config(dir.path());
    let add = |name: &str, extra: &[&str]| -> anyhow::Result<RuleCmd> {
        let mut args = vec!["vigil", "rule", "add", name, "--group", "devs"];
        args.extend_from_slice(&["--role", "requestor"]);
        args.extend_from_slice(extra);
        match Cli::try_parse_from(args)?.command {
            Command::Rule { cmd } => Ok(cmd),
            other => anyhow::bail!("not a rule command: {other:?}"),
        }
    };
    rule(
        config.clone(),
        add("two", &["--sessions-per-request", "2"])?,
    )
    .await?;
    rule(config.clone(), add("plain", &["--name-glob", "web-*"])?).await?;
    for bad in ["0", "101"] {
        let err = rule(
            config.clone(),
            add("bad", &["--sessions-per-request", bad])?,
        )
        .await
        .expect_err("out of range");
        assert!(err.to_string().contains("1 to 100"), "{bad}: {err}");
    }
    let db = app::open_storage(&config).await?;
    let rules = store::rules::list(&db).await?;
    let limits: Vec<_> = rules
        .iter()
        .map(|r| (r.name.as_str(), r.sessions_per_request))
        .collect();
    assert_eq!(limits, [("two", 2), ("plain", 1)]);
    assert_eq!(
        rule_line(&rules[1]),
        format!(
            "rule plain (id {}): group devs gets requestor on name web-*; 1 live session(s) per request",
            rules[1].id
        )
    );
    Ok(())
}

#[tokio::test]
async fn user_set_layout_checks_the_layout_and_stores_it() -> anyhow::Result<()> {
    let dir = tempfile::tempdir()?;
    let config = test_config(dir.path());
    let parse = |args: &[&str]| {
        let mut all = vec!["vigil", "user", "set-layout"];
        all.extend_from_slice(args);
        Cli::try_parse_from(all)
    };
    for bad in ["ja-JP", "0x411", ""] {
        let err = parse(&["alice", bad]).expect_err("refused").to_string();
        assert!(err.contains("unsupported keyboard layout"), "{err}");
    }
    let db = app::open_storage(&config).await?;
    let alice = store::users::create(&db, "alice", "alice", "x", false, &[]).await?;
    for (arg, want) in [
        ("de-DE", KeyboardLayout::DeDe),
        ("0x40c", KeyboardLayout::FrFr),
    ] {
        let Command::User { cmd } = parse(&["alice", arg])?.command else {
            anyhow::bail!("not a user command");
        };
        user(config.clone(), cmd).await?;
        assert_eq!(store::users::keyboard_layout(&db, alice).await?, want);
    }
    let Command::User { cmd } = parse(&["nobody", "de-DE"])?.command else {
        anyhow::bail!("not a user command");
    };
    assert!(user(config.clone(), cmd).await.is_err());
    Ok(())
}
