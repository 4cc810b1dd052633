//! The terminal core and the user's pastes: released to the target in small pieces, each
//! asked for before it is written, so a lock or a terminate stops the rest.

use vigil_wire::live::ClientMsg;

use super::tests::{live_session, logged, ms, Log};
use super::{TargetCmd, INPUT_CHUNK};
use crate::common::SessionCore;
use crate::recording::CastEvent;

fn chunk(cmd: Option<TargetCmd>) -> Vec<u8> {
    match cmd {
        Some(TargetCmd::Data(bytes)) => {
            assert!(
                !bytes.is_empty() && bytes.len() <= INPUT_CHUNK,
                "a chunk of {} bytes",
                bytes.len()
            );
            bytes
        }
        other => panic!("expected a chunk of input, got {other:?}"),
    }
}

fn recorded_input(log: &Log) -> Vec<u8> {
    log.cast()
        .into_iter()
        .filter_map(|e| match e {
            CastEvent::Input(s) => Some(s.into_bytes()),
            _ => None,
        })
        .flatten()
        .collect()
}

#[test]
fn a_paste_is_released_in_small_chunks_and_a_lock_stops_the_rest() {
    let (mut s, log, _) = live_session(8);
    let paste: Vec<u8> = (0..1usize << 20).map(|i| b'a' + (i % 26) as u8).collect();
    let first = s.user_msg(ClientMsg::Input(paste.clone()), ms(1));
    assert_eq!(first.len(), 1, "one chunk at a time");
    let mut sent = chunk(first.into_iter().next());
    for _ in 0..3 {
        sent.extend(chunk(s.next_input(ms(2))));
    }
    assert_eq!(sent, paste[..sent.len()], "in order, nothing skipped");
    assert!(sent.len() < paste.len());

    s.set_locked(true, ms(3));
    assert_eq!(s.next_input(ms(4)), None, "no chunk after the lock");
    s.set_locked(false, ms(5));
    assert_eq!(
        s.next_input(ms(6)),
        None,
        "the rest of the paste is dropped, not held for the unlock"
    );
    // Only what reached the target is logged and recorded.
    assert_eq!(logged(&s), sent.len());
    assert_eq!(recorded_input(&log), sent);
}

#[test]
fn a_paste_is_cut_between_keys_and_released_whole_while_unlocked() {
    let (mut s, log, _) = live_session(8);
    let mut paste = vec![b'x'; INPUT_CHUNK - 1];
    paste.extend_from_slice(b"\x1b[A");
    paste.extend(std::iter::repeat_n(b'y', 3 * INPUT_CHUNK));
    let mut chunks = vec![chunk(
        s.user_msg(ClientMsg::Input(paste.clone()), ms(1))
            .into_iter()
            .next(),
    )];
    while let Some(cmd) = s.next_input(ms(2)) {
        chunks.push(chunk(Some(cmd)));
    }
    assert_eq!(chunks[0].len(), INPUT_CHUNK - 1, "the escape is not split");
    assert!(chunks[1].starts_with(b"\x1b[A"));
    assert_eq!(chunks.concat(), paste);
    assert_eq!(recorded_input(&log), paste);
    // Every byte a key, but the escape one key: the log counts one fewer than a byte
    // each (the tail held in memory is bounded, so count by `seq`).
    assert_eq!(logged(&s), paste.len() - 2);
}

#[test]
fn a_paste_stops_at_terminate() {
    let (mut s, _, _) = live_session(8);
    let first = s.user_msg(ClientMsg::Input(vec![b'z'; 4 * INPUT_CHUNK]), ms(1));
    assert_eq!(first.len(), 1);
    s.terminate("admin", ms(2));
    assert_eq!(s.next_input(ms(3)), None);
    assert_eq!(logged(&s), INPUT_CHUNK);
}
