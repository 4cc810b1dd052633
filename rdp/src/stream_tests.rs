use ironrdp_connector::connection_activation::ConnectionActivationFactory;
use ironrdp_connector::{ConnectionResult, DesktopSize};
use ironrdp_pdu::bitmap::{BitmapData, BitmapUpdateData, Compression};
use ironrdp_pdu::fast_path::UpdateCode;
use ironrdp_pdu::geometry::InclusiveRectangle;
use ironrdp_pdu::mcs::SendDataIndication;
use ironrdp_pdu::rdp::capability_sets::InputFlags;
use ironrdp_pdu::rdp::headers::{ShareControlHeader, ShareControlPdu};
use ironrdp_pdu::surface_commands::{FrameAction, FrameMarkerPdu, SurfaceCommand};
use ironrdp_pdu::x224::X224;
use ironrdp_svc::StaticChannelSet;

use super::*;
use crate::connect::{build_config, ConnectOptions, Target};
use crate::Screen;

const IO: u16 = 1003;
const USER: u16 = 1002;
const SHARE: u32 = 0x103ea;

fn stream() -> Stream {
    Stream::new(connection_result(64, 64), &[]).expect("a 64x64 desktop is accepted")
}

fn connection_result(width: u16, height: u16) -> ConnectionResult {
    let target = Target {
        host: "t".into(),
        port: 1,
        username: "u".into(),
        password: vigil_secret::Secret::new("p"),
        domain: None,
    };
    let config = build_config(&target, &ConnectOptions::default());
    ConnectionResult {
        io_channel_id: IO,
        user_channel_id: USER,
        message_channel_id: None,
        share_id: SHARE,
        static_channels: StaticChannelSet::new(),
        desktop_size: DesktopSize { width, height },
        input_flags: InputFlags::SCANCODES | InputFlags::FASTPATH_INPUT,
        enable_server_pointer: false,
        pointer_software_rendering: false,
        refresh_rect_support: true,
        suppress_output_support: true,
        window_support_level: None,
        monitor_layout: None,
        activation_factory: ConnectionActivationFactory::new(config, IO, USER),
        compression_type: None,
    }
}

/// A server → client Share Control PDU on the IO channel, framed as X.224/MCS.
fn server_pdu(pdu: ShareControlPdu) -> Vec<u8> {
    let header = ShareControlHeader {
        share_control_pdu: pdu,
        pdu_source: USER,
        share_id: SHARE,
    };
    let user_data = ironrdp_core::encode_vec(&header).expect("share control");
    ironrdp_core::encode_vec(&X224(SendDataIndication {
        initiator_id: USER,
        channel_id: IO,
        user_data: user_data.into(),
    }))
    .expect("mcs")
}

/// IronRDP cannot encode a server Update PDU, so the slow-path Update is built by hand:
/// TS_SHARECONTROLHEADER + TS_SHAREDATAHEADER (pduType2 = PDUTYPE2_UPDATE) + payload.
fn slow_path_update(payload: &[u8]) -> Vec<u8> {
    slow_path_data(2, payload)
}

/// A slow-path Data PDU of type `pdu_type2` (PDUTYPE2_UPDATE 2, PDUTYPE2_POINTER 27).
fn slow_path_data(pdu_type2: u8, payload: &[u8]) -> Vec<u8> {
    let total = u16::try_from(6 + 12 + payload.len()).expect("small");
    let mut d = Vec::new();
    d.extend_from_slice(&total.to_le_bytes());
    d.extend_from_slice(&0x17u16.to_le_bytes()); // PDUTYPE_DATAPDU | TS_PROTOCOL_VERSION
    d.extend_from_slice(&USER.to_le_bytes());
    d.extend_from_slice(&SHARE.to_le_bytes());
    d.extend_from_slice(&[0, 2]); // pad, STREAM_MED
    d.extend_from_slice(
        &u16::try_from(payload.len() + 4)
            .expect("small")
            .to_le_bytes(),
    );
    d.extend_from_slice(&[pdu_type2, 0, 0, 0]); // pduType2, no compression
    d.extend_from_slice(payload);
    ironrdp_core::encode_vec(&X224(SendDataIndication {
        initiator_id: USER,
        channel_id: IO,
        user_data: d.into(),
    }))
    .expect("mcs")
}

