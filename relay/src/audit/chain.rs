//! The audit log's keyed hash chain, pure (no database, no files): the canonical encoding
//! of an entry, its hash and MAC, and the [`Verifier`] that is fed the stored entries one
//! at a time in `seq` order and names the first problem.
//!
//! An entry's `hash` is SHA-256 over a length-prefixed encoding of every field and the
//! previous entry's hash, so editing any field, or removing, inserting or reordering
//! entries, breaks the chain at a named entry. Its `mac` is HMAC-SHA256 under the audit
//! key (kept outside the data directory) over that hash, so whoever can write to the
//! database but lacks the key cannot rebuild a consistent chain after an edit.

use hmac::{Hmac, Mac};
use sha2::{Digest, Sha256};
use vigil_wire::audit::{AuditAction, AuditBreak, AuditCheckpoint, AuditProblem};

use super::key::AuditKey;

/// The tag at the front of every encoding: a later format changes it.
pub const VERSION: &str = "vigil/audit/v1";

/// The `prev_hash` of the first entry ever written.
pub const GENESIS: &str = "0000000000000000000000000000000000000000000000000000000000000000";

/// The fields an entry's hash covers.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Link<'a> {
    pub seq: i64,
    pub at: i64,
    pub actor: &'a str,
    pub action: &'a str,
    pub session_id: Option<&'a str>,
    pub source: Option<&'a str>,
    pub detail: &'a str,
    pub prev_hash: &'a str,
}

/// The canonical encoding: the version tag, then each field in a fixed order, every text
/// prefixed by its length (8 bytes, big-endian) and every optional field by a presence
/// byte, integers as 8 bytes big-endian. No choice of field values encodes like another.
pub fn encode(l: &Link<'_>) -> Vec<u8> {
    let mut out = Vec::with_capacity(128 + l.detail.len());
    text(&mut out, VERSION);
    out.extend_from_slice(&l.seq.to_be_bytes());
    out.extend_from_slice(&l.at.to_be_bytes());
    text(&mut out, l.actor);
    text(&mut out, l.action);
    optional(&mut out, l.session_id);
    optional(&mut out, l.source);
    text(&mut out, l.detail);
    text(&mut out, l.prev_hash);
    out
}

fn text(out: &mut Vec<u8>, s: &str) {
    let len = u64::try_from(s.len()).unwrap_or(u64::MAX);
    out.extend_from_slice(&len.to_be_bytes());
    out.extend_from_slice(s.as_bytes());
}

fn optional(out: &mut Vec<u8>, s: Option<&str>) {
    match s {
        None => out.push(0),
        Some(s) => {
            out.push(1);
            text(out, s);
        }
    }
}

/// SHA-256 of the canonical encoding, hex.
pub fn hash(l: &Link<'_>) -> String {
    hex::encode(Sha256::digest(encode(l)))
}

/// HMAC-SHA256 under `key` of an entry's (hex) hash, hex.
pub fn mac(key: &AuditKey, hash: &str) -> String {
    hex::encode(mac_state(key, hash).finalize().into_bytes())
}

fn mac_state(key: &AuditKey, hash: &str) -> Hmac<Sha256> {
    // HMAC takes a key of any length, so this cannot fail.
    let mut m = <Hmac<Sha256> as Mac>::new_from_slice(&key.bytes())
        .unwrap_or_else(|_| unreachable!("HMAC accepts every key length"));
    m.update(hash.as_bytes());
    m
}

/// Whether `mac` is the MAC of `hash` under `key` (compared in constant time).
pub fn mac_ok(key: &AuditKey, hash: &str, mac: &str) -> bool {
    match hex::decode(mac) {
        Ok(bytes) => mac_state(key, hash).verify_slice(&bytes).is_ok(),
        Err(_) => false,
    }
}

/// An entry as stored: its fields, and the hash and MAC written with it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Stored {
    pub seq: i64,
    pub at: i64,
    pub actor: String,
    pub action: String,
    pub session_id: Option<String>,
    pub source: Option<String>,
    pub detail: String,
    pub prev_hash: String,
    pub hash: String,
    pub mac: String,
}

