//! The session core without sockets: lock gating, lag policy, recording order.

use std::sync::{Arc, Mutex};

use vigil_wire::api::Keystroke;
use vigil_wire::end::{EndReason, ErrorCode};

use crate::Lifecycle;

use super::*;

#[derive(Default, Clone)]
pub(super) struct Log {
    cast: Arc<Mutex<Vec<(Duration, CastEvent)>>>,
    keys: Arc<Mutex<Vec<Keystroke>>>,
}

impl Recorder for Log {
    fn event(&mut self, at: Duration, event: &CastEvent) -> std::io::Result<()> {
        self.cast.lock().expect("lock").push((at, event.clone()));
        Ok(())
    }
    fn keystroke(&mut self, keystroke: &Keystroke) -> std::io::Result<()> {
        self.keys.lock().expect("lock").push(keystroke.clone());
        Ok(())
    }
}

impl Log {
    pub(super) fn cast(&self) -> Vec<CastEvent> {
        self.cast
            .lock()
            .expect("lock")
            .iter()
            .map(|(_, e)| e.clone())
            .collect()
    }
}

pub(super) fn ms(v: u64) -> Duration {
    Duration::from_millis(v)
}

pub(super) fn live_session(queue: usize) -> (Terminal, Log, broadcast::Receiver<HubEvent>) {
    let log = Log::default();
    let (events, events_rx) = broadcast::channel(64);
    let mut s = Terminal::new(TerminalParams {
        id: "s1".into(),
        cols: 20,
        rows: 4,
        viewer_queue: queue,
        thumbnail_interval: ms(1000),
        recorder: Box::new(log.clone()),
        events,
    });
    s.connected(Some("ssh-ed25519 AAAA".into()));
    (s, log, events_rx)
}

fn drain(rx: &mut mpsc::Receiver<ServerMsg>) -> Vec<ServerMsg> {
    let mut out = Vec::new();
    while let Ok(m) = rx.try_recv() {
        out.push(m);
    }
    out
}

fn input(bytes: &[u8]) -> ClientMsg {
    ClientMsg::Input(bytes.to_vec())
}

fn resize(cols: u16, rows: u16) -> ClientMsg {
    ClientMsg::Control(ClientControl::Resize { cols, rows })
}

#[test]
fn connecting_reports_learned_key_then_connected() {
    let (mut s, _, _) = live_session(8);
    assert_eq!(
        s.take_lifecycle(),
        [
            Lifecycle::HostKeyLearned {
                id: "s1".into(),
                host_key: "ssh-ed25519 AAAA".into()
            },
            Lifecycle::Connected { id: "s1".into() },
        ]
    );
}

#[test]
fn lock_gates_input_and_resize_and_unlock_applies_the_last_size() {
    let (mut s, log, _) = live_session(8);
    let mut user = s.attach(Participant::User).expect("live");
    assert_eq!(
        s.user_msg(input(b"a"), ms(1)),
        [TargetCmd::Data(b"a".to_vec())]
    );

    s.set_locked(true, ms(2));
    assert!(s.is_locked());
    assert_eq!(s.user_msg(input(b"touch /tmp/x\r"), ms(3)), []);
    assert_eq!(s.user_msg(resize(100, 30), ms(4)), []);
    assert_eq!(s.size(), (20, 4), "the target keeps its size while locked");
    // Output keeps flowing while locked.
    s.target_output(b"still here", ms(5));

    s.set_locked(false, ms(6));
    assert_eq!(
        s.take_deferred(),
        [TargetCmd::WindowChange {
            cols: 100,
            rows: 30
        }]
    );
    assert_eq!(
        s.user_msg(input(b"b"), ms(7)),
        [TargetCmd::Data(b"b".to_vec())]
    );

    let msgs = drain(&mut user);
    let controls: Vec<_> = msgs
        .iter()
        .filter_map(|m| match m {
            ServerMsg::Control(c) => Some(c.clone()),
            _ => None,
        })
        .collect();
    assert_eq!(
        controls,
        [
            ServerControl::Locked {
                message: SSH_LOCK_MESSAGE.into()
            },
            ServerControl::Unlocked,
            ServerControl::Resized {
                cols: 100,
                rows: 30
            },
        ]
    );
    assert!(msgs.contains(&ServerMsg::Output(b"still here".to_vec())));
    assert_eq!(
        log.cast(),
        [
            CastEvent::Input("a".into()),
            CastEvent::Marker("lock".into()),
            CastEvent::Output("still here".into()),
            CastEvent::Marker("unlock".into()),
            CastEvent::Resize {
                cols: 100,
                rows: 30
            },
            CastEvent::Input("b".into()),
        ]
    );
    let lifecycle = s.take_lifecycle();
    assert!(lifecycle.ends_with(&[
        Lifecycle::Locked { id: "s1".into() },
        Lifecycle::Unlocked { id: "s1".into() }
    ]));
}

