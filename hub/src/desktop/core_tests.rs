//! The desktop core without sockets: lock, acknowledgement policy, joins at fragment
//! boundaries, recording.

use std::sync::{Arc, Mutex};

use vigil_wire::api::Keystroke;

use vigil_rdp::Screen;

use crate::desktop::screen_copy::ScreenCopy;
use crate::Lifecycle;

use super::*;

type Records = Arc<Mutex<Vec<(Kind, u32, Vec<u8>)>>>;

#[derive(Default, Clone)]
pub(super) struct Log {
    records: Records,
    keys: Arc<Mutex<Vec<Keystroke>>>,
}

impl DesktopRecorder for Log {
    fn record(&mut self, kind: Kind, t_ms: u32, payload: &[u8]) -> std::io::Result<()> {
        self.records
            .lock()
            .expect("lock")
            .push((kind, t_ms, payload.to_vec()));
        Ok(())
    }
    fn keyframe(&mut self, t_ms: u32, params: &[u8], keyframe: &[u8]) -> std::io::Result<()> {
        self.record(Kind::Params, t_ms, params)?;
        self.record(Kind::Keyframe, t_ms, keyframe)
    }
    fn keystroke(&mut self, keystroke: &Keystroke) -> std::io::Result<()> {
        self.keys.lock().expect("lock").push(keystroke.clone());
        Ok(())
    }
}

impl Log {
    fn kinds(&self) -> Vec<Kind> {
        self.records
            .lock()
            .expect("lock")
            .iter()
            .map(|r| r.0)
            .collect()
    }
    fn markers(&self) -> Vec<String> {
        self.records
            .lock()
            .expect("lock")
            .iter()
            .filter(|r| r.0 == Kind::Marker)
            .map(|r| String::from_utf8_lossy(&r.2).into_owned())
            .collect()
    }
}

pub(super) fn ms(v: u64) -> Duration {
    Duration::from_millis(v)
}

pub(super) fn params() -> SessionParams {
    SessionParams {
        io_channel_id: 1003,
        user_channel_id: 1002,
        share_id: 0x103ea,
        width: 128,
        height: 64,
        // TS_INPUT_FLAG_SCANCODES | TS_INPUT_FLAG_FASTPATH_INPUT2
        input_flags: 0x0001 | 0x0020,
    }
}

/// A core with the screen copy its driver would keep: after each call that the driver's
/// loop follows with a turn, the screen jobs run, as the driver's `prepare` runs them.
struct Rig {
    d: Desktop,
    copy: ScreenCopy,
    at: Duration,
}

impl std::ops::Deref for Rig {
    type Target = Desktop;
    fn deref(&self) -> &Desktop {
        &self.d
    }
}

impl std::ops::DerefMut for Rig {
    fn deref_mut(&mut self) -> &mut Desktop {
        &mut self.d
    }
}

/// Whether the stream is outside a fragmented update after `pdu` (one update built by
/// [`fast_path`] or a position PDU): its fragmentation is neither First nor Next.
fn ends_at_boundary(pdu: &[u8]) -> bool {
    !matches!(pdu.get(3).map(|b| (b >> 4) & 0x03), Some(2 | 3))
}

impl Rig {
    /// Runs the screen jobs until the core has none (the driver's `catch_up_screen`).
    fn settle(&mut self) {
        while let Some(job) = self.d.take_screen_job(self.at) {
            let work = self.copy.run(job);
            self.d.screen_done(work, self.at);
        }
    }

    fn graphics(&mut self, pdu: &[u8], frame_end: Option<u32>, at: Duration) {
        self.at = at;
        let boundary = ends_at_boundary(pdu);
        self.d
            .graphics(Bytes::copy_from_slice(pdu), frame_end, boundary, at);
        self.settle();
    }

    fn attach(&mut self, participant: Participant) -> Option<mpsc::Receiver<ServerMsg>> {
        let rx = self.d.attach(participant);
        self.settle();
        rx
    }

    fn tick(&mut self, at: Duration) -> Vec<DeskCmd> {
        self.at = at;
        let cmds = self.d.tick(at);
        self.settle();
        cmds
    }
}

fn live() -> (Rig, Log) {
    live_in(KeyboardLayout::EnUs)
}