impl Stored {
    pub fn link(&self) -> Link<'_> {
        Link {
            seq: self.seq,
            at: self.at,
            actor: &self.actor,
            action: &self.action,
            session_id: self.session_id.as_deref(),
            source: self.source.as_deref(),
            detail: &self.detail,
            prev_hash: &self.prev_hash,
        }
    }
}

/// What a whole, unbroken chain held.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Verified {
    pub entries: u64,
    pub last_seq: i64,
    pub last_hash: String,
}

/// Checks a chain fed entry by entry in `seq` order; the first problem ends it.
///
/// The first entry is either seq 1 after [`GENESIS`], or the first one left after
/// entries were pruned: then a checkpoint entry later in the chain (MAC-checked like any
/// other) must vouch for exactly the seq and hash before it.
pub struct Verifier<'k> {
    key: &'k AuditKey,
    entries: u64,
    last: Option<(i64, String)>,
    /// The first entry's seq and `prev_hash`, when not the genesis: a checkpoint must
    /// vouch for it before the end.
    unvouched_start: Option<(i64, String)>,
}

impl<'k> Verifier<'k> {
    pub fn new(key: &'k AuditKey) -> Verifier<'k> {
        Verifier {
            key,
            entries: 0,
            last: None,
            unvouched_start: None,
        }
    }

    /// Checks `e` against the entries before it.
    pub fn feed(&mut self, e: &Stored) -> Result<(), AuditBreak> {
        let broken = |problem: AuditProblem, detail: String| AuditBreak {
            seq: e.seq,
            problem,
            detail,
        };
        match &self.last {
            None if e.seq == 1 && e.prev_hash == GENESIS => {}
            None if e.seq > 1 => self.unvouched_start = Some((e.seq, e.prev_hash.clone())),
            None => {
                return Err(broken(
                    AuditProblem::DeletedOrReordered,
                    format!(
                        "the first entry has seq {} and does not start the chain",
                        e.seq
                    ),
                ))
            }
            Some((seq, hash)) => {
                if e.seq != seq + 1 || e.prev_hash != *hash {
                    return Err(broken(
                        AuditProblem::DeletedOrReordered,
                        format!("it follows entry {seq} but does not name it as the previous one"),
                    ));
                }
            }
        }
        if hash(&e.link()) != e.hash {
            return Err(broken(
                AuditProblem::Edited,
                "its content does not match its hash".into(),
            ));
        }
        if !mac_ok(self.key, &e.hash, &e.mac) {
            return Err(broken(
                AuditProblem::BadMac,
                "its MAC does not match the audit key".into(),
            ));
        }
        if e.action == AuditAction::AuditCheckpoint.as_str() {
            if let Ok(cp) = serde_json::from_str::<AuditCheckpoint>(&e.detail) {
                if self
                    .unvouched_start
                    .as_ref()
                    .is_some_and(|(seq, prev)| cp.last_seq + 1 == *seq && cp.last_hash == *prev)
                {
                    self.unvouched_start = None;
                }
            }
        }
        self.entries += 1;
        self.last = Some((e.seq, e.hash.clone()));
        Ok(())
    }

    /// The end of the chain, checked against the head the database records (`seq`,
    /// `hash`): entries removed from the end show here.
    pub fn finish(self, head_seq: i64, head_hash: &str) -> Result<Verified, AuditBreak> {
        if let Some((seq, _)) = self.unvouched_start {
            return Err(AuditBreak {
                seq,
                problem: AuditProblem::DeletedOrReordered,
                detail: "entries before it are missing and no checkpoint vouches for them".into(),
            });
        }
        let (last_seq, last_hash) = self.last.unwrap_or_else(|| (0, GENESIS.to_string()));
        if last_seq != head_seq || last_hash != head_hash {
            return Err(AuditBreak {
                seq: head_seq,
                problem: AuditProblem::HeadMismatch,
                detail: format!(
                    "the chain ends at entry {last_seq}, the recorded head is entry {head_seq}"
                ),
            });
        }
        Ok(Verified {
            entries: self.entries,
            last_seq,
            last_hash,
        })
    }
}

#[cfg(test)]
#[path = "chain_tests.rs"]
mod tests;
