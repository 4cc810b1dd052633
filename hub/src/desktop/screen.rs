//! The relay's decoded copy of a desktop ([`vigil_rdp::Screen`]), on a thread of its own,
//! one per session. Decoding the target's graphics and encoding snapshots (for joiners,
//! resynchronised viewers, the recording's keyframes) and thumbnails are a desktop
//! session's heavy work: none of it runs on the async runtime's threads, nor under the
//! session's mutex that the relay's request handlers wait on.
//!
//! The core ([`super::core::Desktop`]) puts the PDUs in order and hands them over as
//! [`ScreenJob`]s; this copy applies them in that order, so a snapshot made after the
//! first `n` jobs shows exactly what those `n` PDUs drew, and the core can tell whether it
//! is still current when it comes back ([`Made::Snapshot`]'s `pos`).

use std::io::Write as _;
use std::thread;

use base64::Engine as _;
use tokio::sync::mpsc;
use vigil_rdp::screen::Fragments;
use vigil_rdp::{Screen, SessionParams};

/// Width of the thumbnails in the Active Sessions feed.
pub(crate) const THUMBNAIL_WIDTH: u16 = 320;
/// Batches of jobs (one per read of the target) waiting for the thread: past this the
/// driver waits, and reads the target no further. So a target drawing faster than the relay
/// decodes is slowed, not buffered, and a snapshot asked for (during which the target is not
/// read) waits for little decoding before it.
const QUEUE: usize = 2;

/// One step of the copy, in the order the core fanned the PDUs out.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum ScreenJob {
    /// A (re)activation: a blank screen of this size and these channel ids.
    Reset(SessionParams),
    /// One fast-path PDU, as the browsers got it.
    Feed(Vec<u8>),
}

/// What the thread is asked to do.
enum Request {
    Jobs(Vec<ScreenJob>),
    Snapshot,
    Thumbnail,
}

/// A snapshot payload (see [`snapshot_payload`]) not yet finished: the compressed stream is
/// flushed, so that pointer positions fed since can still be appended at almost no cost.
pub(crate) type OpenSnapshot = flate2::write::ZlibEncoder<Vec<u8>>;

/// What the thread made.
pub(crate) enum Made {
    /// A snapshot after the first `pos` jobs.
    Snapshot {
        pos: u64,
        payload: Result<OpenSnapshot, String>,
    },
    /// A thumbnail: PNG, in base64.
    Thumbnail(Result<String, String>),
}

/// The `DesktopSnapshot` (and keyframe) payload: the screen's snapshot PDUs,
/// concatenated and zlib-compressed. Only at a fragment boundary.
pub(crate) fn snapshot_payload(screen: &Screen) -> Result<Vec<u8>, String> {
    open_snapshot(screen)?.finish().map_err(|e| e.to_string())
}

/// The snapshot payload, compressed and flushed but not finished.
fn open_snapshot(screen: &Screen) -> Result<OpenSnapshot, String> {
    let pdus = screen.snapshot().map_err(|e| e.to_string())?;
    let mut z = flate2::write::ZlibEncoder::new(Vec::new(), flate2::Compression::fast());
    for pdu in &pdus {
        z.write_all(pdu).map_err(|e| e.to_string())?;
    }
    z.flush().map_err(|e| e.to_string())?;
    Ok(z)
}

/// The snapshot of a fresh activation (a blank screen), for [`super::core::Desktop::activated`].
pub(crate) fn blank_payload(params: &SessionParams) -> Result<Vec<u8>, String> {
    snapshot_payload(&Screen::new(params))
}

/// The core's side of the copy: the jobs in order, where the stream stands between
/// updates (read from the headers, no decoding), and the latest snapshot while it is still
/// current (nothing fed since). Cheap: it runs under the session's mutex.
#[derive(Default)]
pub(crate) struct ScreenFeed {
    fragments: Fragments,
    jobs: Vec<ScreenJob>,
    /// Jobs handed out so far: the copy's position once it has applied them.
    pos: u64,
    /// A snapshot payload of the screen at `pos`.
    current: Option<Vec<u8>>,
    /// A snapshot is asked for and has not come back.
    asked: bool,
    /// Pointer positions fed since it was asked for: appended to it when it comes.
    positions: Vec<Vec<u8>>,
    /// Graphics fed since it was asked for: it will not be current.
    overtaken: bool,
    /// The position at which the last snapshot failed: not asked for again there.
    failed_at: Option<u64>,
}

impl ScreenFeed {
    /// A (re)activation: a blank screen, whose snapshot the driver made beforehand.
    pub(crate) fn reset(&mut self, params: &SessionParams, blank: Option<Vec<u8>>) {
        self.fragments = Fragments::default();
        self.push(ScreenJob::Reset(params.clone()));
        self.current = blank;
    }

    pub(crate) fn feed(&mut self, pdu: &[u8]) {
        self.fragments.inspect(pdu);
        self.push(ScreenJob::Feed(pdu.to_vec()));
        self.overtaken |= self.asked;
    }

    /// A pointer position of the relay's (at a boundary): a snapshot under way takes it
    /// in when it comes, so the user's moves never hold a joiner back.
    pub(crate) fn feed_position(&mut self, pdu: &[u8]) {
        self.fragments.inspect(pdu);
        self.push(ScreenJob::Feed(pdu.to_vec()));
        if self.asked {
            self.positions.push(pdu.to_vec());
        }
    }

    fn push(&mut self, job: ScreenJob) {
        self.jobs.push(job);
        self.pos += 1;
        self.current = None;
    }

    pub(crate) fn at_boundary(&self) -> bool {
        self.fragments.at_boundary()
    }

    /// The snapshot of the screen as the viewers have it now, if one is at hand.
    pub(crate) fn current(&self) -> Option<&[u8]> {
        self.current.as_deref()
    }

