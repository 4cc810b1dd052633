//! Desktop (RDP) sessions: the sans-IO core ([`session::Desktop`]), its recorder
//! ([`recorder`]) and the task that owns the target connection ([`task`]).

use std::time::Duration;

use tokio::sync::mpsc;
use vigil_wire::api::Keystroke;
use vigil_wire::live::{Participant, ServerMsg, Thumbnail};

use crate::hub::CoreApi;
use crate::Lifecycle;

pub(crate) mod recorder;
pub(crate) mod session;
pub(crate) mod task;

pub(crate) use session::{Desktop, DesktopConfig};

impl CoreApi for Desktop {
    fn attach(
        &mut self,
        participant: Participant,
    ) -> Option<(mpsc::Receiver<ServerMsg>, u16, u16)> {
        let rx = Desktop::attach(self, participant)?;
        let (w, h) = self.size();
        Some((rx, w, h))
    }
    fn set_locked(&mut self, locked: bool, at: Duration) {
        Desktop::set_locked(self, locked, at)
    }
    fn terminate(&mut self, reason: &str, at: Duration) {
        Desktop::terminate(self, reason, at)
    }
    fn is_ended(&self) -> bool {
        Desktop::is_ended(self)
    }
    fn is_locked(&self) -> bool {
        Desktop::is_locked(self)
    }
    fn thumbnail(&self) -> Thumbnail {
        Desktop::thumbnail(self)
    }
    fn keystrokes(&self) -> Vec<Keystroke> {
        Desktop::keystrokes(self).to_vec()
    }
    fn take_lifecycle(&mut self) -> Vec<Lifecycle> {
        Desktop::take_lifecycle(self)
    }
    fn end_reason(&self) -> Option<String> {
        Desktop::end_reason(self).map(str::to_string)
    }
}
