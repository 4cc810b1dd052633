//! Bodies of the REST API (`/api/v1`). Timestamps are Unix milliseconds (UTC).

use serde::{Deserialize, Serialize};

use crate::end::EndReason;

pub type UserId = i64;
pub type AssetId = i64;
pub type RequestId = i64;
pub type RuleId = i64;
/// Live and recorded sessions share one id space; ids are random, not sequential,
/// so that a session link cannot be guessed from another.
pub type SessionId = String;

#[path = "api_emergency.rs"]
mod emergency;
pub use emergency::{EmergencyAction, EmergencyDone, EmergencyRequest, EmergencyScope};

/// Every error body: a stable machine code and a message for people.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct ApiError {
    pub code: String,
    pub message: String,
}

/// `Debug` shows neither the username nor the password.
#[derive(Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct LoginRequest {
    pub username: String,
    pub password: String,
    /// A login for the kiosk (`/kiosk`): its cookie is a session cookie (no `Max-Age`),
    /// gone when the kiosk's browser closes.
    #[serde(default)]
    pub kiosk: bool,
}

impl std::fmt::Debug for LoginRequest {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("LoginRequest")
            .field("username", &"***")
            .field("password", &"***")
            .field("kiosk", &self.kiosk)
            .finish()
    }
}

/// Body of `GET /api/v1/kiosk`: what the administrator set for the kiosk view.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct KioskSettings {
    /// Seconds without a touch, click or key after which the kiosk logs out.
    pub idle_secs: u32,
}

/// Who is logged in, and what the UI may offer them. The relay re-checks every action;
/// these flags only decide what the UI shows.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct Me {
    #[cfg_attr(feature = "openapi", schema(value_type = i64))]
    pub id: UserId,
    pub username: String,
    pub display_name: String,
    pub is_admin: bool,
    /// Holds the ISA role on at least one asset through a Smart Rule.
    pub is_isa: bool,
    /// Holds the Active Session Reviewer role on at least one asset.
    pub is_reviewer: bool,
    /// Echo this in the [`crate::CSRF_HEADER`] header on state-changing requests.
    pub csrf_token: String,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "lowercase")]
pub enum Protocol {
    Ssh,
    Rdp,
}

impl Protocol {
    pub fn as_str(self) -> &'static str {
        match self {
            Protocol::Ssh => "ssh",
            Protocol::Rdp => "rdp",
        }
    }
}

impl std::str::FromStr for Protocol {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s {
            "ssh" => Ok(Protocol::Ssh),
            "rdp" => Ok(Protocol::Rdp),
            other => Err(format!("unknown protocol `{other}` (expected ssh or rdp)")),
        }
    }
}

/// An asset as the API shows it. It never carries the managed credential.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct Asset {
    #[cfg_attr(feature = "openapi", schema(value_type = i64))]
    pub id: AssetId,
    pub name: String,
    pub protocol: Protocol,
    pub host: String,
    pub port: u16,
    pub tags: Vec<String>,
    /// The managed account's login name (not its secret).
    pub account: String,
    /// What the caller may do with it.
    pub can_request: bool,
    pub can_launch_directly: bool,
    /// The fingerprint of the pinned host key (SSH `SHA256:<base64>`) or certificate key
    /// (RDP `sha256:<hex>`); `None`: nothing pinned yet (the first connection pins).
    #[serde(default)]
    pub host_key: Option<String>,
    /// The fingerprint the target last presented instead of the pinned one (its sessions
    /// were refused); an administrator accepts it by naming it
    /// (`POST /assets/{id}/accept-host-key`).
    #[serde(default)]
    pub host_key_offered: Option<String>,
}

/// Body of `POST /api/v1/assets/{id}/accept-host-key` (administrators).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct AcceptHostKey {
    /// The fingerprint being accepted: it must be the one the target offered
    /// (`Asset::host_key_offered`).
    pub fingerprint: String,
}

/// Roles a Smart Rule grants on the assets it selects.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "snake_case")]
pub enum GrantedRole {
    /// May request access, and launch sessions under an approved request.
    Requestor,
    /// May approve others' requests.
    Approver,
    /// Information Systems Administrator: launches without a request, monitors and controls.
    Isa,
    /// Active Session Reviewer: monitors and controls live sessions.
    ActiveSessionReviewer,
}

impl GrantedRole {
    pub const ALL: [GrantedRole; 4] = [
        GrantedRole::Requestor,
        GrantedRole::Approver,
        GrantedRole::Isa,
        GrantedRole::ActiveSessionReviewer,
    ];
    pub fn as_str(self) -> &'static str {
        match self {
            GrantedRole::Requestor => "requestor",
            GrantedRole::Approver => "approver",
            GrantedRole::Isa => "isa",
            GrantedRole::ActiveSessionReviewer => "active_session_reviewer",
        }
    }
}

impl std::str::FromStr for GrantedRole {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        GrantedRole::ALL
            .into_iter()
            .find(|r| r.as_str() == s)
            .ok_or_else(|| format!("unknown role `{s}`"))
    }
}

