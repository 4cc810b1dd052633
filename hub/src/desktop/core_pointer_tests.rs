//! The desktop core and where the user points: what observers, the recording, the user
//! and late joiners see of it.

use super::*;

#[test]
fn observers_and_the_recording_see_where_the_user_points_and_the_user_does_not() {
    let (mut d, log) = live();
    let mut user = d.attach(Participant::User).expect("live");
    let mut observer = d.attach(Participant::Observer).expect("live");
    drain(&mut user);
    drain(&mut observer);

    let cmds = d.client_msg(Participant::User, mouse(40, 30), ms(100));
    assert_eq!(sends(&cmds), 1, "the move goes upstream");
    assert_eq!(drain(&mut observer), [position(40, 30)]);
    assert!(
        drain(&mut user).is_empty(),
        "the user's browser has its own cursor"
    );
    let expected = vigil_rdp::pointer::position_pdu(40, 30).expect("encode");
    assert_eq!(recorded_graphics(&log), [expected]);

    // Coordinates are clamped to the desktop, as sent upstream.
    d.client_msg(Participant::User, mouse(5000, 10), ms(200));
    assert_eq!(drain(&mut observer), [position(127, 10)]);

    // Observers' moves go nowhere.
    assert!(d
        .client_msg(Participant::Observer, mouse(1, 1), ms(300))
        .is_empty());
    assert!(drain(&mut observer).is_empty());

    // A late joiner's snapshot ends with the last position.
    let mut late = d.attach(Participant::Observer).expect("live");
    let got = drain(&mut late);
    let Some(ServerMsg::DesktopSnapshot(z)) = got.get(1) else {
        panic!("no snapshot: {got:?}");
    };
    let last = vigil_rdp::pointer::position_pdu(127, 10).expect("encode");
    assert!(unzip(z).ends_with(&last));
}

#[test]
fn a_burst_of_moves_is_paced_and_its_last_position_is_shown() {
    let (mut d, log) = live();
    let mut observer = d.attach(Participant::Observer).expect("live");
    let _user = d.attach(Participant::User).expect("live");
    drain(&mut observer);
    for (i, t) in [100u64, 105, 110, 115, 120].into_iter().enumerate() {
        let x = u16::try_from(i).expect("small") * 10;
        d.client_msg(Participant::User, mouse(x, 5), ms(t));
    }
    assert_eq!(drain(&mut observer), [position(0, 5)], "the first at once");
    assert_eq!(d.pointer_due(), Some(ms(130)));
    d.show_pointer(ms(125), false);
    assert!(drain(&mut observer).is_empty(), "not before the interval");
    d.show_pointer(ms(130), false);
    assert_eq!(drain(&mut observer), [position(40, 5)], "the last one wins");
    assert_eq!(d.pointer_due(), None);
    // The tick sends a pending one too.
    d.client_msg(Participant::User, mouse(50, 6), ms(140));
    d.tick(ms(400));
    assert_eq!(drain(&mut observer), [position(50, 6)]);
    assert_eq!(recorded_graphics(&log).len(), 3);
}

#[test]
fn positions_wait_for_the_end_of_a_fragmented_update() {
    let (mut d, _log) = live();
    let mut observer = d.attach(Participant::Observer).expect("live");
    let mut user = d.attach(Participant::User).expect("live");
    drain(&mut observer);
    drain(&mut user);
    let first = fast_path(0x01, 2, &[0u8; 16]);
    let last = fast_path(0x01, 1, &[0u8; 16]);
    d.graphics(&first, None, ms(10));
    d.client_msg(Participant::User, mouse(9, 9), ms(20));
    assert_eq!(d.pointer_due(), None, "no timer while inside the update");
    d.tick(ms(100));
    assert_eq!(drain(&mut observer).len(), 1, "only the first fragment");
    d.graphics(&last, None, ms(110));
    let got = drain(&mut observer);
    assert_eq!(
        got,
        [
            ServerMsg::Graphics {
                frame_end: None,
                pdu: last.clone()
            },
            position(9, 9)
        ]
    );
    assert_eq!(
        drain(&mut user).len(),
        2,
        "the user gets the fragments only"
    );
}

#[test]
fn no_positions_while_locked() {
    let (mut d, log) = live();
    let mut observer = d.attach(Participant::Observer).expect("live");
    let _user = d.attach(Participant::User).expect("live");
    d.client_msg(Participant::User, mouse(1, 1), ms(10));
    d.client_msg(Participant::User, mouse(2, 2), ms(15));
    drain(&mut observer);
    // The move accepted before the lock is shown at the lock, then nothing.
    d.set_locked(true, ms(20));
    let got = drain(&mut observer);
    assert!(got.contains(&position(2, 2)), "{got:?}");
    d.client_msg(Participant::User, mouse(3, 3), ms(100));
    d.tick(ms(200));
    assert!(
        !drain(&mut observer)
            .iter()
            .any(|m| matches!(m, ServerMsg::Graphics { .. })),
        "nothing injected while locked"
    );
    assert_eq!(recorded_graphics(&log).len(), 2);
    d.set_locked(false, ms(300));
    d.client_msg(Participant::User, mouse(4, 4), ms(310));
    assert!(drain(&mut observer).contains(&position(4, 4)));
}
