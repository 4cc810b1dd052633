//! Delivery to the session's viewers (the user and observers), each through its own
//! bounded queue. The session never waits for a viewer: a viewer whose queue is full
//! is marked lagging and misses live output; once it has room again it gets a fresh
//! snapshot of the screen and carries on live.
//!
//! Each queue has `RESERVED` slots that live output never fills, so control messages
//! (locked, unlocked, resized, ended…) still reach a viewer that lags on output: its
//! snapshot restores the screen, but it could not restore a lost `Unlocked`.

use tokio::sync::mpsc;
use vigil_wire::live::{Participant, ServerControl, ServerMsg};

use crate::metrics;

pub(crate) const RESERVED: usize = 8;

struct ParticipantQueue {
    tx: mpsc::Sender<ServerMsg>,
    participant: Participant,
    lagging: bool,
}

pub(crate) struct Fanout {
    viewers: Vec<ParticipantQueue>,
    /// Output capacity of each queue (`HubConfig::viewer_queue`).
    queue: usize,
}

/// Built at most once per delivery, and only if some viewer needs it.
struct LazySnapshot<'a> {
    make: Option<&'a dyn Fn() -> Vec<ServerMsg>>,
    made: Option<Vec<ServerMsg>>,
}

impl LazySnapshot<'_> {
    /// `None`: no snapshot can be taken now (a desktop inside a fragmented update).
    fn get(&mut self) -> Option<&[ServerMsg]> {
        let make = self.make?;
        Some(self.made.get_or_insert_with(make))
    }
}

impl Fanout {
    pub(crate) fn new(queue: usize) -> Fanout {
        Fanout {
            viewers: Vec::new(),
            queue: queue.max(1),
        }
    }

    /// A new queue for a viewer, preloaded with `first` (its snapshot and state).
    pub(crate) fn add(
        &mut self,
        participant: Participant,
        first: Vec<ServerMsg>,
    ) -> mpsc::Receiver<ServerMsg> {
        let (tx, rx) = mpsc::channel(self.queue + RESERVED);
        let mut viewer = ParticipantQueue {
            tx,
            participant,
            lagging: false,
        };
        for msg in first {
            if viewer.tx.try_send(msg).is_err() {
                viewer.lagging = true;
            }
        }
        self.viewers.push(viewer);
        rx
    }

    /// A new queue that starts out lagging: it gets nothing until its first resync
    /// (for a desktop joiner that arrives inside a fragmented update).
    pub(crate) fn add_pending(&mut self, participant: Participant) -> mpsc::Receiver<ServerMsg> {
        let (tx, rx) = mpsc::channel(self.queue + RESERVED);
        self.viewers.push(ParticipantQueue {
            tx,
            participant,
            lagging: true,
        });
        rx
    }

    /// Like [`Fanout::output`] where no snapshot can be taken: lagging viewers stay
    /// lagging until a later delivery can resynchronise them.
    pub(crate) fn output_no_resync(&mut self, msg: ServerMsg) {
        self.shed_with(Some(msg), None, None);
    }

    /// Whether a viewer in `participant`'s role is still connected.
    pub(crate) fn has(&self, participant: Participant) -> bool {
        self.viewers
            .iter()
            .any(|v| v.participant == participant && !v.tx.is_closed())
    }

    /// Live output (and other messages a snapshot makes up for). `resync` gives what a
    /// lagging viewer gets instead: the snapshot taken after this output, and state.
    pub(crate) fn output(&mut self, msg: ServerMsg, resync: &dyn Fn() -> Vec<ServerMsg>) {
        self.shed(Some(msg), None, resync);
    }

    /// Gives lagging viewers that have room again their snapshot (called on a timer, so
    /// that a quiet session still resynchronises them). Answers how many got it.
    pub(crate) fn resync(&mut self, resync: &dyn Fn() -> Vec<ServerMsg>) -> usize {
        self.shed(None, None, resync)
    }

    /// Whether a resync would reach anyone: a viewer lags (or waits for its first
    /// picture) and has room again.
    pub(crate) fn wants_resync(&self) -> bool {
        let resume_at = self.resume_at();
        self.viewers
            .iter()
            .any(|v| v.lagging && !v.tx.is_closed() && v.tx.capacity() >= resume_at)
    }

    /// Resume only once half the queue is free, so that a viewer at the edge does not
    /// cost a full snapshot per chunk of output.
    fn resume_at(&self) -> usize {
        self.queue.div_ceil(2) + RESERVED
    }

    fn shed(
        &mut self,
        msg: Option<ServerMsg>,
        only: Option<Participant>,
        resync: &dyn Fn() -> Vec<ServerMsg>,
    ) -> usize {
        self.shed_with(msg, only, Some(resync))
    }

    /// Answers how many lagging viewers were resynchronised.
    pub(crate) fn shed_with(
        &mut self,
        msg: Option<ServerMsg>,
        only: Option<Participant>,
        resync: Option<&dyn Fn() -> Vec<ServerMsg>>,
    ) -> usize {
        let mut resynced = 0;
        let mut snapshot = LazySnapshot {
            make: resync,
            made: None,
        };
        let resume_at = self.resume_at();
        self.viewers.retain_mut(|v| {
            if v.tx.is_closed() {
                return false;
            }
            if v.lagging {
                if v.tx.capacity() >= resume_at {
                    let Some(msgs) = snapshot.get() else {
                        return true;
                    };
                    // The snapshot already contains this output: do not send it again.
                    for m in msgs {
                        if v.tx.try_send(m.clone()).is_err() {
                            return true;
                        }
                    }
                    v.lagging = false;
                    resynced += 1;
                    metrics::resynced(v.participant);
                } else if msg.is_some() && only.is_none_or(|p| p == v.participant) {
                    metrics::dropped(v.participant);
                }
                return true;
            }
            let Some(msg) = &msg else { return true };
            if only.is_some_and(|p| p != v.participant) {
                return true;
            }
            if v.tx.capacity() > RESERVED {
                // Cannot fail for lack of room (checked, and only the session sends).
                return v.tx.try_send(msg.clone()).is_ok();
            }
            v.lagging = true;
            metrics::dropped(v.participant);
            true
        });
        resynced
    }

    /// A control message every viewer must get, lagging or not (it may use the
    /// reserved slots). A viewer whose reserve is exhausted too is dropped: its socket
    /// is so far behind that the relay will see its queue close and can reconnect it.
    pub(crate) fn control(&mut self, control: ServerControl) {
        self.viewers
            .retain(|v| v.tx.try_send(ServerMsg::Control(control.clone())).is_ok());
    }

    /// Drops every queue: viewers see the end of their stream after what was queued.
    pub(crate) fn close(&mut self) {
        self.viewers.clear();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_resync_answers_how_many_viewers_it_reached() {
        let mut f = Fanout::new(8);
        let mut joiner = f.add_pending(Participant::Observer);
        let snapshot = || vec![ServerMsg::DesktopSnapshot(vec![1])];
        assert_eq!(f.resync(&snapshot), 1);
        assert!(matches!(
            joiner.try_recv(),
            Ok(ServerMsg::DesktopSnapshot(_))
        ));
        // Nobody lags any more: a second resync reaches no one.
        assert_eq!(f.resync(&snapshot), 0);
        let _second = f.add_pending(Participant::Observer);
        let _third = f.add_pending(Participant::Observer);
        assert_eq!(f.resync(&snapshot), 2);
    }
}