#[test]
fn late_joiner_gets_snapshot_then_locked() {
    let (mut s, _, _) = live_session(8);
    s.target_output(b"$ ls\r\nfile\r\n$ ", ms(1));
    s.set_locked(true, ms(2));
    let mut observer = s.attach(Participant::Observer).expect("live");
    let msgs = drain(&mut observer);
    assert_eq!(msgs.len(), 2);
    let ServerMsg::Snapshot(snapshot) = &msgs[0] else {
        panic!("snapshot first: {msgs:?}")
    };
    let mut replay = TerminalScreen::new(20, 4);
    replay.process(snapshot);
    assert_eq!(replay.text_rows(), ["$ ls", "file", "$", ""]);
    assert_eq!(
        msgs[1],
        ServerMsg::Control(ServerControl::Locked {
            message: SSH_LOCK_MESSAGE.into()
        })
    );
}

#[test]
fn lagging_observer_is_resynchronised_and_never_slows_the_user() {
    let (mut s, log, _) = live_session(4);
    let mut user = s.attach(Participant::User).expect("live");
    let mut slow = s.attach(Participant::Observer).expect("live");
    drain(&mut user);
    drain(&mut slow);
    for i in 0..20 {
        s.target_output(format!("line {i}\r\n").as_bytes(), ms(i));
        // The user reads promptly and gets every chunk.
        assert_eq!(
            drain(&mut user),
            [ServerMsg::Output(format!("line {i}\r\n").into_bytes())]
        );
    }
    // The recorder got everything, the slow observer only its queue's worth.
    assert_eq!(log.cast().len(), 20);
    let seen = drain(&mut slow);
    assert_eq!(seen.len(), 4, "{seen:?}");
    assert!(seen.iter().all(|m| matches!(m, ServerMsg::Output(_))));

    // With room again, the next output becomes a snapshot instead.
    s.target_output(b"after", ms(30));
    let resumed = drain(&mut slow);
    assert_eq!(resumed.len(), 1);
    let ServerMsg::Snapshot(snapshot) = &resumed[0] else {
        panic!("{resumed:?}")
    };
    let mut replay = TerminalScreen::new(20, 4);
    replay.process(snapshot);
    assert_eq!(
        replay.text_rows(),
        ["line 17", "line 18", "line 19", "after"]
    );
    // Then live again.
    s.target_output(b"!", ms(31));
    assert_eq!(drain(&mut slow), [ServerMsg::Output(b"!".to_vec())]);
}

#[test]
fn lagging_viewer_still_gets_control_messages_and_resyncs_on_tick() {
    let (mut s, _, _) = live_session(2);
    let mut slow = s.attach(Participant::Observer).expect("live");
    drain(&mut slow);
    for i in 0..5 {
        s.target_output(b"x", ms(i));
    }
    s.set_locked(true, ms(6));
    let got = drain(&mut slow);
    assert_eq!(
        got.len(),
        3,
        "2 outputs then Locked from the reserve: {got:?}"
    );
    assert!(matches!(
        got[2],
        ServerMsg::Control(ServerControl::Locked { .. })
    ));
    // Quiet session: the tick resynchronises it (snapshot, then the lock state).
    s.tick(ms(7));
    let got = drain(&mut slow);
    assert!(
        matches!(
            got[..],
            [
                ServerMsg::Snapshot(_),
                ServerMsg::Control(ServerControl::Locked { .. })
            ]
        ),
        "{got:?}"
    );
}

