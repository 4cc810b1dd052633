//! `vigil-hub`: Vigil's live sessions.
//!
//! One task per live session owns the target connection. It fans the target's output
//! out to the user, to any number of read-only observers, to the recorder and to the
//! keystroke log, and it applies lock and terminate. The hub knows nothing of users,
//! HTTP or the database: the relay decides who may attach, and persists what the
//! hub reports on its lifecycle channel.
//!
//! Files: each SSH session writes `<recordings_dir>/<id>.cast` (asciicast v2), each RDP
//! session `<recordings_dir>/<id>.desktop` ([`vigil_wire::recording`]) with its keyframe
//! index `<id>.desktop.idx` ([`desktop_index`]); both write
//! `<recordings_dir>/<id>.keys.jsonl` (one [`vigil_wire::api::Keystroke`] a line).
//! All are append-only and written per event, so a killed relay leaves them readable.
//!
//! Desktop sessions ([`Target::Rdp`]): a joiner's queue starts with
//! `DesktopActivated` and a `DesktopSnapshot` taken at a fragment boundary, then live
//! `Graphics`; only the user's `FrameDecoded` paces the server (auto-acknowledgement
//! while no user's browser reports); input goes through the lock gate.

use std::path::PathBuf;
use std::time::Duration;

use tokio::sync::{broadcast, mpsc};
use vigil_wire::api::{Keystroke, SessionId};
use vigil_wire::end::EndReason;
use vigil_wire::live::{Participant, ServerMsg, Thumbnail};

pub mod host_pin;
mod input;
pub mod lock_timing;
pub mod metrics;
pub mod snapshot_timing;
pub use input::{InputClosed, InputSender};
pub use lock_timing::{LockClock, LockStage};
/// The RDP graphics codec an asset asks for.
pub use vigil_rdp::Codec as RdpCodec;
/// The RDP desktop size an asset asks for.
pub use vigil_rdp::DesktopSize as RdpSize;
pub use vigil_secret::Secret;

/// How the relay logs in to an SSH target with the asset's managed account.
#[derive(Debug, Clone)]
pub enum SshAuth {
    Password(Secret),
    /// An OpenSSH private key, PEM text.
    PrivateKey(Secret),
}

#[derive(Debug, Clone)]
pub struct SshTarget {
    pub host: String,
    pub port: u16,
    pub username: String,
    pub auth: SshAuth,
    /// The host key pinned for this asset: an OpenSSH public key (`ssh-ed25519 AAAA…`)
    /// or its fingerprint (`SHA256:<base64>`, see [`host_pin`]). `None`: trust on first
    /// use and report it as [`Lifecycle::HostKeyLearned`]. A different key refuses the
    /// connection with the error code `host_key_changed` and is reported, by fingerprint,
    /// as [`Lifecycle::HostKeyRefused`].
    pub pinned_host_key: Option<String>,
}

/// How the relay logs in to an RDP target with the asset's managed account.
#[derive(Debug, Clone)]
pub struct RdpTarget {
    pub host: String,
    pub port: u16,
    pub username: String,
    pub password: Secret,
    pub domain: Option<String>,
    /// The certificate key pinned for this asset (`sha256:<hex>` of the certificate's
    /// SubjectPublicKeyInfo). `None`: trust on first use and report it as
    /// [`Lifecycle::HostKeyLearned`] (the same column as an SSH host key). A different
    /// key refuses the connection, before the credential is sent, with the error code
    /// `cert_changed`, and is reported as [`Lifecycle::HostKeyRefused`].
    pub pinned_cert: Option<String>,
    /// How the server is asked to encode graphics.
    pub codec: vigil_rdp::Codec,
    /// The desktop size asked for. The server's answer (the `DesktopActivated` params) is
    /// what the session uses: xrdp gives the size asked for, a shadow server its own.
    pub size: vigil_rdp::DesktopSize,
    /// The user's keyboard layout: announced to the server, and the layout the relay reads
    /// the session's keystrokes in.
    pub keyboard_layout: vigil_rdp::KeyboardLayout,
}

/// What a session connects to.
#[derive(Debug, Clone)]
pub enum Target {
    /// A terminal: recorded as `<id>.cast`.
    Ssh(SshTarget),
    /// A desktop: recorded as `<id>.desktop` (see [`vigil_wire::recording`]) with its
    /// keyframe index `<id>.desktop.idx`.
    Rdp(RdpTarget),
}

#[derive(Debug, Clone)]
pub struct LaunchSpec {
    pub session_id: SessionId,
    pub target: Target,
    /// The user's terminal size; the PTY opens at this size. Ignored for RDP (the desktop
    /// size is [`RdpTarget::size`]).
    pub cols: u16,
    pub rows: u16,
    /// Title written into the recording's header (e.g. `alice@web-1`).
    pub title: String,
}

