//! The task of one live session, whatever its protocol: it connects, then runs one loop
//! that waits on the target, the user's input, the hub's wake-ups and a tick, and drives
//! the session's core; then it ends the session. What differs between SSH and RDP is a
//! [`TargetAdapter`] (`terminal::task`, `desktop::task`); what the loop asks of the core is
//! a [`DrivenCore`].
//!
//! Invariants the loop keeps for every protocol:
//! - The session's cancel token (terminate, shutdown) is polled first on every wait, and
//!   every await on the target races it: a target that stops reading (an SSH window
//!   never opened, a full TCP window) cannot keep a terminate from landing.
//! - The user's input acts only in the lock epoch it arrived in ([`crate::input`]), and
//!   the core is asked for each next piece of it before that piece is written, so a lock
//!   stops a paste within one small write.
//! - Lifecycle events go straight onto the relay's unbounded channel; the loop never
//!   waits for the relay (a database slow to store them must not stall input or output).
//! - The core's mutex is only held for synchronous core calls, never across an await.

use std::future::Future;
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

use tokio::sync::mpsc;
use vigil_wire::api::SessionId;
use vigil_wire::connect::ConnectStep;
use vigil_wire::end::{EndReason, ErrorCode};
use vigil_wire::live::ClientMsg;

use crate::common::SessionCore;
use crate::hub::{lock_core, registry, Ended, Live, Registry, SHUTDOWN_REASON};
use crate::input::Stamped;
use crate::Lifecycle;

/// What the driver's loop asks of a session core, under the core's mutex.
pub(crate) trait DrivenCore: SessionCore + 'static {
    /// What the adapter must do to the target.
    type Cmd: Send;

    /// A message from the user (already admitted by its lock epoch): what to do upstream.
    fn user_msg(&mut self, msg: ClientMsg, at: Duration) -> Vec<Self::Cmd>;

    /// The next piece of the user's input, asked for before each write; `None` once there
    /// is nothing left, or once a lock or an end dropped the rest.
    fn next_input(&mut self, _at: Duration) -> Option<Self::Cmd> {
        None
    }

    /// Commands produced outside the driver (by a lock or an unlock).
    fn take_deferred(&mut self) -> Vec<Self::Cmd>;

    /// Periodic work: thumbnails, resynchronising lagging viewers, acknowledgement modes.
    fn tick(&mut self, at: Duration) -> Vec<Self::Cmd>;
}

/// Why a session's loop stopped.
#[derive(Debug)]
pub(crate) enum Stop {
    /// Terminated or shut down (the cancel token): the core already knows.
    Cancelled,
    /// The core ended the session itself (a recording that failed, say).
    Ended,
    /// The target closed or the link broke: the reason, as is.
    Closed(String),
    /// The target broke the protocol or one of the relay's bounds: its code (e.g.
    /// `target_flood`) and what happened. The user is told the code.
    Failed(ErrorCode, String),
}

/// A connection that could not be made, as the user is told it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct ConnectFailure {
    pub code: ErrorCode,
    pub message: String,
    /// A refused key or certificate: the fingerprint the target presented.
    pub offered: Option<String>,
}

/// Tells a session's core each step of its connection as it completes (and so whoever
/// waits on it: [`crate::common::Common::connect_step`]). Cloned into the connect future.
#[derive(Clone)]
pub(crate) struct ConnectSteps(Arc<dyn Fn(ConnectStep) + Send + Sync>);

impl ConnectSteps {
    pub(crate) fn of<C: SessionCore + Send + 'static>(core: &Arc<Mutex<C>>) -> ConnectSteps {
        let core = core.clone();
        ConnectSteps(Arc::new(move |step| {
            lock_core(&core).common_mut().connect_step(step);
        }))
    }

    /// As the RDP leg and the SSH connect take it.
    pub(crate) fn as_fn(&self) -> &(dyn Fn(ConnectStep) + Send + Sync) {
        &*self.0
    }
}

