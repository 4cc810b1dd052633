//! The audit log as the REST API carries it: [`AuditEntry`] (one link of the relay's
//! keyed hash chain), its [`AuditAction`], the result of checking the chain
//! ([`AuditVerification`]) and the record of a sealed recording ([`RecordingSeal`]).

use serde::{Deserialize, Serialize};

use crate::api::SessionId;

macro_rules! audit_actions {
    ($($(#[$doc:meta])* $variant:ident => $name:literal,)*) => {
        /// What an audit entry records. Stored as its `snake_case` name.
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
        #[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
        #[serde(rename_all = "snake_case")]
        pub enum AuditAction {
            $($(#[$doc])* $variant,)*
        }

        impl AuditAction {
            /// Every action, in declaration order (the app's filter lists them).
            pub const ALL: &'static [AuditAction] = &[$(AuditAction::$variant,)*];

            /// The stored name, which is also its JSON form.
            pub fn as_str(self) -> &'static str {
                match self {
                    $(AuditAction::$variant => $name,)*
                }
            }
        }

        impl std::str::FromStr for AuditAction {
            type Err = UnknownAction;
            fn from_str(s: &str) -> Result<Self, UnknownAction> {
                match s {
                    $($name => Ok(AuditAction::$variant),)*
                    other => Err(UnknownAction(other.to_string())),
                }
            }
        }
    };
}

audit_actions! {
    /// A session launched.
    Launch => "launch",
    Lock => "lock",
    Unlock => "unlock",
    Terminate => "terminate",
    TerminateAndCancel => "terminate_and_cancel",
    /// An observer attached to a live session's stream (written before `view_start`
    /// replaced it; kept so that older entries still read).
    Observe => "observe",
    /// A participant (the session's user, an observer by role or by link) attached to a
    /// live session's stream.
    ViewStart => "view_start",
    /// That participant detached; the detail says after how long.
    ViewEnd => "view_end",
    /// A share link made; the detail holds its audience, expiry and terms.
    Share => "share",
    /// A share link revoked.
    Revoke => "revoke",
    /// A share link redeemed by the viewer it names.
    LinkUse => "link_use",
    /// An ended session's in-app replay opened (once per viewer).
    Replay => "replay",
    /// A session's keystroke log read (once per viewer).
    ViewKeystrokes => "view_keystrokes",
    /// A recording read (once per viewer).
    Download => "download",
    /// A request on a session path refused: 403, or 404 for a session that exists but is
    /// hidden from the caller.
    AccessDenied => "access_denied",
    /// A finished session's recording files, their sizes and SHA-256 (a [`RecordingSeal`]
    /// in the detail).
    RecordingSealed => "recording_sealed",
    RequestCreate => "request_create",
    RequestApprove => "request_approve",
    RequestDeny => "request_deny",
    RequestCheckin => "request_checkin",
    UserCreate => "user_create",
    UserDisable => "user_disable",
    UserEnable => "user_enable",
    UserEndLogins => "user_end_logins",
    UserKeyboardLayout => "user_keyboard_layout",
    GroupRemoveMember => "group_remove_member",
    RuleCreate => "rule_create",
    RuleDelete => "rule_delete",
    AssetCreate => "asset_create",
    /// An administrator pinned the host key a target offered.
    AcceptHostKey => "accept_host_key",
    /// The first connection pinned the key it met.
    HostKeyPinned => "host_key_pinned",
    HostKeyRefused => "host_key_refused",
    CredentialsResealed => "credentials_resealed",
    EmergencyLock => "emergency_lock",
    EmergencyTerminate => "emergency_terminate",
    /// Entries written before the chain existed were chained.
    AuditChained => "audit_chained",
    /// Entries up to a sequence number were removed; the detail is an [`AuditCheckpoint`].
    AuditCheckpoint => "audit_checkpoint",
    /// An administrator placed a legal hold on a session; the detail is the reason.
    LegalHoldSet => "legal_hold_set",
    /// An administrator released a session's legal hold; the detail is the reason given.
    LegalHoldReleased => "legal_hold_released",
    /// Retention deleted a session's recording files (a [`RecordingSeal`] of what was
    /// deleted in the detail); `vigil audit verify` no longer expects them after this.
    RecordingDeleted => "recording_deleted",
}

/// An action name this build does not know.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("unknown audit action `{0}`")]
pub struct UnknownAction(pub String);

impl std::fmt::Display for AuditAction {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Comparing with the stored name (tests and filters read better so).
impl PartialEq<&str> for AuditAction {
    fn eq(&self, other: &&str) -> bool {
        self.as_str() == *other
    }
}

/// One entry of the audit log: a link of the keyed hash chain (`seq` counts from 1;
/// `hash` covers every other field and the previous entry's hash).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct AuditEntry {
    pub seq: i64,
    /// Unix milliseconds.
    pub at: i64,
    /// A username, or `cli` / `relay` for the command line and the relay itself.
    pub actor: String,
    pub action: AuditAction,
    #[cfg_attr(feature = "openapi", schema(value_type = Option<String>))]
    pub session_id: Option<SessionId>,
    /// The client's address for API requests, `cli` or `relay` otherwise.
    pub source: Option<String>,
    pub detail: String,
    /// SHA-256 of the entry's canonical encoding, hex.
    pub hash: String,
}

/// The first problem the chain check found.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "snake_case")]
pub enum AuditProblem {
    /// The entry's content no longer matches its hash.
    Edited,
    /// The entry's MAC is wrong: it was rewritten without the key.
    BadMac,
    /// An entry before this one was deleted, or entries were reordered or inserted.
    DeletedOrReordered,
    /// The chain ends before the head the database records (newest entries deleted).
    HeadMismatch,
    /// A sealed recording's files changed since the seal.
    RecordingChanged,
}

impl AuditProblem {
    /// How `vigil audit verify` and the Audit page word it.
    pub fn describe(self) -> &'static str {
        match self {
            AuditProblem::Edited => "edited",
            AuditProblem::BadMac => "bad MAC",
            AuditProblem::DeletedOrReordered => "deleted or reordered before it",
            AuditProblem::HeadMismatch => "the chain head does not match (newest entries deleted)",
            AuditProblem::RecordingChanged => "recording changed since it was sealed",
        }
    }
}

/// Where the chain broke.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct AuditBreak {
    /// The entry at which the problem shows (for a recording: its seal entry).
    pub seq: i64,
    pub problem: AuditProblem,
    /// What was found, in words (the recording's session and file, say).
    pub detail: String,
}

/// Body of `GET /api/v1/audit/verify`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct AuditVerification {
    pub ok: bool,
    /// Entries checked.
    pub entries: u64,
    pub head_seq: i64,
    pub head_hash: String,
    pub broken: Option<AuditBreak>,
}