fn live_in(keyboard_layout: KeyboardLayout) -> (Rig, Log) {
    let log = Log::default();
    let (events, _) = broadcast::channel(64);
    let mut d = Desktop::new(DesktopConfig {
        id: "d1".into(),
        viewer_queue: 16,
        thumbnail_interval: ms(1000),
        recorder: Box::new(log.clone()),
        events,
        keyboard_layout,
    });
    d.connected(&params(), Some("sha256:00".into()), ms(0));
    let mut rig = Rig {
        d,
        copy: ScreenCopy::default(),
        at: ms(0),
    };
    rig.settle();
    (rig, log)
}

/// A fast-path output PDU with one update (`frag`: 0 single, 1 last, 2 first, 3 next).
fn fast_path(code: u8, frag: u8, data: &[u8]) -> Vec<u8> {
    let len = 3 + 3 + data.len();
    let mut out = vec![0x00, 0x80 | (len >> 8) as u8, (len & 0xff) as u8];
    out.push(code | (frag << 4));
    out.extend_from_slice(&(data.len() as u16).to_le_bytes());
    out.extend_from_slice(data);
    out
}

/// A surface-commands update with one frame marker (End when `end`).
fn frame_marker(end: bool, id: u32) -> Vec<u8> {
    let mut data = vec![0x04, 0x00, u8::from(end), 0x00];
    data.extend_from_slice(&id.to_le_bytes());
    fast_path(0x04, 0, &data)
}

fn key(scancode: u8, down: bool) -> ClientMsg {
    ClientMsg::Control(ClientControl::Input {
        events: vec![InputEvent::Key {
            scancode,
            extended: false,
            down,
            key_text: Some("a".into()),
        }],
    })
}

fn drain(rx: &mut mpsc::Receiver<ServerMsg>) -> Vec<ServerMsg> {
    let mut out = Vec::new();
    while let Ok(m) = rx.try_recv() {
        out.push(m);
    }
    out
}

fn sends(cmds: &[DeskCmd]) -> usize {
    cmds.iter()
        .filter(|c| matches!(c, DeskCmd::Send(_)))
        .count()
}

#[test]
fn lock_releases_held_keys_then_drops_all_input() {
    let (mut d, log) = live();
    let mut user = d.attach(Participant::User).expect("live");
    let mut observer = d.attach(Participant::Observer).expect("live");
    drain(&mut user);
    drain(&mut observer);

    let cmds = d.client_msg(Participant::User, key(0x1e, true), ms(10));
    assert_eq!(sends(&cmds), 1, "the key press goes upstream");
    assert_eq!(log.keys.lock().expect("lock").len(), 1);
    let seen = drain(&mut observer);
    assert!(matches!(
        &seen[..],
        [ServerMsg::Control(ServerControl::Keystroke { keystroke })] if keystroke.raw == "1e down" && keystroke.key == "a"
    ));

    d.set_locked(true, ms(20));
    assert_eq!(
        sends(&d.take_deferred()),
        1,
        "the held key is released on lock"
    );
    assert!(
        drain(&mut user).contains(&ServerMsg::Control(ServerControl::Locked {
            message: RDP_LOCK_MESSAGE.into()
        }))
    );
    assert!(d
        .client_msg(Participant::User, key(0x1e, false), ms(30))
        .is_empty());
    assert!(d
        .client_msg(Participant::User, key(0x1f, true), ms(31))
        .is_empty());
    assert_eq!(
        log.keys.lock().expect("lock").len(),
        1,
        "locked keys are not logged"
    );

    d.set_locked(false, ms(40));
    assert!(drain(&mut user).contains(&ServerMsg::Control(ServerControl::Unlocked)));
    assert_eq!(
        sends(&d.client_msg(Participant::User, key(0x1f, true), ms(50))),
        1
    );
    assert_eq!(log.markers(), ["lock", "unlock"]);
    assert_eq!(
        d.take_lifecycle()
            .into_iter()
            .filter(|l| matches!(l, Lifecycle::Locked { .. } | Lifecycle::Unlocked { .. }))
            .count(),
        2
    );
}

