//! Who paces the server's frames. While the user's browser is attached and reports each
//! decoded frame, its reports are the acknowledgements the server waits for, so a slow
//! browser slows the server rather than piling frames up at the relay. Without a user, or
//! when the user's browser has not reported a frame for [`ACK_GRACE`], the relay
//! acknowledges every frame itself (the stream's auto-ack), so observers and the recording
//! never wait on a browser that is gone or stuck.

use std::time::Duration;

use super::core::DeskCmd;

/// The user's browser paces the server only while it reports within this long.
pub(crate) const ACK_GRACE: Duration = Duration::from_secs(1);

#[derive(Debug, Default)]
pub(crate) struct AckPacer {
    /// A user participant is attached.
    user_present: bool,
    /// When the first frame the user's browser has not reported yet ended.
    unreported_since: Option<Duration>,
    /// The stream acknowledges frames itself.
    auto: bool,
    last_frame_end: Option<u32>,
}

impl AckPacer {
    /// The user attached.
    pub(crate) fn user_joined(&mut self) {
        self.user_present = true;
    }

    /// Whether the user was attached and is no longer (`attached`: the fan-out still has
    /// them). Reported once; the pacing switches to auto-ack on the next tick.
    pub(crate) fn user_left(&mut self, attached: bool) -> bool {
        let left = self.user_present && !attached;
        if left {
            self.user_present = false;
        }
        left
    }

    /// The server ended frame `id` at `at`.
    pub(crate) fn frame_ended(&mut self, id: u32, at: Duration) {
        self.last_frame_end = Some(id);
        self.unreported_since.get_or_insert(at);
    }

    /// The user's browser decoded up to `frame_id`: acknowledge it, and let the browser
    /// pace again if the relay had taken over.
    pub(crate) fn decoded(&mut self, frame_id: u32) -> Vec<DeskCmd> {
        self.unreported_since = None;
        let mut cmds = Vec::new();
        if self.auto && self.user_present {
            self.auto = false;
            cmds.push(DeskCmd::AutoAck(false));
        }
        cmds.push(DeskCmd::Ack(frame_id));
        cmds
    }

    /// Periodic: the relay takes the pacing over from an absent or stalled browser, and
    /// acknowledges at once the frames that browser never reported.
    pub(crate) fn tick(&mut self, at: Duration) -> Vec<DeskCmd> {
        let stalled = self
            .unreported_since
            .is_some_and(|since| at.saturating_sub(since) > ACK_GRACE);
        let want_auto = !self.user_present || stalled;
        let mut cmds = Vec::new();
        if want_auto != self.auto {
            self.auto = want_auto;
            cmds.push(DeskCmd::AutoAck(want_auto));
            if want_auto {
                cmds.extend(self.last_frame_end.map(DeskCmd::Ack));
            }
        }
        cmds
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ms(v: u64) -> Duration {
        Duration::from_millis(v)
    }

    #[test]
    fn without_a_user_the_relay_acknowledges() {
        let mut p = AckPacer::default();
        p.frame_ended(7, ms(0));
        assert_eq!(
            p.tick(ms(10)),
            vec![DeskCmd::AutoAck(true), DeskCmd::Ack(7)]
        );
        assert_eq!(p.tick(ms(20)), vec![], "switched once");
    }

    #[test]
    fn a_reporting_user_paces_and_a_stalled_one_is_taken_over() {
        let mut p = AckPacer::default();
        p.user_joined();
        p.frame_ended(1, ms(0));
        assert_eq!(p.tick(ms(500)), vec![], "within the grace");
        assert_eq!(p.decoded(1), vec![DeskCmd::Ack(1)]);
        p.frame_ended(2, ms(600));
        assert_eq!(
            p.tick(ms(600) + ACK_GRACE),
            vec![],
            "not yet past the grace"
        );
        assert_eq!(
            p.tick(ms(601) + ACK_GRACE),
            vec![DeskCmd::AutoAck(true), DeskCmd::Ack(2)]
        );
        // The browser reports again: it paces again.
        assert_eq!(p.decoded(2), vec![DeskCmd::AutoAck(false), DeskCmd::Ack(2)]);
    }

    #[test]
    fn a_user_leaving_is_reported_once_and_hands_the_pacing_over() {
        let mut p = AckPacer::default();
        p.user_joined();
        assert!(!p.user_left(true));
        assert!(p.user_left(false));
        assert!(!p.user_left(false));
        assert_eq!(p.tick(ms(0)), vec![DeskCmd::AutoAck(true)]);
    }
}