/// Which assets a Smart Rule covers. Every present field must match.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct AssetSelector {
    /// Glob on the asset name (`*`, `?`, `[..]`); absent means any name.
    pub name_glob: Option<String>,
    pub protocol: Option<Protocol>,
    /// The asset must carry every one of these tags.
    #[serde(default)]
    pub tags: Vec<String>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct SmartRule {
    #[cfg_attr(feature = "openapi", schema(value_type = i64))]
    pub id: RuleId,
    pub name: String,
    pub selector: AssetSelector,
    pub group: String,
    pub roles: Vec<GrantedRole>,
    /// Requests under this rule are approved without an approver.
    pub auto_approve: bool,
    /// How many live sessions one approved request may have at once (1 to 100). Where
    /// several rules make a user a requestor on an asset, the smallest applies.
    pub sessions_per_request: u32,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "snake_case")]
pub enum RequestStatus {
    Pending,
    Approved,
    Denied,
    CheckedIn,
    Expired,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct NewAccessRequest {
    #[cfg_attr(feature = "openapi", schema(value_type = i64))]
    pub asset_id: AssetId,
    pub reason: String,
    pub duration_minutes: u32,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct AccessRequest {
    #[cfg_attr(feature = "openapi", schema(value_type = i64))]
    pub id: RequestId,
    pub user: String,
    #[cfg_attr(feature = "openapi", schema(value_type = i64))]
    pub asset_id: AssetId,
    pub asset_name: String,
    pub reason: String,
    pub duration_minutes: u32,
    pub status: RequestStatus,
    pub created_at: i64,
    /// Set once approved: the request stops being usable at this time.
    pub expires_at: Option<i64>,
    pub decided_by: Option<String>,
    pub can_approve: bool,
}

/// How a session was started; decides whether Terminate and Cancel exists for it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "snake_case")]
pub enum SessionKind {
    /// Started directly by an administrator.
    Admin,
    /// Started directly by an ISA user.
    Isa,
    /// Started by a regular user under an approved access request.
    Request,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct LaunchRequest {
    #[cfg_attr(feature = "openapi", schema(value_type = i64))]
    pub asset_id: AssetId,
    /// Required for regular users; administrators and ISA users launch without one.
    #[cfg_attr(feature = "openapi", schema(value_type = Option<i64>))]
    pub request_id: Option<RequestId>,
    pub cols: u16,
    pub rows: u16,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct Launched {
    #[cfg_attr(feature = "openapi", schema(value_type = String))]
    pub session_id: SessionId,
}

/// What the caller may do to one session. Computed by the relay's policy.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct SessionControls {
    pub watch: bool,
    pub lock: bool,
    pub terminate: bool,
    pub terminate_and_cancel: bool,
    /// May make and revoke share links for the session.
    #[serde(default)]
    pub share: bool,
    /// May download the recording (`GET /sessions/{id}/recording`). The in-app replay is
    /// `watch`.
    #[serde(default)]
    pub download: bool,
    /// May place or release a legal hold on the session (administrators, not on their
    /// own session).
    #[serde(default)]
    pub legal_hold: bool,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct Session {
    #[cfg_attr(feature = "openapi", schema(value_type = String))]
    pub id: SessionId,
    pub user: String,
    #[cfg_attr(feature = "openapi", schema(value_type = i64))]
    pub asset_id: AssetId,
    pub asset_name: String,
    pub protocol: Protocol,
    pub kind: SessionKind,
    #[cfg_attr(feature = "openapi", schema(value_type = Option<i64>))]
    pub request_id: Option<RequestId>,
    pub started_at: i64,
    pub ended_at: Option<i64>,
    pub locked: bool,
    /// Why it ended, once it has (`"closed"`, `"terminated by alice"`, a failure's code
    /// and detail, …).
    pub end_reason: Option<EndReason>,
    pub controls: SessionControls,
    /// Observers attached now; `None` for callers without monitoring rights on the
    /// session (its own user never learns who watches).
    #[serde(default)]
    pub watchers: Option<u32>,
    /// The legal hold on the session, if any: retention keeps its recording while it
    /// holds. `None` also for callers without monitoring rights on the session.
    /// (Boxed: most sessions have none, and `Session` travels inside stream messages.)
    #[serde(default)]
    pub legal_hold: Option<Box<LegalHold>>,
    /// When retention deleted the recording (Unix milliseconds); its files are gone and
    /// reading them answers 410 `recording_deleted`.
    #[serde(default)]
    pub recording_deleted_at: Option<i64>,
}

/// A legal hold on a session: who placed it, when, and why.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct LegalHold {
    /// The administrator's username, or `cli`.
    pub by: String,
    /// Unix milliseconds.
    pub at: i64,
    pub reason: String,
}

/// Body of `PUT /api/v1/sessions/{id}/legal-hold` (administrators).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct SetLegalHold {
    /// `true` places the hold (a `reason` is required), `false` releases it.
    pub hold: bool,
    /// Why (at most 500 characters); recorded in the audit entry.
    #[serde(default)]
    pub reason: Option<String>,
}

/// One key (or key chord) the user typed, as the Keystrokes panel shows it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct Keystroke {
    /// Position in the session's keystroke log, from 0.
    pub seq: u64,
    /// Milliseconds since the session started.
    pub at_ms: u64,
    /// Readable form: `a`, `Enter`, `Ctrl+C`, `ArrowUp`, …
    pub key: String,
    /// The raw bytes (SSH) or scancode with direction (RDP), as hex.
    pub raw: String,
    /// RDP only, and only when it disagrees with `key`: what the user's browser said the key
    /// typed. `key` is always the relay's own reading of the scancodes in the session's
    /// keyboard layout; the browser's text is a hint, and a differing hint is flagged here
    /// (a forged label, or a browser whose layout differs from the session's). Absent in
    /// logs written before it existed, and omitted when there is nothing to flag.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub browser_text: Option<String>,
}

/// Body of `PUT /api/v1/users/{name}/keyboard-layout` (administrators).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct KeyboardLayoutSetting {
    /// Announced to the RDP server for the user's next desktop sessions, and used by the
    /// relay to read their keystrokes.
    pub layout: crate::desktop::KeyboardLayout,
}

