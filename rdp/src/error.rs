use std::fmt;

use vigil_wire::end::ErrorCode;

use crate::fastpath::{MAX_FRAGMENTS, MAX_REASSEMBLED};
use crate::DesktopSize;

/// Why a connection to a target failed, as a stable code the relay can show and audit.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ConnectErrorKind {
    /// TCP connect failed or timed out.
    TargetUnreachable,
    /// The server rejected the credential during NLA (CredSSP).
    AuthFailed,
    /// The server's public key differs from the pinned one.
    CertChanged,
    /// Anything else the target did wrong: negotiation, TLS, activation, redirection.
    TargetError,
    /// The server answered with a desktop larger than the relay keeps a copy of
    /// ([`crate::DesktopSize::MAX`]).
    DesktopTooLarge,
}

impl ConnectErrorKind {
    pub fn code(self) -> ErrorCode {
        match self {
            Self::TargetUnreachable => ErrorCode::TargetUnreachable,
            Self::AuthFailed => ErrorCode::AuthFailed,
            Self::CertChanged => ErrorCode::CertChanged,
            Self::TargetError => ErrorCode::TargetError,
            Self::DesktopTooLarge => ErrorCode::DesktopTooLarge,
        }
    }
}

impl fmt::Display for ConnectErrorKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.code().as_str())
    }
}

/// A failed connection: a kind plus a human-readable detail (never containing the credential).
#[derive(Debug, thiserror::Error)]
#[error("{kind}: {detail}")]
pub struct ConnectError {
    pub kind: ConnectErrorKind,
    pub detail: String,
    /// [`ConnectErrorKind::CertChanged`]: the pin (`sha256:<hex>`) of the key the server
    /// presented.
    pub offered: Option<String>,
}

impl ConnectError {
    pub(crate) fn new(kind: ConnectErrorKind, detail: impl Into<String>) -> Self {
        Self {
            kind,
            detail: detail.into(),
            offered: None,
        }
    }

    pub fn code(&self) -> ErrorCode {
        self.kind.code()
    }
}

/// The server sent something the relay cannot handle; the session must end.
#[derive(Debug, thiserror::Error)]
pub enum StreamError {
    /// The server's desktop (at activation or reactivation) is larger than the relay keeps
    /// a decoded copy of.
    #[error(
        "the server's desktop size {width}x{height} is over the relay's limit of {}x{}",
        DesktopSize::MAX.width(), DesktopSize::MAX.height()
    )]
    DesktopTooLarge { width: u16, height: u16 },
    /// The server's desktop has no pixels.
    #[error("the server's desktop size {width}x{height} is empty")]
    DesktopEmpty { width: u16, height: u16 },
    /// A fragmented fast-path update grew past the relay's bound on reassembled updates.
    #[error(
        "the server's fragmented update exceeds the relay's limit of {} bytes in {} fragments",
        MAX_REASSEMBLED,
        MAX_FRAGMENTS
    )]
    UpdateTooLarge,
    #[error("unframeable server data: {0}")]
    Framing(String),
    #[error("X.224 processing failed: {0}")]
    X224(String),
    #[error("reactivation failed: {0}")]
    Reactivation(String),
    #[error("encoding a PDU failed: {0}")]
    Encode(String),
    #[error("the session has ended")]
    Ended,
}

impl StreamError {
    /// The code the session ends with.
    pub fn code(&self) -> ErrorCode {
        match self {
            Self::DesktopTooLarge { .. } => ErrorCode::DesktopTooLarge,
            Self::UpdateTooLarge => ErrorCode::TargetFlood,
            _ => ErrorCode::TargetError,
        }
    }
}

#[derive(Debug, thiserror::Error)]
pub enum ScreenError {
    #[error("inside a fragmented update: retry at the next fragment boundary")]
    MidFragment,
    #[error("encoding failed: {0}")]
    Encode(String),
}
