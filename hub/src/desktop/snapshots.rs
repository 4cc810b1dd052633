//! How the desktop core's viewers and recording get pictures: joiners and lagging viewers
//! from the current snapshot, which the session's screen thread makes ([`super::screen`]);
//! what the driver hands that thread ([`ScreenWork`]); keyframes and thumbnails.

use std::time::Duration;

use vigil_wire::desktop::DesktopParams;
use vigil_wire::live::{Participant, ServerControl, ServerMsg, Thumbnail};
use vigil_wire::RDP_LOCK_MESSAGE;

use super::{t_ms, Active, Desktop};
use crate::common::{Common, Phase};
use crate::desktop::screen::{OpenSnapshot, ScreenFeed, ScreenJob};

/// What the driver hands the screen thread before it next waits.
#[derive(Debug, Default)]
pub(crate) struct ScreenWork {
    /// The PDUs fanned out since, in order.
    pub jobs: Vec<ScreenJob>,
    /// A snapshot is wanted (a lagging viewer has room, or a keyframe is due): ask the
    /// thread for one after `jobs`, and read the target no further until it is back.
    pub snapshot: bool,
    /// A thumbnail is due.
    pub thumbnail: bool,
}

/// What a joiner (or a resynchronised viewer) gets, made from the current snapshot:
/// `None` while there is none (inside an update, or since the last PDU).
pub(super) type Join<'a> = Option<(&'a DesktopParams, &'a [u8])>;

pub(super) fn joinable<'a>(
    active: &'a Option<Active>,
    screen: &'a ScreenFeed,
    deactivated: bool,
) -> Join<'a> {
    let active = active.as_ref().filter(|_| !deactivated)?;
    Some((&active.params, screen.current()?))
}

/// Delivers `msg` (to `only`'s role, if given); lagging viewers with room get `join`
/// instead, when there is one.
pub(super) fn deliver(
    common: &mut Common,
    join: Join<'_>,
    msg: Option<ServerMsg>,
    only: Option<Participant>,
) {
    let locked = common.locked;
    let resync = join.map(|(params, payload)| move || join_messages(params, payload, locked));
    let resync = resync.as_ref().map(|f| f as &dyn Fn() -> Vec<ServerMsg>);
    common.fanout.shed_with(msg, only, resync);
}

/// What a joiner (or a resynchronised viewer) gets: the decoder values, the picture,
/// then the lock state.
pub(super) fn join_messages(
    params: &DesktopParams,
    payload: &[u8],
    locked: bool,
) -> Vec<ServerMsg> {
    let mut msgs = vec![
        ServerMsg::Control(ServerControl::DesktopActivated {
            params: params.clone(),
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
    /// What the screen thread gets before the driver next waits: the PDUs since, and
    /// whether to make a snapshot (a lagging viewer has room for one, or a keyframe is
    /// due) or a thumbnail (the interval passed and graphics arrived).
    pub(crate) fn screen_work(&mut self, at: Duration) -> ScreenWork {
        let mut work = ScreenWork {
            jobs: self.screen.take_jobs(),
            ..ScreenWork::default()
        };
        if self.common.phase != Phase::Live || self.active.is_none() {
            return work;
        }
        let wanted = self.keyframe_due || self.common.fanout.wants_resync();
        if wanted && self.can_snapshot() && self.screen.current().is_none() {
            work.snapshot = self.screen.ask();
        }
        if self.graphics_since_thumbnail && self.common.thumbnail_due(at) {
            self.graphics_since_thumbnail = false;
            self.common.thumbnail_taken(at);
            work.thumbnail = true;
        }
        work
    }

    /// The snapshot asked for in [`Desktop::screen_work`], made after `pos` PDUs. If nothing
    /// was fanned out since, it is the current one: lagging viewers get it, and the
    /// recording its keyframe if one is due. Otherwise it is dropped (and asked again).
    pub(crate) fn snapshot_made(
        &mut self,
        pos: u64,
        payload: Result<OpenSnapshot, String>,
        at: Duration,
    ) {
        if !self.screen.made(pos, payload) || self.common.phase != Phase::Live {
            return;
        }
        self.write_keyframe(at);
        let join = joinable(&self.active, &self.screen, self.deactivated);
        deliver(&mut self.common, join, None, None);
    }

    /// The thumbnail asked for in [`Desktop::screen_work`] (PNG in base64).
    pub(crate) fn thumbnail_made(&mut self, png: Result<String, String>) {
        match png {
            Ok(base64) => self.common.publish_thumbnail(Thumbnail::Png { base64 }),
            Err(error) => tracing::debug!(%error, "Thumbnail not encoded"),
        }
    }

    /// A due keyframe, from the current snapshot (none at hand: it stays due).
    pub(super) fn write_keyframe(&mut self, at: Duration) {
        if !self.keyframe_due {
            return;
        }
        let Some((params, payload)) = joinable(&self.active, &self.screen, self.deactivated) else {
            return;
        };
        let params = serde_json::to_vec(params).unwrap_or_default();
        if let Err(e) = self.recorder.keyframe(t_ms(at), &params, payload) {
            self.common.recording_failed(e);
            return;
        }
        self.keyframe_due = false;
        self.last_keyframe_at = at;
    }
}
