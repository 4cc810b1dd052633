//! Sans-IO splitter for the server → relay byte stream.
//!
//! X.224 (slow-path) PDUs are handled here with `ironrdp_session::x224::Processor` — not
//! `ActiveStage`, which would swallow xrdp's slow-path bitmaps into its own image. Graphics and
//! pointer updates are normalised to fast-path PDUs so browsers have one input format;
//! fast-path PDUs are peeked (not decoded) for frame markers and fragment state. Frame
//! acknowledgements are owned by the relay and paced by the primary browser's decode progress;
//! browser bytes never go upstream.

use std::collections::VecDeque;

use bytes::{Bytes, BytesMut};
use ironrdp_connector::connection_activation::{
    ConnectionActivationFactory, ConnectionActivationSequence, ConnectionActivationState,
};
use ironrdp_connector::{ConnectionResult, Sequence as _};
use ironrdp_core::WriteBuf;
use ironrdp_pdu::codecs::rfx::FrameAcknowledgePdu;
use ironrdp_pdu::fast_path::UpdateCode;
use ironrdp_pdu::geometry::InclusiveRectangle;
use ironrdp_pdu::rdp::headers::ShareDataPdu;
use ironrdp_pdu::rdp::refresh_rectangle::RefreshRectanglePdu;
use ironrdp_pdu::Action;
use ironrdp_session::x224::{self, ProcessorOutput};
use tracing::{debug, info, warn};

use crate::error::StreamError;
use crate::fastpath::{self, Peek};
use crate::{pointer, DesktopSize, SessionParams};

/// Frame ids waiting for the primary browser; bounded so an absent primary costs nothing.
const MAX_UNACKED: usize = 256;

/// Slow-path `updateType` values (MS-RDPBCGR 2.2.9.1.1.3.1).
const UPDATETYPE_ORDERS: u16 = 0;
const UPDATETYPE_BITMAP: u16 = 1;
const UPDATETYPE_PALETTE: u16 = 2;

/// One effect of feeding server bytes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Output {
    /// A fast-path output PDU for every browser (and the relay's [`crate::Screen`], the
    /// recorder). `frame_end` is the id of a frame this PDU completes: report it back through
    /// [`Stream::on_primary_decoded`] once the primary browser has decoded it. `at_boundary`:
    /// after this PDU the stream is not inside a fragmented update, so a fresh decoder (a
    /// late joiner, a snapshot) may start with the next one.
    ToBrowsers {
        pdu: Bytes,
        frame_end: Option<u32>,
        at_boundary: bool,
    },
    /// Bytes for the server, already framed.
    ToServer(Vec<u8>),
    /// The server deactivated the session (Deactivate All): browsers must drop their decoder
    /// and wait for [`Output::Activated`].
    Deactivated,
    /// The (re)activation finished: browsers build a fresh decoder with these values. The
    /// relay's `Screen` and `InputGate` need them too.
    Activated(SessionParams),
    /// The server ended the session; the reason is for logs.
    Ended(String),
}

/// Counters for logs and measurements.
#[derive(Debug, Default, Clone, Copy)]
pub struct StreamStats {
    pub fast_path_pdus: u64,
    pub fast_path_bytes: u64,
    pub x224_pdus: u64,
    pub slow_path_updates_converted: u64,
    /// Pointer updates passed to browsers, re-wrapped slow-path ones included.
    pub pointer_updates: u64,
    pub slow_path_pointers_converted: u64,
    pub frames: u64,
    pub acks_sent: u64,
    pub x224_errors: u64,
    pub malformed_fast_path: u64,
}

pub struct Stream {
    buf: BytesMut,
    x224: x224::Processor,
    activation: ConnectionActivationFactory,
    reactivating: Option<ConnectionActivationSequence>,
    peek: Peek,
    params: SessionParams,
    unacked: VecDeque<u32>,
    auto_ack: bool,
    ended: bool,
    stats: StreamStats,
}

