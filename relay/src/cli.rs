//! The command line: `vigil [--config FILE] serve | user … | asset … | rule add|delete|list | emergency`.
//! Bootstrap commands open the database directly; the server need not run.

use std::path::PathBuf;

use anyhow::{bail, Context};
use clap::{Parser, Subcommand, ValueEnum};
use vigil_wire::api::{AssetSelector, GrantedRole, NewAsset, NewSmartRule, Protocol, SmartRule};
use vigil_wire::desktop::KeyboardLayout;

use crate::config::Config;
use crate::{api, app, auth, store};

#[derive(Debug, Parser)]
#[command(name = "vigil", version, about = "Vigil privileged-session gateway")]
pub struct Cli {
    /// TOML configuration file; every key can be overridden by VIGIL_* variables.
    #[arg(long, global = true, env = "VIGIL_CONFIG", value_name = "FILE")]
    pub config: Option<PathBuf>,
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Run the relay.
    Serve,
    /// Manage users.
    User {
        #[command(subcommand)]
        cmd: UserCmd,
    },
    /// Manage assets.
    Asset {
        #[command(subcommand)]
        cmd: AssetCmd,
    },
    /// Manage Smart Rules.
    Rule {
        #[command(subcommand)]
        cmd: RuleCmd,
    },
    /// Lock or terminate every live session of one user or one asset, on the running
    /// relay (which applies it within a second and reports how many sessions).
    Emergency {
        #[arg(value_enum)]
        action: EmergencyArg,
        /// Every live session of this user.
        #[arg(
            long,
            value_name = "NAME",
            conflicts_with = "asset",
            required_unless_present = "asset"
        )]
        user: Option<String>,
        /// Every live session on this asset.
        #[arg(long, value_name = "NAME")]
        asset: Option<String>,
    },
}

/// `vigil emergency lock|terminate`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum EmergencyArg {
    Lock,
    Terminate,
}

#[derive(Debug, Subcommand)]
pub enum UserCmd {
    /// Create a user.
    Add {
        name: String,
        /// Name of the environment variable holding the password (never the password itself).
        #[arg(long, value_name = "VAR")]
        password_env: String,
        #[arg(long)]
        admin: bool,
        #[arg(long = "group", value_name = "G")]
        groups: Vec<String>,
        #[arg(long)]
        display_name: Option<String>,
    },
    /// Disable a user: their logins end, and a running relay closes their streams and
    /// terminates their live sessions.
    Disable { name: String },
    /// Let a disabled user log in again.
    Enable { name: String },
    /// End every login of a user (a running relay closes their streams).
    EndLogins { name: String },
    /// Take a user out of a group.
    RemoveGroup { name: String, group: String },
    /// Set the keyboard layout of a user's desktop sessions: announced to RDP servers and
    /// used to read their keystrokes. Applies to sessions launched afterwards.
    SetLayout {
        name: String,
        /// en-US, en-GB, de-DE or fr-FR (or the id: 0x409, 0x809, 0x407, 0x40c).
        layout: KeyboardLayout,
    },
}

#[derive(Debug, Subcommand)]
pub enum AssetCmd {
    /// Create an asset with its managed account.
    Add {
        name: String,
        #[arg(long)]
        protocol: Protocol,
        #[arg(long)]
        host: String,
        #[arg(long)]
        port: u16,
        #[arg(long)]
        account: String,
        /// Environment variable holding the account's password.
        #[arg(long, value_name = "VAR", conflicts_with = "private_key_file")]
        password_env: Option<String>,
        /// OpenSSH private key (PEM) for the account.
        #[arg(long, value_name = "F")]
        private_key_file: Option<PathBuf>,
        #[arg(long = "tag", value_name = "T")]
        tags: Vec<String>,
        /// How an RDP target is asked to encode graphics.
        #[arg(long, value_enum, default_value = "remotefx")]
        rdp_codec: RdpCodecArg,
        /// The desktop size an RDP target is asked for, WIDTHxHEIGHT (640x480 to
        /// 5120x2880); default 1024x768.
        #[arg(long, value_name = "WxH")]
        rdp_size: Option<vigil_hub::RdpSize>,
        /// The expected host identity, enforced from the first connection: for SSH the
        /// host key's fingerprint as `ssh-keygen -lf` prints it (SHA256:…), for RDP the
        /// certificate key pin (sha256:<hex> of its SubjectPublicKeyInfo). Without it the
        /// first connection pins what it meets.
        #[arg(long, value_name = "FINGERPRINT")]
        host_key: Option<String>,
    },
    /// Show the pinned and the offered host key of an asset, or, with --fingerprint,
    /// accept the offered one (it must be the fingerprint the target offered).
    AcceptHostKey {
        name: String,
        /// The fingerprint being accepted, compared out of band with the target's.
        #[arg(long, value_name = "FINGERPRINT")]
        fingerprint: Option<String>,
    },
}

