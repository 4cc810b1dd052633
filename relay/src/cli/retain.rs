//! `vigil session hold|release`, `vigil retention run`, `vigil backup DEST`,
//! `vigil restore SRC`: legal hold, retention and backups from the command line (the
//! relay may be running).

use std::path::Path;

use anyhow::bail;

use super::args::{RetentionCmd, SessionCmd};
use crate::config::Config;
use crate::legal_hold::{self, HoldError};
use crate::store::audit::Who;
use crate::store::now_ms;
use crate::{app, backup, retention};

pub(super) async fn session(config: Config, cmd: SessionCmd) -> anyhow::Result<()> {
    let (id, hold, reason) = match cmd {
        SessionCmd::Hold { id, reason } => (id, true, Some(reason)),
        SessionCmd::Release { id, reason } => (id, false, reason),
    };
    let (db, key) = app::open_audited(&config).await?;
    match legal_hold::set(&db, &key, Who::CLI, &id, hold, reason.as_deref()).await {
        Ok(true) if hold => println!("session {id}: legal hold placed"),
        Ok(true) => println!("session {id}: legal hold released"),
        Ok(false) if hold => println!("session {id}: already on legal hold (kept as it was)"),
        Ok(false) => println!("session {id}: not on legal hold (nothing to change)"),
        Err(e @ HoldError::NoSuchSession(_)) => bail!("{e}"),
        Err(e) => return Err(e.into()),
    }
    Ok(())
}

pub(super) async fn retention(config: Config, cmd: RetentionCmd) -> anyhow::Result<()> {
    match cmd {
        RetentionCmd::Run => {
            let settings = config.retention.clone();
            if !settings.enabled() {
                println!(
                    "retention: neither recordings_days nor audit_days is set; everything is kept"
                );
                return Ok(());
            }
            let (db, key) = app::open_audited(&config).await?;
            let report = retention::run_once(
                &db,
                &key,
                &config.recordings_dir(),
                &settings,
                Who::CLI,
                now_ms(),
            )
            .await?;
            println!("retention: {report}");
            Ok(())
        }
    }
}

/// The warning printed by `vigil backup`: the keys open everything else.
pub const KEY_WARNING: &str = "WARNING: this backup holds the credential key (keys/secret.key) and the audit key (keys/audit.key). \
Anyone with the keys and the database can read the stored credentials and forge audit entries: \
move the keys/ directory to separate, protected storage and keep it apart from the rest of the backup.";

pub(super) async fn backup(config: Config, dest: &Path) -> anyhow::Result<()> {
    let manifest = backup::take(&config, dest).await?;
    let recordings = manifest
        .files
        .iter()
        .filter(|f| f.path.starts_with("recordings/"))
        .count();
    let bytes: u64 = manifest.files.iter().map(|f| f.size).sum();
    println!(
        "backup: {} files ({bytes} bytes) in {}: the database, {recordings} recording file(s), the keys; manifest.json lists their SHA-256",
        manifest.files.len(),
        dest.display()
    );
    eprintln!("{KEY_WARNING}");
    Ok(())
}

pub(super) async fn restore(config: Config, src: &Path) -> anyhow::Result<()> {
    let r = backup::restore(&config, src).await?;
    println!(
        "restore: {} files checked and restored into {} (audit key: {}); {} session(s) caught running ended and {} recording(s) sealed. Run `vigil audit verify` to check the chain.",
        r.manifest.files.len(),
        config.data_dir.display(),
        config
            .audit_key_file
            .as_deref()
            .map(|p| p.display().to_string())
            .unwrap_or_default(),
        r.ended,
        r.sealed
    );
    Ok(())
}
