//! The chain's encoding and its verifier, without a database.

use super::*;

fn key() -> AuditKey {
    AuditKey::from_hex(&"11".repeat(32)).expect("key")
}

/// Seals `e` after `prev`: its prev_hash, hash and MAC.
fn seal(key: &AuditKey, mut e: Stored, prev: &str) -> Stored {
    e.prev_hash = prev.to_string();
    e.hash = hash(&e.link());
    e.mac = mac(key, &e.hash);
    e
}

fn entry(seq: i64, action: AuditAction, detail: &str) -> Stored {
    Stored {
        seq,
        at: 1_700_000_000_000 + seq,
        actor: "admin".into(),
        action: action.as_str().into(),
        session_id: Some(format!("s{seq}")),
        source: Some("127.0.0.1".into()),
        detail: detail.into(),
        prev_hash: String::new(),
        hash: String::new(),
        mac: String::new(),
    }
}

/// A chain of `n` entries from seq 1.
fn chain(key: &AuditKey, n: i64) -> Vec<Stored> {
    let mut out: Vec<Stored> = Vec::new();
    for seq in 1..=n {
        let prev = out.last().map_or(GENESIS.to_string(), |e| e.hash.clone());
        out.push(seal(key, entry(seq, AuditAction::Lock, "web-1"), &prev));
    }
    out
}

fn verify(key: &AuditKey, entries: &[Stored]) -> Result<Verified, AuditBreak> {
    let mut v = Verifier::new(key);
    for e in entries {
        v.feed(e)?;
    }
    let (seq, hash) = entries
        .last()
        .map_or((0, GENESIS.to_string()), |e| (e.seq, e.hash.clone()));
    v.finish(seq, &hash)
}

fn broken_at(r: Result<Verified, AuditBreak>) -> (i64, AuditProblem) {
    let b = r.expect_err("the chain must not verify");
    (b.seq, b.problem)
}

#[test]
fn an_intact_chain_verifies_and_an_empty_one_too() {
    let k = key();
    let c = chain(&k, 5);
    let v = verify(&k, &c).expect("verifies");
    assert_eq!((v.entries, v.last_seq), (5, 5));
    assert_eq!(v.last_hash, c[4].hash);
    assert_eq!(verify(&k, &[]).expect("empty").entries, 0);
}

#[test]
fn an_edited_entry_is_named() {
    let k = key();
    let mut c = chain(&k, 5);
    c[2].detail.push('!');
    assert_eq!(broken_at(verify(&k, &c)), (3, AuditProblem::Edited));
}

#[test]
fn an_edit_with_a_recomputed_hash_fails_its_mac() {
    let k = key();
    let mut c = chain(&k, 5);
    c[2].actor = "mallory".into();
    c[2].hash = hash(&c[2].link());
    assert_eq!(broken_at(verify(&k, &c)), (3, AuditProblem::BadMac));
}

#[test]
fn a_deleted_entry_is_named_at_the_next_one() {
    let k = key();
    let mut c = chain(&k, 5);
    c.remove(2);
    assert_eq!(
        broken_at(verify(&k, &c)),
        (4, AuditProblem::DeletedOrReordered)
    );
}

#[test]
fn reordered_entries_are_named() {
    let k = key();
    let mut c = chain(&k, 5);
    c.swap(1, 2);
    assert_eq!(
        broken_at(verify(&k, &c)),
        (3, AuditProblem::DeletedOrReordered)
    );
    // The rows' contents swapped, each keeping its seq.
    let mut c = chain(&k, 5);
    let (a, b) = (c[1].seq, c[2].seq);
    c.swap(1, 2);
    c[1].seq = a;
    c[2].seq = b;
    assert_eq!(
        broken_at(verify(&k, &c)),
        (2, AuditProblem::DeletedOrReordered)
    );
}

#[test]
fn an_inserted_entry_is_named() {
    let k = key();
    let mut c = chain(&k, 4);
    // A well-formed entry made with the key, slipped in after entry 2.
    let forged = seal(&k, entry(3, AuditAction::Unlock, "x"), &c[1].hash);
    c.insert(2, forged);
    assert_eq!(
        broken_at(verify(&k, &c)),
        (3, AuditProblem::DeletedOrReordered)
    );
}