impl Stream {
    /// Build the splitter from a finished connection. `leftover` is whatever the transport had
    /// already read past the connection sequence. Refuses a desktop size the relay does not
    /// keep a copy of (see [`DesktopSize::MAX`]) before anything is allocated for it.
    pub fn new(result: ConnectionResult, leftover: &[u8]) -> Result<Self, StreamError> {
        let (width, height) = (result.desktop_size.width, result.desktop_size.height);
        if let Err(e) = DesktopSize::check_server_answer(width, height) {
            warn!(width, height, "server's desktop size refused at activation");
            return Err(e);
        }
        let params = SessionParams {
            io_channel_id: result.io_channel_id,
            user_channel_id: result.user_channel_id,
            share_id: result.share_id,
            width,
            height,
            input_flags: result.input_flags.bits(),
        };
        let x224 = x224::Processor::new(
            result.static_channels,
            result.user_channel_id,
            result.io_channel_id,
            result.message_channel_id,
            result.share_id,
        );
        Ok(Self {
            buf: BytesMut::from(leftover),
            x224,
            activation: result.activation_factory,
            reactivating: None,
            peek: Peek::default(),
            params,
            unacked: VecDeque::new(),
            auto_ack: false,
            ended: false,
            stats: StreamStats::default(),
        })
    }

    pub fn params(&self) -> &SessionParams {
        &self.params
    }

    pub fn stats(&self) -> StreamStats {
        self.stats
    }

    /// Acknowledge every frame as soon as it is seen. For sessions with no primary browser
    /// (e.g. recorded only); otherwise acks follow [`Stream::on_primary_decoded`].
    pub fn set_auto_ack(&mut self, on: bool) {
        self.auto_ack = on;
    }

    /// Not inside a fragmented update: a fresh decoder (late joiner, snapshot) may start here.
    pub fn at_fragment_boundary(&self) -> bool {
        !self.peek.in_fragment()
    }

    /// Bytes held for the fragmented update being reassembled (for tests of the bound).
    #[cfg(test)]
    pub(crate) fn reassembly_len(&self) -> usize {
        self.peek.reassembly_len()
    }

    /// Whether server bytes are still expected. False once [`Output::Ended`] was returned.
    pub fn is_active(&self) -> bool {
        !self.ended
    }

    /// Feed bytes read from the server; returns the effects of every complete PDU among them.
    pub fn feed(&mut self, bytes: &[u8]) -> Result<Vec<Output>, StreamError> {
        if self.ended {
            return Err(StreamError::Ended);
        }
        self.buf.extend_from_slice(bytes);
        let mut out = Vec::new();
        while !self.ended {
            let info = match ironrdp_pdu::find_size(&self.buf) {
                Ok(Some(info)) => info,
                Ok(None) => break,
                // There is no way to resynchronise a byte stream after a bad length.
                Err(e) => return Err(StreamError::Framing(e.to_string())),
            };
            if info.length == 0 {
                return Err(StreamError::Framing("zero-length PDU".into()));
            }
            if self.buf.len() < info.length {
                break;
            }
            let pdu = self.buf.split_to(info.length).freeze();
            match info.action {
                Action::X224 => self.on_x224(&pdu, &mut out)?,
                Action::FastPath => {
                    if self.reactivating.is_some() {
                        // Browsers have no decoder between Deactivated and Activated.
                        debug!("dropping fast-path PDU received during reactivation");
                    } else {
                        self.on_fast_path(pdu, &mut out)?;
                    }
                }
            }
        }
        Ok(out)
    }

    /// The primary browser decoded the PDU that completed `frame_id`: acknowledge it upstream.
    /// Ids the server never sent (or already acknowledged) are ignored, so a confused or
    /// malicious browser cannot make the relay send arbitrary acks.
    pub fn on_primary_decoded(&mut self, frame_id: u32) -> Result<Vec<Output>, StreamError> {
        let Some(pos) = self.unacked.iter().position(|&id| id == frame_id) else {
            return Ok(Vec::new());
        };
        // Frames before it are implicitly done: the browser decodes in order.
        self.unacked.drain(..=pos);
        Ok(vec![Output::ToServer(self.frame_ack(frame_id)?)])
    }

    /// A Refresh Rect PDU for the whole desktop (servers that honour it repaint everything).
    pub fn refresh_all(&self) -> Result<Vec<u8>, StreamError> {
        let area = InclusiveRectangle {
            left: 0,
            top: 0,
            right: self.params.width.saturating_sub(1),
            bottom: self.params.height.saturating_sub(1),
        };
        self.encode_share_data(ShareDataPdu::RefreshRectangle(RefreshRectanglePdu {
            areas_to_refresh: vec![area],
        }))
    }

    /// A Shutdown Request PDU, for a polite disconnect.
    pub fn shutdown_request(&self) -> Result<Vec<u8>, StreamError> {
        self.encode_share_data(ShareDataPdu::ShutdownRequest)
    }

