//! A measurement, not a check (`cargo test --release -p vigil-hub --lib lock_hold --
//! --ignored --nocapture`): how long the session's mutex is held per 1920×1080 frame of
//! graphics, per join and per screen job taken and handed back, beside what the screen
//! copy spends off the mutex on the same (decoding, the joiner's snapshot, a thumbnail),
//! which is what the mutex would be held for if the core kept the screen.

use std::time::{Duration, Instant};

use bytes::Bytes;
use tokio::sync::broadcast;
use vigil_rdp::{KeyboardLayout, Screen, SessionParams};
use vigil_wire::live::Participant;

use super::tests::{ms, params, Log};
use super::{Desktop, DesktopConfig};
use crate::common::SessionCore;
use crate::desktop::screen_copy::ScreenCopy;

/// One full frame of codec-NONE tiles with noisy pixels (so that they do not compress to
/// nothing).
fn noisy_frame(p: &SessionParams) -> Vec<Bytes> {
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
    frame.into_iter().map(Bytes::from).collect()
}

fn median(mut v: Vec<Duration>) -> Duration {
    v.sort();
    v[v.len() / 2]
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
    d.connected(&p, None, ms(0));
    let frame = noisy_frame(&p);
    let mut copy = ScreenCopy::default();
    let (mut held, mut decoded) = (Vec::new(), Vec::new());
    for i in 0..5 {
        let t = Instant::now();
        for pdu in &frame {
            d.graphics(pdu.clone(), None, true, ms(i));
        }
        let job = d.take_screen_job(ms(i)).expect("a job");
        held.push(t.elapsed());
        let t = Instant::now();
        let work = copy.run(job);
        decoded.push(t.elapsed());
        d.screen_done(work, ms(i));
    }
    let t = Instant::now();
    let _observer = d.attach(Participant::Observer).expect("live");
    let mut job = d.take_screen_job(ms(100)).expect("a job");
    let attach = t.elapsed();
    assert!(job.snapshot);
    job.thumbnail = None;
    let t = Instant::now();
    let work = copy.run(job);
    let snapshot = t.elapsed();
    let t = Instant::now();
    d.screen_done(work, ms(100));
    let install = t.elapsed();
    let t = Instant::now();
    let thumbnail = copy
        .run(super::super::screen_copy::ScreenJob {
            ops: Vec::new(),
            upto: 0,
            snapshot: false,
            thumbnail: Some(320),
        })
        .thumbnail;
    let thumbnail_time = t.elapsed();
    assert!(thumbnail.is_some_and(|t| t.is_ok()));
    eprintln!(
        "MEASURE 1920x1080, median of 5 frames. Under the session mutex: graphics per frame \
         {:?}; attach and job {attach:?}; snapshot handed back {install:?}. Off it, in the \
         screen copy: decode per frame {:?}; snapshot {snapshot:?}; thumbnail \
         {thumbnail_time:?}",
        median(held),
        median(decoded),
    );
}
