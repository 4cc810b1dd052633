//! Who and what a relay is seeded with: one [`Cast`] per tag (users, SSH and desktop
//! assets, Smart Rules shaped like the demo), added through the `vigil` CLI.

use std::path::Path;

use anyhow::Result;

use super::{vigil_cli, Relay};
use crate::targets::rdp::{rdp_targets, RdpServer, RdpTargets};
use crate::targets::sshd::Sshd;
use crate::unique;

#[derive(Debug, Clone)]
pub struct Login {
    pub username: String,
    pub password: String,
}

/// Users, assets and Smart Rules shaped like the demo, every name ending in `-<tag>`:
///
/// | user | groups | rule |
/// | --- | --- | --- |
/// | `admin-T` | administrator | – |
/// | `isa-T` | `ops-T` | `isa` on assets tagged `linux-T` |
/// | `reviewer-T` | `auditors-T` | `active_session_reviewer` on `linux-T` |
/// | `alice-T`, `bob-T` | `staff-T` | `requestor`, auto-approve, on `linux-T` |
/// | `outsider-T` | `outsiders-T` | `active_session_reviewer` on `elsewhere-T` only |
/// | `carol-T` | none | none |
///
/// Assets: `web-T` (password account, `linux-T`), `db-T` (key account, `linux-T`),
/// `vault-T` (password account, `elsewhere-T`), all on the test sshd.
#[derive(Debug, Clone)]
pub struct Cast {
    pub tag: String,
    pub admin: Login,
    pub isa: Login,
    pub reviewer: Login,
    pub alice: Login,
    pub bob: Login,
    pub outsider: Login,
    /// A user with no group and no role at all.
    pub carol: Login,
    /// Asset with the password-based account.
    pub web: String,
    /// Asset with the key-based account.
    pub db: String,
    /// Asset only the outsider reviews.
    pub vault: String,
    pub linux_tag: String,
    /// Desktop assets (seeded only by [`Relay::shared_with_rdp`] / [`Relay::start_with_rdp`]).
    pub rdp: RdpAssets,
}

impl Cast {
    pub(crate) fn new(tag: &str) -> Cast {
        let login = |role: &str| {
            let username = format!("{role}-{tag}");
            Login {
                password: format!("{username}-Pw{}", unique("")),
                username,
            }
        };
        Cast {
            tag: tag.to_string(),
            admin: login("admin"),
            isa: login("isa"),
            reviewer: login("reviewer"),
            alice: login("alice"),
            bob: login("bob"),
            outsider: login("outsider"),
            carol: login("carol"),
            web: format!("web-{tag}"),
            db: format!("db-{tag}"),
            vault: format!("vault-{tag}"),
            linux_tag: format!("linux-{tag}"),
            rdp: RdpAssets::new(tag),
        }
    }

    /// Every user with a word for what they are.
    pub fn users(&self) -> Vec<(&'static str, &Login)> {
        vec![
            ("administrator", &self.admin),
            ("isa", &self.isa),
            ("reviewer", &self.reviewer),
            ("regular", &self.alice),
            ("regular", &self.bob),
            ("outsider", &self.outsider),
        ]
    }
}

pub(crate) fn seed(data_dir: &Path, sshd: &Sshd, c: &Cast) -> Result<()> {
    let t = &c.tag;
    let user = |login: &Login, extra: &[&str]| -> Result<()> {
        let mut args = vec![
            "user",
            "add",
            &login.username,
            "--password-env",
            "VIGIL_SEED_PASSWORD",
        ];
        args.extend_from_slice(extra);
        vigil_cli(data_dir, &args, &[("VIGIL_SEED_PASSWORD", &login.password)]).map(|_| ())
    };
    let (ops, auditors, staff, outsiders) = (
        format!("ops-{t}"),
        format!("auditors-{t}"),
        format!("staff-{t}"),
        format!("outsiders-{t}"),
    );
    user(&c.admin, &["--admin"])?;
    user(&c.isa, &["--group", &ops])?;
    user(&c.reviewer, &["--group", &auditors])?;
    user(&c.alice, &["--group", &staff])?;
    user(&c.bob, &["--group", &staff])?;
    user(&c.outsider, &["--group", &outsiders])?;
    user(&c.carol, &[])?;

    let port = sshd.port.to_string();
    let elsewhere = format!("elsewhere-{t}");
    let key_file = sshd.key_file.to_string_lossy().into_owned();
    let asset = |name: &str,
                 account: &str,
                 tag: &str,
                 secret: &[&str],
                 envs: &[(&str, &str)]|
     -> Result<()> {
        let mut args = vec![
            "asset",
            "add",
            name,
            "--protocol",
            "ssh",
            "--host",
            "127.0.0.1",
            "--port",
            &port,
            "--account",
            account,
        ];
        args.extend_from_slice(secret);
        args.extend_from_slice(&["--tag", tag]);
        vigil_cli(data_dir, &args, envs).map(|_| ())
    };
    let pw_env = [("VIGIL_SEED_TARGET_PASSWORD", sshd.password.as_str())];
    asset(
        &c.web,
        &sshd.password_account,
        &c.linux_tag,
        &["--password-env", "VIGIL_SEED_TARGET_PASSWORD"],
        &pw_env,
    )?;
    asset(
        &c.db,
        &sshd.key_account,
        &c.linux_tag,
        &["--private-key-file", &key_file],
        &[],
    )?;
    asset(
        &c.vault,
        &sshd.password_account,
        &elsewhere,
        &["--password-env", "VIGIL_SEED_TARGET_PASSWORD"],
        &pw_env,
    )?;

    let rule = |name: &str, group: &str, role: &str, tag: &str, extra: &[&str]| -> Result<()> {
        let mut args = vec![
            "rule",
            "add",
            name,
            "--group",
            group,
            "--role",
            role,
            "--protocol",
            "ssh",
            "--tag",
            tag,
        ];
        args.extend_from_slice(extra);
        vigil_cli(data_dir, &args, &[]).map(|_| ())
    };
    rule(&format!("ops-isa-{t}"), &ops, "isa", &c.linux_tag, &[])?;
    rule(
        &format!("auditors-review-{t}"),
        &auditors,
        "active_session_reviewer",
        &c.linux_tag,
        &[],
    )?;
    rule(
        &format!("staff-request-{t}"),
        &staff,
        "requestor",
        &c.linux_tag,
        &["--auto-approve"],
    )?;
    rule(
        &format!("outsiders-review-{t}"),
        &outsiders,
        "active_session_reviewer",
        &elsewhere,
        &[],
    )?;
    Ok(())
}