fn frame_marker(action: FrameAction, id: u32) -> Vec<u8> {
    let command = SurfaceCommand::FrameMarker(FrameMarkerPdu {
        frame_action: action,
        frame_id: Some(id),
    });
    let payload = ironrdp_core::encode_vec(&command).expect("marker");
    fastpath::wrap(UpdateCode::SurfaceCommands, &payload)
        .expect("wrap")
        .remove(0)
}

/// An 8×8 uncompressed 32 bpp bitmap update, all mid-grey (channel order does not matter).
fn grey_bitmap_update() -> Vec<u8> {
    let pixels = vec![0x80u8; 8 * 8 * 4];
    let update = BitmapUpdateData {
        rectangles: vec![BitmapData {
            rectangle: InclusiveRectangle {
                left: 8,
                top: 8,
                right: 15,
                bottom: 15,
            },
            width: 8,
            height: 8,
            bits_per_pixel: 32,
            compression_flags: Compression::empty(),
            compressed_data_header: None,
            bitmap_data: &pixels,
        }],
    };
    ironrdp_core::encode_vec(&update).expect("bitmap")
}

fn browsers(out: &[Output]) -> Vec<&Output> {
    out.iter()
        .filter(|o| matches!(o, Output::ToBrowsers { .. }))
        .collect()
}

#[test]
fn slow_path_bitmaps_reach_browsers_as_fast_path() {
    let mut s = stream();
    let out = s
        .feed(&slow_path_update(&grey_bitmap_update()))
        .expect("feed");
    let pdus: Vec<&Bytes> = out
        .iter()
        .filter_map(|o| match o {
            Output::ToBrowsers { pdu, .. } => Some(pdu),
            _ => None,
        })
        .collect();
    assert_eq!(pdus.len(), 1, "{out:?}");
    assert_eq!(pdus[0][0] & 0x03, 0, "a fast-path PDU");
    // The browser-equivalent decoder paints it.
    let mut screen = Screen::new(s.params());
    screen.feed(pdus[0]);
    assert_eq!(screen.errors(), 0);
    let i = (10 * 64 + 10) * 4;
    assert_eq!(&screen.rgba()[i..i + 3], &[0x80, 0x80, 0x80]);
    assert_eq!(s.stats().slow_path_updates_converted, 1);
}

fn to_browsers(out: &[Output]) -> Vec<Vec<u8>> {
    out.iter()
        .filter_map(|o| match o {
            Output::ToBrowsers { pdu, .. } => Some(pdu.to_vec()),
            _ => None,
        })
        .collect()
}

/// A stream, a browser and the relay's screen, fed slow-path pointer PDUs.
struct PointerRig {
    s: Stream,
    browser: crate::pointer::tests::PointerBrowser,
    screen: Screen,
}

impl PointerRig {
    /// Feeds one TS_POINTER_PDU; returns how many fast-path PDUs came out.
    fn feed(&mut self, message_type: u16, attribute: &[u8]) -> usize {
        let pointer = crate::pointer::tests::slow_pointer(message_type, attribute);
        let out = self.s.feed(&slow_path_data(27, &pointer)).expect("feed");
        let pdus = to_browsers(&out);
        for pdu in &pdus {
            assert_eq!(pdu[0] & 0x03, 0, "a fast-path PDU");
            self.browser.feed(pdu);
            self.screen.feed(pdu);
        }
        pdus.len()
    }
}

