//! The user's page: `Role::Connect`.

use super::*;

#[test]
fn the_user_s_terminal_connects_says_hello_reports_its_size_and_takes_the_focus() {
    let mut s = StreamState::new(Role::Connect, None);
    assert_eq!(s.status, StreamStatus::Connecting);
    assert_eq!(s.apply(Input::Opening), []);
    assert_eq!(s.detail.as_deref(), Some("Connecting to the relay…"));
    assert_eq!(
        s.apply(Input::Opened),
        [Effect::Send(ClientMsg::Control(ClientControl::Hello {
            version: PROTOCOL_VERSION
        }))]
    );
    assert_eq!(s.detail.as_deref(), Some("Waiting for the session…"));

    let fx = s.apply(welcome(Participant::User, session(Protocol::Ssh)));
    assert_eq!(fx, [Effect::ReportSize { cols: 80, rows: 24 }]);
    assert_eq!(s.participant, Some(Participant::User));
    assert_eq!(
        s.session.as_ref().map(|s| s.asset_name.as_str()),
        Some("web-1")
    );
    // Still waiting for the target.
    assert_eq!(s.status, StreamStatus::Connecting);
    assert!(s.sends_terminal_input() && !s.desktop);

    assert_eq!(
        s.apply(ServerControl::Connecting {
            message: "Connecting to web-1…".into(),
            done: None,
        }),
        []
    );
    assert_eq!(s.note().as_deref(), Some("Connecting to web-1…"));
    assert_eq!(
        s.apply(ServerControl::Connected),
        [Effect::Focus { desktop: false }]
    );
    assert_eq!((s.status, s.note()), (StreamStatus::Connected, None));

    assert_eq!(
        s.apply(ServerMsg::Output(b"$ ".to_vec())),
        [Effect::Write(b"$ ".to_vec())]
    );
    assert_eq!(s.status, StreamStatus::Connected);
}

#[test]
fn a_joiner_is_live_on_its_first_screen() {
    for first in [
        ServerMsg::Snapshot(b"screen".to_vec()),
        ServerMsg::Output(b"x".to_vec()),
    ] {
        let mut s = StreamState::new(Role::Connect, None);
        run(
            &mut s,
            [
                Input::Opening,
                Input::Opened,
                welcome(Participant::User, session(Protocol::Ssh)).into(),
            ],
        );
        assert_eq!(s.status, StreamStatus::Connecting);
        let fx = s.apply(first.clone());
        assert_eq!(s.status, StreamStatus::Connected, "{first:?}");
        assert_eq!(s.detail, None);
        match first {
            ServerMsg::Snapshot(b) => assert_eq!(fx, [Effect::Screen(b)]),
            ServerMsg::Output(b) => assert_eq!(fx, [Effect::Write(b)]),
            _ => unreachable!(),
        }
    }
}

#[test]
fn locked_and_unlocked_are_shown_and_written_to_the_user() {
    let mut s = connected(Participant::User, Protocol::Ssh);
    let fx = s.apply(ServerControl::Locked {
        message: SSH_LOCK_MESSAGE.into(),
    });
    assert_eq!(
        fx,
        [Effect::Notice(Notice::Locked(SSH_LOCK_MESSAGE.into()))]
    );
    assert_eq!(s.status, StreamStatus::Locked);
    assert_eq!(s.lock.as_deref(), Some(SSH_LOCK_MESSAGE));
    assert!(s.session.as_ref().is_some_and(|s| s.locked));
    // The terminal keeps sending (the relay drops the typing and keeps the last size for
    // the unlock); the desktop stops capturing.
    assert!(s.sends_terminal_input());
    assert!(!s.captures_desktop());
    // Output while locked does not unlock.
    s.apply(ServerMsg::Output(b"x".to_vec()));
    assert_eq!(s.status, StreamStatus::Locked);

    assert_eq!(
        s.apply(ServerControl::Unlocked),
        [Effect::Notice(Notice::Unlocked)]
    );
    assert_eq!((s.status, s.lock.clone()), (StreamStatus::Connected, None));
    assert!(s.session.as_ref().is_some_and(|s| !s.locked));
}

