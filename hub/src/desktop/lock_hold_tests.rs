//! A measurement, not a check (`cargo test -p vigil-hub --lib lock_hold -- --ignored
//! --nocapture`): how long the session's mutex is held per 1920×1080 frame of graphics,
//! per join and per tick, and what the screen thread spends off the mutex on the same.

use std::time::Instant;

use tokio::sync::broadcast;
use vigil_rdp::{KeyboardLayout, Screen, SessionParams};
use vigil_wire::live::Participant;

use super::tests::{ms, params, Log};
use super::{Desktop, DesktopConfig};
use crate::common::SessionCore;
use crate::desktop::screen::{blank_payload, Made, ScreenCopy};

/// One full frame of codec-NONE tiles with noisy pixels (so that they do not compress to
/// nothing).
fn noisy_frame(p: &SessionParams) -> Vec<Vec<u8>> {
    let mut frame = Screen::new(p).snapshot().expect("tiles");
    let mut seed = 1u32;
    for pdu in &mut frame {
        // The smallest tile (64×56 at the bottom) carries this many bytes of pixels last.
        let start = pdu.len() - 64 * 56 * 4;
        for b in &mut pdu[start..] {
            seed = seed.wrapping_mul(1_103_515_245).wrapping_add(12_345);
            *b = seed.to_be_bytes()[0] & 0xf0;
        }
    }
    frame
}

#[test]
#[ignore = "a measurement"]
fn lock_hold() {
    let p = SessionParams {
        width: 1920,
        height: 1080,
        ..params()
    };
    let (events, _) = broadcast::channel(64);
    let mut d = Desktop::new(DesktopConfig {
        id: "m".into(),
        viewer_queue: 4096,
        thumbnail_interval: ms(0),
        recorder: Box::new(Log::default()),
        events,
        keyboard_layout: KeyboardLayout::EnUs,
    });
    d.connected(&p, None, blank_payload(&p), ms(0));
    let frame = noisy_frame(&p);
    let mut copy = ScreenCopy::default();
    let (mut held, mut decoded) = (Vec::new(), Vec::new());
    for i in 0..5 {
        let t = Instant::now();
        for pdu in &frame {
            d.graphics(pdu, None, ms(i));
        }
        let work = d.screen_work(ms(i));
        held.push(t.elapsed());
        let t = Instant::now();
        copy.apply(work.jobs);
        decoded.push(t.elapsed());
    }
    let t = Instant::now();
    let _observer = d.attach(Participant::Observer).expect("live");
    let work = d.screen_work(ms(100));
    let attach = t.elapsed();
    assert!(work.snapshot);
    let t = Instant::now();
    copy.apply(work.jobs);
    let Made::Snapshot { pos, payload } = copy.snapshot() else {
        panic!("a snapshot")
    };
    let snapshot = t.elapsed();
    let t = Instant::now();
    let _thumbnail = copy.thumbnail();
    let thumbnail = t.elapsed();
    let t = Instant::now();
    d.snapshot_made(pos, payload, ms(100));
    d.tick(ms(200));
    let install = t.elapsed();
    eprintln!(
        "MEASURE under the session mutex: graphics per frame {held:?}; attach {attach:?}; \
         snapshot in and tick {install:?}. On the screen thread: decode per frame {decoded:?}; \
         snapshot {snapshot:?}; thumbnail {thumbnail:?}"
    );
}