/// The protocol side of a session: the only place that reads and writes its target. Each
/// method is called by the driver's loop, whose awaits all race the cancel token.
pub(crate) trait TargetAdapter: Send + Sized {
    type Core: DrivenCore;
    /// What [`TargetAdapter::next_event`] brings (from the target or the adapter's own
    /// timers and workers).
    type Event: Send;

    /// The connection is up: the core learns it, with what arrived during the setup.
    fn start(&mut self, d: &Driver<Self::Core>) -> impl Future<Output = Result<(), Stop>> + Send;

    /// Work before each wait, after the deferred commands are written.
    fn prepare(
        &mut self,
        _d: &Driver<Self::Core>,
    ) -> impl Future<Output = Result<(), Stop>> + Send {
        async { Ok(()) }
    }

    /// Waits for the next event. Cancel-safe: dropped whenever another wake-up wins.
    fn next_event(&mut self) -> impl Future<Output = Self::Event> + Send;

    /// Handles one event: hands it to the core, writes what goes upstream.
    fn on_event(
        &mut self,
        d: &Driver<Self::Core>,
        event: Self::Event,
    ) -> impl Future<Output = Result<(), Stop>> + Send;

    /// Writes the core's commands to the target, in order.
    fn write(
        &mut self,
        d: &Driver<Self::Core>,
        cmds: Vec<<Self::Core as DrivenCore>::Cmd>,
    ) -> impl Future<Output = Result<(), Stop>> + Send;

    /// The goodbye to the target once the core has ended; bounded (it may be gone).
    fn close(self, d: &Driver<Self::Core>) -> impl Future<Output = ()> + Send;
}

/// What one wait of the loop brought.
enum Woken<E> {
    Target(E),
    Input(Stamped),
    Tick,
}

/// The task of one session: owns the target connection (through its adapter) and drives
/// the core `C`.
pub(crate) struct Driver<C> {
    pub(crate) id: SessionId,
    pub(crate) core: Arc<Mutex<C>>,
    pub(crate) live: Live,
    pub(crate) sessions: Registry,
    pub(crate) ended: Ended,
    pub(crate) lifecycle: mpsc::UnboundedSender<Lifecycle>,
    pub(crate) tick: Duration,
}