/// Slow-path TS_POINTER_PDUs reach browsers as the equivalent fast-path pointer updates: a
/// browser-equivalent decoder shows what they define, and the relay's screen can replay it.
#[test]
fn slow_path_pointers_reach_browsers_as_fast_path() {
    use crate::pointer::tests::{cached, color, large, PointerBrowser, Shown};

    let s = stream();
    let mut r = PointerRig {
        browser: PointerBrowser::new(s.params()),
        screen: Screen::new(s.params()),
        s,
    };
    assert_eq!(r.feed(9, &large(2, 64, 64, 7)), 1);
    assert!(matches!(
        r.browser.shown,
        Some(Shown::Bitmap {
            width: 64,
            height: 64,
            ..
        })
    ));
    assert_eq!(r.feed(6, &color(0, 32, 32, 1)), 1);
    assert!(matches!(
        r.browser.shown,
        Some(Shown::Bitmap { width: 32, .. })
    ));
    assert_eq!(r.feed(7, &cached(2)), 1);
    assert!(matches!(
        r.browser.shown,
        Some(Shown::Bitmap { width: 64, .. })
    ));
    assert_eq!(r.feed(3, &[7, 0, 9, 0]), 1);
    assert_eq!(r.browser.position, Some((7, 9)));
    assert_eq!(r.feed(1, &0u32.to_le_bytes()), 1);
    assert_eq!(r.browser.shown, Some(Shown::Hidden));
    assert_eq!(r.feed(1, &0x7F00u32.to_le_bytes()), 1);
    assert_eq!(r.browser.shown, Some(Shown::Default));
    assert_eq!(r.feed(1, &5u32.to_le_bytes()), 0, "unknown system pointer");
    assert_eq!(r.s.stats().slow_path_pointers_converted, 6);
    assert_eq!(r.s.stats().pointer_updates, 6);
    assert_eq!(r.s.stats().slow_path_updates_converted, 0);

    let mut joiner = PointerBrowser::new(r.s.params());
    joiner.feed_all(&r.screen.snapshot().expect("snapshot"));
    assert_eq!(joiner.shown, Some(Shown::Default));
    assert_eq!(joiner.position, Some((7, 9)));
    assert_eq!(joiner.probe_slot(2), r.browser.probe_slot(2));
    assert!(joiner.probe_slot(2).is_some());
}

/// A pointer update too big for one fast-path PDU is fragmented at the re-wrap. (An 88×88
/// large pointer is ~32 KB: still one slow-path PDU, but over the fast-path fragment size.)
#[test]
fn a_large_slow_path_pointer_is_fragmented() {
    use crate::pointer::tests::{large, slow_pointer, PointerBrowser, Shown};

    let mut s = stream();
    let pointer = slow_pointer(9, &large(1, 88, 88, 3));
    let out = s.feed(&slow_path_data(27, &pointer)).expect("feed");
    let pdus = to_browsers(&out);
    assert_eq!(pdus.len(), 2, "one update in two fragments");
    assert!(pdus.iter().all(|p| p.len() <= 0x7FFF));
    assert!(s.at_fragment_boundary());
    let mut browser = PointerBrowser::new(s.params());
    browser.feed_all(&pdus);
    assert!(matches!(
        browser.shown,
        Some(Shown::Bitmap { width: 88, .. })
    ));
}

#[test]
fn frames_are_acked_only_when_the_primary_decoded_them() {
    let mut s = stream();
    let mut input = frame_marker(FrameAction::Begin, 5);
    input.extend(frame_marker(FrameAction::End, 5));
    let out = s.feed(&input).expect("feed");
    assert_eq!(browsers(&out).len(), 2);
    assert!(matches!(
        out[1],
        Output::ToBrowsers {
            frame_end: Some(5),
            ..
        }
    ));
    assert!(
        !out.iter().any(|o| matches!(o, Output::ToServer(_))),
        "no ack before the browser"
    );

    assert!(
        s.on_primary_decoded(99).expect("ok").is_empty(),
        "never-sent id"
    );
    let acks = s.on_primary_decoded(5).expect("ok");
    assert_eq!(acks.len(), 1);
    assert!(
        matches!(&acks[0], Output::ToServer(b) if b[0] == 0x03),
        "an X.224 PDU"
    );
    assert!(
        s.on_primary_decoded(5).expect("ok").is_empty(),
        "acked once"
    );
}

