//! `vigil user …`, `vigil asset …`, `vigil rule …`: each opens the database itself and
//! audits what it changes as the CLI's.

use anyhow::{bail, Context};
use vigil_wire::api::{AssetSelector, NewAsset, NewSmartRule, Protocol, SmartRule};

use super::args::{AssetCmd, RuleCmd, UserCmd};
use super::secret_from_env;
use crate::audit::AuditKey;
use crate::config::Config;
use crate::store::audit::{NewEntry, Who};
use crate::{api, app, auth, store};
use vigil_wire::audit::AuditAction;

/// Audits `detail` as the CLI's.
async fn audit(
    db: &store::Db,
    key: &AuditKey,
    action: AuditAction,
    detail: &str,
) -> anyhow::Result<()> {
    store::audit::record(db, key, NewEntry::new(Who::CLI, action, detail)).await?;
    Ok(())
}

/// A revocation made from the command line, audited as the CLI's.
async fn revoke(
    (db, key): &(store::Db, AuditKey),
    action: AuditAction,
    detail: &str,
    r: store::access::Revoked,
) -> anyhow::Result<()> {
    let detail = if r.changed {
        detail.to_string()
    } else {
        format!("{detail} (nothing to change)")
    };
    audit(db, key, action, &detail).await?;
    println!("{detail}");
    Ok(())
}

async fn user_id(db: &store::Db, name: &str) -> anyhow::Result<i64> {
    match store::users::by_name(db, name).await? {
        Some(u) => Ok(u.id),
        None => bail!("no user {name}"),
    }
}

pub(super) async fn user(config: Config, cmd: UserCmd) -> anyhow::Result<()> {
    let (name, password_env, admin, groups, display_name) = match cmd {
        UserCmd::Add {
            name,
            password_env,
            admin,
            groups,
            display_name,
        } => (name, password_env, admin, groups, display_name),
        UserCmd::Disable { name } => {
            let opened = app::open_audited(&config).await?;
            let db = &opened.0;
            let r = store::access::set_disabled(db, user_id(db, &name).await?, true).await?;
            let detail = format!("{name} disabled, {} login(s) ended", r.logins_ended);
            return revoke(&opened, AuditAction::UserDisable, &detail, r).await;
        }
        UserCmd::Enable { name } => {
            let opened = app::open_audited(&config).await?;
            let db = &opened.0;
            let r = store::access::set_disabled(db, user_id(db, &name).await?, false).await?;
            let detail = format!("{name} enabled");
            return revoke(&opened, AuditAction::UserEnable, &detail, r).await;
        }
        UserCmd::EndLogins { name } => {
            let opened = app::open_audited(&config).await?;
            let db = &opened.0;
            let r = store::access::end_logins(db, user_id(db, &name).await?).await?;
            let detail = format!("{name}: {} login(s) ended", r.logins_ended);
            return revoke(&opened, AuditAction::UserEndLogins, &detail, r).await;
        }
        UserCmd::RemoveGroup { name, group } => {
            let opened = app::open_audited(&config).await?;
            let db = &opened.0;
            let r = store::access::remove_member(db, user_id(db, &name).await?, &group).await?;
            if !r.changed {
                bail!("{name} is not in group {group}");
            }
            let detail = format!("{name} from {group}");
            return revoke(&opened, AuditAction::GroupRemoveMember, &detail, r).await;
        }
        UserCmd::SetLayout { name, layout } => {
            let (db, key) = app::open_audited(&config).await?;
            let changed =
                store::users::set_keyboard_layout(&db, user_id(&db, &name).await?, layout).await?;
            let mut detail = format!("{name}: {layout}");
            if !changed {
                detail.push_str(" (nothing to change)");
            }
            audit(&db, &key, AuditAction::UserKeyboardLayout, &detail).await?;
            println!("keyboard layout of {detail}");
            return Ok(());
        }
    };
    if name.trim().is_empty() {
        bail!("the user name is empty");
    }
    let password = secret_from_env(&password_env)?;
    let (db, key) = app::open_audited(&config).await?;
    if store::users::by_name(&db, &name).await?.is_some() {
        bail!("user {name} already exists");
    }
    let hash = tokio::task::spawn_blocking(move || auth::hash_password(&password)).await??;
    let display = display_name.unwrap_or_else(|| name.clone());
    store::users::create(&db, &name, &display, &hash, admin, &groups).await?;
    let role = if admin { "administrator" } else { "user" };
    let detail = format!("{role} {name}, groups: {}", groups.join(", "));
    audit(&db, &key, AuditAction::UserCreate, &detail).await?;
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

pub(super) async fn asset(config: Config, cmd: AssetCmd) -> anyhow::Result<()> {
    match cmd {
        AssetCmd::AcceptHostKey { name, fingerprint } => {
            let (db, key) = app::open_audited(&config).await?;
            let said = accept_host_key(&db, &key, &name, fingerprint.as_deref()).await?;
            println!("{said}");
            Ok(())
        }
        add @ AssetCmd::Add { .. } => add_asset(config, add).await,
    }
}

/// `vigil asset accept-host-key NAME [--fingerprint FP]`: without a fingerprint, what is
/// pinned and what was offered; with one, the acceptance (audited as the CLI's).
pub(super) async fn accept_host_key(
    db: &store::Db,
    key: &AuditKey,
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
    let pinned = api::assets::accept_offered_key(db, key, Who::CLI, &row, fingerprint)
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
    let (db, key) = app::open_audited(&config).await?;
    let vault = crate::reseal::open_vault(&config, &db, &key).await?;
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
        audit(&db, &key, AuditAction::AssetCreate, &detail).await?;
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

pub(super) async fn rule(config: Config, cmd: RuleCmd) -> anyhow::Result<()> {
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
            let opened = app::open_audited(&config).await?;
            let Some(id) = store::access::rule_id(&opened.0, &name).await? else {
                bail!("no Smart Rule {name}");
            };
            let r = store::access::delete_rule(&opened.0, id).await?;
            let detail = format!("rule {name} deleted");
            return revoke(&opened, AuditAction::RuleDelete, &detail, r).await;
        }
        RuleCmd::List => {
            let db = app::open_storage(&config).await?;
            for r in store::rules::list(&db).await? {
                println!("{}", rule_line(&r));
            }
            return Ok(());
        }
    };
    let (db, key) = app::open_audited(&config).await?;
    let r = api::assets::create_rule_row(&db, &new)
        .await
        .map_err(|e| anyhow::anyhow!("{e}"))?;
    audit(&db, &key, AuditAction::RuleCreate, &r.name).await?;
    println!("created {}", rule_line(&r));
    Ok(())
}

/// One Smart Rule as the CLI shows it.
pub(super) fn rule_line(r: &SmartRule) -> String {
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
