//! Every authorization decision of the relay, for REST and WebSocket paths alike.
//!
//! Pure: the caller gathers the facts (the actor with its grants, the asset, the
//! session or request concerned) and asks [`decide`]. The UI flags
//! ([`SessionControls`], `Asset::can_*`, `AccessRequest::can_approve`) come from here
//! too, so what the UI offers and what the relay accepts cannot drift apart.

use std::collections::HashMap;

use vigil_wire::api::{AssetId, GrantedRole, SessionControls, SessionId, SessionKind, UserId};
use vigil_wire::share::{ShareKind, ShareLinkId};

use crate::rules::Grants;

/// Who is asking.
#[derive(Debug, Clone, Default)]
pub struct Actor {
    pub user_id: UserId,
    pub is_admin: bool,
    /// (asset, role) pairs from the Smart Rules × the actor's groups.
    pub grants: Grants,
    /// The share links the actor redeemed and may use now (audience re-read, neither
    /// revoked nor expired), the best one per session.
    pub links: HashMap<SessionId, HeldGrant>,
}

/// What a share link grants its holder on its session ([`SessionFacts::link`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct LinkGrant {
    pub kind: ShareKind,
    /// A recording link's holder may also download the recording.
    pub allow_download: bool,
}

/// A link the actor holds: what it grants, which link it is, and until when.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HeldGrant {
    pub link_id: ShareLinkId,
    pub grant: LinkGrant,
    pub expires_at: i64,
}

impl HeldGrant {
    /// Of two links on one session, the one that grants more (the download), then the one
    /// that lasts longer.
    pub fn better_than(&self, other: &HeldGrant) -> bool {
        (self.grant.allow_download, self.expires_at)
            > (other.grant.allow_download, other.expires_at)
    }
}

impl Actor {
    pub fn has(&self, asset: AssetId, role: GrantedRole) -> bool {
        self.grants.contains(&(asset, role))
    }

    pub fn any_role_on(&self, asset: AssetId) -> bool {
        GrantedRole::ALL.iter().any(|r| self.has(asset, *r))
    }

    pub fn holds_anywhere(&self, role: GrantedRole) -> bool {
        self.grants.iter().any(|(_, r)| *r == role)
    }

    /// ISA and Active Session Reviewer both monitor and control sessions on the asset.
    fn monitors(&self, asset: AssetId) -> bool {
        self.has(asset, GrantedRole::Isa) || self.has(asset, GrantedRole::ActiveSessionReviewer)
    }
}

