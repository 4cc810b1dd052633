//! Checking the whole audit log: the chain through the [`Verifier`], page by page in
//! `seq` order up to the head read first (entries appended meanwhile wait for the next
//! check), then every sealed recording against its seal. Shared by `vigil audit verify`
//! and `GET /api/v1/audit/verify`; the relay may be running.

use std::collections::BTreeMap;
use std::path::Path;

use vigil_wire::audit::{AuditAction, AuditBreak, AuditProblem, AuditVerification, RecordingSeal};

use super::chain::Verifier;
use super::key::AuditKey;
use super::seal;
use crate::store::{self, Db};

const PAGE: i64 = 1000;

/// Checks the chain and the sealed recordings in `recordings`.
pub async fn verify(
    db: &Db,
    key: &AuditKey,
    recordings: &Path,
) -> Result<AuditVerification, sqlx::Error> {
    let (head_seq, head_hash) = store::audit::head(db).await?;
    let mut verifier = Verifier::new(key);
    // The newest seal of each session, by session id: (seal entry's seq, seal).
    let mut seals: BTreeMap<String, (i64, RecordingSeal)> = BTreeMap::new();
    let mut after = 0;
    let broken = |b: AuditBreak, entries: u64| AuditVerification {
        ok: false,
        entries,
        head_seq,
        head_hash: head_hash.clone(),
        broken: Some(b),
    };
    let mut checked = 0u64;
    loop {
        let page = store::audit::stored_after(db, after, head_seq, PAGE).await?;
        let Some(last) = page.last() else { break };
        after = last.seq;
        for e in &page {
            if let Err(b) = verifier.feed(e) {
                return Ok(broken(b, checked));
            }
            checked += 1;
            if e.action == AuditAction::RecordingSealed.as_str() {
                if let (Some(id), Ok(seal)) = (
                    &e.session_id,
                    serde_json::from_str::<RecordingSeal>(&e.detail),
                ) {
                    seals.insert(id.clone(), (e.seq, seal));
                }
            }
        }
    }
    let verified = match verifier.finish(head_seq, &head_hash) {
        Ok(v) => v,
        Err(b) => return Ok(broken(b, checked)),
    };
    if let Some(id) = store::audit::unchained_row(db).await? {
        let b = AuditBreak {
            seq: head_seq,
            problem: AuditProblem::DeletedOrReordered,
            detail: format!("row id {id} was inserted outside the chain"),
        };
        return Ok(broken(b, checked));
    }
    for (id, (seq, s)) in seals {
        let dir = recordings.to_path_buf();
        let changed = tokio::task::spawn_blocking(move || seal::changed_file(&dir, &s))
            .await
            .map_err(|e| sqlx::Error::Io(std::io::Error::other(e)))?;
        if let Some(file) = changed {
            let b = AuditBreak {
                seq,
                problem: AuditProblem::RecordingChanged,
                detail: format!("recording {id} ({file}) changed since it was sealed"),
            };
            return Ok(broken(b, checked));
        }
    }
    Ok(AuditVerification {
        ok: true,
        entries: verified.entries,
        head_seq,
        head_hash,
        broken: None,
    })
}

/// How `vigil audit verify` reports `v`: one line.
pub fn report(v: &AuditVerification) -> String {
    match &v.broken {
        None => format!(
            "audit verify: {} entries, head seq {} hash {}, verified",
            v.entries, v.head_seq, v.head_hash
        ),
        Some(b) if b.problem == AuditProblem::RecordingChanged => {
            format!("audit verify: broken at entry seq {}: {}", b.seq, b.detail)
        }
        Some(b) => format!(
            "audit verify: broken at entry seq {}: {} ({})",
            b.seq,
            b.problem.describe(),
            b.detail
        ),
    }
}