/// `--rdp-codec`: the values of the asset's `rdp_codec` column.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum RdpCodecArg {
    Remotefx,
    Bitmap,
}

impl From<RdpCodecArg> for vigil_hub::RdpCodec {
    fn from(c: RdpCodecArg) -> Self {
        match c {
            RdpCodecArg::Remotefx => vigil_hub::RdpCodec::RemoteFx,
            RdpCodecArg::Bitmap => vigil_hub::RdpCodec::Bitmap,
        }
    }
}

#[derive(Debug, Subcommand)]
pub enum RuleCmd {
    /// Create a Smart Rule granting roles on the assets it selects to one group.
    Add {
        name: String,
        #[arg(long, value_name = "G")]
        group: String,
        /// requestor, approver, isa or active_session_reviewer (repeatable).
        #[arg(long = "role", value_name = "R", required = true)]
        roles: Vec<GrantedRole>,
        #[arg(long, value_name = "GLOB")]
        name_glob: Option<String>,
        #[arg(long, value_name = "P")]
        protocol: Option<Protocol>,
        #[arg(long = "tag", value_name = "T")]
        tags: Vec<String>,
        #[arg(long)]
        auto_approve: bool,
        /// Live sessions one approved request may have at once (1 to 100). Where several
        /// rules make a user a requestor on an asset, the smallest applies.
        #[arg(long, value_name = "N", default_value_t = crate::policy::SESSIONS_PER_REQUEST)]
        sessions_per_request: u32,
    },
    /// Delete a Smart Rule; what it granted is gone at once on a running relay.
    Delete { name: String },
    /// List the Smart Rules, one a line.
    List,
}

fn secret_from_env(var: &str) -> anyhow::Result<String> {
    match std::env::var(var) {
        Ok(v) if !v.is_empty() => Ok(v),
        Ok(_) => bail!("environment variable {var} is empty"),
        Err(_) => bail!("environment variable {var} is not set"),
    }
}

pub async fn run(cli: Cli) -> anyhow::Result<()> {
    let config = Config::load(cli.config.as_deref()).context("loading configuration")?;
    match cli.command {
        Command::Serve => serve(config).await,
        Command::User { cmd } => user(config, cmd).await,
        Command::Asset { cmd } => asset(config, cmd).await,
        Command::Rule { cmd } => rule(config, cmd).await,
        Command::Emergency {
            action,
            user,
            asset,
        } => emergency(config, action, user, asset).await,
    }
}