/// The session an action is about.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SessionFacts {
    pub owner: UserId,
    pub kind: SessionKind,
    /// Still running (not ended).
    pub live: bool,
    /// The share link the actor redeemed for this session, if any. It grants only while
    /// it matches the session's state: a live link while the session runs, a recording
    /// link once it has ended.
    pub link: Option<LinkGrant>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Action {
    /// Manage users, assets and Smart Rules, read the audit log, apply emergency
    /// controls. Concerns no asset: [`administer`] asks it.
    Administer,
    /// Disable a user (an administration nobody applies to themselves). Concerns no
    /// asset: ask it with [`NO_ASSET`].
    DisableUser {
        user: UserId,
    },
    /// See the asset in listings.
    ViewAsset,
    RequestAccess,
    /// Approve or deny a request; the subject is the request's owner.
    Approve {
        requester: UserId,
    },
    /// Check a request in; the subject is the request's owner.
    CheckIn {
        requester: UserId,
    },
    /// Launch without a request (Admin or ISA session).
    LaunchDirect,
    /// Launch under an approved request (the request itself is checked by `requests`).
    LaunchUnderRequest,
    /// See the session in lists and by id.
    SeeSession,
    /// Attach as an observer; read its keystrokes.
    WatchSession,
    LockSession,
    TerminateSession,
    TerminateAndCancel,
    /// Download the recording.
    Download,
    /// Attach as the interactive user.
    Participate,
    /// Make, list and revoke the session's share links.
    Share,
    /// See who is watching (the live participants, the watcher count).
    SeeParticipants,
    /// Place or release a legal hold on the session (its recording is kept by retention
    /// while held): administrators, never on their own session.
    HoldSession,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum Denied {
    /// The subject must not even be confirmed to exist (answer 404).
    #[error("not found")]
    NotVisible,
    #[error("not allowed")]
    Forbidden,
    /// Terminate and Cancel asked for an Admin or ISA session.
    #[error("only sessions started under an access request can be cancelled")]
    NotCancellable,
}

/// Decides whether `actor` may perform `action` on `asset` (and `session`, for
/// session actions; a session action without a session is refused). `asset` is ignored
/// for [`Action::Administer`] and [`Action::DisableUser`].
pub fn decide(
    actor: &Actor,
    asset: AssetId,
    session: Option<&SessionFacts>,
    action: Action,
) -> Result<(), Denied> {
    let allow = |ok: bool| if ok { Ok(()) } else { Err(Denied::Forbidden) };
    match action {
        Action::Administer => allow(actor.is_admin),
        Action::DisableUser { user } => allow(actor.is_admin && user != actor.user_id),
        Action::ViewAsset => {
            if actor.is_admin || actor.any_role_on(asset) {
                Ok(())
            } else {
                Err(Denied::NotVisible)
            }
        }
        Action::RequestAccess | Action::LaunchUnderRequest => {
            allow(actor.has(asset, GrantedRole::Requestor))
        }
        Action::Approve { requester } => allow(
            actor.is_admin
                || (actor.has(asset, GrantedRole::Approver) && requester != actor.user_id),
        ),
        Action::CheckIn { requester } => allow(actor.is_admin || requester == actor.user_id),
        Action::LaunchDirect => allow(actor.is_admin || actor.has(asset, GrantedRole::Isa)),
        Action::SeeSession
        | Action::WatchSession
        | Action::LockSession
        | Action::TerminateSession
        | Action::TerminateAndCancel
        | Action::Download
        | Action::Participate
        | Action::Share
        | Action::SeeParticipants
        | Action::HoldSession => {
            let s = session.ok_or(Denied::Forbidden)?;
            let owner = s.owner == actor.user_id;
            // Admin Sessions are for administrators' eyes only (besides their owner).
            let monitors =
                actor.is_admin || (s.kind != SessionKind::Admin && actor.monitors(asset));
            // A link grants reading only, and only while it matches the session's state.
            let link = s.link.filter(|l| match l.kind {
                ShareKind::Live => s.live,
                ShareKind::Recording => !s.live,
            });
            if !(monitors || owner || link.is_some()) {
                return Err(Denied::NotVisible);
            }
            match action {
                Action::SeeSession => Ok(()),
                Action::Participate => allow(owner),
                // Reading is not controlling: only monitors and link holders watch (a
                // plain owner does not; an administrator owner still may).
                Action::WatchSession => allow(monitors || link.is_some()),
                Action::Download => allow(
                    monitors
                        || link.is_some_and(|l| l.kind == ShareKind::Recording && l.allow_download),
                ),
                // Who watches is for monitors only: never a link holder, nor a plain owner.
                Action::SeeParticipants => allow(monitors),
                // Nobody locks, unlocks, terminates, cancels or shares their own session,
                // whatever roles they hold: a locked user must not be able to free themselves.
                _ if owner => Err(Denied::Forbidden),
                // Holding evidence is an administration: no monitor role grants it.
                Action::HoldSession => allow(actor.is_admin),
                // A link holder reads, nothing more.
                _ if !monitors => Err(Denied::Forbidden),
                Action::TerminateAndCancel if s.kind != SessionKind::Request => {
                    Err(Denied::NotCancellable)
                }
                _ => Ok(()),
            }
        }
    }
}

/// Whether `actor` may administer Vigil ([`Action::Administer`], which concerns no asset).
pub fn administer(actor: &Actor) -> Result<(), Denied> {
    decide(actor, NO_ASSET, None, Action::Administer)
}

/// The asset argument of decisions that concern none.
pub const NO_ASSET: AssetId = 0;

pub fn allowed(
    actor: &Actor,
    asset: AssetId,
    session: Option<&SessionFacts>,
    action: Action,
) -> bool {
    decide(actor, asset, session, action).is_ok()
}

/// What the UI may offer `actor` on a session.
pub fn controls(actor: &Actor, asset: AssetId, session: &SessionFacts) -> SessionControls {
    let can = |a| allowed(actor, asset, Some(session), a);
    SessionControls {
        watch: can(Action::WatchSession),
        lock: session.live && can(Action::LockSession),
        terminate: session.live && can(Action::TerminateSession),
        terminate_and_cancel: session.live && can(Action::TerminateAndCancel),
        share: can(Action::Share),
        download: can(Action::Download),
        legal_hold: can(Action::HoldSession),
    }
}

/// What the database says about a launch's surroundings (gathered by
/// `service::launch::check_launch`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct LaunchFacts {
    /// The launching user has a live, locked session on the asset.
    pub locked_on_asset: bool,
    /// Live sessions under the request the launch uses (0 without a request).
    pub live_under_request: u32,
    /// How many concurrent live sessions one request allows.
    pub max_per_request: u32,
    /// The launching user's live sessions, and how many one user may have.
    pub live_of_user: u32,
    pub max_per_user: u32,
    /// Live sessions in all, and how many there may be.
    pub live_in_all: u32,
    pub max_live: u32,
}

