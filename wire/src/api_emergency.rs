//! Bodies of the emergency controls (`POST /api/v1/emergency`).

use serde::{Deserialize, Serialize};

use super::SessionId;

/// Which live sessions an emergency control applies to.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "snake_case")]
pub enum EmergencyScope {
    /// Every live session of the user called `name`.
    User,
    /// Every live session on the asset called `name`.
    Asset,
}

/// What an emergency control does to each session in its scope.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "snake_case")]
pub enum EmergencyAction {
    Lock,
    Terminate,
}

impl EmergencyScope {
    pub fn as_str(self) -> &'static str {
        match self {
            EmergencyScope::User => "user",
            EmergencyScope::Asset => "asset",
        }
    }
}

impl EmergencyAction {
    pub fn as_str(self) -> &'static str {
        match self {
            EmergencyAction::Lock => "lock",
            EmergencyAction::Terminate => "terminate",
        }
    }
}

/// `POST /api/v1/emergency`: lock or terminate every live session of a user or an asset.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct EmergencyRequest {
    pub scope: EmergencyScope,
    /// The user's or the asset's name.
    pub name: String,
    pub action: EmergencyAction,
}

/// What an emergency control did.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct EmergencyDone {
    /// Ids of the sessions it locked or terminated.
    #[cfg_attr(feature = "openapi", schema(value_type = Vec<String>))]
    pub sessions: Vec<SessionId>,
}