#[test]
fn auto_ack_acknowledges_every_frame_end() {
    let mut s = stream();
    s.set_auto_ack(true);
    let out = s.feed(&frame_marker(FrameAction::End, 7)).expect("feed");
    assert_eq!(
        out.iter()
            .filter(|o| matches!(o, Output::ToServer(_)))
            .count(),
        1
    );
    assert_eq!(s.stats().acks_sent, 1);
}

#[test]
fn byte_at_a_time_gives_the_same_outputs() {
    let mut input = slow_path_update(&grey_bitmap_update());
    input.extend(frame_marker(FrameAction::End, 1));
    let whole = stream().feed(&input).expect("feed");
    let mut s = stream();
    let mut pieces = Vec::new();
    for b in &input {
        pieces.extend(s.feed(std::slice::from_ref(b)).expect("feed"));
    }
    assert_eq!(whole, pieces);
}

#[test]
fn fragment_boundary_is_tracked() {
    let mut s = stream();
    let big = vec![0u8; 70_000];
    let pdus = fastpath::wrap(UpdateCode::Bitmap, &big).expect("wrap");
    assert!(pdus.len() > 2);
    let boundaries = |out: Vec<Output>| -> Vec<bool> {
        out.into_iter()
            .filter_map(|o| match o {
                Output::ToBrowsers { at_boundary, .. } => Some(at_boundary),
                _ => None,
            })
            .collect()
    };
    assert_eq!(boundaries(s.feed(&pdus[0]).expect("feed")), [false]);
    assert!(!s.at_fragment_boundary());
    let mut rest = Vec::new();
    for p in &pdus[1..] {
        rest.extend(boundaries(s.feed(p).expect("feed")));
    }
    assert!(s.at_fragment_boundary());
    // Each PDU says where it left the stream: inside the update until its last fragment.
    let mut expected = vec![false; pdus.len() - 2];
    expected.push(true);
    assert_eq!(rest, expected);
}

#[test]
fn deactivate_all_is_reported_and_graphics_are_held_back() {
    let mut s = stream();
    let deactivate = server_pdu(ShareControlPdu::ServerDeactivateAll(
        ironrdp_pdu::rdp::headers::ServerDeactivateAll,
    ));
    let out = s.feed(&deactivate).expect("feed");
    assert_eq!(out, vec![Output::Deactivated]);
    // Until the reactivation finishes, browsers have no decoder: nothing is forwarded.
    let out = s.feed(&frame_marker(FrameAction::End, 1)).expect("feed");
    assert!(out.is_empty());
}

#[test]
fn mcs_disconnect_ends_the_stream() {
    use ironrdp_pdu::mcs::{DisconnectProviderUltimatum, DisconnectReason, McsMessage};
    let mut s = stream();
    let ultimatum = ironrdp_core::encode_vec(&X224(McsMessage::DisconnectProviderUltimatum(
        DisconnectProviderUltimatum::from_reason(DisconnectReason::ProviderInitiated),
    )))
    .expect("encode");
    let out = s.feed(&ultimatum).expect("feed");
    assert!(matches!(out.last(), Some(Output::Ended(_))));
    assert!(!s.is_active());
    assert!(matches!(s.feed(&[0]), Err(StreamError::Ended)));
}

#[test]
fn unframeable_bytes_are_an_error_not_a_panic() {
    let mut s = stream();
    // fpOutputHeader action bits 0b10 are neither X.224 nor fast-path.
    assert!(matches!(
        s.feed(&[0x02, 0x00, 0x00]),
        Err(StreamError::Framing(_))
    ));
}

#[path = "stream_bounds_tests.rs"]
mod bounds;
