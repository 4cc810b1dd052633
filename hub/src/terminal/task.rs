//! The SSH side of a terminal session: connects with [`ssh::connect`], then reads the
//! channel into the core and writes the core's [`TargetCmd`]s, for the driver's loop
//! ([`crate::driver`]).

use std::future::Future;
use std::time::Duration;

use russh::ChannelMsg;
use vigil_wire::live::ClientMsg;

use super::core::{TargetCmd, Terminal};
use crate::common::SessionCore;
use crate::driver::{ConnectFailure, ConnectSteps, DrivenCore, Driver, Stop, TargetAdapter};
use crate::metrics::{self, Direction, Proto};
use crate::ssh::{self, SshConn};
use crate::{LaunchSpec, SshTarget};

/// Bound on the polite goodbye to a target that may have stopped reading.
const CLOSE_TIMEOUT: Duration = Duration::from_secs(1);

/// Connects to `target` with a PTY of the user's size.
pub(crate) async fn connect(
    target: SshTarget,
    spec: LaunchSpec,
    timeout: Duration,
    steps: ConnectSteps,
) -> Result<SshAdapter, ConnectFailure> {
    match ssh::connect(&target, spec.cols, spec.rows, timeout, steps.as_fn()).await {
        Ok(conn) => Ok(SshAdapter { conn }),
        Err(e) => Err(ConnectFailure {
            code: e.code,
            message: e.message,
            offered: e.offered,
        }),
    }
}

/// A logged-in shell, as the driver's loop sees it.
pub(crate) struct SshAdapter {
    conn: SshConn,
}

impl DrivenCore for Terminal {
    type Cmd = TargetCmd;

    fn user_msg(&mut self, msg: ClientMsg, at: Duration) -> Vec<TargetCmd> {
        Terminal::user_msg(self, msg, at)
    }

    fn next_input(&mut self, at: Duration) -> Option<TargetCmd> {
        Terminal::next_input(self, at)
    }

    fn take_deferred(&mut self) -> Vec<TargetCmd> {
        Terminal::take_deferred(self)
    }

    fn tick(&mut self, at: Duration) -> Vec<TargetCmd> {
        Terminal::tick(self, at);
        Vec::new()
    }
}

impl TargetAdapter for SshAdapter {
    type Core = Terminal;
    type Event = Option<ChannelMsg>;

    async fn start(&mut self, d: &Driver<Terminal>) -> Result<(), Stop> {
        let mut core = d.core();
        core.connected(self.conn.learned_host_key.take());
        let early = std::mem::take(&mut self.conn.early_output);
        if !early.is_empty() {
            core.target_output(&early, d.at());
        }
        Ok(())
    }

    fn next_event(&mut self) -> impl Future<Output = Option<ChannelMsg>> + Send {
        self.conn.read.wait()
    }

    async fn on_event(
        &mut self,
        d: &Driver<Terminal>,
        msg: Option<ChannelMsg>,
    ) -> Result<(), Stop> {
        match msg {
            Some(ChannelMsg::Data { data }) | Some(ChannelMsg::ExtendedData { data, .. }) => {
                metrics::relayed(Proto::Ssh, Direction::FromTarget, data.len());
                d.core().target_output(&data, d.at());
                Ok(())
            }
            Some(ChannelMsg::Close) | None => Err(Stop::Closed("closed".into())),
            Some(_) => Ok(()),
        }
    }

    /// A broken channel shows up as its end on the read side, which ends the session: a
    /// failed write is only logged.
    async fn write(&mut self, d: &Driver<Terminal>, cmds: Vec<TargetCmd>) -> Result<(), Stop> {
        for cmd in cmds {
            let result = match cmd {
                TargetCmd::Data(bytes) => {
                    metrics::relayed(Proto::Ssh, Direction::ToTarget, bytes.len());
                    self.conn.write.data_bytes(bytes).await
                }
                TargetCmd::WindowChange { cols, rows } => {
                    self.conn
                        .write
                        .window_change(u32::from(cols), u32::from(rows), 0, 0)
                        .await
                }
            };
            if let Err(error) = result {
                tracing::debug!(id = %d.id, %error, "Write to the target failed");
            }
        }
        Ok(())
    }

    async fn close(self, d: &Driver<Terminal>) {
        let reason = d
            .core()
            .end_reason()
            .map_or_else(|| "closed".to_string(), |r| r.message.clone());
        // Bounded: a target that stopped reading may never take the goodbye.
        if tokio::time::timeout(CLOSE_TIMEOUT, self.conn.close(&reason))
            .await
            .is_err()
        {
            tracing::debug!(id = %d.id, "The target did not take the close in time");
        }
    }
}
