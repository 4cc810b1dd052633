//! Why a session stream failed, and why a session ended: typed, so that no layer reads
//! another layer's prose.

use serde::{Deserialize, Serialize};

/// A failure a participant is told about (`ServerControl::Error`), and the cause kept
/// with a session that ended on one.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub enum ErrorCode {
    /// The target could not be reached (refused, no route, timed out).
    TargetUnreachable,
    /// The target refused the account's credential.
    AuthFailed,
    /// The SSH target presented a host key other than the pinned one.
    HostKeyChanged,
    /// The RDP target presented a certificate key other than the pinned one.
    CertChanged,
    /// The target broke its protocol.
    TargetError,
    /// The target sent more than the relay accepts (before the session went live, or in
    /// one reassembled update).
    TargetFlood,
    /// The RDP target's desktop is larger than the relay keeps a copy of.
    DesktopTooLarge,
    /// The recording could not be written, so the session could not go on.
    RecordingFailed,
    /// The viewer's login ended (logout, expiry, disabled user).
    LoginEnded,
    /// The viewer lost the right to this session.
    AccessRevoked,
    /// The share link the viewer came in through was revoked.
    LinkRevoked,
    /// The share link the viewer came in through expired.
    LinkExpired,
    /// The relay could not write the audit entry the step needs, so it did not take it
    /// (a view is not started unaudited).
    AuditFailed,
    /// The stream's first message was not `Hello`.
    ExpectedHello,
    /// The peer speaks another protocol version.
    Version,
    /// The peer sent a frame that does not decode.
    Malformed,
}

impl ErrorCode {
    pub const ALL: [ErrorCode; 16] = [
        Self::TargetUnreachable,
        Self::AuthFailed,
        Self::HostKeyChanged,
        Self::CertChanged,
        Self::TargetError,
        Self::TargetFlood,
        Self::DesktopTooLarge,
        Self::RecordingFailed,
        Self::LoginEnded,
        Self::AccessRevoked,
        Self::LinkRevoked,
        Self::LinkExpired,
        Self::AuditFailed,
        Self::ExpectedHello,
        Self::Version,
        Self::Malformed,
    ];

    /// The code as it is written on the wire and in the database.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::TargetUnreachable => "target_unreachable",
            Self::AuthFailed => "auth_failed",
            Self::HostKeyChanged => "host_key_changed",
            Self::CertChanged => "cert_changed",
            Self::TargetError => "target_error",
            Self::TargetFlood => "target_flood",
            Self::DesktopTooLarge => "desktop_too_large",
            Self::RecordingFailed => "recording_failed",
            Self::LoginEnded => "login_ended",
            Self::AccessRevoked => "access_revoked",
            Self::LinkRevoked => "link_revoked",
            Self::LinkExpired => "link_expired",
            Self::AuditFailed => "audit_failed",
            Self::ExpectedHello => "expected_hello",
            Self::Version => "version",
            Self::Malformed => "malformed",
        }
    }

    /// The code written as [`ErrorCode::as_str`] writes it; `None` for anything else.
    pub fn from_name(name: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|c| c.as_str() == name)
    }
}

impl std::fmt::Display for ErrorCode {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Why a session ended: `code` when it ended on a failure, `message` for people
/// (`"closed"`, `"terminated by alice"`, the failure's detail).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct EndReason {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub code: Option<ErrorCode>,
    pub message: String,
}

impl EndReason {
    /// An end that was no failure: closed, terminated, the request's end.
    pub fn plain(message: impl Into<String>) -> Self {
        Self {
            code: None,
            message: message.into(),
        }
    }

    /// An end on a failure.
    pub fn failed(code: ErrorCode, message: impl Into<String>) -> Self {
        Self {
            code: Some(code),
            message: message.into(),
        }
    }
}

impl std::fmt::Display for EndReason {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self.code {
            Some(code) => write!(f, "{code}: {}", self.message),
            None => f.write_str(&self.message),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_code_reads_back_from_its_name_and_serde_agrees() {
        for code in ErrorCode::ALL {
            assert_eq!(ErrorCode::from_name(code.as_str()), Some(code));
            let json = serde_json::to_string(&code).expect("serialise");
            assert_eq!(json, format!("\"{}\"", code.as_str()));
        }
        assert_eq!(ErrorCode::from_name("closed"), None);
    }

    #[test]
    fn a_plain_end_has_no_code_on_the_wire() {
        let json = serde_json::to_value(EndReason::plain("closed")).expect("serialise");
        assert_eq!(json, serde_json::json!({"message": "closed"}));
        let back: EndReason =
            serde_json::from_value(serde_json::json!({"code": "auth_failed", "message": "no"}))
                .expect("parse");
        assert_eq!(back, EndReason::failed(ErrorCode::AuthFailed, "no"));
    }
}
