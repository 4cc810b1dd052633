use ironrdp_core::decode;
use ironrdp_pdu::input::fast_path::{FastPathInput, FastPathInputEvent};
use ironrdp_pdu::rdp::capability_sets::InputFlags;

use super::*;
use crate::KeyboardLayout;

fn params(flags: InputFlags) -> SessionParams {
    SessionParams {
        io_channel_id: 1003,
        user_channel_id: 1002,
        share_id: 0x103ea,
        width: 1024,
        height: 768,
        input_flags: flags.bits(),
    }
}

fn fast() -> InputGate {
    InputGate::new(
        &params(InputFlags::SCANCODES | InputFlags::FASTPATH_INPUT),
        KeyMap::new(KeyboardLayout::EnUs),
    )
}

fn key(scancode: u8, down: bool, text: &str) -> InputEvent {
    InputEvent::Key {
        scancode,
        extended: false,
        down,
        key_text: Some(text.into()),
    }
}

fn events_of(pdu: &[u8]) -> Vec<FastPathInputEvent> {
    decode::<FastPathInput>(pdu)
        .expect("a fast-path input PDU")
        .input_events()
        .to_vec()
}

#[test]
fn keys_become_fast_path_events_and_are_logged() {
    let mut gate = fast();
    let out = gate
        .handle(&[key(0x23, true, "h"), key(0x23, false, "h")])
        .expect("ok");
    assert_eq!(out.to_server.len(), 1);
    assert_eq!(events_of(&out.to_server[0]).len(), 2);
    assert_eq!(out.keystrokes.len(), 2);
    assert_eq!(out.keystrokes[0].key, "h");
    assert_eq!(out.keystrokes[0].browser_text, None);
    assert!(out.keystrokes[0].down && !out.keystrokes[1].down);
}

#[test]
fn at_most_fifteen_events_per_pdu() {
    let mut gate = fast();
    let events: Vec<InputEvent> = (1..=20u16)
        .map(|i| InputEvent::MouseMove { x: i, y: i })
        .collect();
    let out = gate.handle(&events).expect("ok");
    assert_eq!(out.to_server.len(), 2);
    assert_eq!(events_of(&out.to_server[0]).len(), 15);
    assert_eq!(events_of(&out.to_server[1]).len(), 5);
}

#[test]
fn locked_input_produces_nothing_upstream() {
    let mut gate = fast();
    // Hold a key and a button, then lock.
    let held = gate
        .handle(&[
            key(0x2a, true, "Shift"),
            InputEvent::MouseButton {
                button: 0,
                down: true,
            },
        ])
        .expect("ok");
    assert_eq!(held.to_server.len(), 1);

    let releases = gate.lock().expect("ok");
    let released: usize = releases.iter().map(|p| events_of(p).len()).sum();
    assert_eq!(released, 2, "shift up and left button up");
    assert!(gate.is_locked());

    let out = gate
        .handle(&[
            key(0x23, true, "h"),
            key(0x23, false, "h"),
            InputEvent::MouseMove { x: 5, y: 5 },
            InputEvent::Wheel {
                delta: 120,
                horizontal: false,
            },
        ])
        .expect("ok");
    assert!(out.to_server.is_empty());
    assert!(out.keystrokes.is_empty());
    assert_eq!(out.dropped, 4);
    // A second lock has nothing left to release.
    assert!(gate.lock().expect("ok").is_empty());

    gate.unlock();
    let out = gate.handle(&[key(0x23, true, "h")]).expect("ok");
    assert_eq!(out.to_server.len(), 1);
}

#[test]
fn slow_path_when_the_server_has_no_fast_path_input() {
    let mut gate = InputGate::new(
        &params(InputFlags::SCANCODES),
        KeyMap::new(KeyboardLayout::EnUs),
    );
    let out = gate.handle(&[key(0x23, true, "h")]).expect("ok");
    assert_eq!(out.to_server.len(), 1);
    assert_eq!(out.to_server[0][0], 0x03, "TPKT: an X.224 slow-path PDU");
}

#[test]
fn invalid_events_are_dropped() {
    let mut gate = fast();
    let out = gate
        .handle(&[
            InputEvent::MouseButton {
                button: 9,
                down: true,
            },
            // No TS_MOUSE_HWHEEL in the flags.
            InputEvent::Wheel {
                delta: 120,
                horizontal: true,
            },
        ])
        .expect("ok");
    assert_eq!(out.dropped, 2);
    assert!(out.to_server.is_empty());
}

