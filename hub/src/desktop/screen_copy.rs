//! The relay's decoded copy of a desktop's screen ([`vigil_rdp::Screen`]), kept by the
//! session's driver rather than by the core, so that decoding, snapshots and thumbnails
//! (tens of milliseconds at 1080p) never run under the core's mutex, which request
//! handlers take to attach, lock and terminate.
//!
//! The core decides what reaches the screen and in which order: each PDU it forwards (the
//! target's graphics, the user's pointer positions) and each reactivation becomes a
//! [`ScreenOp`]. The driver collects them with the core's wishes as a [`ScreenJob`], runs
//! the job off the runtime ([`ScreenCopy::run`]), and hands the [`ScreenWork`] back. A
//! snapshot is used only if no op was queued after the job was taken, so the picture a
//! joiner gets is exactly the state after everything that went out before its first live
//! message.

use std::time::Instant;

use bytes::Bytes;
use vigil_rdp::{Screen, SessionParams};

use super::core::snapshot_payload;
use crate::metrics;
use crate::snapshot_timing::SnapshotCost;

/// One change to the screen, in the order the core made it.
#[derive(Debug, Clone)]
pub(crate) enum ScreenOp {
    /// A (re)activation: a fresh, blank screen for these values.
    Reset(SessionParams),
    /// One fast-path PDU, as forwarded to the viewers.
    Feed(Bytes),
}

/// The ops queued since the last job, and what the core wants made after them.
#[derive(Debug)]
pub(crate) struct ScreenJob {
    pub ops: Vec<ScreenOp>,
    /// How many ops the core had queued in all when it made this job.
    pub upto: u64,
    /// A snapshot payload (joiners, lagging viewers, a keyframe): only asked for at a
    /// fragment boundary.
    pub snapshot: bool,
    /// A thumbnail this wide.
    pub thumbnail: Option<u16>,
}

/// What a job made.
#[derive(Debug, Default)]
pub(crate) struct ScreenWork {
    /// [`ScreenJob::upto`] of the job.
    pub upto: u64,
    pub snapshot: Option<Result<Vec<u8>, String>>,
    /// What the snapshot cost (zero without one).
    pub snapshot_cost: SnapshotCost,
    pub thumbnail: Option<Result<Vec<u8>, String>>,
}

/// The screen itself: none before the first activation.
#[derive(Default)]
pub(crate) struct ScreenCopy {
    screen: Option<Screen>,
}

impl ScreenCopy {
    /// Applies the job's ops in order, then makes what it asks for. Synchronous and
    /// heavy: the driver calls it on a blocking thread.
    pub(crate) fn run(&mut self, job: ScreenJob) -> ScreenWork {
        let started = Instant::now();
        for op in job.ops {
            match op {
                ScreenOp::Reset(params) => match &mut self.screen {
                    Some(screen) => screen.reset(&params),
                    None => self.screen = Some(Screen::new(&params)),
                },
                ScreenOp::Feed(pdu) => {
                    if let Some(screen) = &mut self.screen {
                        screen.feed(&pdu);
                    }
                }
            }
        }
        let Some(screen) = &self.screen else {
            return ScreenWork {
                upto: job.upto,
                ..ScreenWork::default()
            };
        };
        let made = Instant::now();
        let snapshot = job.snapshot.then(|| {
            let payload = snapshot_payload(screen);
            metrics::timed(metrics::RDP_SNAPSHOT_SECONDS, made.elapsed());
            payload
        });
        let snapshot_cost = if snapshot.is_some() {
            SnapshotCost {
                made_in: made.elapsed(),
                job: started.elapsed(),
            }
        } else {
            SnapshotCost::default()
        };
        ScreenWork {
            upto: job.upto,
            snapshot,
            snapshot_cost,
            thumbnail: job.thumbnail.map(|width| {
                let started = Instant::now();
                let png = screen.thumbnail_png(width).map_err(|e| e.to_string());
                metrics::timed(metrics::RDP_THUMBNAIL_SECONDS, started.elapsed());
                png
            }),
        }
    }
}
