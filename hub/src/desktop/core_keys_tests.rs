//! The desktop core's keystroke log: keys read at the relay, in the session's layout.

use super::*;

fn labelled(scancode: u8, down: bool, text: &str) -> InputEvent {
    InputEvent::Key {
        scancode,
        extended: false,
        down,
        key_text: Some(text.into()),
    }
}

/// The browser labels the scancodes of `ls` as `rm -rf /`: the log, the recording and the
/// observers get the relay's reading (`l`, `s`), with the browser's claim flagged beside it.
#[test]
fn a_forged_key_text_is_logged_as_the_scancodes_read_and_flagged() {
    let (mut d, log) = live();
    let mut observer = d.attach(Participant::Observer).expect("live");
    let _user = d.attach(Participant::User).expect("live");
    drain(&mut observer);
    let events = [0x26, 0x1f, 0x1c]
        .into_iter()
        .flat_map(|sc| {
            [
                labelled(sc, true, "rm -rf /"),
                labelled(sc, false, "rm -rf /"),
            ]
        })
        .collect();
    let cmds = d.client_msg(
        Participant::User,
        ClientMsg::Control(ClientControl::Input { events }),
        ms(10),
    );
    assert_eq!(sends(&cmds), 1, "the scancodes still go upstream");
    let logged = log.keys.lock().expect("lock").clone();
    let keys: Vec<&str> = logged.iter().map(|k| k.key.as_str()).collect();
    assert_eq!(keys, ["l", "l", "s", "s", "Enter", "Enter"]);
    assert!(logged
        .iter()
        .all(|k| k.browser_text.as_deref() == Some("rm -rf /")));
    assert_eq!(logged[0].raw, "26 down");
    let seen: Vec<Keystroke> = drain(&mut observer)
        .into_iter()
        .filter_map(|m| match m {
            ServerMsg::Control(ServerControl::Keystroke { keystroke }) => Some(keystroke),
            _ => None,
        })
        .collect();
    assert_eq!(seen, logged);
}

/// The session's layout decides the reading: on a German session the key a US browser
/// calls `y` types `z`, and the disagreement is flagged.
#[test]
fn keys_are_read_in_the_session_layout() {
    let (mut d, log) = live_in(KeyboardLayout::DeDe);
    let _user = d.attach(Participant::User).expect("live");
    let events = vec![labelled(0x15, true, "y"), labelled(0x2c, true, "y")];
    d.client_msg(
        Participant::User,
        ClientMsg::Control(ClientControl::Input { events }),
        ms(10),
    );
    let logged = log.keys.lock().expect("lock").clone();
    assert_eq!(logged[0].key, "z");
    assert_eq!(logged[0].browser_text.as_deref(), Some("y"));
    assert_eq!(logged[1].key, "y");
    assert_eq!(logged[1].browser_text, None);
}
