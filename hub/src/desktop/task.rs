//! The task of one desktop session: connects with `vigil_rdp::connect`, then reads the
//! target, splits its stream ([`vigil_rdp::Stream`], owned here) and drives the core.

use std::time::Duration;

use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _, WriteHalf};
use tokio::sync::mpsc;
use vigil_rdp::connect::Transport;
use vigil_rdp::{ConnectOptions, Connected, Output, Stream};
use vigil_wire::end::ErrorCode;
use vigil_wire::live::Participant;

use super::core::{DeskCmd, Desktop};
use crate::common::SessionCore;
use crate::hub::{Cancelled, Driver, SHUTDOWN_REASON};
use crate::input::Stamped;
use crate::RdpTarget;

/// The RDP connection sequence (TLS, NLA, capabilities) gets at least this long: a
/// refused NLA login must surface as `auth_failed`, not as a timeout.
const MIN_CONNECT_TIMEOUT: Duration = Duration::from_secs(20);
/// Bound on the polite goodbye to a target that may be gone.
const CLOSE_TIMEOUT: Duration = Duration::from_secs(1);
const READ_BUF: usize = 64 * 1024;

type Writer = WriteHalf<Transport>;

/// Why a live desktop session stops reading its target.
enum Stop {
    /// The target closed or the link broke: the reason, as is.
    Closed(String),
    /// The target broke the protocol or one of the relay's bounds: its code (e.g.
    /// `target_flood`) and what happened.
    Failed(ErrorCode, String),
}

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

impl Driver<Desktop> {
    pub(crate) async fn run(self, target: RdpTarget, input: mpsc::Receiver<Stamped>) {
        let rdp_target = vigil_rdp::Target {
            host: target.host.clone(),
            port: target.port,
            username: target.username.clone(),
            password: target.password.clone(),
            domain: target.domain.clone(),
        };
        let options = connect_options(&target, self.connect_timeout);
        let outcome = tokio::select! {
            r = vigil_rdp::connect(&rdp_target, &options) => Some(r),
            _ = self.live.cancel.cancelled() => None,
        };
        drop(rdp_target);
        match outcome {
            Some(Ok(conn)) => {
                let learned = target.pinned_cert.is_none().then(|| conn.pin.clone());
                self.serve(conn, learned, input).await;
            }
            Some(Err(e)) => {
                tracing::info!(id = %self.id, code = %e.code(), message = %e.detail, "RDP connection failed");
                let mut core = self.core();
                if let Some(offered) = e.offered.clone() {
                    core.common_mut().host_key_refused(offered);
                }
                core.failed(e.code(), &e.detail, self.live.at());
            }
            None => self.core().terminate(SHUTDOWN_REASON, self.live.at()),
        }
        self.finish().await;
    }