#[derive(Debug, Clone)]
pub struct HubConfig {
    pub recordings_dir: PathBuf,
    pub connect_timeout: Duration,
    /// Capacity of each viewer's outgoing queue; a viewer that falls this far behind
    /// is resynchronised with a snapshot instead of slowing the session.
    pub viewer_queue: usize,
    /// The same for desktop sessions, whose messages are far larger: a graphics message is
    /// one fast-path PDU of at most 32 KiB (its length field has 15 bits), so 64 of them
    /// bound a desktop viewer's queue to 2 MiB, whatever the target sends.
    pub desktop_viewer_queue: usize,
    /// How often thumbnails are refreshed (only when the screen changed).
    pub thumbnail_interval: Duration,
}

impl HubConfig {
    pub fn new(recordings_dir: PathBuf) -> Self {
        HubConfig {
            recordings_dir,
            connect_timeout: Duration::from_secs(10),
            viewer_queue: 256,
            desktop_viewer_queue: 64,
            thumbnail_interval: Duration::from_secs(1),
        }
    }
}

/// Events the relay must not miss: it persists them. Delivered on a bounded channel
/// the session tasks wait on, so none is lost.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Lifecycle {
    Connected {
        id: SessionId,
    },
    /// First connection to an asset with no pinned key: pin this one. For SSH it is the
    /// host key in OpenSSH form; for RDP it is the certificate key pin `sha256:<hex>`
    /// (both go to the asset's one pinned-key column).
    HostKeyLearned {
        id: SessionId,
        host_key: String,
    },
    /// The target presented a key other than the pinned one and the connection was
    /// refused: `offered` is its fingerprint (SSH `SHA256:<base64>`, RDP `sha256:<hex>`),
    /// for an administrator to compare and accept. Comes before the session's `Ended`.
    HostKeyRefused {
        id: SessionId,
        offered: String,
    },
    Locked {
        id: SessionId,
    },
    Unlocked {
        id: SessionId,
    },
    /// The session is over (closed by the target or the user, terminated, or failed
    /// to connect). Always the last event of a session.
    Ended {
        id: SessionId,
        reason: EndReason,
    },
}

/// Events for live displays (the Active Sessions feed). Lossy: a lagging
/// subscriber misses some and should re-read state from the hub.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum HubEvent {
    Thumbnail { id: SessionId, thumbnail: Thumbnail },
    Keystroke { id: SessionId, keystroke: Keystroke },
}

#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum HubError {
    #[error("a live session with id {0} already exists")]
    Duplicate(SessionId),
    #[error("no live session with id {0}")]
    NotFound(SessionId),
    #[error("recording could not be opened: {0}")]
    Recording(String),
}

/// A participant's connection to a live session.
pub struct Attachment {
    /// What to send to this participant's socket, in order. For a late joiner it starts
    /// with a `ServerMsg::Snapshot` of the current screen (and `Locked` if locked).
    pub rx: mpsc::Receiver<ServerMsg>,
    /// Only for `Participant::User`: the user's input and resizes. The hub applies
    /// the lock (input received while locked never acts, even after an unlock); the
    /// relay never attaches an observer with input.
    pub input: Option<InputSender>,
    pub cols: u16,
    pub rows: u16,
    pub locked: bool,
    /// Only for `Participant::User`: told when a `Locked` notice from `rx` has been
    /// written to the user's socket (see [`lock_timing`]).
    pub lock_clock: Option<LockClock>,
}

/// Handle to all live sessions of this relay. Cheap to clone.
#[derive(Clone)]
pub struct Hub {
    inner: std::sync::Arc<hub::Inner>,
}

mod hub;

impl Hub {
    /// `lifecycle` receives every [`Lifecycle`] event, in the order each session reported
    /// them; keep it drained. It is unbounded so that no session ever waits for the relay's
    /// bookkeeping: a backlog costs one queued event each, tens of bytes.
    pub fn new(config: HubConfig, lifecycle: mpsc::UnboundedSender<Lifecycle>) -> Hub {
        Hub {
            inner: std::sync::Arc::new(hub::Inner::new(config, lifecycle)),
        }
    }

    /// Starts a session task and returns at once; the task connects in the background
    /// and reports failure to the attached user (`ServerControl::Error`) and as `Ended`.
    pub fn launch(&self, spec: LaunchSpec) -> Result<(), HubError> {
        self.inner.launch(spec)
    }

    /// Attaches a participant. `None` if the session is not live.
    pub fn attach(&self, id: &str, participant: Participant) -> Option<Attachment> {
        self.inner.attach(id, participant)
    }

