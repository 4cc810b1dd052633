//! The RDP side of a desktop session: connects with `vigil_rdp::connect`, then reads the
//! target, splits its stream ([`vigil_rdp::Stream`], owned here) into the core, writes the
//! core's [`DeskCmd`]s and runs its screen jobs on the relay's decoded screen (the
//! [`ScreenCopy`], owned here too), for the driver's loop ([`crate::driver`]).
//!
//! Screen jobs run on a blocking thread, and the target is read again only once the
//! screen has caught up: a desktop whose updates the relay decodes slowly is read at that
//! pace (its server waits for frame acknowledgements), and never holds up other sessions
//! or the core's mutex.

use std::time::Duration;

use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _, ReadHalf, WriteHalf};
use tokio::time::Instant;
use vigil_rdp::connect::Transport;
use vigil_rdp::{ConnectOptions, Connected, Output, SessionParams, Stream};
use vigil_wire::live::{ClientMsg, Participant};

use super::core::{DeskCmd, Desktop};
use super::screen_copy::ScreenCopy;
use crate::driver::{ConnectFailure, ConnectSteps, DrivenCore, Driver, Stop, TargetAdapter};
use crate::metrics::{self, Direction, Proto};
use crate::RdpTarget;

/// The RDP connection sequence (TLS, NLA, capabilities) gets at least this long: a
/// refused NLA login must surface as `auth_failed`, not as a timeout.
const MIN_CONNECT_TIMEOUT: Duration = Duration::from_secs(20);
/// Bound on the polite goodbye to a target that may be gone.
const CLOSE_TIMEOUT: Duration = Duration::from_secs(1);
const READ_BUF: usize = 64 * 1024;
/// Screen jobs run back to back before the driver waits again: more are needed only when
/// a lock queued a pointer position while a snapshot was being made.
const SCREEN_ROUNDS: usize = 4;

type Writer = WriteHalf<Transport>;

/// How the relay connects to `target`: the asset's codec, size and pin, and the user's
/// keyboard layout (announced to the server; the keystroke log reads keys in the same one).
fn connect_options(target: &RdpTarget, connect_timeout: Duration) -> ConnectOptions {
    ConnectOptions {
        codec: target.codec,
        width: target.size.width(),
        height: target.size.height(),
        pinned: target.pinned_cert.clone(),
        timeout: connect_timeout.max(MIN_CONNECT_TIMEOUT),
        keyboard_layout: target.keyboard_layout,
        ..ConnectOptions::default()
    }
}

/// Connects to `target`; the password is dropped once the connection sequence is over.
pub(crate) async fn connect(
    target: RdpTarget,
    timeout: Duration,
    steps: ConnectSteps,
) -> Result<RdpAdapter, ConnectFailure> {
    let rdp_target = vigil_rdp::Target {
        host: target.host.clone(),
        port: target.port,
        username: target.username.clone(),
        password: target.password.clone(),
        domain: target.domain.clone(),
    };
    let options = connect_options(&target, timeout);
    let result = vigil_rdp::connect_reporting(&rdp_target, &options, steps.as_fn()).await;
    drop(rdp_target);
    match result {
        Ok(conn) => {
            let learned = target.pinned_cert.is_none().then(|| conn.pin.clone());
            Ok(RdpAdapter::new(conn, learned))
        }
        Err(e) => Err(ConnectFailure {
            code: e.code(),
            message: e.detail.clone(),
            offered: e.offered.clone(),
        }),
    }
}

/// A connected desktop, as the driver's loop sees it.
pub(crate) struct RdpAdapter {
    params: SessionParams,
    /// The certificate pin learned on first use, for the core.
    learned: Option<String>,
    stream: Stream,
    rd: ReadHalf<Transport>,
    wr: Writer,
    buf: Vec<u8>,
    /// When the last of a burst of mouse moves may be shown to observers.
    pointer_due: Option<Instant>,
    /// `None` only while a job runs on it.
    screen: Option<ScreenCopy>,
}