impl<C: DrivenCore> Driver<C> {
    pub(crate) fn core(&self) -> MutexGuard<'_, C> {
        lock_core(&self.core)
    }

    /// The time since the session started: the core's clock.
    pub(crate) fn at(&self) -> Duration {
        self.live.at()
    }

    /// Connects (racing the cancel token), serves the session, then ends it.
    pub(crate) async fn run<A, F>(self, connect: F, input: mpsc::Receiver<Stamped>)
    where
        A: TargetAdapter<Core = C>,
        F: Future<Output = Result<A, ConnectFailure>>,
    {
        let outcome = tokio::select! {
            r = connect => Some(r),
            _ = self.live.cancel.cancelled() => None,
        };
        match outcome {
            Some(Ok(adapter)) => self.serve(adapter, input).await,
            Some(Err(e)) => {
                tracing::info!(id = %self.id, code = %e.code, message = %e.message, "Connection to the target failed");
                let mut core = self.core();
                if let Some(offered) = e.offered {
                    core.common_mut().host_key_refused(offered);
                }
                core.failed(e.code, &e.message, self.at());
            }
            // Terminated (or shut down) while connecting: the core already knows.
            None => self.core().terminate(SHUTDOWN_REASON, self.at()),
        }
        self.finish();
    }

    async fn serve<A: TargetAdapter<Core = C>>(
        &self,
        mut adapter: A,
        mut input: mpsc::Receiver<Stamped>,
    ) {
        let stop = match self.race(adapter.start(self)).await {
            Ok(()) => self.drive(&mut adapter, &mut input).await,
            Err(stop) => stop,
        };
        match stop {
            Stop::Closed(reason) => self.core().closed(&reason, self.at()),
            Stop::Failed(code, message) => {
                tracing::info!(id = %self.id, %code, %message, "The target broke the session");
                self.core().failed(code, &message, self.at());
            }
            Stop::Cancelled | Stop::Ended => {}
        }
        adapter.close(self).await;
    }

    /// The loop: until the session stops, deliver what the core queued, then wait for the
    /// next thing to do, terminate first.
    async fn drive<A: TargetAdapter<Core = C>>(
        &self,
        adapter: &mut A,
        input: &mut mpsc::Receiver<Stamped>,
    ) -> Stop {
        let mut tick = tokio::time::interval(self.tick);
        tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            self.deliver_lifecycle();
            let deferred = self.core().take_deferred();
            if let Err(stop) = self.race(adapter.write(self, deferred)).await {
                return stop;
            }
            if let Err(stop) = self.race(adapter.prepare(self)).await {
                return stop;
            }
            if self.core().is_ended() {
                return Stop::Ended;
            }
            let woken = tokio::select! {
                // Terminate first: nothing more reaches the target once it is asked.
                biased;
                _ = self.live.cancel.cancelled() => return Stop::Cancelled,
                _ = self.live.wake.notified() => continue,
                event = adapter.next_event() => Woken::Target(event),
                Some(stamped) = input.recv() => Woken::Input(stamped),
                _ = tick.tick() => Woken::Tick,
            };
            let done = match woken {
                Woken::Target(event) => self.race(adapter.on_event(self, event)).await,
                Woken::Input(stamped) => self.race(self.user_input(adapter, stamped)).await,
                Woken::Tick => {
                    let cmds = self.core().tick(self.at());
                    self.race(adapter.write(self, cmds)).await
                }
            };
            if let Err(stop) = done {
                return stop;
            }
        }
    }

    /// The user's message, if its lock epoch is still current, then the rest of its input
    /// one piece at a time: the core is asked before each write, so a lock stops it within
    /// one piece.
    async fn user_input<A: TargetAdapter<Core = C>>(
        &self,
        adapter: &mut A,
        stamped: Stamped,
    ) -> Result<(), Stop> {
        let cmds = {
            let mut core = self.core();
            let admitted = core.admits(&stamped);
            // Input from before the lock, or typed since: the core never forwards it.
            if stamped.is_input() && (!admitted || core.is_locked()) {
                self.live.lock_clock.dropped();
            }
            if !admitted {
                return Ok(());
            }
            core.user_msg(stamped.msg, self.at())
        };
        adapter.write(self, cmds).await?;
        loop {
            let next = self.core().next_input(self.at());
            let Some(cmd) = next else { return Ok(()) };
            adapter.write(self, vec![cmd]).await?;
        }
    }

    /// `work`, unless the session is terminated first (then `Err(Stop::Cancelled)`, and
    /// whatever `work` had left is not done).
    pub(crate) async fn race<T>(
        &self,
        work: impl Future<Output = Result<T, Stop>>,
    ) -> Result<T, Stop> {
        tokio::select! {
            biased;
            _ = self.live.cancel.cancelled() => {
                tracing::debug!(id = %self.id, "Work on the target abandoned: the session was terminated");
                Err(Stop::Cancelled)
            }
            r = work => r,
        }
    }

    /// Hands the relay what the core queued on its lifecycle channel.
    pub(crate) fn deliver_lifecycle(&self) {
        let events = self.core().take_lifecycle();
        for event in events {
            let _ = self.lifecycle.send(event);
        }
    }

    /// Leaves the registry (its end reason kept in `ended` until the relay has stored it),
    /// then reports what is left, `Ended` last.
    fn finish(self) {
        let reason = self
            .core()
            .end_reason()
            .cloned()
            .unwrap_or_else(|| EndReason::plain("closed"));
        lock_core(&self.ended).record(self.id.clone(), reason.clone());
        registry(&self.sessions).remove(&self.id);
        self.deliver_lifecycle();
        let _ = self.lifecycle.send(Lifecycle::Ended {
            id: self.id,
            reason,
        });
    }
}