#[test]
fn observers_can_neither_type_nor_acknowledge() {
    let (mut d, log) = live();
    let _user = d.attach(Participant::User).expect("live");
    let _observer = d.attach(Participant::Observer).expect("live");
    d.graphics(&frame_marker(true, 7), Some(7), ms(5));
    let ack = ClientMsg::Control(ClientControl::FrameDecoded { frame_id: 7 });
    assert!(d
        .client_msg(Participant::Observer, ack.clone(), ms(6))
        .is_empty());
    assert!(d
        .client_msg(Participant::Observer, key(0x1e, true), ms(6))
        .is_empty());
    assert!(log.keys.lock().expect("lock").is_empty());
    assert!(d
        .client_msg(Participant::User, ack, ms(7))
        .contains(&DeskCmd::Ack(7)));
}

#[test]
fn acks_follow_the_user_and_fall_back_to_auto() {
    let (mut d, _log) = live();
    // Nobody paces the server: auto-ack.
    assert_eq!(d.tick(ms(100)), [DeskCmd::AutoAck(true)]);
    let _user = d.attach(Participant::User).expect("live");
    assert_eq!(d.tick(ms(200)), [DeskCmd::AutoAck(false)]);
    // A frame the user's browser never reports: after the grace, auto-ack and catch up.
    d.graphics(&frame_marker(true, 3), Some(3), ms(300));
    assert!(d.tick(ms(900)).is_empty());
    assert_eq!(d.tick(ms(1400)), [DeskCmd::AutoAck(true), DeskCmd::Ack(3)]);
    // The browser reports again: it paces the server again.
    let cmds = d.client_msg(
        Participant::User,
        ClientMsg::Control(ClientControl::FrameDecoded { frame_id: 3 }),
        ms(1500),
    );
    assert_eq!(cmds, [DeskCmd::AutoAck(false), DeskCmd::Ack(3)]);
}

#[test]
fn user_leaving_releases_what_they_held() {
    let (mut d, _log) = live();
    let user = d.attach(Participant::User).expect("live");
    d.tick(ms(10));
    d.client_msg(Participant::User, key(0x1e, true), ms(20));
    drop(user);
    let cmds = d.tick(ms(30));
    assert_eq!(sends(&cmds), 1, "release of the held key");
    assert!(cmds.contains(&DeskCmd::AutoAck(true)));
}

#[test]
fn a_join_inside_a_fragment_waits_for_its_end() {
    let (mut d, _log) = live();
    let mut user = d.attach(Participant::User).expect("live");
    drain(&mut user);
    let first = fast_path(0x01, 2, &[0u8; 16]);
    let last = fast_path(0x01, 1, &[0u8; 16]);
    d.graphics(&first, None, ms(10));
    let mut late = d.attach(Participant::Observer).expect("live");
    assert!(drain(&mut late).is_empty(), "nothing before the boundary");
    d.tick(ms(20));
    assert!(
        drain(&mut late).is_empty(),
        "no resync inside a fragment either"
    );
    d.graphics(&last, None, ms(30));
    let got = drain(&mut late);
    assert!(
        matches!(
            &got[..],
            [
                ServerMsg::Control(ServerControl::DesktopActivated { .. }),
                ServerMsg::DesktopSnapshot(_)
            ]
        ),
        "activation and snapshot, without the fragment the snapshot contains: {got:?}"
    );
    // The user got both fragments live.
    assert_eq!(drain(&mut user).len(), 2);
    let single = frame_marker(true, 1);
    d.graphics(&single, Some(1), ms(40));
    assert_eq!(
        drain(&mut late),
        [ServerMsg::Graphics {
            frame_end: Some(1),
            pdu: single
        }]
    );
}

#[test]
fn a_join_at_a_boundary_is_immediate_and_a_snapshot_decodes() {
    let (mut d, _log) = live();
    d.set_locked(true, ms(1));
    let mut late = d.attach(Participant::Observer).expect("live");
    let got = drain(&mut late);
    let [ServerMsg::Control(ServerControl::DesktopActivated { params: p }), ServerMsg::DesktopSnapshot(z), ServerMsg::Control(ServerControl::Locked { .. })] =
        &got[..]
    else {
        panic!("unexpected join: {got:?}");
    };
    assert_eq!(*p, wire_params(&params()));
    let mut raw = Vec::new();
    std::io::Read::read_to_end(&mut flate2::read::ZlibDecoder::new(&z[..]), &mut raw)
        .expect("zlib");
    assert!(!raw.is_empty());
}

