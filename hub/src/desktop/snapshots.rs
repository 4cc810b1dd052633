//! The desktop core's side of the relay's decoded screen: the snapshot payloads that
//! joiners, lagging viewers and keyframes get, and the [`ScreenJob`]s the core hands the
//! driver's [`ScreenCopy`](crate::desktop::screen_copy::ScreenCopy) and takes back.

use std::io::Write as _;
use std::time::Duration;

use base64::Engine as _;
use vigil_rdp::Screen;
use vigil_wire::live::{ServerControl, ServerMsg, Thumbnail};
use vigil_wire::RDP_LOCK_MESSAGE;

use super::t_ms;
use super::{Active, Desktop, THUMBNAIL_WIDTH};
use crate::common::Phase;
use crate::desktop::screen_copy::{ScreenJob, ScreenWork};
use crate::snapshot_timing;

/// The `DesktopSnapshot` (and keyframe) payload: the screen's snapshot PDUs,
/// concatenated and zlib-compressed. Only at a fragment boundary.
pub(crate) fn snapshot_payload(screen: &Screen) -> Result<Vec<u8>, String> {
    let pdus = screen.snapshot().map_err(|e| e.to_string())?;
    compress(&pdus)
}

pub(super) fn compress(pdus: &[Vec<u8>]) -> Result<Vec<u8>, String> {
    let mut z = flate2::write::ZlibEncoder::new(Vec::new(), flate2::Compression::fast());
    for pdu in pdus {
        z.write_all(pdu).map_err(|e| e.to_string())?;
    }
    z.finish().map_err(|e| e.to_string())
}

/// The snapshot of a freshly activated screen: no PDU at all, since a fresh decoder is
/// already that blank image with no pointer (`blank_snapshot_is_a_fresh_screen` checks it
/// against the screen's own snapshot). It costs nothing, so an activation is announced
/// and recorded at once, under the core's mutex, without the screen copy.
pub(super) fn blank_payload() -> Vec<u8> {
    compress(&[]).unwrap_or_default()
}

/// What a joiner (or a resynchronised viewer) gets: the decoder values, the picture
/// (`payload`, a snapshot), then the lock state.
pub(super) fn join_messages(active: &Active, payload: &[u8], locked: bool) -> Vec<ServerMsg> {
    let mut msgs = vec![
        ServerMsg::Control(ServerControl::DesktopActivated {
            params: active.params.clone(),
        }),
        ServerMsg::DesktopSnapshot(payload.to_vec()),
    ];
    if locked {
        msgs.push(ServerMsg::Control(ServerControl::Locked {
            message: RDP_LOCK_MESSAGE.into(),
        }));
    }
    msgs
}

impl Desktop {
    /// What the screen copy must do now: the ops queued since the last job, and a
    /// snapshot if a viewer waits for one (a joiner, a lagging viewer with room again) or
    /// a keyframe is due, and a thumbnail if one is due. `None`: nothing to do.
    pub(crate) fn take_screen_job(&mut self, at: Duration) -> Option<ScreenJob> {
        if self.common.phase != Phase::Live {
            self.screen_ops.clear();
            return None;
        }
        let snapshot =
            self.can_snapshot() && (self.keyframe_wanted || self.common.fanout.wants_resync());
        let thumbnail = (self.active.is_some()
            && self.graphics_since_thumbnail
            && self.common.thumbnail_due(at))
        .then(|| {
            self.graphics_since_thumbnail = false;
            self.common.thumbnail_taken(at);
            THUMBNAIL_WIDTH
        });
        if self.screen_ops.is_empty() && !snapshot && thumbnail.is_none() {
            return None;
        }
        Some(ScreenJob {
            ops: std::mem::take(&mut self.screen_ops),
            upto: self.screen_ops_queued,
            snapshot,
            thumbnail,
        })
    }

    /// What a job made. Its snapshot is used only if nothing was queued for the screen
    /// since the job was taken (else the next job takes a fresh one): lagging viewers get
    /// their join, and a due keyframe is recorded.
    pub(crate) fn screen_done(&mut self, work: ScreenWork, at: Duration) {
        if self.common.phase != Phase::Live {
            return;
        }
        if let Some(png) = work.thumbnail {
            match png {
                Ok(png) => {
                    let thumbnail = Thumbnail::Png {
                        base64: base64::engine::general_purpose::STANDARD.encode(png),
                    };
                    self.common.publish_thumbnail(thumbnail);
                }
                Err(error) => tracing::debug!(%error, "Thumbnail not encoded"),
            }
        }
        let Some(snapshot) = work.snapshot else {
            return;
        };
        if work.upto != self.screen_ops_queued || !self.can_snapshot() {
            return;
        }
        let payload = match snapshot {
            Ok(payload) => payload,
            Err(error) => {
                tracing::warn!(id = %self.common.id, %error, "Desktop snapshot failed");
                return;
            }
        };
        if self.keyframe_wanted {
            self.write_keyframe(at, &payload);
        }
        let (active, locked) = (&self.active, self.common.locked);
        if let Some(active) = active {
            let viewers = self
                .common
                .fanout
                .resync(&|| join_messages(active, &payload, locked));
            snapshot_timing::report(&self.common.id, work.snapshot_cost, payload.len(), viewers);
        }
    }

    /// `Params` and a keyframe (`payload`, a snapshot of the screen after everything
    /// recorded so far).
    pub(super) fn write_keyframe(&mut self, at: Duration, payload: &[u8]) {
        let Some(active) = &self.active else { return };
        let params = serde_json::to_vec(&active.params).unwrap_or_default();
        if let Err(e) = self.recorder.keyframe(t_ms(at), &params, payload) {
            self.common.recording_failed(e);
            return;
        }
        self.keyframe_wanted = false;
        self.last_keyframe_at = at;
    }
}
