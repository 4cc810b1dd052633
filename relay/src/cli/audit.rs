//! `vigil audit keygen | verify | prune`: the audit key and the chain's check, run against
//! the database directly (the relay may be running).

use anyhow::bail;

use super::args::AuditCmd;
use crate::audit::{verify, AuditKey};
use crate::config::Config;
use crate::store::audit::Who;
use crate::{app, store};

pub(super) async fn run(config: Config, cmd: AuditCmd) -> anyhow::Result<()> {
    match cmd {
        AuditCmd::Keygen { out } => {
            AuditKey::generate(&out)?;
            println!(
                "audit key written to {} (mode 0600); name it as audit_key_file or VIGIL_AUDIT_KEY_FILE",
                out.display()
            );
            Ok(())
        }
        AuditCmd::Verify => {
            let (db, key) = app::open_audited(&config).await?;
            let v = verify::verify(&db, &key, &config.recordings_dir()).await?;
            let line = verify::report(&v);
            if v.ok {
                println!("{line}");
                Ok(())
            } else {
                bail!("{line}")
            }
        }
        AuditCmd::Prune { through_seq } => {
            let (db, key) = app::open_audited(&config).await?;
            // Entries the audit export has not delivered yet stay, as retention keeps them.
            if let Some(floor) = crate::retention::prune_floor(&db).await? {
                if through_seq >= floor {
                    bail!(
                        "audit prune: entry {floor} is not yet delivered to the audit export's sink; \
                         prune through {} at most, or wait for the export to catch up",
                        floor - 1
                    );
                }
            }
            // The seals of recordings still kept are carried past the prune, as retention does.
            let carried = crate::retention::carry_seals(&db, &key, Who::CLI, through_seq).await?;
            let removed = store::audit::prune_through(&db, &key, Who::CLI, through_seq).await?;
            println!("audit prune: {removed} entries through seq {through_seq} removed behind a checkpoint ({carried} seal(s) of kept recordings carried)");
            Ok(())
        }
    }
}