    pub fn lock(&self, id: &str) -> Result<(), HubError> {
        self.lock_requested_at(id, std::time::Instant::now())
    }

    /// Locks, for a request that entered the relay at `requested`: the lock's timings
    /// ([`lock_timing`]) are measured from then.
    pub fn lock_requested_at(
        &self,
        id: &str,
        requested: std::time::Instant,
    ) -> Result<(), HubError> {
        self.inner.set_locked(id, true, requested)
    }

    pub fn unlock(&self, id: &str) -> Result<(), HubError> {
        self.inner.set_locked(id, false, std::time::Instant::now())
    }

    /// Ends the session at once: closes the channel and the connection, tells every
    /// participant `reason`, and finishes the recording.
    pub fn terminate(&self, id: &str, reason: String) -> Result<(), HubError> {
        self.inner.terminate(id, reason)
    }

    pub fn is_live(&self, id: &str) -> bool {
        self.inner.is_live(id)
    }

    /// Why a session ended, while it has left the hub but the relay may not have stored its
    /// `Lifecycle::Ended` yet (until [`Hub::forget_ended`]).
    pub fn end_reason(&self, id: &str) -> Option<EndReason> {
        self.inner.end_reason(id)
    }

    /// The relay has stored the session's end: its reason is read from there from now on.
    pub fn forget_ended(&self, id: &str) {
        self.inner.forget_ended(id)
    }

    pub fn is_locked(&self, id: &str) -> Option<bool> {
        self.inner.is_locked(id)
    }

    /// The latest thumbnail of a live session.
    pub fn thumbnail(&self, id: &str) -> Option<Thumbnail> {
        self.inner.thumbnail(id)
    }

    /// The newest keystrokes of a live session (a bounded tail: the whole log is read
    /// from disk with [`read_keystrokes_page`]).
    pub fn keystrokes(&self, id: &str) -> Option<Vec<Keystroke>> {
        self.inner.keystrokes(id)
    }

    pub fn subscribe(&self) -> broadcast::Receiver<HubEvent> {
        self.inner.subscribe()
    }

    /// Terminates every live session (reason `relay shutting down`) and waits for
    /// their recordings to be finished.
    pub async fn shutdown(&self) {
        self.inner.shutdown().await
    }

    /// The terminal recording (`<id>.cast`), whether or not the session was SSH.
    pub fn recording_path(&self, id: &str) -> PathBuf {
        self.inner.recording_path(id)
    }

    /// The desktop recording (`<id>.desktop`); its index is [`Hub::desktop_index_path`].
    pub fn desktop_recording_path(&self, id: &str) -> PathBuf {
        self.inner.desktop_path(id)
    }

    pub fn desktop_index_path(&self, id: &str) -> PathBuf {
        self.inner.desktop_index_path(id)
    }

    pub fn keystrokes_path(&self, id: &str) -> PathBuf {
        self.inner.keystrokes_path(id)
    }
}

/// Reads a finished (or interrupted) session's keystroke log. Tolerates a torn last
/// line, as a killed relay may leave one.
pub fn read_keystrokes(path: &std::path::Path) -> std::io::Result<Vec<Keystroke>> {
    recording::read_keystrokes(path)
}

/// One page of a session's keystroke log, live or ended: at most `limit` keystrokes
/// whose `seq` comes after `after` (from the start without it). The log on disk is the
/// whole record; memory holds only what this page returns. A torn last line ends it.
pub fn read_keystrokes_page(
    path: &std::path::Path,
    after: Option<u64>,
    limit: usize,
) -> std::io::Result<Vec<Keystroke>> {
    use std::io::BufRead as _;
    let file = std::fs::File::open(path)?;
    let mut out = Vec::new();
    for line in std::io::BufReader::new(file).lines() {
        if out.len() >= limit {
            break;
        }
        let line = match line {
            Ok(l) => l,
            Err(e) if e.kind() == std::io::ErrorKind::InvalidData => break,
            Err(e) => return Err(e),
        };
        let Ok(k) = serde_json::from_str::<Keystroke>(&line) else {
            break;
        };
        if after.is_none_or(|after| k.seq > after) {
            out.push(k);
        }
    }
    Ok(out)
}

/// The keyframe index of a desktop recording: read from `<file>.idx` (written as the
/// session runs), or rebuilt by scanning the recording when the index is missing, torn or
/// does not fit the file. `size` counts whole records only, so a client never asks for a
/// torn tail.
pub fn desktop_index(
    path: &std::path::Path,
) -> std::io::Result<vigil_wire::recording::RecordingIndex> {
    desktop::recorder::read_index(path)
}

mod recording;

mod common;
mod desktop;
mod driver;
mod ended;
mod fanout;
mod ssh;
mod terminal;