#[test]
fn a_session_locked_at_welcome_stays_locked_through_connecting_and_the_first_screen() {
    let mut locked = session(Protocol::Rdp);
    locked.locked = true;
    let mut s = StreamState::new(Role::Connect, None);
    let fx = run(
        &mut s,
        [
            Input::Opening,
            Input::Opened,
            welcome(Participant::User, locked).into(),
        ],
    );
    assert!(fx.contains(&Effect::PrepareDesktop));
    assert_eq!(s.status, StreamStatus::Locked);
    assert_eq!(s.lock.as_deref(), Some(RDP_LOCK_MESSAGE));
    s.apply(ServerControl::Connecting {
        message: "wait".into(),
        done: None,
    });
    s.apply(ServerControl::DesktopActivated { params: params() });
    s.apply(ServerMsg::DesktopSnapshot(vec![1]));
    assert_eq!(s.status, StreamStatus::Locked);
    assert!(!s.captures_desktop());
}

#[test]
fn ended_with_a_reason_stops_everything_and_later_closes_are_ignored() {
    let mut s = connected(Participant::User, Protocol::Ssh);
    s.apply(ServerControl::Locked {
        message: "locked".into(),
    });
    let reason = EndReason::failed(ErrorCode::AuthFailed, "the password was refused");
    let fx = s.apply(ServerControl::Ended {
        reason: reason.clone(),
    });
    assert_eq!(reason.to_string(), "auth_failed: the password was refused");
    let text = "auth_failed: the password was refused. Ask an administrator to check the asset's account and its credential.";
    assert_eq!(
        fx,
        [Effect::Notice(Notice::Ended(text.into())), Effect::ReadOnly]
    );
    assert_eq!(s.status, StreamStatus::Ended);
    assert_eq!(s.ended.as_deref(), Some(text));
    assert_eq!((s.lock.clone(), s.detail.clone()), (None, None));
    assert!(s.finished() && !s.can_retry);
    assert!(!s.sends_terminal_input() && !s.captures_desktop());
    let sess = s.session.clone().expect("welcomed");
    assert_eq!(sess.end_reason, Some(reason));
    assert!(!sess.locked);

    // The relay's Ended has no time: the page stamps it once.
    assert_eq!(sess.ended_at, None);
    s.stamp_end(5_000);
    s.stamp_end(9_000);
    assert_eq!(s.session.as_ref().and_then(|s| s.ended_at), Some(5_000));

    assert_eq!(s.apply(Input::Closed(LOST)), []);
    assert_eq!(s.status, StreamStatus::Ended);
}

#[test]
fn a_relay_error_is_shown_kept_after_the_close_and_may_be_retried() {
    let mut s = connected(Participant::User, Protocol::Ssh);
    let fx = s.apply(ServerControl::Error {
        code: ErrorCode::TargetUnreachable,
        message: "no route to web-1".into(),
    });
    let text = "no route to web-1 (target_unreachable). Check that the asset is running and its address is right, then connect again, or ask an administrator.";
    assert_eq!(fx, [Effect::Notice(Notice::Error(text.into()))]);
    assert_eq!(s.status, StreamStatus::Error);
    assert_eq!(s.error.as_deref(), Some(text));
    assert!(!s.can_retry);

    assert_eq!(s.apply(Input::Closed(LOST)), [Effect::Check(LOST)]);
    let still_live = session(Protocol::Ssh);
    assert_eq!(s.apply(Input::Checked(LOST, Check::Found(still_live))), []);
    assert_eq!(s.status, StreamStatus::Error);
    assert_eq!(s.error.as_deref(), Some(text));
    assert!(s.can_retry);

    // Reconnect: a fresh start.
    s.apply(Input::Opening);
    assert_eq!(
        (s.status, s.error.clone()),
        (StreamStatus::Connecting, None)
    );
    assert!(!s.can_retry);
}