/// One file of a sealed recording.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct SealedFile {
    /// The file name inside the recordings directory.
    pub name: String,
    pub size: u64,
    /// SHA-256, hex.
    pub sha256: String,
}

/// The detail of a `recording_sealed` entry (JSON).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct RecordingSeal {
    pub files: Vec<SealedFile>,
}

/// The detail of an `audit_checkpoint` entry (JSON): entries `first_seq..=last_seq` were
/// removed; `last_hash` was the hash of the last of them, which the first remaining
/// entry names as its `prev_hash`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct AuditCheckpoint {
    pub first_seq: i64,
    pub last_seq: i64,
    pub last_hash: String,
}

/// Query of `GET /api/v1/audit` and `/audit/export`: every filter optional.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::IntoParams))]
#[cfg_attr(feature = "openapi", into_params(parameter_in = Query))]
pub struct AuditQuery {
    /// Entries on this session.
    pub session: Option<String>,
    /// Entries by this actor.
    pub actor: Option<String>,
    pub action: Option<AuditAction>,
    /// Unix milliseconds, inclusive.
    pub since: Option<i64>,
    /// Unix milliseconds, exclusive.
    pub until: Option<i64>,
    /// Entries older than this sequence number (the next page).
    pub before_seq: Option<i64>,
    /// At most this many (default 200, at most 1000; the export ignores it).
    pub limit: Option<i64>,
}

/// The body of one audit export webhook POST: entries in seq order, oldest first. A
/// receiver may get an entry again after a failure (delivery is at least once) and
/// de-duplicates by `seq`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct AuditExportBatch {
    pub entries: Vec<AuditEntry>,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_round_trip_as_json_and_text() {
        for a in AuditAction::ALL {
            let json = serde_json::to_string(a).expect("json");
            assert_eq!(json, format!("\"{}\"", a.as_str()));
            assert_eq!(a.as_str().parse::<AuditAction>(), Ok(*a));
        }
        assert!("nonsense".parse::<AuditAction>().is_err());
        assert!(AuditAction::Lock == "lock");
    }
}