/// What woke a desktop session's adapter.
pub(crate) enum DeskEvent {
    Read(std::io::Result<usize>),
    /// The pacing of pointer positions allows the pending one out.
    Pointer,
}

impl DrivenCore for Desktop {
    type Cmd = DeskCmd;

    fn user_msg(&mut self, msg: ClientMsg, at: Duration) -> Vec<DeskCmd> {
        self.client_msg(Participant::User, msg, at)
    }

    fn take_deferred(&mut self) -> Vec<DeskCmd> {
        Desktop::take_deferred(self)
    }

    fn tick(&mut self, at: Duration) -> Vec<DeskCmd> {
        Desktop::tick(self, at)
    }
}

impl RdpAdapter {
    fn new(conn: Connected, learned: Option<String>) -> RdpAdapter {
        let Connected {
            params,
            stream,
            transport,
            ..
        } = conn;
        let (rd, wr) = tokio::io::split(transport);
        RdpAdapter {
            params,
            learned,
            stream,
            rd,
            wr,
            buf: vec![0u8; READ_BUF],
            pointer_due: None,
            screen: Some(ScreenCopy::default()),
        }
    }

    /// Hands a batch of stream outputs to the core (one lock), then writes what goes
    /// upstream. `Err(Closed)`: the target ended the session.
    async fn apply(&mut self, d: &Driver<Desktop>, outputs: Vec<Output>) -> Result<(), Stop> {
        let mut to_server = Vec::new();
        let mut ended = false;
        {
            let at = d.at();
            let mut core = d.core();
            for output in outputs {
                match output {
                    Output::ToBrowsers {
                        pdu,
                        frame_end,
                        at_boundary,
                    } => core.graphics(pdu, frame_end, at_boundary, at),
                    Output::ToServer(bytes) => to_server.push(DeskCmd::Send(bytes)),
                    Output::Activated(params) => core.activated(&params, at),
                    Output::Deactivated => core.deactivated(),
                    Output::Ended(reason) => {
                        tracing::info!(id = %d.id, %reason, "The RDP target ended the session");
                        ended = true;
                    }
                }
            }
        }
        self.write(d, to_server).await?;
        if ended {
            return Err(Stop::Closed("the target ended the session".into()));
        }
        Ok(())
    }

    /// Runs the core's screen jobs on a blocking thread until it has none (or for
    /// [`SCREEN_ROUNDS`]; the rest waits for the next turn of the loop).
    async fn catch_up_screen(&mut self, d: &Driver<Desktop>) -> Result<(), Stop> {
        for _ in 0..SCREEN_ROUNDS {
            let Some(job) = d.core().take_screen_job(d.at()) else {
                return Ok(());
            };
            let Some(mut copy) = self.screen.take() else {
                return Err(Stop::Closed("the relay's screen copy was lost".into()));
            };
            let (copy, work) = tokio::task::spawn_blocking(move || {
                let work = copy.run(job);
                (copy, work)
            })
            .await
            .map_err(|e| Stop::Closed(format!("the relay's screen copy failed: {e}")))?;
            self.screen = Some(copy);
            d.core().screen_done(work, d.at());
        }
        Ok(())
    }

    fn feed(&mut self, n: usize) -> Result<Vec<Output>, Stop> {
        let Some(bytes) = self.buf.get(..n) else {
            return Ok(Vec::new());
        };
        self.stream
            .feed(bytes)
            .map_err(|e| Stop::Failed(e.code(), e.to_string()))
    }
}

impl TargetAdapter for RdpAdapter {
    type Core = Desktop;
    type Event = DeskEvent;

    async fn start(&mut self, d: &Driver<Desktop>) -> Result<(), Stop> {
        d.core()
            .connected(&self.params, self.learned.take(), d.at());
        // Bytes read past the connection sequence are already in the stream.
        let early = self.feed(0)?;
        self.apply(d, early).await
    }

    async fn prepare(&mut self, d: &Driver<Desktop>) -> Result<(), Stop> {
        self.catch_up_screen(d).await?;
        // The last of a burst of mouse moves is shown to observers when its pacing allows.
        let at = d.at();
        self.pointer_due = d
            .core()
            .pointer_due()
            .map(|due| Instant::now() + due.saturating_sub(at));
        Ok(())
    }

