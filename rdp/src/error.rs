use std::fmt;

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
}

impl ConnectErrorKind {
    pub fn code(self) -> &'static str {
        match self {
            Self::TargetUnreachable => "target_unreachable",
            Self::AuthFailed => "auth_failed",
            Self::CertChanged => "cert_changed",
            Self::TargetError => "target_error",
        }
    }
}

impl fmt::Display for ConnectErrorKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.code())
    }
}

/// A failed connection: a kind plus a human-readable detail (never containing the credential).
#[derive(Debug, thiserror::Error)]
#[error("{kind}: {detail}")]
pub struct ConnectError {
    pub kind: ConnectErrorKind,
    pub detail: String,
}

impl ConnectError {
    pub(crate) fn new(kind: ConnectErrorKind, detail: impl Into<String>) -> Self {
        Self {
            kind,
            detail: detail.into(),
        }
    }

    pub fn code(&self) -> &'static str {
        self.kind.code()
    }
}

/// The server sent something the relay cannot handle; the session must end.
#[derive(Debug, thiserror::Error)]
pub enum StreamError {
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

#[derive(Debug, thiserror::Error)]
pub enum ScreenError {
    #[error("inside a fragmented update: retry at the next fragment boundary")]
    MidFragment,
    #[error("encoding failed: {0}")]
    Encode(String),
}
