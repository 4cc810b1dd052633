//! The user's input on its way from the relay's socket to the session's driver.
//!
//! Input waits in a queue between the two, and a lock can come and go while it waits.
//! Each message therefore carries the session's lock epoch as it was when the relay
//! received it: the epoch advances on every lock and unlock, so input received while
//! the session was locked, or before a lock that has since been lifted, no longer
//! matches and is dropped. Only input received while unlocked, with no lock since,
//! reaches the target.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;

use tokio::sync::mpsc;
use vigil_wire::live::{ClientControl, ClientMsg};

/// Counts the session's lock switches (odd: locked). Shared by the session's core,
/// which advances it, and the user's [`InputSender`], which reads it.
#[derive(Debug, Clone, Default)]
pub(crate) struct LockEpoch(Arc<AtomicU64>);

impl LockEpoch {
    pub(crate) fn now(&self) -> u64 {
        self.0.load(Ordering::SeqCst)
    }

    /// Called under the session's lock as it switches, before anyone is told.
    pub(crate) fn advance(&self) {
        self.0.fetch_add(1, Ordering::SeqCst);
    }
}

/// A message from the user, with the lock epoch seen when it arrived.
#[derive(Debug)]
pub(crate) struct Stamped {
    pub(crate) epoch: u64,
    pub(crate) msg: ClientMsg,
}

impl Stamped {
    /// Whether the message may still act on a session whose epoch is now `current`:
    /// anything that is not input (a resize, a decoded-frame report) always may.
    pub(crate) fn admitted(&self, current: u64) -> bool {
        !self.is_input() || self.epoch == current
    }

    /// Keys, text, pointer: what a lock gates (a resize or a frame report is not input).
    pub(crate) fn is_input(&self) -> bool {
        matches!(
            self.msg,
            ClientMsg::Input(_) | ClientMsg::Control(ClientControl::Input { .. })
        )
    }
}

/// The session no longer takes input (it ended).
#[derive(Debug, thiserror::Error)]
#[error("the session no longer takes input")]
pub struct InputClosed;

/// The user's way into a live session (see [`crate::Attachment::input`]).
#[derive(Debug, Clone)]
pub struct InputSender {
    tx: mpsc::Sender<Stamped>,
    epoch: LockEpoch,
}

impl InputSender {
    pub(crate) fn new(tx: mpsc::Sender<Stamped>, epoch: LockEpoch) -> Self {
        Self { tx, epoch }
    }

    /// Queues `msg` for the session, stamped with the lock epoch as it is now.
    pub async fn send(&self, msg: ClientMsg) -> Result<(), InputClosed> {
        let stamped = Stamped {
            epoch: self.epoch.now(),
            msg,
        };
        self.tx.send(stamped).await.map_err(|_| InputClosed)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn stamped(epoch: u64, msg: ClientMsg) -> Stamped {
        Stamped { epoch, msg }
    }

    #[test]
    fn input_is_admitted_only_in_the_epoch_it_arrived_in() {
        let typed = || ClientMsg::Input(b"rm -rf /\r".to_vec());
        // Received unlocked (0), still unlocked: goes through.
        assert!(stamped(0, typed()).admitted(0));
        // Received unlocked, then locked (1): dropped.
        assert!(!stamped(0, typed()).admitted(1));
        // Received while locked (1), unlocked since (2): dropped all the same.
        assert!(!stamped(1, typed()).admitted(2));
        // Received before a lock that came and went (0 → 2): dropped.
        assert!(!stamped(0, typed()).admitted(2));
        // A resize is not input: it is applied (the core defers it while locked).
        let resize = ClientMsg::Control(ClientControl::Resize { cols: 90, rows: 30 });
        assert!(stamped(1, resize).admitted(2));
    }

    #[tokio::test]
    async fn the_sender_stamps_the_epoch_at_send_time() {
        let (tx, mut rx) = mpsc::channel(4);
        let epoch = LockEpoch::default();
        let sender = InputSender::new(tx, epoch.clone());
        sender.send(ClientMsg::Input(b"a".to_vec())).await.ok();
        epoch.advance();
        sender.send(ClientMsg::Input(b"b".to_vec())).await.ok();
        let first = rx.recv().await.map(|s| s.epoch);
        let second = rx.recv().await.map(|s| s.epoch);
        assert_eq!((first, second), (Some(0), Some(1)));
    }
}