#[test]
fn a_close_is_checked_with_the_relay_and_explained() {
    let lost = || connected(Participant::User, Protocol::Ssh);

    let mut s = lost();
    assert_eq!(s.apply(Input::Closed(LOST)), [Effect::Check(LOST)]);
    s.apply(Input::Checked(LOST, Check::Failed("offline".into())));
    assert_eq!(s.status, StreamStatus::Disconnected);
    assert_eq!(
        s.error.as_deref(),
        Some("The connection to the relay was lost (code 1006). Check your network connection, then press Reconnect. offline")
    );
    assert!(s.can_retry && !s.finished());

    let never = Close {
        code: 1006,
        was_open: false,
    };
    let mut s = StreamState::new(Role::Connect, None);
    s.apply(Input::Opening);
    assert_eq!(s.apply(Input::Closed(never)), [Effect::Check(never)]);
    assert_eq!(s.detail, None);
    s.apply(Input::Checked(never, Check::Found(session(Protocol::Ssh))));
    assert_eq!(
        s.error.as_deref(),
        Some("Could not open the session stream (code 1006). Press Reconnect; if it keeps failing, reload the page.")
    );

    let mut s = lost();
    s.apply(Input::Checked(LOST, Check::Unavailable));
    assert_eq!(s.status, StreamStatus::Unavailable);
    assert_eq!(s.error.as_deref(), Some(NOT_AVAILABLE));
    assert!(s.finished() && !s.can_retry);

    let mut s = lost();
    let mut over = session(Protocol::Ssh);
    over.ended_at = Some(9_000);
    over.end_reason = Some(EndReason::plain("terminated by bob"));
    assert_eq!(
        s.apply(Input::Checked(LOST, Check::Found(over.clone()))),
        [Effect::ReadOnly]
    );
    assert_eq!(s.status, StreamStatus::Ended);
    assert_eq!(s.ended.as_deref(), Some("terminated by bob"));
    assert_eq!(s.session, Some(over.clone()));

    // An end without a recorded reason reads "closed".
    let mut s = lost();
    over.end_reason = None;
    s.apply(Input::Checked(LOST, Check::Found(over)));
    assert_eq!(s.ended.as_deref(), Some("closed"));
}

#[test]
fn the_socket_or_terminal_failing_is_an_error_with_or_without_a_retry() {
    let mut s = StreamState::new(Role::Connect, None);
    s.apply(Input::Opening);
    s.apply(Input::Failed {
        message: "Cannot open the session stream: SyntaxError".into(),
        retry: true,
    });
    assert_eq!(s.status, StreamStatus::Error);
    assert!(s.can_retry && s.detail.is_none());
    s.apply(Input::Failed {
        message: "xterm.js did not load".into(),
        retry: false,
    });
    assert_eq!(s.error.as_deref(), Some("xterm.js did not load"));
    assert!(!s.can_retry);
}

#[test]
fn the_user_s_desktop_prepares_activates_draws_and_focuses_its_canvas() {
    let mut s = StreamState::new(Role::Connect, None);
    let fx = run(
        &mut s,
        [
            Input::Opening,
            Input::Opened,
            welcome(Participant::User, session(Protocol::Rdp)).into(),
        ],
    );
    // No terminal size to report for a desktop.
    assert_eq!(fx[1..], [Effect::PrepareDesktop]);
    assert!(s.desktop && !s.sends_terminal_input());
    assert_eq!(
        s.apply(ServerControl::DesktopActivated { params: params() }),
        [Effect::ActivateDesktop(params())]
    );
    assert_eq!(s.status, StreamStatus::Connected);
    assert!(s.captures_desktop());
    assert_eq!(
        s.apply(ServerMsg::Graphics {
            frame_end: Some(4),
            pdu: vec![0, 1]
        }),
        [Effect::Graphics {
            pdu: vec![0, 1],
            frame_end: Some(4)
        }]
    );
    assert_eq!(
        s.apply(ServerMsg::DesktopSnapshot(vec![9])),
        [Effect::DesktopSnapshot(vec![9])]
    );
    assert_eq!(
        s.apply(ServerControl::Connected),
        [Effect::Focus { desktop: true }]
    );
}