// ---------------------------------------------------------------------------------
// chromedriver and headless Chromium

/// The desktop assets of one cast (tag `T`), all tagged `rdp-T`, covered by the cast's
/// ISA, reviewer and (auto-approved) requestor rules for protocol `rdp`.
#[derive(Debug, Clone)]
pub struct RdpAssets {
    /// xrdp, RemoteFX.
    pub rfx: String,
    /// xrdp, plain bitmaps.
    pub bitmap: String,
    /// freerdp-shadow, NLA.
    pub nla: String,
    /// freerdp-shadow with a wrong managed password.
    pub nla_bad: String,
    pub tag: String,
}

impl RdpAssets {
    pub fn new(tag: &str) -> RdpAssets {
        RdpAssets {
            rfx: format!("win-{tag}"),
            bitmap: format!("winbmp-{tag}"),
            nla: format!("nla-{tag}"),
            nla_bad: format!("nlabad-{tag}"),
            tag: format!("rdp-{tag}"),
        }
    }
}

/// One desktop asset on `server` through the CLI: `codec` is `remotefx` or `bitmap`, `size`
/// a `WIDTHxHEIGHT` (the relay's default when `None`).
struct NewRdpAsset<'a> {
    name: &'a str,
    tag: &'a str,
    server: &'a RdpServer,
    password: &'a str,
    codec: &'a str,
    size: Option<&'a str>,
}

fn cli_rdp_asset(data_dir: &Path, t: &RdpTargets, a: NewRdpAsset<'_>) -> Result<()> {
    let pw_var = "VIGIL_SEED_RDP_PASSWORD";
    let port = a.server.port.to_string();
    let mut args = vec![
        "asset",
        "add",
        a.name,
        "--protocol",
        "rdp",
        "--host",
        "127.0.0.1",
        "--port",
        &port,
        "--account",
        &t.account,
        "--password-env",
        pw_var,
        "--rdp-codec",
        a.codec,
        "--tag",
        a.tag,
    ];
    if let Some(size) = a.size {
        args.extend(["--rdp-size", size]);
    }
    vigil_cli(data_dir, &args, &[(pw_var, a.password)]).map(|_| ())
}

/// Adds a desktop asset on `server` (RemoteFX, asked for `size`, `WIDTHxHEIGHT`) to cast
/// `tag` of a running relay started with [`Relay::start_with_rdp`]: tagged like the cast's
/// other desktops, so the cast's rules cover it. The CLI writes the database the relay
/// reads on every request.
pub fn add_rdp_asset(
    relay: &Relay,
    tag: &str,
    name: &str,
    server: &RdpServer,
    size: &str,
) -> Result<()> {
    let t = rdp_targets();
    cli_rdp_asset(
        &relay.data_dir,
        t,
        NewRdpAsset {
            name,
            tag: &RdpAssets::new(tag).tag,
            server,
            password: &t.password,
            codec: "remotefx",
            size: Some(size),
        },
    )
}

/// Adds the RDP assets and rules of cast `tag` to the relay's data dir.
pub(crate) fn seed_rdp(data_dir: &Path, tag: &str, t: &RdpTargets) -> Result<()> {
    let a = RdpAssets::new(tag);
    let asset = |name: &str, server: &RdpServer, password: &str, codec: &str| {
        let new = NewRdpAsset {
            name,
            tag: &a.tag,
            server,
            password,
            codec,
            size: None,
        };
        cli_rdp_asset(data_dir, t, new)
    };
    asset(&a.rfx, &t.xrdp, &t.password, "remotefx")?;
    asset(&a.bitmap, &t.xrdp, &t.password, "bitmap")?;
    asset(&a.nla, &t.shadow, &t.password, "remotefx")?;
    asset(&a.nla_bad, &t.shadow, &t.bad_password, "remotefx")?;
    let rule = |name: String, group: String, role: &str, extra: &[&str]| -> Result<()> {
        let mut args = vec![
            "rule",
            "add",
            &name,
            "--group",
            &group,
            "--role",
            role,
            "--protocol",
            "rdp",
            "--tag",
            &a.tag,
        ];
        args.extend_from_slice(extra);
        vigil_cli(data_dir, &args, &[]).map(|_| ())
    };
    rule(format!("ops-rdp-{tag}"), format!("ops-{tag}"), "isa", &[])?;
    rule(
        format!("auditors-rdp-{tag}"),
        format!("auditors-{tag}"),
        "active_session_reviewer",
        &[],
    )?;
    rule(
        format!("staff-rdp-{tag}"),
        format!("staff-{tag}"),
        "requestor",
        &["--auto-approve"],
    )?;
    Ok(())
}