/// The audit log's entry lives with the rest of the audit types.
pub use crate::audit::AuditEntry;

/// Body of `POST /api/v1/assets` (administrators). The credential only ever travels
/// inward: no response carries it back, and `Debug` redacts it.
#[derive(Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct NewAsset {
    pub name: String,
    pub protocol: Protocol,
    pub host: String,
    pub port: u16,
    #[serde(default)]
    pub tags: Vec<String>,
    pub account: String,
    pub password: Option<String>,
    /// OpenSSH private key (PEM), for SSH assets.
    pub private_key: Option<String>,
    /// The expected host identity, enforced from the first connection: for SSH the host
    /// key's fingerprint as `ssh-keygen -lf` prints it (`SHA256:<base64>`), for RDP the
    /// certificate key pin (`sha256:<hex>` of its SubjectPublicKeyInfo). `None`: the first
    /// connection pins what it meets.
    #[serde(default)]
    pub host_key: Option<String>,
}

impl std::fmt::Debug for NewAsset {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let redacted = |v: &Option<String>| v.as_ref().map(|_| "***");
        f.debug_struct("NewAsset")
            .field("name", &self.name)
            .field("protocol", &self.protocol)
            .field("host", &self.host)
            .field("port", &self.port)
            .field("tags", &self.tags)
            .field("account", &self.account)
            .field("password", &redacted(&self.password))
            .field("private_key", &redacted(&self.private_key))
            .field("host_key", &self.host_key)
            .finish()
    }
}

/// Body of `POST /api/v1/rules` (administrators).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct NewSmartRule {
    pub name: String,
    pub selector: AssetSelector,
    pub group: String,
    pub roles: Vec<GrantedRole>,
    #[serde(default)]
    pub auto_approve: bool,
    /// Live sessions one approved request may have at once, 1 to 100; absent: 1.
    #[serde(default = "one")]
    #[cfg_attr(feature = "openapi", schema(default = 1, minimum = 1, maximum = 100))]
    pub sessions_per_request: u32,
}

fn one() -> u32 {
    1
}

#[cfg(test)]
mod debug_tests {
    use super::*;

    #[test]
    fn debug_redacts_secrets() {
        let login = LoginRequest {
            username: "alice-the-admin".into(),
            password: "hunter2-secret".into(),
            kiosk: false,
        };
        let text = format!("{login:?}");
        assert!(
            !text.contains("alice-the-admin") && !text.contains("hunter2"),
            "{text}"
        );
        let asset = NewAsset {
            name: "db1".into(),
            protocol: Protocol::Ssh,
            host: "10.0.0.5".into(),
            port: 22,
            tags: vec![],
            account: "root".into(),
            password: Some("s3cret-pass".into()),
            private_key: Some("-----BEGIN OPENSSH PRIVATE KEY-----".into()),
            host_key: None,
        };
        let text = format!("{asset:?}");
        assert!(text.contains("db1") && text.contains("10.0.0.5"), "{text}");
        assert!(
            !text.contains("s3cret") && !text.contains("BEGIN"),
            "{text}"
        );
    }
}
#[cfg(test)]
mod keystroke_tests {
    use super::*;

    #[test]
    fn browser_text_is_optional_both_ways() {
        // A line written before the field existed still reads.
        let old = r#"{"seq":3,"at_ms":10,"key":"a","raw":"1e down"}"#;
        let k: Keystroke = serde_json::from_str(old).expect("an old line reads");
        assert_eq!(k.browser_text, None);
        // Nothing to flag: the field is left out, so the line is what it always was.
        assert_eq!(serde_json::to_string(&k).unwrap_or_default(), old);
        let flagged = Keystroke {
            browser_text: Some("rm -rf /".into()),
            ..k
        };
        let json = serde_json::to_string(&flagged).unwrap_or_default();
        assert!(json.ends_with(r#""browser_text":"rm -rf /"}"#), "{json}");
        assert_eq!(serde_json::from_str::<Keystroke>(&json).ok(), Some(flagged));
    }
}