    async fn next_event(&mut self) -> DeskEvent {
        let due = self.pointer_due;
        tokio::select! {
            read = self.rd.read(&mut self.buf) => DeskEvent::Read(read),
            _ = tokio::time::sleep_until(due.unwrap_or_else(Instant::now)), if due.is_some() => {
                DeskEvent::Pointer
            }
        }
    }

    async fn on_event(&mut self, d: &Driver<Desktop>, event: DeskEvent) -> Result<(), Stop> {
        match event {
            DeskEvent::Read(Ok(0)) => Err(Stop::Closed("the target closed the connection".into())),
            DeskEvent::Read(Err(e)) => {
                Err(Stop::Closed(format!("reading from the target failed: {e}")))
            }
            DeskEvent::Read(Ok(n)) => {
                metrics::relayed(Proto::Rdp, Direction::FromTarget, n);
                let outputs = self.feed(n)?;
                self.apply(d, outputs).await
            }
            DeskEvent::Pointer => {
                d.core().show_pointer(d.at(), false);
                Ok(())
            }
        }
    }

    async fn write(&mut self, _d: &Driver<Desktop>, cmds: Vec<DeskCmd>) -> Result<(), Stop> {
        perform_cmds(&mut self.stream, &mut self.wr, cmds)
            .await
            .map_err(|e| Stop::Closed(format!("write to the target failed: {e}")))
    }

    /// Both legs close at once: viewers already got `Ended`; the target gets the releases
    /// of whatever the user held and a Shutdown Request, then the socket is dropped
    /// (bounded: the target may be gone).
    async fn close(mut self, d: &Driver<Desktop>) {
        let mut goodbye = d.core().release_all();
        goodbye.extend(self.stream.shutdown_request().ok());
        let wr = &mut self.wr;
        let _ = tokio::time::timeout(CLOSE_TIMEOUT, async {
            for pdu in goodbye {
                wr.write_all(&pdu).await?;
            }
            wr.shutdown().await
        })
        .await;
    }
}

/// Performs the core's commands, in order.
async fn perform_cmds(
    stream: &mut Stream,
    wr: &mut Writer,
    cmds: Vec<DeskCmd>,
) -> std::io::Result<()> {
    for cmd in cmds {
        match cmd {
            DeskCmd::Send(bytes) => {
                wr.write_all(&bytes).await?;
                metrics::relayed(Proto::Rdp, Direction::ToTarget, bytes.len());
            }
            DeskCmd::AutoAck(on) => stream.set_auto_ack(on),
            DeskCmd::Ack(frame_id) => match stream.on_primary_decoded(frame_id) {
                Ok(outputs) => {
                    for output in outputs {
                        if let Output::ToServer(bytes) = output {
                            wr.write_all(&bytes).await?;
                            metrics::relayed(Proto::Rdp, Direction::ToTarget, bytes.len());
                        }
                    }
                }
                Err(error) => tracing::debug!(%error, "Frame acknowledgement not sent"),
            },
        }
    }
    wr.flush().await
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::Secret;

    #[test]
    fn the_users_layout_and_the_assets_settings_reach_the_connector() {
        let target = RdpTarget {
            host: "h".into(),
            port: 3389,
            username: "u".into(),
            password: Secret::new("p"),
            domain: None,
            pinned_cert: Some("sha256:00".into()),
            codec: vigil_rdp::Codec::Bitmap,
            size: vigil_rdp::DesktopSize::DEFAULT,
            keyboard_layout: vigil_rdp::KeyboardLayout::FrFr,
        };
        let o = connect_options(&target, Duration::from_secs(1));
        assert_eq!(o.keyboard_layout, vigil_rdp::KeyboardLayout::FrFr);
        assert_eq!(o.codec, vigil_rdp::Codec::Bitmap);
        assert_eq!(o.pinned.as_deref(), Some("sha256:00"));
        assert_eq!(o.timeout, MIN_CONNECT_TIMEOUT);
    }
}