async fn emergency(
    config: Config,
    action: EmergencyArg,
    user: Option<String>,
    asset: Option<String>,
) -> anyhow::Result<()> {
    use vigil_wire::api::{EmergencyAction, EmergencyScope};
    let (scope, name) = match (user, asset) {
        (Some(u), None) => (EmergencyScope::User, u),
        (None, Some(a)) => (EmergencyScope::Asset, a),
        _ => bail!("name exactly one of --user or --asset"),
    };
    let action = match action {
        EmergencyArg::Lock => EmergencyAction::Lock,
        EmergencyArg::Terminate => EmergencyAction::Terminate,
    };
    let db = app::open_storage(&config).await?;
    let id = store::emergency::queue(&db, scope, &name, action, "cli").await?;
    for _ in 0..50 {
        if let Some(n) = store::emergency::outcome(&db, id).await? {
            println!(
                "emergency {} of {} {name}: {n} session(s)",
                action.as_str(),
                scope.as_str()
            );
            return Ok(());
        }
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
    println!(
        "emergency {} of {} {name} queued, but no running relay applied it within 5 s (a relay that starts later closes it: it starts with no live session)",
        action.as_str(),
        scope.as_str()
    );
    Ok(())
}

async fn serve(config: Config) -> anyhow::Result<()> {
    let bind = config.bind;
    let scheme = if config.tls.is_some() {
        "https"
    } else {
        "http"
    };
    let state = app::start(config).await.context("starting the relay")?;
    let listener = tokio::net::TcpListener::bind(bind)
        .await
        .with_context(|| format!("binding {bind}"))?;
    tracing::info!(address = %listener.local_addr()?, "Vigil relay listening");
    println!("vigil: serving on {scheme}://{}", listener.local_addr()?);
    app::serve(state, listener, app::shutdown_signal()).await
}

/// A revocation made from the command line, audited as the CLI's.
async fn revoke(
    db: &store::Db,
    action: &str,
    detail: &str,
    r: store::access::Revoked,
) -> anyhow::Result<()> {
    let detail = if r.changed {
        detail.to_string()
    } else {
        format!("{detail} (nothing to change)")
    };
    store::audit::record(db, "cli", action, None, &detail).await?;
    println!("{detail}");
    Ok(())
}

async fn user_id(db: &store::Db, name: &str) -> anyhow::Result<i64> {
    match store::users::by_name(db, name).await? {
        Some(u) => Ok(u.id),
        None => bail!("no user {name}"),
    }
}

async fn user(config: Config, cmd: UserCmd) -> anyhow::Result<()> {
    let (name, password_env, admin, groups, display_name) = match cmd {
        UserCmd::Add {
            name,
            password_env,
            admin,
            groups,
            display_name,
        } => (name, password_env, admin, groups, display_name),
        UserCmd::Disable { name } => {
            let db = app::open_storage(&config).await?;
            let r = store::access::set_disabled(&db, user_id(&db, &name).await?, true).await?;
            let detail = format!("{name} disabled, {} login(s) ended", r.logins_ended);
            return revoke(&db, "user_disable", &detail, r).await;
        }
        UserCmd::Enable { name } => {
            let db = app::open_storage(&config).await?;
            let r = store::access::set_disabled(&db, user_id(&db, &name).await?, false).await?;
            return revoke(&db, "user_enable", &format!("{name} enabled"), r).await;
        }
        UserCmd::EndLogins { name } => {
            let db = app::open_storage(&config).await?;
            let r = store::access::end_logins(&db, user_id(&db, &name).await?).await?;
            let detail = format!("{name}: {} login(s) ended", r.logins_ended);
            return revoke(&db, "user_end_logins", &detail, r).await;
        }
        UserCmd::RemoveGroup { name, group } => {
            let db = app::open_storage(&config).await?;
            let r = store::access::remove_member(&db, user_id(&db, &name).await?, &group).await?;
            if !r.changed {
                bail!("{name} is not in group {group}");
            }
            return revoke(
                &db,
                "group_remove_member",
                &format!("{name} from {group}"),
                r,
            )
            .await;
        }
        UserCmd::SetLayout { name, layout } => {
            let db = app::open_storage(&config).await?;
            let changed =
                store::users::set_keyboard_layout(&db, user_id(&db, &name).await?, layout).await?;
            let mut detail = format!("{name}: {layout}");
            if !changed {
                detail.push_str(" (nothing to change)");
            }
            store::audit::record(&db, "cli", "user_keyboard_layout", None, &detail).await?;
            println!("keyboard layout of {detail}");
            return Ok(());
        }
    };
    if name.trim().is_empty() {
        bail!("the user name is empty");
    }
    let password = secret_from_env(&password_env)?;
    let db = app::open_storage(&config).await?;
    if store::users::by_name(&db, &name).await?.is_some() {
        bail!("user {name} already exists");
    }
    let hash = tokio::task::spawn_blocking(move || auth::hash_password(&password)).await??;
    let display = display_name.unwrap_or_else(|| name.clone());
    store::users::create(&db, &name, &display, &hash, admin, &groups).await?;
    let role = if admin { "administrator" } else { "user" };
    println!(
        "created {role} {name} (groups: {})",
        if groups.is_empty() {
            "none".into()
        } else {
            groups.join(", ")
        }
    );
    Ok(())
}

async fn asset(config: Config, cmd: AssetCmd) -> anyhow::Result<()> {
    match cmd {
        AssetCmd::AcceptHostKey { name, fingerprint } => {
            let db = app::open_storage(&config).await?;
            let said = accept_host_key(&db, &name, fingerprint.as_deref()).await?;
            println!("{said}");
            Ok(())
        }
        add @ AssetCmd::Add { .. } => add_asset(config, add).await,
    }
}

/// `vigil asset accept-host-key NAME [--fingerprint FP]`: without a fingerprint, what is
/// pinned and what was offered; with one, the acceptance (audited as the CLI's).
async fn accept_host_key(
    db: &store::Db,
    name: &str,
    fingerprint: Option<&str>,
) -> anyhow::Result<String> {
    let Some(row) = store::assets::by_name(db, name).await? else {
        bail!("no asset {name}");
    };
    let Some(fingerprint) = fingerprint else {
        let pinned = row
            .host_key
            .as_deref()
            .map_or_else(|| "none".into(), vigil_hub::host_pin::fingerprint_of_pin);
        return Ok(match &row.host_key_offered {
            Some(offered) => format!(
                "{name}: pinned {pinned}\n{name}: offered {offered}\n\
                 compare it with the target's own, then run \
                 `vigil asset accept-host-key {name} --fingerprint {offered}`"
            ),
            None => format!("{name}: pinned {pinned}; no other key offered"),
        });
    };
    let pinned = api::assets::accept_offered_key(db, "cli", &row, fingerprint)
        .await
        .map_err(|e| anyhow::anyhow!("{e}"))?;
    Ok(format!("{name}: pinned {pinned}"))
}

async fn add_asset(config: Config, cmd: AssetCmd) -> anyhow::Result<()> {
    let AssetCmd::Add {
        name,
        protocol,
        host,
        port,
        account,
        password_env,
        private_key_file,
        tags,
        rdp_codec,
        rdp_size,
        host_key,
    } = cmd
    else {
        bail!("not `asset add`");
    };
    if rdp_size.is_some() && protocol != Protocol::Rdp {
        bail!("--rdp-size is for RDP assets only");
    }
    let password = password_env.as_deref().map(secret_from_env).transpose()?;
    let private_key = private_key_file
        .as_ref()
        .map(|f| std::fs::read_to_string(f).with_context(|| format!("reading {}", f.display())))
        .transpose()?;
    let db = app::open_storage(&config).await?;
    let vault = crate::reseal::open_vault(&config, &db).await?;
    let new = NewAsset {
        name: name.clone(),
        protocol,
        host,
        port,
        tags,
        account,
        password,
        private_key,
        host_key,
    };
    let id = api::assets::create_asset(&db, &vault, &new)
        .await
        .map_err(|e| anyhow::anyhow!("{e}"))?;
    if let Some(row) = store::assets::get(&db, id).await? {
        let detail = api::assets::create_detail(&row);
        store::audit::record(&db, "cli", "asset_create", None, &detail).await?;
    }
    let codec = vigil_hub::RdpCodec::from(rdp_codec);
    if codec != vigil_hub::RdpCodec::default() {
        store::assets::set_rdp_codec(&db, id, codec).await?;
    }
    if rdp_size.is_some() {
        store::assets::set_rdp_size(&db, id, rdp_size).await?;
    }
    let cred = if new.password.is_some() {
        "password"
    } else if new.private_key.is_some() {
        "private key"
    } else {
        "no credential"
    };
    let size = rdp_size.map(|s| format!(", {s}")).unwrap_or_default();
    let pinned = if new.host_key.is_some() {
        ", host key provisioned"
    } else {
        ""
    };
    println!(
        "created asset {name} (id {id}, {} {}@{}:{}, {cred}{size}{pinned})",
        protocol.as_str(),
        new.account,
        new.host,
        port
    );
    Ok(())
}

async fn rule(config: Config, cmd: RuleCmd) -> anyhow::Result<()> {
    let new = match cmd {
        RuleCmd::Add {
            name,
            group,
            roles,
            name_glob,
            protocol,
            tags,
            auto_approve,
            sessions_per_request,
        } => NewSmartRule {
            name,
            selector: AssetSelector {
                name_glob,
                protocol,
                tags,
            },
            group,
            roles,
            auto_approve,
            sessions_per_request,
        },
        RuleCmd::Delete { name } => {
            let db = app::open_storage(&config).await?;
            let Some(id) = store::access::rule_id(&db, &name).await? else {
                bail!("no Smart Rule {name}");
            };
            let r = store::access::delete_rule(&db, id).await?;
            return revoke(&db, "rule_delete", &format!("rule {name} deleted"), r).await;
        }
        RuleCmd::List => {
            let db = app::open_storage(&config).await?;
            for r in store::rules::list(&db).await? {
                println!("{}", rule_line(&r));
            }
            return Ok(());
        }
    };
    let db = app::open_storage(&config).await?;
    let r = api::assets::create_rule_row(&db, &new)
        .await
        .map_err(|e| anyhow::anyhow!("{e}"))?;
    println!("created {}", rule_line(&r));
    Ok(())
}

/// One Smart Rule as the CLI shows it.
fn rule_line(r: &SmartRule) -> String {
    let roles: Vec<_> = r.roles.iter().map(|r| r.as_str()).collect();
    let sel = &r.selector;
    let mut selects = vec![format!("name {}", sel.name_glob.as_deref().unwrap_or("*"))];
    if let Some(p) = sel.protocol {
        selects.push(format!("protocol {}", p.as_str()));
    }
    if !sel.tags.is_empty() {
        selects.push(format!("tags {}", sel.tags.join(",")));
    }
    format!(
        "rule {} (id {}): group {} gets {} on {}{}; {} live session(s) per request",
        r.name,
        r.id,
        r.group,
        roles.join(", "),
        selects.join(", "),
        if r.auto_approve { "; auto-approve" } else { "" },
        r.sessions_per_request
    )
}

#[cfg(test)]
mod tests {
    use super::*;

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
        let config = Config::with_data_dir(dir.path().join("data"));
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
        let Command::Asset { cmd } = add("web", "ssh", &["--rdp-size", "1920x1080"])?.command
        else {
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
        let config = Config::with_data_dir(dir.path().join("data"));
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

        let db = app::open_storage(&config).await?;
        let shown = accept_host_key(&db, "web", None).await?;
        assert_eq!(shown, format!("web: pinned {FP}; no other key offered"));
        let err = accept_host_key(&db, "web", Some(OFFERED))
            .await
            .expect_err("nothing offered");
        assert!(err.to_string().contains("offered no key"), "{err}");

        let id = store::assets::by_name(&db, "web").await?.context("web")?.id;
        store::assets::record_offered(&db, id, OFFERED).await?;
        let shown = accept_host_key(&db, "web", None).await?;
        assert!(
            shown.contains(&format!("pinned {FP}"))
                && shown.contains(&format!("offered {OFFERED}")),
            "{shown}"
        );
        assert!(accept_host_key(&db, "web", Some(FP)).await.is_err());
        let said = accept_host_key(&db, "web", Some(OFFERED)).await?;
        assert_eq!(said, format!("web: pinned {OFFERED}"));
        let row = store::assets::by_name(&db, "web").await?.context("web")?;
        assert_eq!(
            (row.host_key.as_deref(), row.host_key_offered),
            (Some(OFFERED), None)
        );
        let audit = store::audit::list(&db, 10).await?;
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
        let config = Config::with_data_dir(dir.path().join("data"));
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
        let config = Config::with_data_dir(dir.path().join("data"));
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
}
