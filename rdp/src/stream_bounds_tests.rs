//! A hostile server's sizes: the desktop at connect and at reactivation, and fast-path
//! fragments, each refused at its bound.

use super::*;

/// A server answering the connection with a desktop over `DesktopSize::MAX` (65535×65535 would
/// be a 17 GB screen copy) gets no stream: a typed error with a clear message and code.
#[test]
fn an_oversized_desktop_at_connect_is_refused() {
    let Err(err) = Stream::new(connection_result(65535, 65535), &[]) else {
        panic!("a 65535x65535 desktop was accepted");
    };
    assert!(matches!(
        err,
        StreamError::DesktopTooLarge {
            width: 65535,
            height: 65535
        }
    ));
    assert_eq!(err.code(), vigil_wire::end::ErrorCode::DesktopTooLarge);
    assert_eq!(
        err.to_string(),
        "the server's desktop size 65535x65535 is over the relay's limit of 5120x2880"
    );
    assert!(matches!(
        Stream::new(connection_result(0, 768), &[]),
        Err(StreamError::DesktopEmpty { .. })
    ));
    assert!(Stream::new(connection_result(5120, 2880), &[]).is_ok());
    assert!(Stream::new(connection_result(1, 1), &[]).is_ok());
}

/// A Server Demand Active PDU announcing a `width`×`height` desktop.
fn demand_active(width: u16, height: u16) -> Vec<u8> {
    use ironrdp_pdu::rdp::capability_sets::{
        Bitmap, BitmapDrawingFlags, CapabilitySet, DemandActive, ServerDemandActive,
    };
    server_pdu(ShareControlPdu::ServerDemandActive(ServerDemandActive {
        pdu: DemandActive {
            source_descriptor: "RDP".into(),
            capability_sets: vec![CapabilitySet::Bitmap(Bitmap {
                pref_bits_per_pix: 32,
                desktop_width: width,
                desktop_height: height,
                desktop_resize_flag: true,
                drawing_flags: BitmapDrawingFlags::empty(),
            })],
        },
    }))
}

fn deactivate_all() -> Vec<u8> {
    server_pdu(ShareControlPdu::ServerDeactivateAll(
        ironrdp_pdu::rdp::headers::ServerDeactivateAll,
    ))
}

/// The same at reactivation: the Demand Active that announces the size ends the session
/// before `Activated` (and with it a new screen of that size) can reach the hub.
#[test]
fn an_oversized_desktop_at_reactivation_ends_the_session() {
    let mut s = stream();
    assert_eq!(
        s.feed(&deactivate_all()).expect("feed"),
        vec![Output::Deactivated]
    );
    let err = s
        .feed(&demand_active(65535, 65535))
        .expect_err("a 65535x65535 desktop was accepted");
    assert!(matches!(err, StreamError::DesktopTooLarge { .. }), "{err}");
    assert_eq!(err.code(), vigil_wire::end::ErrorCode::DesktopTooLarge);
    assert!(!s.is_active());
    assert!(matches!(s.feed(&[0]), Err(StreamError::Ended)));
    assert_eq!((s.params().width, s.params().height), (64, 64), "unchanged");
}

/// A sane size at reactivation gets through the capability exchange (the Confirm Active goes
/// to the server): the bound refuses only what is out of it.
#[test]
fn a_sane_desktop_at_reactivation_is_accepted() {
    let mut s = stream();
    s.feed(&deactivate_all()).expect("feed");
    let out = s.feed(&demand_active(1920, 1080)).expect("a sane size");
    assert!(
        out.iter().any(|o| matches!(o, Output::ToServer(_))),
        "{out:?}"
    );
    assert!(s.is_active());
}

/// One fragment of a fast-path update.
fn fragment(fragmentation: ironrdp_pdu::fast_path::Fragmentation, data: &[u8]) -> Vec<u8> {
    use ironrdp_core::{Encode as _, WriteCursor};
    use ironrdp_pdu::fast_path::{EncryptionFlags, FastPathHeader, FastPathUpdatePdu};
    let update = ironrdp_core::encode_vec(&FastPathUpdatePdu {
        fragmentation,
        update_code: UpdateCode::Bitmap,
        compression_flags: None,
        compression_type: None,
        data,
    })
    .expect("update");
    let header = FastPathHeader::new(EncryptionFlags::empty(), update.len());
    let mut out = vec![0u8; header.size() + update.len()];
    let mut w = WriteCursor::new(&mut out);
    header.encode(&mut w).expect("header");
    w.write_slice(&update);
    out
}

/// Endless `Next` fragments: the stream refuses the one that would take the reassembled update
/// past `MAX_REASSEMBLED`, before it is copied or forwarded, and the session ends. The copy
/// held never exceeds the bound.
#[test]
fn endless_next_fragments_end_the_session_at_the_bound() {
    use ironrdp_pdu::fast_path::Fragmentation;
    let chunk = vec![0x55u8; fastpath::MAX_FRAGMENT];
    let next = fragment(Fragmentation::Next, &chunk);
    let mut s = stream();
    s.feed(&fragment(Fragmentation::First, &chunk))
        .expect("first");
    let mut forwarded = 1usize;
    let err = loop {
        match s.feed(&next) {
            Ok(out) => {
                forwarded += browsers(&out).len();
                assert!(s.reassembly_len() <= fastpath::MAX_REASSEMBLED);
                assert!(forwarded <= fastpath::MAX_FRAGMENTS, "no bound");
            }
            Err(e) => break e,
        }
    };
    assert!(matches!(err, StreamError::UpdateTooLarge), "{err}");
    assert_eq!(err.code(), vigil_wire::end::ErrorCode::TargetFlood);
    // Everything forwarded (what browsers and the screen reassemble) fits in the bound.
    assert!(forwarded * fastpath::MAX_FRAGMENT <= fastpath::MAX_REASSEMBLED);
    assert!(
        forwarded * fastpath::MAX_FRAGMENT + fastpath::MAX_FRAGMENT > fastpath::MAX_REASSEMBLED
    );
    assert_eq!(s.reassembly_len(), 0, "the partial update is dropped");
    assert!(!s.is_active());
    assert!(matches!(s.feed(&next), Err(StreamError::Ended)));
}

/// Empty `Next` fragments grow nothing, but an endless run of them is bounded by count.
#[test]
fn endless_empty_fragments_end_the_session_at_the_count_bound() {
    use ironrdp_pdu::fast_path::Fragmentation;
    let next = fragment(Fragmentation::Next, &[]);
    let mut s = stream();
    s.feed(&fragment(Fragmentation::First, &[1]))
        .expect("first");
    let mut fed = 1usize;
    let err = loop {
        match s.feed(&next) {
            Ok(_) => fed += 1,
            Err(e) => break e,
        }
        assert!(fed <= fastpath::MAX_FRAGMENTS, "no bound on the count");
    };
    assert!(matches!(err, StreamError::UpdateTooLarge), "{err}");
    assert_eq!(fed, fastpath::MAX_FRAGMENTS);
}

/// A fragmented update within the bound still goes through whole.
#[test]
fn a_large_update_within_the_bound_is_forwarded() {
    let big = vec![0u8; 1_000_000];
    let pdus = fastpath::wrap(UpdateCode::Bitmap, &big).expect("wrap");
    let mut s = stream();
    let mut n = 0;
    for p in &pdus {
        n += browsers(&s.feed(p).expect("within the bound")).len();
    }
    assert_eq!(n, pdus.len());
    assert!(s.at_fragment_boundary() && s.is_active());
    assert_eq!(s.reassembly_len(), 0);
}