#[test]
fn recording_has_a_keyframe_at_start_and_every_ten_seconds() {
    let (mut d, log) = live();
    assert_eq!(log.kinds(), [Kind::Params, Kind::Keyframe]);
    d.graphics(&frame_marker(true, 1), Some(1), ms(5_000));
    d.graphics(&frame_marker(true, 2), Some(2), ms(10_000));
    d.terminate("terminated by admin", ms(11_000));
    assert_eq!(
        log.kinds(),
        [
            Kind::Params,
            Kind::Keyframe,
            Kind::Graphics,
            Kind::Graphics,
            Kind::Params,
            Kind::Keyframe,
            Kind::Marker
        ]
    );
    assert_eq!(log.markers(), ["terminate: terminated by admin"]);
    assert!(d.attach(Participant::Observer).is_none());
}

#[test]
fn blank_snapshot_is_a_fresh_screen() {
    // A fresh screen's snapshot is its black tiles and nothing else (no RemoteFX prelude,
    // no pointer), and they bring a fresh decoder to the colours it already has (alpha
    // is not meaningful: browsers draw every pixel opaque). So an empty snapshot is the
    // same picture.
    let fresh = Screen::new(&params());
    let pdus = fresh.snapshot().expect("snapshot");
    let tiles =
        usize::from(params().width.div_ceil(64)) * usize::from(params().height.div_ceil(64));
    assert_eq!(pdus.len(), tiles, "only the image's tiles");
    let mut fed = Screen::new(&params());
    for pdu in &pdus {
        fed.feed(pdu);
    }
    assert_eq!(fed.errors(), 0);
    let rgb = |s: &Screen| -> Vec<u8> {
        s.rgba()
            .chunks_exact(4)
            .flat_map(|p| p[..3].to_vec())
            .collect()
    };
    assert_eq!(rgb(&fed), rgb(&fresh));
    assert_eq!(unzip(&blank_payload()), Vec::<u8>::new());
}

#[test]
fn a_snapshot_made_before_the_last_op_is_not_used() {
    let (mut d, _log) = live();
    let _user = d.attach(Participant::User).expect("live");
    let mut late = d.d.attach(Participant::Observer).expect("live");
    let job = d.d.take_screen_job(ms(10)).expect("a joiner waits");
    assert!(job.snapshot);
    // While the snapshot is made, the user points somewhere (shown at once: the first).
    let to_server = d.d.client_msg(Participant::User, mouse(99, 9), ms(11));
    assert_eq!(sends(&to_server), 1);
    let work = d.copy.run(job);
    d.d.screen_done(work, ms(12));
    assert!(drain(&mut late).is_empty(), "a stale picture is not sent");
    d.settle();
    let got = drain(&mut late);
    let [ServerMsg::Control(ServerControl::DesktopActivated { .. }), ServerMsg::DesktopSnapshot(z)] =
        &got[..]
    else {
        panic!("unexpected join: {got:?}");
    };
    let last = vigil_rdp::pointer::position_pdu(99, 9).expect("encode");
    assert!(
        unzip(z).ends_with(&last),
        "the picture has the last position"
    );
}

fn mouse(x: u16, y: u16) -> ClientMsg {
    ClientMsg::Control(ClientControl::Input {
        events: vec![InputEvent::MouseMove { x, y }],
    })
}

fn position(x: u16, y: u16) -> ServerMsg {
    ServerMsg::Graphics {
        frame_end: None,
        pdu: vigil_rdp::pointer::position_pdu(x, y).expect("encode"),
    }
}

/// The recorded graphics payloads.
fn recorded_graphics(log: &Log) -> Vec<Vec<u8>> {
    log.records
        .lock()
        .expect("lock")
        .iter()
        .filter(|r| r.0 == Kind::Graphics)
        .map(|r| r.2.clone())
        .collect()
}

fn unzip(z: &[u8]) -> Vec<u8> {
    let mut raw = Vec::new();
    std::io::Read::read_to_end(&mut flate2::read::ZlibDecoder::new(z), &mut raw).expect("zlib");
    raw
}

#[path = "core_keys_tests.rs"]
mod keys;

#[path = "core_pointer_tests.rs"]
mod pointer;
