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

/// What the chain check leaves for the recordings' check.
struct Chained {
    head_seq: i64,
    head_hash: String,
    entries: u64,
    /// The newest seal of each session, by session id: (seal entry's seq, seal).
    seals: BTreeMap<String, (i64, RecordingSeal)>,
    /// The newest `recording_deleted` entry's seq of each session whose recording
    /// retention deleted.
    deleted: BTreeMap<String, i64>,
}

/// Checks the chain alone (no recording is read): the verification if it is broken.
async fn check_chain(
    db: &Db,
    key: &AuditKey,
) -> Result<Result<Chained, AuditVerification>, sqlx::Error> {
    let (head_seq, head_hash) = store::audit::head(db).await?;
    let mut verifier = Verifier::new(key);
    let mut seals: BTreeMap<String, (i64, RecordingSeal)> = BTreeMap::new();
    let mut deleted: BTreeMap<String, i64> = BTreeMap::new();
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
                return Ok(Err(broken(b, checked)));
            }
            checked += 1;
            let Some(id) = &e.session_id else { continue };
            if e.action == AuditAction::RecordingSealed.as_str() {
                if let Ok(seal) = serde_json::from_str::<RecordingSeal>(&e.detail) {
                    seals.insert(id.clone(), (e.seq, seal));
                }
            } else if e.action == AuditAction::RecordingDeleted.as_str() {
                deleted.insert(id.clone(), e.seq);
            }
        }
    }
    let verified = match verifier.finish(head_seq, &head_hash) {
        Ok(v) => v,
        Err(b) => return Ok(Err(broken(b, checked))),
    };
    if let Some(id) = store::audit::unchained_row(db).await? {
        let b = AuditBreak {
            seq: head_seq,
            problem: AuditProblem::DeletedOrReordered,
            detail: format!("row id {id} was inserted outside the chain"),
        };
        return Ok(Err(broken(b, checked)));
    }
    Ok(Ok(Chained {
        head_seq,
        head_hash,
        entries: verified.entries,
        seals,
        deleted,
    }))
}

/// Checks the chain only, without reading any recording (retention checks it so before
/// it prunes: a checkpoint must never vouch for a broken chain).
pub async fn verify_chain(db: &Db, key: &AuditKey) -> Result<AuditVerification, sqlx::Error> {
    Ok(match check_chain(db, key).await? {
        Err(broken) => broken,
        Ok(c) => AuditVerification {
            ok: true,
            entries: c.entries,
            head_seq: c.head_seq,
            head_hash: c.head_hash,
            broken: None,
        },
    })
}

/// Checks the chain and the sealed recordings in `recordings`. A recording whose
/// deletion by retention is recorded after its newest seal (`recording_deleted`) is no
/// longer expected; one missing without such an entry is reported.
pub async fn verify(
    db: &Db,
    key: &AuditKey,
    recordings: &Path,
) -> Result<AuditVerification, sqlx::Error> {
    let c = match check_chain(db, key).await? {
        Err(broken) => return Ok(broken),
        Ok(c) => c,
    };
    for (id, (seq, s)) in c.seals {
        if c.deleted.get(&id).is_some_and(|deleted| *deleted > seq) {
            continue;
        }
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
            return Ok(AuditVerification {
                ok: false,
                entries: c.entries,
                head_seq: c.head_seq,
                head_hash: c.head_hash,
                broken: Some(b),
            });
        }
    }
    Ok(AuditVerification {
        ok: true,
        entries: c.entries,
        head_seq: c.head_seq,
        head_hash: c.head_hash,
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
