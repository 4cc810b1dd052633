//! Share links: bodies of the REST API under `/api/v1/sessions/{id}/shares` and
//! `/api/v1/shares`, and the live participants of a session.
//!
//! A link is read-only always: it lets the people it names watch a live session (with its
//! Keystrokes) or replay an ended one, and download the recording only when the sharer
//! allowed it. Its token is shown once, travels only in the URL fragment and in POST
//! bodies, and is stored hashed.

use serde::{Deserialize, Serialize};

use crate::api::SessionId;

pub type ShareLinkId = String;

/// What a link opens.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub enum ShareKind {
    /// A live session: the stream, read-only, with its Keystrokes.
    Live,
    /// An ended session: the in-app replay and its keystrokes.
    Recording,
}

/// Who may open a link: named users and groups (the default), or any logged-in user.
/// Never anonymous.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub enum ShareAudience {
    Named {
        users: Vec<String>,
        groups: Vec<String>,
    },
    AnyUser,
}

/// Body of `POST /api/v1/sessions/{id}/shares`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct NewShareLink {
    pub audience: ShareAudience,
    /// Default 60, at most 1440; a live link also ends with its session.
    #[serde(default)]
    pub expires_in_minutes: Option<u32>,
    /// The relay makes a 6-digit verification code, shown once, to be given separately.
    #[serde(default)]
    pub with_code: bool,
    /// Recording links only: the recording may be downloaded.
    #[serde(default)]
    pub allow_download: bool,
}

/// Who has used a link, and when first and last (Unix milliseconds).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct ShareLinkUse {
    pub username: String,
    pub first_at: i64,
    pub last_at: i64,
}

/// A link as its session's sharers see it. The token is never part of it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct ShareLink {
    #[cfg_attr(feature = "openapi", schema(value_type = String))]
    pub id: ShareLinkId,
    #[cfg_attr(feature = "openapi", schema(value_type = String))]
    pub session_id: SessionId,
    pub kind: ShareKind,
    pub audience: ShareAudience,
    pub created_by: String,
    pub created_at: i64,
    pub expires_at: i64,
    pub revoked_at: Option<i64>,
    pub revoked_by: Option<String>,
    pub has_code: bool,
    pub allow_download: bool,
    pub uses: Vec<ShareLinkUse>,
}

/// Answer to creating a link: the only time the token and the code are shown.
#[derive(Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct CreatedShareLink {
    pub link: ShareLink,
    /// `{public origin}/share#{token}`
    pub url: String,
    /// The verification code, when the link has one.
    pub code: Option<String>,
}

impl std::fmt::Debug for CreatedShareLink {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("CreatedShareLink")
            .field("link", &self.link)
            .field("url", &"***")
            .field("code", &self.code.as_ref().map(|_| "***"))
            .finish()
    }
}

/// Body of `POST /api/v1/shares/redeem`. `Debug` shows neither the token nor the code.
#[derive(Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct RedeemShareLink {
    pub token: String,
    #[serde(default)]
    pub code: Option<String>,
}

impl std::fmt::Debug for RedeemShareLink {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RedeemShareLink")
            .field("token", &"***")
            .field("code", &self.code.as_ref().map(|_| "***"))
            .finish()
    }
}

/// Answer to redeeming a link: where the app goes next (`/sessions/{id}` for a live link,
/// `/replay/{id}` for a recording link).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct Redeemed {
    #[cfg_attr(feature = "openapi", schema(value_type = String))]
    pub session_id: SessionId,
    pub kind: ShareKind,
}

/// How a participant came in.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub enum JoinedVia {
    /// The session's own user.
    Owner,
    /// A role on the asset (administrator, ISA user, Active Session Reviewer).
    Role,
    /// A share link.
    Link,
}

/// One live participant of a session, for people with monitoring rights.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct LiveParticipant {
    pub username: String,
    pub display_name: String,
    pub participant: crate::live::Participant,
    pub via: JoinedVia,
    /// When this participant attached (Unix milliseconds).
    pub since: i64,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn debug_hides_the_token_and_the_code() {
        let redeem = RedeemShareLink {
            token: "tok-secret".into(),
            code: Some("123456".into()),
        };
        let shown = format!("{redeem:?}");
        assert!(
            !shown.contains("tok-secret") && !shown.contains("123456"),
            "{shown}"
        );
    }

    #[test]
    fn audience_is_tagged() -> Result<(), serde_json::Error> {
        let json = serde_json::to_string(&ShareAudience::AnyUser)?;
        assert_eq!(json, r#"{"type":"any_user"}"#);
        let named: ShareAudience =
            serde_json::from_str(r#"{"type":"named","users":["bob"],"groups":[]}"#)?;
        assert_eq!(
            named,
            ShareAudience::Named {
                users: vec!["bob".into()],
                groups: vec![]
            }
        );
        Ok(())
    }
}
