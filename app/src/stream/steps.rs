//! The steps of a session's connection as its page lists them: what the relay reported
//! done (`ServerControl::Connecting`'s `done`), the step under way, and where it stopped
//! if the connection failed. Pure; tested natively.

use vigil_wire::api::Protocol;
use vigil_wire::connect::ConnectStep;

/// Where one step stands.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum StepState {
    Done,
    /// Under way now.
    Current,
    /// Under way when the connection failed.
    Failed,
    Pending,
}

impl StepState {
    /// The `data-state` the page gives the step.
    pub fn as_str(self) -> &'static str {
        match self {
            StepState::Done => "done",
            StepState::Current => "current",
            StepState::Failed => "failed",
            StepState::Pending => "pending",
        }
    }

    /// What a screen reader hears after the step's name.
    pub fn spoken(self) -> &'static str {
        match self {
            StepState::Done => "done",
            StepState::Current => "in progress",
            StepState::Failed => "failed",
            StepState::Pending => "not started",
        }
    }
}

/// The connection's progress, once the relay has said it is connecting.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct ConnectProgress {
    /// The last step the relay reported done.
    pub done: Option<ConnectStep>,
    /// The target is connected: every step is done.
    pub connected: bool,
    /// The connection failed at the step under way.
    pub failed: bool,
}

impl ConnectProgress {
    /// A step reported done; steps only go forward.
    pub fn step_done(&mut self, step: Option<ConnectStep>) {
        if step > self.done {
            self.done = step;
        }
    }

    pub fn connected(&mut self) {
        self.connected = true;
        self.done = Some(ConnectStep::Opened);
    }

    /// The connection failed (before it was up).
    pub fn failed(&mut self) {
        if !self.connected {
            self.failed = true;
        }
    }

    /// Still connecting: the list is worth showing.
    pub fn under_way(&self) -> bool {
        !self.connected
    }

    /// Every step, in order, with where it stands.
    pub fn rows(&self) -> Vec<(ConnectStep, StepState)> {
        let current = match self.done {
            None => Some(ConnectStep::Reached),
            Some(d) => d.next(),
        };
        ConnectStep::ALL
            .into_iter()
            .map(|step| {
                let state = if self.connected || self.done.is_some_and(|d| step <= d) {
                    StepState::Done
                } else if Some(step) == current {
                    if self.failed {
                        StepState::Failed
                    } else {
                        StepState::Current
                    }
                } else {
                    StepState::Pending
                };
                (step, state)
            })
            .collect()
    }

    /// The rows with their labels for a session of `protocol`.
    pub fn labelled(&self, protocol: Protocol) -> Vec<(&'static str, StepState)> {
        self.rows()
            .into_iter()
            .map(|(step, state)| (step.label(protocol), state))
            .collect()
    }
}
