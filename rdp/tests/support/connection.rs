//! The relay's session loop in miniature: transport → `Stream` → (`Screen`, a primary
//! browser decoder, late joiners) with relay-owned acks paced by the primary.

use std::time::{Duration, Instant};

use anyhow::Context as _;
use ironrdp_core::WriteBuf;
use ironrdp_session::fast_path;
use ironrdp_session::image::DecodedImage;
use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _, ReadHalf, WriteHalf};
use vigil_rdp::connect::Transport;
use vigil_rdp::screen::{decoder, differing_pixels};
use vigil_rdp::{
    ConnectError, ConnectOptions, InputEvent, InputGate, Output, Screen, SessionParams, Stream,
    Target,
};

/// A browser: the same construction the WASM decoder uses, from plain values only.
pub struct FakeBrowser {
    processor: fast_path::Processor,
    pub image: DecodedImage,
    pub errors: u64,
}

impl FakeBrowser {
    pub fn new(params: &SessionParams) -> Self {
        let (processor, image) = decoder(params);
        Self {
            processor,
            image,
            errors: 0,
        }
    }

    pub fn feed(&mut self, pdu: &[u8]) {
        // Its acks are dropped: the relay owns acknowledgements.
        let mut out = WriteBuf::new();
        if self
            .processor
            .process(&mut self.image, pdu, &mut out, &mut None)
            .is_err()
        {
            self.errors += 1;
        }
    }
}

pub struct Connection {
    pub params: SessionParams,
    pub pin: String,
    pub nla: bool,
    pub connect_time: Duration,
    pub stream: Stream,
    pub screen: Screen,
    pub gate: InputGate,
    pub primary: FakeBrowser,
    pub joiners: Vec<FakeBrowser>,
    rd: ReadHalf<Transport>,
    wr: WriteHalf<Transport>,
    pub started: Instant,
    pub bytes_in: u64,
    pub pdus: u64,
    pub ended: Option<String>,
    pub reactivations: u64,
}

impl Connection {
    pub async fn connect(target: &Target, options: &ConnectOptions) -> Result<Self, ConnectError> {
        let c = vigil_rdp::connect(target, options).await?;
        let (rd, wr) = tokio::io::split(c.transport);
        Ok(Self {
            screen: Screen::new(&c.params),
            gate: InputGate::new(&c.params, vigil_rdp::KeyMap::new(options.keyboard_layout)),
            primary: FakeBrowser::new(&c.params),
            joiners: Vec::new(),
            params: c.params,
            pin: c.pin,
            nla: c.nla,
            connect_time: c.elapsed,
            stream: c.stream,
            rd,
            wr,
            started: Instant::now(),
            bytes_in: 0,
            pdus: 0,
            ended: None,
            reactivations: 0,
        })
    }

    /// Run the loop for `dur` (or until the server ends the session).
    pub async fn pump(&mut self, dur: Duration) -> anyhow::Result<()> {
        let deadline = tokio::time::Instant::now() + dur;
        let mut buf = vec![0u8; 64 * 1024];
        // Bytes already read during the connection sequence.
        let first = self.stream.feed(&[]).context("feed")?;
        self.apply(first).await?;
        while self.ended.is_none() {
            let n = match tokio::time::timeout_at(deadline, self.rd.read(&mut buf)).await {
                Err(_) => break,
                Ok(r) => r.context("read")?,
            };
            if n == 0 {
                self.ended = Some("connection closed".into());
                break;
            }
            self.bytes_in += n as u64;
            let outputs = self.stream.feed(&buf[..n]).context("feed")?;
            self.apply(outputs).await?;
        }
        Ok(())
    }

    async fn apply(&mut self, outputs: Vec<Output>) -> anyhow::Result<()> {
        for output in outputs {
            match output {
                Output::ToBrowsers { pdu, frame_end, .. } => {
                    self.pdus += 1;
                    self.screen.feed(&pdu);
                    self.primary.feed(&pdu);
                    for j in &mut self.joiners {
                        j.feed(&pdu);
                    }
                    if let Some(id) = frame_end {
                        let acks = self.stream.on_primary_decoded(id)?;
                        Box::pin(self.apply(acks)).await?;
                    }
                }
                Output::ToServer(bytes) => self.wr.write_all(&bytes).await?,
                Output::Deactivated => self.reactivations += 1,
                Output::Activated(params) => {
                    self.screen.reset(&params);
                    self.gate.set_params(&params);
                    self.primary = FakeBrowser::new(&params);
                    self.joiners.clear();
                    self.params = params;
                }
                Output::Ended(reason) => self.ended = Some(reason),
            }
        }
        Ok(())
    }

    pub async fn send(&mut self, events: &[InputEvent]) -> anyhow::Result<vigil_rdp::InputOutput> {
        let out = self.gate.handle(events)?;
        for pdu in &out.to_server {
            self.wr.write_all(pdu).await?;
        }
        Ok(out)
    }

    pub async fn lock(&mut self) -> anyhow::Result<()> {
        for pdu in self.gate.lock()? {
            self.wr.write_all(&pdu).await?;
        }
        Ok(())
    }

    /// Add a late joiner from the relay snapshot, at the next fragment boundary. Returns the
    /// snapshot's PDU count and bytes.
    pub async fn join(&mut self) -> anyhow::Result<(usize, usize)> {
        while !self.stream.at_fragment_boundary() || !self.screen.at_fragment_boundary() {
            self.pump(Duration::from_millis(20)).await?;
        }
        let snapshot = self.screen.snapshot()?;
        let mut joiner = FakeBrowser::new(&self.params);
        for pdu in &snapshot {
            joiner.feed(pdu);
        }
        let bytes = snapshot.iter().map(Vec::len).sum();
        self.joiners.push(joiner);
        Ok((snapshot.len(), bytes))
    }

    pub fn primary_vs_screen(&self) -> usize {
        differing_pixels(self.primary.image.data(), self.screen.rgba())
    }

    /// Relay decode CPU per second of session.
    pub fn decode_ms_per_s(&self) -> f64 {
        self.screen.decode_time().as_secs_f64() * 1000.0 / self.started.elapsed().as_secs_f64()
    }

    pub fn report(&self, label: &str) {
        let secs = self.started.elapsed().as_secs_f64();
        let st = self.stream.stats();
        println!(
            "[{label}] {:.1}s: {} bytes in ({:.1} KB/s), {} PDUs to browsers, {} frames, {} acks, \
             {} slow-path updates re-wrapped, {} pointer updates ({} re-wrapped from slow path), relay decode {:.1} ms total = {:.2} ms per session-second, \
             decode errors relay={} primary={}, connect {} ms",
            secs,
            self.bytes_in,
            self.bytes_in as f64 / 1024.0 / secs,
            self.pdus,
            st.frames,
            st.acks_sent,
            st.slow_path_updates_converted,
            st.pointer_updates,
            st.slow_path_pointers_converted,
            self.screen.decode_time().as_secs_f64() * 1000.0,
            self.decode_ms_per_s(),
            self.screen.errors(),
            self.primary.errors,
            self.connect_time.as_millis()
        );
    }
}