    async fn serve(
        &self,
        conn: Connected,
        learned: Option<String>,
        mut input: mpsc::Receiver<Stamped>,
    ) {
        let Connected {
            params,
            mut stream,
            transport,
            ..
        } = conn;
        let (mut rd, mut wr) = tokio::io::split(transport);
        self.core().connected(&params, learned, self.live.at());
        // Bytes read past the connection sequence are already in the stream.
        let early = stream.feed(&[]);
        let mut closed = match early {
            Ok(outputs) => self
                .apply(&mut stream, &mut wr, outputs)
                .await
                .map(Stop::Closed),
            Err(e) => Some(Stop::Failed(e.code(), e.to_string())),
        };
        let mut buf = vec![0u8; READ_BUF];
        let mut tick = tokio::time::interval(self.tick);
        tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        while closed.is_none() {
            self.deliver_lifecycle();
            let deferred = self.core().take_deferred();
            if let Err(e) = self.perform(&mut stream, &mut wr, deferred).await {
                closed = Some(Stop::Closed(format!("write to the target failed: {e}")));
                break;
            }
            if self.core().is_ended() {
                break;
            }
            // The last of a burst of mouse moves is shown to observers when its pacing allows.
            let pointer_due = self
                .core()
                .pointer_due()
                .map(|due| tokio::time::Instant::now() + due.saturating_sub(self.live.at()));
            tokio::select! {
                // Terminate first: nothing more reaches the target once it is asked.
                biased;
                _ = self.live.cancel.cancelled() => break,
                _ = self.live.wake.notified() => {}
                read = rd.read(&mut buf) => match read {
                    Ok(0) => closed = Some(Stop::Closed("the target closed the connection".into())),
                    Err(e) => closed = Some(Stop::Closed(format!("reading from the target failed: {e}"))),
                    Ok(n) => match stream.feed(&buf[..n]) {
                        Ok(outputs) => closed = self.apply(&mut stream, &mut wr, outputs).await.map(Stop::Closed),
                        Err(e) => closed = Some(Stop::Failed(e.code(), e.to_string())),
                    },
                },
                Some(stamped) = input.recv() => {
                    let cmds = {
                        let mut core = self.core();
                        if core.admits(&stamped) {
                            core.client_msg(Participant::User, stamped.msg, self.live.at())
                        } else {
                            Vec::new()
                        }
                    };
                    if let Err(e) = self.perform(&mut stream, &mut wr, cmds).await {
                        closed = Some(Stop::Closed(format!("write to the target failed: {e}")));
                    }
                }
                _ = tokio::time::sleep_until(pointer_due.unwrap_or_else(tokio::time::Instant::now)),
                    if pointer_due.is_some() => self.core().show_pointer(self.live.at(), false),
                _ = tick.tick() => {
                    let cmds = self.core().tick(self.live.at());
                    if let Err(e) = self.perform(&mut stream, &mut wr, cmds).await {
                        closed = Some(Stop::Closed(format!("write to the target failed: {e}")));
                    }
                }
            }
        }
        match &closed {
            Some(Stop::Closed(reason)) => self.core().closed(reason, self.live.at()),
            // The user is told the code, as for a failed connection.
            Some(Stop::Failed(code, message)) => {
                tracing::info!(id = %self.id, %code, %message, "RDP target broke the stream");
                self.core().failed(*code, message, self.live.at());
            }
            None => {}
        }
        // Both legs close at once: viewers already got `Ended`; the target gets the
        // releases of whatever the user held and a Shutdown Request, then the socket
        // is dropped (bounded: the target may be gone).
        let mut goodbye = self.core().release_all();
        goodbye.extend(stream.shutdown_request().ok());
        let _ = tokio::time::timeout(CLOSE_TIMEOUT, async {
            for pdu in goodbye {
                wr.write_all(&pdu).await?;
            }
            wr.shutdown().await
        })
        .await;
    }

    /// Hands a batch of stream outputs to the core (one lock), then writes what goes
    /// upstream. `Some(reason)`: the target ended the session.
    async fn apply(
        &self,
        stream: &mut Stream,
        wr: &mut Writer,
        outputs: Vec<Output>,
    ) -> Option<String> {
        let mut to_server = Vec::new();
        let mut ended = None;
        {
            let at = self.live.at();
            let mut core = self.core();
            for output in outputs {
                match output {
                    Output::ToBrowsers { pdu, frame_end } => core.graphics(&pdu, frame_end, at),
                    Output::ToServer(bytes) => to_server.push(DeskCmd::Send(bytes)),
                    Output::Activated(params) => core.activated(&params, at),
                    Output::Deactivated => core.deactivated(),
                    Output::Ended(reason) => {
                        tracing::info!(id = %self.id, %reason, "The RDP target ended the session");
                        ended = Some("the target ended the session".to_string());
                    }
                }
            }
        }
        if let Err(e) = self.perform(stream, wr, to_server).await {
            return Some(format!("write to the target failed: {e}"));
        }
        ended
    }

    /// [`perform_cmds`], racing the session's cancel token: a target that stops reading
    /// (its TCP window full) cannot keep a terminate from landing.
    async fn perform(
        &self,
        stream: &mut Stream,
        wr: &mut Writer,
        cmds: Vec<DeskCmd>,
    ) -> std::io::Result<()> {
        tokio::select! {
            biased;
            _ = self.live.cancel.cancelled() => {
                tracing::debug!(id = %self.id, "Write to the target abandoned: the session was terminated");
                Err(std::io::Error::other(Cancelled))
            }
            r = perform_cmds(stream, wr, cmds) => r,
        }
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
            DeskCmd::Send(bytes) => wr.write_all(&bytes).await?,
            DeskCmd::AutoAck(on) => stream.set_auto_ack(on),
            DeskCmd::Ack(frame_id) => match stream.on_primary_decoded(frame_id) {
                Ok(outputs) => {
                    for output in outputs {
                        if let Output::ToServer(bytes) = output {
                            wr.write_all(&bytes).await?;
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