/// How many keystrokes the session has logged (the last one's `seq` + 1).
pub(super) fn logged(s: &Terminal) -> usize {
    s.keystrokes()
        .last()
        .map_or(0, |k| usize::try_from(k.seq + 1).unwrap_or(usize::MAX))
}

#[test]
fn keystrokes_are_logged_sent_to_observers_and_broadcast() {
    let (mut s, log, mut events) = live_session(8);
    let mut user = s.attach(Participant::User).expect("live");
    let mut observer = s.attach(Participant::Observer).expect("live");
    drain(&mut user);
    drain(&mut observer);
    s.user_msg(input(b"l\x1b[A\r"), ms(1500));
    s.set_locked(true, ms(1600));
    s.user_msg(input(b"x"), ms(1700));

    let keys: Vec<_> = s
        .keystrokes()
        .iter()
        .map(|k| (k.seq, k.at_ms, k.key.as_str(), k.raw.as_str()))
        .collect();
    assert_eq!(
        keys,
        [
            (0, 1500, "l", "6c"),
            (1, 1500, "ArrowUp", "1b 5b 41"),
            (2, 1500, "Enter", "0d")
        ]
    );
    assert_eq!(
        log.keys.lock().expect("lock").as_slice(),
        s.keystrokes(),
        "input dropped while locked is not logged"
    );
    let to_observer: Vec<_> = drain(&mut observer)
        .into_iter()
        .filter_map(|m| match m {
            ServerMsg::Control(ServerControl::Keystroke { keystroke }) => Some(keystroke),
            _ => None,
        })
        .collect();
    assert_eq!(to_observer, s.keystrokes());
    assert!(drain(&mut user)
        .iter()
        .all(|m| !matches!(m, ServerMsg::Control(ServerControl::Keystroke { .. }))));
    let mut broadcast = 0;
    while let Ok(HubEvent::Keystroke { .. }) = events.try_recv() {
        broadcast += 1;
    }
    assert_eq!(broadcast, 3);
}

#[test]
fn output_split_inside_a_character_is_recorded_whole() {
    let (mut s, log, _) = live_session(8);
    let bytes = "é€".as_bytes();
    s.target_output(&bytes[..1], ms(1));
    s.target_output(&bytes[1..3], ms(2));
    s.target_output(&bytes[3..], ms(3));
    assert_eq!(
        log.cast(),
        [CastEvent::Output("é".into()), CastEvent::Output("€".into())]
    );
}

#[test]
fn thumbnails_only_when_changed_and_not_more_often_than_the_interval() {
    let (mut s, _, mut events) = live_session(8);
    s.target_output(b"one", ms(1));
    s.tick(ms(2));
    s.target_output(b" two", ms(3));
    s.tick(ms(500)); // too soon
    s.tick(ms(1002));
    s.tick(ms(2500)); // unchanged
    let mut thumbs = Vec::new();
    while let Ok(HubEvent::Thumbnail {
        thumbnail: Thumbnail::Text { rows },
        ..
    }) = events.try_recv()
    {
        thumbs.push(rows[0].clone());
    }
    assert_eq!(thumbs, ["one", "one two"]);
    assert_eq!(
        s.thumbnail(),
        Thumbnail::Text {
            rows: vec!["one two".into(), "".into(), "".into(), "".into()]
        }
    );
}