    fn encode_share_data(&self, pdu: ShareDataPdu) -> Result<Vec<u8>, StreamError> {
        let mut w = WriteBuf::new();
        self.x224
            .encode_static(&mut w, pdu)
            .map_err(|e| StreamError::Encode(e.to_string()))?;
        Ok(w.into_inner())
    }

    fn frame_ack(&mut self, frame_id: u32) -> Result<Vec<u8>, StreamError> {
        self.stats.acks_sent += 1;
        self.encode_share_data(ShareDataPdu::FrameAcknowledge(FrameAcknowledgePdu {
            frame_id,
        }))
    }

    fn on_fast_path(&mut self, pdu: Bytes, out: &mut Vec<Output>) -> Result<(), StreamError> {
        self.stats.fast_path_pdus += 1;
        self.stats.fast_path_bytes += u64::try_from(pdu.len()).unwrap_or(u64::MAX);
        let peeked = self.peek.inspect(&pdu);
        if peeked.too_large {
            // Refused before it reaches browsers or the relay's screen, whose reassemblers
            // would otherwise grow with it.
            warn!(
                len = pdu.len(),
                "server's fragmented update is over the relay's bound; ending the session"
            );
            self.ended = true;
            return Err(StreamError::UpdateTooLarge);
        }
        if peeked.malformed {
            // Forward anyway: the browser's decoder is the authority on pixels; the relay only
            // loses its frame bookkeeping for this PDU.
            self.stats.malformed_fast_path += 1;
            debug!(len = pdu.len(), "fast-path PDU did not parse structurally");
        }
        if peeked.compressed {
            warn!("server sent bulk-compressed fast-path data although none was negotiated");
        }
        self.stats.pointer_updates += peeked.pointer_updates;
        let frame_end = peeked.frame_ends.last().copied();
        out.push(Output::ToBrowsers {
            pdu,
            frame_end,
            at_boundary: !self.peek.in_fragment(),
        });
        for id in peeked.frame_ends {
            self.stats.frames += 1;
            if self.auto_ack {
                let ack = self.frame_ack(id)?;
                out.push(Output::ToServer(ack));
            } else {
                if self.unacked.len() == MAX_UNACKED {
                    self.unacked.pop_front();
                }
                self.unacked.push_back(id);
            }
        }
        Ok(())
    }

    fn on_x224(&mut self, pdu: &[u8], out: &mut Vec<Output>) -> Result<(), StreamError> {
        self.stats.x224_pdus += 1;
        if self.reactivating.is_some() {
            return self.step_reactivation(pdu, out);
        }
        let outputs = match self.x224.process(pdu, &mut None, None) {
            Ok(outputs) => outputs,
            Err(e) => {
                // IronRDP rejects a few PDUs it does not model; none of them carry graphics,
                // so one bad PDU should not end a privileged session.
                self.stats.x224_errors += 1;
                warn!(error = %e, "X.224 PDU not processed");
                return Ok(());
            }
        };
        for output in outputs {
            match output {
                ProcessorOutput::ResponseFrame(frame) => {
                    if !frame.is_empty() {
                        out.push(Output::ToServer(frame));
                    }
                }
                ProcessorOutput::GraphicsUpdate(data) => self.on_slow_path_graphics(&data, out)?,
                ProcessorOutput::PointerUpdate(data) => self.on_slow_path_pointer(&data, out)?,
                ProcessorOutput::Disconnect(reason) => {
                    info!(?reason, "server disconnected the session");
                    self.end(format!("{reason:?}"), out);
                }
                ProcessorOutput::DeactivateAll => {
                    info!("server sent Deactivate All; reactivating");
                    self.reactivating = Some(self.activation.create());
                    self.peek.reset();
                    self.unacked.clear();
                    out.push(Output::Deactivated);
                }
                ProcessorOutput::ServerRedirection(_) => {
                    self.end("server redirection is not supported".into(), out);
                }
                other => debug!(output = ?other, "X.224 output ignored"),
            }
        }
        Ok(())
    }