    pub(crate) fn take_jobs(&mut self) -> Vec<ScreenJob> {
        std::mem::take(&mut self.jobs)
    }

    /// Whether to ask for a snapshot now (and then it counts as asked): not while one is
    /// under way, at hand, or inside an update, nor again where one failed.
    pub(crate) fn ask(&mut self) -> bool {
        if self.asked
            || self.current.is_some()
            || !self.at_boundary()
            || self.failed_at == Some(self.pos)
        {
            return false;
        }
        self.asked = true;
        true
    }

    /// The snapshot asked for came back, made after `pos` jobs. `true` if it is current
    /// (nothing but pointer positions was fed since, and those are appended to it), and
    /// then it is kept.
    pub(crate) fn made(&mut self, pos: u64, payload: Result<OpenSnapshot, String>) -> bool {
        self.asked = false;
        let positions = std::mem::take(&mut self.positions);
        let overtaken = std::mem::take(&mut self.overtaken);
        let since = u64::try_from(positions.len()).unwrap_or(u64::MAX);
        match payload {
            Ok(mut z)
                if !overtaken && pos.saturating_add(since) == self.pos && self.at_boundary() =>
            {
                let finished = positions
                    .iter()
                    .try_for_each(|pdu| z.write_all(pdu))
                    .and_then(|()| z.finish());
                match finished {
                    Ok(payload) => {
                        self.current = Some(payload);
                        true
                    }
                    Err(error) => {
                        tracing::warn!(%error, "Desktop snapshot not finished");
                        false
                    }
                }
            }
            Ok(_) => false,
            Err(error) => {
                tracing::warn!(%error, "Desktop snapshot failed");
                self.failed_at = Some(pos);
                false
            }
        }
    }
}

/// The copy itself, without the thread (the core's tests drive it directly).
#[derive(Default)]
pub(crate) struct ScreenCopy {
    screen: Option<Screen>,
    /// Jobs applied so far.
    applied: u64,
}

impl ScreenCopy {
    pub(crate) fn apply(&mut self, jobs: Vec<ScreenJob>) {
        for job in jobs {
            match job {
                ScreenJob::Reset(params) => match &mut self.screen {
                    Some(screen) => screen.reset(&params),
                    None => self.screen = Some(Screen::new(&params)),
                },
                ScreenJob::Feed(pdu) => {
                    if let Some(screen) = &mut self.screen {
                        screen.feed(&pdu);
                    }
                }
            }
            self.applied += 1;
        }
    }

    pub(crate) fn snapshot(&self) -> Made {
        let payload = match &self.screen {
            Some(screen) => open_snapshot(screen),
            None => Err("no screen before the activation".into()),
        };
        Made::Snapshot {
            pos: self.applied,
            payload,
        }
    }

    pub(crate) fn thumbnail(&self) -> Made {
        let png = match &self.screen {
            Some(screen) => screen
                .thumbnail_png(THUMBNAIL_WIDTH)
                .map_err(|e| e.to_string()),
            None => Err("no screen before the activation".into()),
        };
        Made::Thumbnail(png.map(|png| base64::engine::general_purpose::STANDARD.encode(png)))
    }
}

/// The thread of one session's copy. It ends once this handle is dropped (after the work
/// already handed to it).
pub(crate) struct ScreenThread {
    requests: mpsc::Sender<Request>,
    made: mpsc::UnboundedReceiver<Made>,
}

/// The thread is gone (it could not start, or a decoder panicked in it).
#[derive(Debug, thiserror::Error)]
#[error("the relay's copy of the screen stopped")]
pub(crate) struct ScreenGone;

impl ScreenThread {
    pub(crate) fn start(id: &str) -> Result<ScreenThread, ScreenGone> {
        let (requests, mut rx) = mpsc::channel(QUEUE);
        let (made_tx, made) = mpsc::unbounded_channel();
        thread::Builder::new()
            .name(format!("vigil-screen-{id}"))
            .spawn(move || {
                let mut copy = ScreenCopy::default();
                while let Some(request) = rx.blocking_recv() {
                    let made = match request {
                        Request::Jobs(jobs) => {
                            copy.apply(jobs);
                            continue;
                        }
                        Request::Snapshot => copy.snapshot(),
                        Request::Thumbnail => copy.thumbnail(),
                    };
                    // The session is gone: nobody wants it.
                    if made_tx.send(made).is_err() {
                        break;
                    }
                }
            })
            .map_err(|error| {
                tracing::error!(%id, %error, "The screen thread could not start");
                ScreenGone
            })?;
        Ok(ScreenThread { requests, made })
    }

    /// Hands jobs over, waiting for room (backpressure on the target).
    pub(crate) async fn apply(&self, jobs: Vec<ScreenJob>) -> Result<(), ScreenGone> {
        if jobs.is_empty() {
            return Ok(());
        }
        self.send(Request::Jobs(jobs)).await
    }

    /// Asks for a snapshot after the jobs handed over so far; it comes back as [`Made`].
    pub(crate) async fn snapshot(&self) -> Result<(), ScreenGone> {
        self.send(Request::Snapshot).await
    }

    /// Asks for a thumbnail; it comes back as [`Made`].
    pub(crate) async fn thumbnail(&self) -> Result<(), ScreenGone> {
        self.send(Request::Thumbnail).await
    }

    async fn send(&self, request: Request) -> Result<(), ScreenGone> {
        self.requests.send(request).await.map_err(|_| ScreenGone)
    }

    /// The next thing made. Cancel-safe.
    pub(crate) async fn made(&mut self) -> Result<Made, ScreenGone> {
        self.made.recv().await.ok_or(ScreenGone)
    }
}