#[test]
fn terminate_tells_everyone_marks_the_record_and_stops_everything() {
    let (mut s, log, _) = live_session(8);
    let mut user = s.attach(Participant::User).expect("live");
    let mut observer = s.attach(Participant::Observer).expect("live");
    s.target_output(&"€".as_bytes()[..2], ms(1));
    s.terminate("terminated by alice", ms(2));
    let ended = ServerMsg::Control(ServerControl::Ended {
        reason: EndReason::plain("terminated by alice"),
    });
    for rx in [&mut user, &mut observer] {
        let msgs = drain(rx);
        assert_eq!(msgs.last(), Some(&ended));
        assert!(rx.is_closed() || rx.try_recv().is_err());
    }
    assert_eq!(s.user_msg(input(b"x"), ms(3)), []);
    s.target_output(b"late", ms(4));
    assert!(s.attach(Participant::Observer).is_none());
    assert_eq!(
        log.cast(),
        [
            CastEvent::Output("\u{fffd}".into()),
            CastEvent::Marker("terminate: terminated by alice".into())
        ]
    );
    assert_eq!(
        s.end_reason(),
        Some(&EndReason::plain("terminated by alice"))
    );
}

#[test]
fn failure_sends_error_then_ended() {
    let log = Log::default();
    let (events, _) = broadcast::channel(4);
    let mut s = Terminal::new(TerminalParams {
        id: "s2".into(),
        cols: 80,
        rows: 24,
        viewer_queue: 8,
        thumbnail_interval: ms(1000),
        recorder: Box::new(log),
        events,
    });
    let mut user = s
        .attach(Participant::User)
        .expect("connecting sessions accept joiners");
    s.failed(ErrorCode::AuthFailed, "refused", ms(5));
    let controls: Vec<_> = drain(&mut user)
        .into_iter()
        .filter_map(|m| match m {
            ServerMsg::Control(c) => Some(c),
            _ => None,
        })
        .collect();
    assert!(matches!(controls[0], ServerControl::Connecting { .. }));
    assert_eq!(
        controls[1..],
        [
            ServerControl::Error {
                code: ErrorCode::AuthFailed,
                message: "refused".into()
            },
            ServerControl::Ended {
                reason: EndReason::failed(ErrorCode::AuthFailed, "refused")
            },
        ]
    );
    assert!(s.is_ended());
}

#[test]
fn connect_steps_reach_the_waiting_in_order_and_a_late_joiner_gets_the_last() {
    use vigil_wire::connect::ConnectStep;
    let (events, _) = broadcast::channel(4);
    let mut s = Terminal::new(TerminalParams {
        id: "s3".into(),
        cols: 80,
        rows: 24,
        viewer_queue: 8,
        thumbnail_interval: ms(1000),
        recorder: Box::new(Log::default()),
        events,
    });
    let mut user = s
        .attach(Participant::User)
        .expect("connecting sessions accept joiners");
    let step = |s: &mut Terminal, step| s.common_mut().connect_step(step);
    assert!(step(&mut s, ConnectStep::Reached));
    assert!(step(&mut s, ConnectStep::Secured));
    // A repeat or a step back is not reported.
    assert!(!step(&mut s, ConnectStep::Secured));
    assert!(!step(&mut s, ConnectStep::Reached));
    let mut late = s
        .attach(Participant::Observer)
        .expect("connecting sessions accept joiners");
    assert!(step(&mut s, ConnectStep::Authenticated));
    assert!(step(&mut s, ConnectStep::Opened));
    s.connected(None);
    // Once live, no more steps.
    assert!(!step(&mut s, ConnectStep::Opened));
    let steps = |rx: &mut mpsc::Receiver<ServerMsg>| -> Vec<Option<ConnectStep>> {
        drain(rx)
            .into_iter()
            .filter_map(|m| match m {
                ServerMsg::Control(ServerControl::Connecting { done, .. }) => Some(done),
                _ => None,
            })
            .collect()
    };
    assert_eq!(
        steps(&mut user),
        [
            None,
            Some(ConnectStep::Reached),
            Some(ConnectStep::Secured),
            Some(ConnectStep::Authenticated),
            Some(ConnectStep::Opened),
        ]
    );
    assert_eq!(
        steps(&mut late),
        [
            Some(ConnectStep::Secured),
            Some(ConnectStep::Authenticated),
            Some(ConnectStep::Opened),
        ]
    );
}