/// Why a launch that the roles allow is still refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum LaunchRefused {
    /// A locked session of the same user on the same asset: no way around the lock.
    #[error("a session of the user on this asset is locked")]
    SessionLocked,
    /// The request already has as many live sessions as it allows.
    #[error("the access request is already in use by a live session")]
    RequestInUse,
    /// The user already has as many live sessions as one user may.
    #[error("you already have the most live sessions one user may have")]
    UserLimit,
    /// Vigil already runs as many live sessions as it may.
    #[error("Vigil is running the most live sessions it may; try again later")]
    RelayFull,
}

/// Rules a launch obeys besides the roles ([`launch_kind`]): no relaunch while one of
/// the user's sessions on the asset is locked (any kind of launch), at most
/// `max_per_request` live sessions per access request, `max_per_user` per user and
/// `max_live` in all.
pub fn launch_limits(facts: &LaunchFacts) -> Result<(), LaunchRefused> {
    if facts.locked_on_asset {
        Err(LaunchRefused::SessionLocked)
    } else if facts.live_under_request >= facts.max_per_request {
        Err(LaunchRefused::RequestInUse)
    } else if facts.live_of_user >= facts.max_per_user {
        Err(LaunchRefused::UserLimit)
    } else if facts.live_in_all >= facts.max_live {
        Err(LaunchRefused::RelayFull)
    } else {
        Ok(())
    }
}

/// Default for [`LaunchFacts::max_per_request`]: a Smart Rule's `sessions_per_request`
/// unless set.
pub const SESSIONS_PER_REQUEST: u32 = 1;

/// What a Smart Rule's `sessions_per_request` may be.
pub const SESSIONS_PER_REQUEST_RANGE: std::ops::RangeInclusive<u32> = 1..=100;

/// The kind of session a launch makes: administrators launch Admin Sessions, ISA
/// users ISA sessions; everyone else needs a request (checked by the caller).
pub fn launch_kind(
    actor: &Actor,
    asset: AssetId,
    with_request: bool,
) -> Result<SessionKind, Denied> {
    decide(actor, asset, None, Action::ViewAsset)?;
    if actor.is_admin {
        Ok(SessionKind::Admin)
    } else if allowed(actor, asset, None, Action::LaunchDirect) {
        Ok(SessionKind::Isa)
    } else if with_request {
        decide(actor, asset, None, Action::LaunchUnderRequest).map(|()| SessionKind::Request)
    } else {
        Err(Denied::Forbidden)
    }
}

/// What a scrape of `/metrics` brings: whether metrics are on, whether it comes from an
/// allowed address, and whether a token is asked for and was given (compared in constant
/// time by the caller). Health endpoints are open to anyone and need no decision.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ScrapeFacts {
    pub enabled: bool,
    pub address_allowed: bool,
    pub token_required: bool,
    pub token_matches: bool,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum ScrapeRefused {
    /// Metrics are off: the path does not exist (404).
    #[error("metrics are disabled")]
    Disabled,
    /// The scrape came from an address outside `metrics.allow` (403).
    #[error("this address may not read the metrics")]
    Address,
    /// The bearer token is missing or wrong (401).
    #[error("a valid bearer token is required")]
    Token,
}

/// Decides a scrape of `/metrics`: off first (nothing is revealed), then the address, then
/// the token.
pub fn scrape_metrics(facts: &ScrapeFacts) -> Result<(), ScrapeRefused> {
    if !facts.enabled {
        return Err(ScrapeRefused::Disabled);
    }
    if !facts.address_allowed {
        return Err(ScrapeRefused::Address);
    }
    if facts.token_required && !facts.token_matches {
        return Err(ScrapeRefused::Token);
    }
    Ok(())
}

#[cfg(test)]
#[path = "policy_tests.rs"]
mod tests;