#[test]
fn events_have_a_stable_json_form() {
    let json = serde_json::to_string(&key(0x1c, true, "Enter")).expect("json");
    assert_eq!(
        json,
        r#"{"type":"key","scancode":28,"extended":false,"down":true,"key_text":"Enter"}"#
    );
    let back: InputEvent =
        serde_json::from_str(r#"{"type":"mouse_move","x":3,"y":4}"#).expect("parse");
    assert_eq!(back, InputEvent::MouseMove { x: 3, y: 4 });
}

#[test]
fn release_all_event_releases_what_is_held() {
    let mut gate = fast();
    gate.handle(&[key(0x1e, true, "a")]).expect("ok");
    let out = gate.handle(&[InputEvent::ReleaseAll]).expect("ok");
    assert_eq!(out.to_server.len(), 1);
    assert_eq!(events_of(&out.to_server[0]).len(), 1);
    assert!(out.keystrokes.is_empty());
    // Nothing is held any more: a second one sends nothing.
    let again = gate.handle(&[InputEvent::ReleaseAll]).expect("ok");
    assert!(again.to_server.is_empty());
}

#[test]
fn the_last_accepted_mouse_move_is_reported() {
    let mut gate = fast();
    let out = gate
        .handle(&[
            InputEvent::MouseMove { x: 10, y: 20 },
            key(0x1e, true, "a"),
            InputEvent::MouseMove { x: 5000, y: 30 },
        ])
        .expect("ok");
    assert_eq!(out.moved_to, Some((1023, 30)), "clamped to the desktop");
    // The same spot again sends nothing, so it is not reported either.
    let out = gate
        .handle(&[InputEvent::MouseMove { x: 1023, y: 30 }])
        .expect("ok");
    assert_eq!(out.moved_to, None);
    let _ = gate.lock().expect("lock");
    let out = gate
        .handle(&[InputEvent::MouseMove { x: 1, y: 1 }])
        .expect("ok");
    assert_eq!(out.moved_to, None, "nothing while locked");
}

/// A browser may label any scancode with any text; the log reads the scancodes.
#[test]
fn a_forged_key_text_is_logged_as_what_the_keys_type_and_flagged() {
    let mut gate = fast();
    // The scancodes of `ls`, each labelled `rm -rf /`.
    let events: Vec<InputEvent> = [0x26, 0x1f]
        .into_iter()
        .flat_map(|sc| [key(sc, true, "rm -rf /"), key(sc, false, "rm -rf /")])
        .collect();
    let out = gate.handle(&events).expect("ok");
    let keys: Vec<&str> = out.keystrokes.iter().map(|k| k.key.as_str()).collect();
    assert_eq!(keys, ["l", "l", "s", "s"]);
    assert!(out
        .keystrokes
        .iter()
        .all(|k| k.browser_text.as_deref() == Some("rm -rf /")));
    // An honest label is not flagged; a missing one neither.
    let out = gate
        .handle(&[
            key(0x26, true, "l"),
            InputEvent::Key {
                scancode: 0x26,
                extended: false,
                down: false,
                key_text: None,
            },
        ])
        .expect("ok");
    assert!(out.keystrokes.iter().all(|k| k.browser_text.is_none()));
    // A long label is kept bounded.
    let long = "x".repeat(1000);
    let out = gate.handle(&[key(0x26, true, &long)]).expect("ok");
    let flagged = out.keystrokes[0].browser_text.clone().unwrap_or_default();
    assert_eq!(flagged.chars().count(), 33);
    assert!(flagged.ends_with('…'));
}

#[test]
fn the_gate_reads_keys_in_the_session_layout_and_forgets_held_keys_on_release() {
    let mut gate = InputGate::new(
        &params(InputFlags::SCANCODES | InputFlags::FASTPATH_INPUT),
        KeyMap::new(KeyboardLayout::DeDe),
    );
    let out = gate
        .handle(&[key(0x2a, true, "Shift"), key(0x15, true, "Z")])
        .expect("ok");
    assert_eq!(out.keystrokes[1].key, "Z");
    // Focus lost: Shift is released on the target, so the next key is unshifted.
    let out = gate
        .handle(&[InputEvent::ReleaseAll, key(0x15, true, "z")])
        .expect("ok");
    assert_eq!(out.keystrokes.len(), 1);
    assert_eq!(out.keystrokes[0].key, "z");
    assert_eq!(out.keystrokes[0].browser_text, None);
    // The same after a lock.
    gate.handle(&[key(0x2a, true, "Shift")]).expect("ok");
    gate.lock().expect("ok");
    gate.unlock();
    let out = gate.handle(&[key(0x2c, true, "y")]).expect("ok");
    assert_eq!(out.keystrokes[0].key, "y");
}