    /// Slow-path bitmap and palette data are byte-identical to their fast-path counterparts
    /// (both start with `updateType`), so they are re-wrapped, not re-encoded.
    fn on_slow_path_graphics(
        &mut self,
        data: &[u8],
        out: &mut Vec<Output>,
    ) -> Result<(), StreamError> {
        let Some(update_type) = data.get(..2).map(|b| u16::from_le_bytes([b[0], b[1]])) else {
            return Ok(());
        };
        let code = match update_type {
            UPDATETYPE_BITMAP => UpdateCode::Bitmap,
            UPDATETYPE_PALETTE => UpdateCode::Palette,
            UPDATETYPE_ORDERS => {
                warn!("dropping slow-path drawing orders (not negotiated)");
                return Ok(());
            }
            _ => return Ok(()), // Synchronize: a T.128 leftover with no content.
        };
        self.stats.slow_path_updates_converted += 1;
        let pdus = fastpath::wrap(code, data).map_err(|e| StreamError::Encode(e.to_string()))?;
        for pdu in pdus {
            self.on_fast_path(Bytes::from(pdu), out)?;
        }
        Ok(())
    }

    /// Slow-path pointer attributes are byte-identical to the fast-path pointer updates, so
    /// a TS_POINTER_PDU is re-wrapped as one (fragmented if it is a large pointer).
    fn on_slow_path_pointer(
        &mut self,
        data: &[u8],
        out: &mut Vec<Output>,
    ) -> Result<(), StreamError> {
        let Some((code, payload)) = pointer::slow_path_to_fast_path(data) else {
            debug!(
                len = data.len(),
                "dropping unknown slow-path pointer message"
            );
            return Ok(());
        };
        debug!(
            ?code,
            len = payload.len(),
            "re-wrapping slow-path pointer update"
        );
        self.stats.slow_path_pointers_converted += 1;
        let pdus = fastpath::wrap(code, payload).map_err(|e| StreamError::Encode(e.to_string()))?;
        for pdu in pdus {
            self.on_fast_path(Bytes::from(pdu), out)?;
        }
        Ok(())
    }

    fn step_reactivation(&mut self, pdu: &[u8], out: &mut Vec<Output>) -> Result<(), StreamError> {
        let Some(seq) = self.reactivating.as_mut() else {
            return Ok(());
        };
        let mut w = WriteBuf::new();
        let err = |e: ironrdp_connector::ConnectorError| StreamError::Reactivation(e.to_string());
        let written = seq.step(pdu, None, &mut w).map_err(err)?;
        if let Some(n) = written.size() {
            out.push(Output::ToServer(w.filled()[..n].to_vec()));
        }
        // Some steps produce output without waiting for input (the finalization PDUs).
        while !seq.state().is_terminal() && seq.next_pdu_hint().is_none() {
            w.clear();
            let written = seq.step_no_input(&mut w).map_err(err)?;
            if let Some(n) = written.size() {
                out.push(Output::ToServer(w.filled()[..n].to_vec()));
            }
        }
        let state = seq.connection_activation_state();
        // The size is known from the Demand Active on: refuse it there, not after finalization.
        if let ConnectionActivationState::ConnectionFinalization { desktop_size, .. }
        | ConnectionActivationState::Finalized { desktop_size, .. } = &state
        {
            let (width, height) = (desktop_size.width, desktop_size.height);
            if let Err(e) = DesktopSize::check_server_answer(width, height) {
                warn!(
                    width,
                    height, "server's desktop size refused at reactivation"
                );
                self.ended = true;
                return Err(e);
            }
        }
        match state {
            ConnectionActivationState::Finalized {
                desktop_size,
                share_id,
                input_flags,
                static_channel_chunk_size,
                ..
            } => {
                self.reactivating = None;
                self.x224.set_share_id(share_id);
                if !self
                    .x224
                    .set_static_channel_chunk_size(static_channel_chunk_size)
                {
                    warn!(
                        static_channel_chunk_size,
                        "server chunk size rejected; keeping the old one"
                    );
                }
                self.params = SessionParams {
                    io_channel_id: self.activation.io_channel_id(),
                    user_channel_id: self.activation.user_channel_id(),
                    share_id,
                    width: desktop_size.width,
                    height: desktop_size.height,
                    input_flags: input_flags.bits(),
                };
                info!(params = ?self.params, "session reactivated");
                out.push(Output::Activated(self.params.clone()));
            }
            ConnectionActivationState::Redirected { .. } => {
                self.end("server redirection during reactivation".into(), out);
            }
            _ => {}
        }
        Ok(())
    }

    fn end(&mut self, reason: String, out: &mut Vec<Output>) {
        self.ended = true;
        out.push(Output::Ended(reason));
    }
}

#[cfg(test)]
#[path = "stream_tests.rs"]
mod tests;
