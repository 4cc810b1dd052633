//! The player: `Role::Watch`.

use super::*;

#[test]
fn the_watcher_follows_the_target_s_size_and_writes_nothing_of_its_own() {
    let mut s = StreamState::new(Role::Watch, Some(session(Protocol::Ssh)));
    assert_eq!(s.status, StreamStatus::Connecting);
    let fx = run(
        &mut s,
        [
            Input::Opening,
            Input::Opened,
            welcome(Participant::Observer, session(Protocol::Ssh)).into(),
        ],
    );
    assert_eq!(fx[1..], [Effect::Resize { cols: 80, rows: 24 }]);
    s.apply(ServerMsg::Snapshot(b"$ ".to_vec()));
    assert_eq!((s.status, s.note()), (StreamStatus::Connected, None));
    assert_eq!(
        s.apply(ServerControl::Resized {
            cols: 120,
            rows: 40
        }),
        [Effect::Resize {
            cols: 120,
            rows: 40
        }]
    );
    assert_eq!(s.apply(ServerControl::Connected), []);
    assert_eq!(
        s.apply(ServerControl::Keystroke {
            keystroke: keystroke(0)
        }),
        [Effect::Keystroke(keystroke(0))]
    );
    assert_eq!(
        s.apply(ServerControl::Locked {
            message: SSH_LOCK_MESSAGE.into()
        }),
        []
    );
    assert_eq!(s.status, StreamStatus::Locked);
    assert!(s.session.as_ref().is_some_and(|s| s.locked));
    assert_eq!(s.apply(ServerControl::Unlocked), []);
    assert_eq!(s.status, StreamStatus::Connected);
    assert_eq!(
        s.apply(ServerControl::Error {
            code: ErrorCode::TargetError,
            message: "oops".into()
        }),
        []
    );
    assert_eq!(
        s.error.as_deref(),
        Some("oops (target_error). Connect again; if it keeps failing, ask an administrator to check the asset.")
    );
    // The end is written for everyone.
    let fx = s.apply(ServerControl::Ended {
        reason: EndReason::plain("closed"),
    });
    assert_eq!(fx[0], Effect::Notice(Notice::Ended("closed".into())));
}

#[test]
fn the_watcher_starts_from_the_session_it_loaded() {
    let mut locked = session(Protocol::Rdp);
    locked.locked = true;
    let mut s = StreamState::new(Role::Watch, Some(locked.clone()));
    assert!(s.desktop);
    assert_eq!(s.lock.as_deref(), Some(RDP_LOCK_MESSAGE));
    assert_eq!(s.status, StreamStatus::Connecting);
    // Its first picture shows it locked.
    s.apply(ServerControl::DesktopActivated { params: params() });
    assert_eq!(s.status, StreamStatus::Locked);

    let mut over = session(Protocol::Ssh);
    over.ended_at = Some(2_000);
    let s = StreamState::new(Role::Watch, Some(over.clone()));
    assert_eq!(s.status, StreamStatus::Ended);
    assert_eq!(s.ended.as_deref(), Some("closed"));
    assert!(s.finished());
    assert_eq!(s.session, Some(over));
}

#[test]
fn a_control_s_answer_locks_unlocks_and_ends_the_watched_session() {
    let mut s = StreamState::new(Role::Watch, Some(session(Protocol::Ssh)));
    run(
        &mut s,
        [
            Input::Opening,
            welcome(Participant::Observer, session(Protocol::Ssh)).into(),
            ServerMsg::Snapshot(vec![]).into(),
        ],
    );
    let mut locked = session(Protocol::Ssh);
    locked.locked = true;
    assert_eq!(s.apply(Input::Refreshed(locked.clone())), []);
    assert_eq!(s.status, StreamStatus::Locked);
    assert_eq!(s.lock.as_deref(), Some(lock_message(Protocol::Ssh)));
    // The relay's own message, once heard, is kept.
    s.apply(ServerControl::Locked {
        message: "held".into(),
    });
    s.apply(Input::Refreshed(locked));
    assert_eq!(s.lock.as_deref(), Some("held"));

    s.apply(Input::Refreshed(session(Protocol::Ssh)));
    assert_eq!((s.status, s.lock.clone()), (StreamStatus::Connected, None));

    let mut over = session(Protocol::Ssh);
    over.ended_at = Some(3_000);
    assert_eq!(s.apply(Input::Refreshed(over.clone())), [Effect::ReadOnly]);
    assert_eq!(s.ended.as_deref(), Some("terminated"));
    over.end_reason = Some(EndReason::plain("terminated by carol"));
    let mut s = StreamState::new(Role::Watch, Some(session(Protocol::Ssh)));
    s.apply(Input::Refreshed(over));
    assert_eq!(s.ended.as_deref(), Some("terminated by carol"));
    assert_eq!(s.status, StreamStatus::Ended);

    // A stopped stream keeps its status: only the session changes.
    let mut s = connected(Participant::Observer, Protocol::Ssh);
    s.apply(Input::Closed(LOST));
    s.apply(Input::Checked(LOST, Check::Failed("x".into())));
    let mut locked = session(Protocol::Ssh);
    locked.locked = true;
    s.apply(Input::Refreshed(locked));
    assert_eq!(s.status, StreamStatus::Disconnected);
}