#[test]
fn an_observer_on_the_connect_page_is_read_only_and_told_so() {
    let s = connected(Participant::Observer, Protocol::Ssh);
    let mut fresh = StreamState::new(Role::Connect, None);
    let fx = fresh.apply(welcome(Participant::Observer, session(Protocol::Ssh)));
    assert_eq!(fx, [Effect::ReadOnly]);
    assert!(!s.is_user() && !s.sends_terminal_input() && !s.captures_desktop());
    assert_eq!(
        s.note().as_deref(),
        Some("You are watching this session (read-only).")
    );
}

#[test]
fn notices_are_coloured_lines_of_their_own() {
    assert_eq!(
        Notice::Locked("Locked.".into()).line(),
        "\r\n\x1b[1;31mLocked.\x1b[0m\r\n"
    );
    assert_eq!(
        Notice::Unlocked.line(),
        "\r\n\x1b[1;32mYour session has been unlocked.\x1b[0m\r\n"
    );
    assert_eq!(
        Notice::Ended("closed".into()).line(),
        "\r\n\x1b[1;33mSession ended: closed\x1b[0m\r\n"
    );
    assert_eq!(
        Notice::Error("no (internal)".into()).line(),
        "\r\n\x1b[1;31mError: no (internal)\x1b[0m\r\n"
    );
}

#[test]
fn the_connect_steps_advance_as_the_relay_reports_them_and_stop_where_it_failed() {
    use crate::stream::steps::StepState::{Current, Done, Failed, Pending};
    use vigil_wire::connect::ConnectStep;
    let connecting = |done| ServerControl::Connecting {
        message: "connecting to the target".into(),
        done,
    };
    let states = |s: &StreamState| -> Vec<_> {
        s.connect
            .map(|c| c.rows().into_iter().map(|(_, st)| st).collect())
            .unwrap_or_default()
    };
    let mut s = StreamState::new(Role::Connect, None);
    s.apply(welcome(Participant::User, session(Protocol::Rdp)));
    assert!(
        s.connect.is_none(),
        "no list before the relay says it connects"
    );
    s.apply(connecting(None));
    assert_eq!(states(&s), [Current, Pending, Pending, Pending]);
    s.apply(connecting(Some(ConnectStep::Reached)));
    s.apply(connecting(Some(ConnectStep::Secured)));
    assert_eq!(states(&s), [Done, Done, Current, Pending]);
    // A step reported late (a stale repeat) never takes the list back.
    s.apply(connecting(Some(ConnectStep::Reached)));
    assert_eq!(states(&s), [Done, Done, Current, Pending]);
    let labels: Vec<_> = s
        .connect
        .map(|c| c.labelled(Protocol::Rdp))
        .unwrap_or_default()
        .into_iter()
        .map(|(l, _)| l)
        .collect();
    assert_eq!(
        labels,
        [
            "Reaching the target",
            "Securing the connection (TLS)",
            "Signing in with the credentials (NLA)",
            "Desktop activated"
        ]
    );

    let mut failed = s.clone();
    failed.apply(ServerControl::Error {
        code: ErrorCode::AuthFailed,
        message: "the target refused the managed credential (NLA)".into(),
    });
    assert_eq!(states(&failed), [Done, Done, Failed, Pending]);
    assert!(failed.connect.is_some_and(|c| c.under_way()));

    s.apply(connecting(Some(ConnectStep::Authenticated)));
    s.apply(ServerControl::Connected);
    assert_eq!(states(&s), [Done, Done, Done, Done]);
    assert!(s.connect.is_some_and(|c| !c.under_way()));
}