#[test]
fn a_forged_or_foreign_key_fails_the_mac() {
    let k = key();
    let other = AuditKey::from_hex(&"22".repeat(32)).expect("key");
    let c = chain(&other, 3);
    assert_eq!(broken_at(verify(&k, &c)), (1, AuditProblem::BadMac));
    let mut c = chain(&k, 3);
    c[1].mac = "00".repeat(32);
    assert_eq!(broken_at(verify(&k, &c)), (2, AuditProblem::BadMac));
    c[1].mac = "not hex".into();
    assert_eq!(broken_at(verify(&k, &c)), (2, AuditProblem::BadMac));
}

#[test]
fn deleting_the_newest_entries_shows_against_the_head() {
    let k = key();
    let c = chain(&k, 5);
    let mut v = Verifier::new(&k);
    for e in &c[..3] {
        v.feed(e).expect("intact so far");
    }
    let b = v.finish(5, &c[4].hash).expect_err("head");
    assert_eq!((b.seq, b.problem), (5, AuditProblem::HeadMismatch));
}

/// The chain after pruning entries 1..=`through`: a checkpoint appended at the end, the
/// pruned entries gone.
fn pruned(k: &AuditKey, n: i64, through: usize) -> Vec<Stored> {
    let mut c = chain(k, n);
    let cp = AuditCheckpoint {
        first_seq: 1,
        last_seq: c[through - 1].seq,
        last_hash: c[through - 1].hash.clone(),
    };
    let detail = serde_json::to_string(&cp).expect("json");
    let last = c.last().expect("entries").hash.clone();
    c.push(seal(
        k,
        entry(n + 1, AuditAction::AuditCheckpoint, &detail),
        &last,
    ));
    c.drain(..through);
    c
}

#[test]
fn a_checkpoint_vouches_for_pruned_entries() {
    let k = key();
    let c = pruned(&k, 6, 3);
    let v = verify(&k, &c).expect("verifies after pruning");
    assert_eq!((v.entries, v.last_seq), (4, 7));
}

#[test]
fn a_removed_or_forged_checkpoint_fails() {
    let k = key();
    // Removed (the newest entry): the start is vouched for by nobody.
    let mut c = pruned(&k, 6, 3);
    c.pop();
    assert_eq!(
        broken_at(verify(&k, &c)),
        (4, AuditProblem::DeletedOrReordered)
    );
    // Forged without the key.
    let mut c = pruned(&k, 6, 3);
    let last = c.len() - 1;
    c[last].mac = "00".repeat(32);
    assert_eq!(broken_at(verify(&k, &c)), (7, AuditProblem::BadMac));
    // A checkpoint for another range does not vouch.
    let mut c = chain(&k, 6);
    let cp = AuditCheckpoint {
        first_seq: 1,
        last_seq: 1,
        last_hash: c[0].hash.clone(),
    };
    let detail = serde_json::to_string(&cp).expect("json");
    let prev = c[5].hash.clone();
    c.push(seal(
        &k,
        entry(7, AuditAction::AuditCheckpoint, &detail),
        &prev,
    ));
    c.drain(..3);
    assert_eq!(
        broken_at(verify(&k, &c)),
        (4, AuditProblem::DeletedOrReordered)
    );
}

#[test]
fn field_boundaries_cannot_shift() {
    let base = entry(1, AuditAction::Lock, "b");
    let mut a = base.clone();
    a.actor = "ab".into();
    a.action = "c".into();
    let mut b = base.clone();
    b.actor = "a".into();
    b.action = "bc".into();
    assert_ne!(encode(&a.link()), encode(&b.link()));
    // An absent field is not an empty one, and a field does not slide into its neighbour.
    let mut none = base.clone();
    none.session_id = None;
    none.source = Some("x".into());
    let mut empty = base.clone();
    empty.session_id = Some(String::new());
    empty.source = Some("x".into());
    assert_ne!(encode(&none.link()), encode(&empty.link()));
    let mut s1 = base.clone();
    s1.session_id = None;
    s1.source = Some("x".into());
    let mut s2 = base;
    s2.session_id = Some("x".into());
    s2.source = None;
    assert_ne!(hash(&s1.link()), hash(&s2.link()));
    let mut d1 = entry(1, AuditAction::Lock, "x");
    d1.prev_hash = "y".into();
    let mut d2 = entry(1, AuditAction::Lock, "xy");
    d2.prev_hash = String::new();
    assert_ne!(hash(&d1.link()), hash(&d2.link()));
}
