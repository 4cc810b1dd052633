//! Every authorization decision of the relay, for REST and WebSocket paths alike.
//!
//! Pure: the caller gathers the facts (the actor with its grants, the asset, the
//! session or request concerned) and asks [`decide`]. The UI flags
//! ([`SessionControls`], `Asset::can_*`, `AccessRequest::can_approve`) come from here
//! too, so what the UI offers and what the relay accepts cannot drift apart.

use vigil_wire::api::{AssetId, GrantedRole, SessionControls, SessionKind, UserId};

use crate::rules::Grants;

/// Who is asking.
#[derive(Debug, Clone, Default)]
pub struct Actor {
    pub user_id: UserId,
    pub is_admin: bool,
    /// (asset, role) pairs from the Smart Rules × the actor's groups.
    pub grants: Grants,
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
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Action {
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
/// session actions; a session action without a session is refused).
pub fn decide(
    actor: &Actor,
    asset: AssetId,
    session: Option<&SessionFacts>,
    action: Action,
) -> Result<(), Denied> {
    let allow = |ok: bool| if ok { Ok(()) } else { Err(Denied::Forbidden) };
    match action {
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
        | Action::Participate => {
            let s = session.ok_or(Denied::Forbidden)?;
            let owner = s.owner == actor.user_id;
            // Admin Sessions are for administrators' eyes only (besides their owner).
            let monitors =
                actor.is_admin || (s.kind != SessionKind::Admin && actor.monitors(asset));
            if !(monitors || owner) {
                return Err(Denied::NotVisible);
            }
            match action {
                Action::SeeSession => Ok(()),
                Action::Participate => allow(owner),
                // Reading is not controlling: as before, only monitors watch and download
                // (a plain owner does not; an administrator owner still may).
                Action::WatchSession | Action::Download => allow(monitors),
                // Nobody locks, unlocks, terminates or cancels their own session, whatever
                // roles they hold: a locked user must not be able to free themselves.
                _ if owner => Err(Denied::Forbidden),
                Action::TerminateAndCancel if s.kind != SessionKind::Request => {
                    Err(Denied::NotCancellable)
                }
                _ => allow(monitors),
            }
        }
    }
}

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

#[cfg(test)]
mod tests {
    use super::*;
    use GrantedRole::*;

    const ASSET: AssetId = 10;
    const OTHER: AssetId = 20;
    const ME: UserId = 1;
    const SOMEONE: UserId = 2;

    #[derive(Debug, Clone, Copy)]
    enum Who {
        Admin,
        Isa,
        Reviewer,
        Approver,
        Requestor,
        Nobody,
    }

    fn actor(who: Who, covered: bool) -> Actor {
        let asset = if covered { ASSET } else { OTHER };
        let roles: &[GrantedRole] = match who {
            Who::Admin | Who::Nobody => &[],
            Who::Isa => &[Isa],
            Who::Reviewer => &[ActiveSessionReviewer],
            Who::Approver => &[Approver],
            Who::Requestor => &[Requestor],
        };
        Actor {
            user_id: ME,
            is_admin: matches!(who, Who::Admin),
            grants: roles.iter().map(|r| (asset, *r)).collect(),
        }
    }

    fn session(owner: UserId, kind: SessionKind) -> SessionFacts {
        SessionFacts {
            owner,
            kind,
            live: true,
        }
    }

    const OK: Result<(), Denied> = Ok(());
    const NV: Result<(), Denied> = Err(Denied::NotVisible);
    const NO: Result<(), Denied> = Err(Denied::Forbidden);
    const NC: Result<(), Denied> = Err(Denied::NotCancellable);

    type Row = (Who, bool, SessionKind, [Result<(), Denied>; 7]);

    /// Someone else's session on ASSET: (who, covered, kind) → [see, watch, lock, terminate, t&c, download, participate].
    #[test]
    fn others_sessions_table() {
        use SessionKind::{Admin as A, Isa as I, Request as R};
        let table: &[Row] = &[
            (Who::Admin, false, A, [OK, OK, OK, OK, NC, OK, NO]),
            (Who::Admin, false, I, [OK, OK, OK, OK, NC, OK, NO]),
            (Who::Admin, false, R, [OK, OK, OK, OK, OK, OK, NO]),
            (Who::Isa, true, A, [NV, NV, NV, NV, NV, NV, NV]),
            (Who::Isa, true, I, [OK, OK, OK, OK, NC, OK, NO]),
            (Who::Isa, true, R, [OK, OK, OK, OK, OK, OK, NO]),
            (Who::Isa, false, R, [NV, NV, NV, NV, NV, NV, NV]),
            (Who::Reviewer, true, A, [NV, NV, NV, NV, NV, NV, NV]),
            (Who::Reviewer, true, I, [OK, OK, OK, OK, NC, OK, NO]),
            (Who::Reviewer, true, R, [OK, OK, OK, OK, OK, OK, NO]),
            (Who::Reviewer, false, R, [NV, NV, NV, NV, NV, NV, NV]),
            (Who::Approver, true, R, [NV, NV, NV, NV, NV, NV, NV]),
            (Who::Requestor, true, R, [NV, NV, NV, NV, NV, NV, NV]),
            (Who::Nobody, false, R, [NV, NV, NV, NV, NV, NV, NV]),
        ];
        let actions = [
            Action::SeeSession,
            Action::WatchSession,
            Action::LockSession,
            Action::TerminateSession,
            Action::TerminateAndCancel,
            Action::Download,
            Action::Participate,
        ];
        for (who, covered, kind, expected) in table {
            let a = actor(*who, *covered);
            let s = session(SOMEONE, *kind);
            for (action, want) in actions.iter().zip(expected) {
                assert_eq!(
                    decide(&a, ASSET, Some(&s), *action),
                    *want,
                    "{who:?} covered={covered} {kind:?} {action:?}"
                );
            }
        }
    }

    #[test]
    fn owner_sees_own_session_without_controls() {
        let a = actor(Who::Requestor, true);
        let s = session(ME, SessionKind::Request);
        assert_eq!(decide(&a, ASSET, Some(&s), Action::SeeSession), OK);
        assert_eq!(decide(&a, ASSET, Some(&s), Action::Participate), OK);
        for action in [
            Action::WatchSession,
            Action::LockSession,
            Action::TerminateSession,
            Action::TerminateAndCancel,
            Action::Download,
        ] {
            assert_eq!(decide(&a, ASSET, Some(&s), action), NO, "{action:?}");
        }
        assert_eq!(controls(&a, ASSET, &s), SessionControls::default());
    }

    /// The owner's own session, whatever else they are: see and participate only.
    #[test]
    fn owner_never_controls_own_session() {
        use SessionKind::{Admin as A, Isa as I, Request as R};
        let isa_and_requestor = Actor {
            user_id: ME,
            is_admin: false,
            grants: [(ASSET, Isa), (ASSET, Requestor)].into_iter().collect(),
        };
        let reviewer_and_requestor = Actor {
            user_id: ME,
            is_admin: false,
            grants: [(ASSET, ActiveSessionReviewer), (ASSET, Requestor)]
                .into_iter()
                .collect(),
        };
        let admin = actor(Who::Admin, false);
        let isa = actor(Who::Isa, true);
        // [see, watch, lock, terminate, t&c, download, participate]: monitors still
        // watch and download (as before), but control nothing of their own.
        let own = [OK, OK, NO, NO, NO, OK, OK];
        let table: &[(&str, &Actor, SessionKind)] = &[
            ("admin", &admin, A),
            ("admin", &admin, R),
            ("isa", &isa, I),
            ("isa+requestor", &isa_and_requestor, R),
            ("isa+requestor", &isa_and_requestor, I),
            ("reviewer+requestor", &reviewer_and_requestor, R),
        ];
        let actions = [
            Action::SeeSession,
            Action::WatchSession,
            Action::LockSession,
            Action::TerminateSession,
            Action::TerminateAndCancel,
            Action::Download,
            Action::Participate,
        ];
        for (who, a, kind) in table {
            let s = session(ME, *kind);
            for (action, want) in actions.iter().zip(&own) {
                assert_eq!(
                    decide(a, ASSET, Some(&s), *action),
                    *want,
                    "{who} own {kind:?} {action:?}"
                );
            }
            assert_eq!(
                controls(a, ASSET, &s),
                SessionControls {
                    watch: true,
                    ..Default::default()
                },
                "{who}"
            );
        }
    }

    #[test]
    fn launch_limits_lock_then_request_use() {
        let f = |locked, live| LaunchFacts {
            locked_on_asset: locked,
            live_under_request: live,
            max_per_request: SESSIONS_PER_REQUEST,
            live_of_user: 0,
            max_per_user: 2,
            live_in_all: 5,
            max_live: 6,
        };
        let capped = LaunchFacts {
            live_of_user: 2,
            ..f(false, 0)
        };
        assert_eq!(launch_limits(&capped), Err(LaunchRefused::UserLimit));
        let full = LaunchFacts {
            live_in_all: 6,
            ..f(false, 0)
        };
        assert_eq!(launch_limits(&full), Err(LaunchRefused::RelayFull));
        assert_eq!(launch_limits(&f(false, 0)), Ok(()));
        assert_eq!(
            launch_limits(&f(true, 0)),
            Err(LaunchRefused::SessionLocked)
        );
        assert_eq!(
            launch_limits(&f(false, 1)),
            Err(LaunchRefused::RequestInUse)
        );
        assert_eq!(
            launch_limits(&f(true, 1)),
            Err(LaunchRefused::SessionLocked)
        );
    }

    /// A request allows `max_per_request` live sessions: the launch that would make one
    /// more is refused; a lock still comes first, the user and relay caps after.
    #[test]
    fn sessions_per_request_table() {
        let facts = |live, max| LaunchFacts {
            locked_on_asset: false,
            live_under_request: live,
            max_per_request: max,
            live_of_user: 0,
            max_per_user: 1000,
            live_in_all: 0,
            max_live: 1000,
        };
        let refused = Err(LaunchRefused::RequestInUse);
        // (live under the request, the strictest rule's limit) → decision
        let table: &[(u32, u32, Result<(), LaunchRefused>)] = &[
            (0, 1, Ok(())),
            (1, 1, refused),
            (0, 2, Ok(())),
            (1, 2, Ok(())),
            (2, 2, refused),
            (3, 2, refused),
            (99, 100, Ok(())),
            (100, 100, refused),
        ];
        for (live, max, want) in table {
            assert_eq!(launch_limits(&facts(*live, *max)), *want, "{live} of {max}");
        }
        let locked = LaunchFacts {
            locked_on_asset: true,
            ..facts(0, 2)
        };
        assert_eq!(launch_limits(&locked), Err(LaunchRefused::SessionLocked));
        let capped = LaunchFacts {
            live_of_user: 1,
            max_per_user: 1,
            ..facts(1, 2)
        };
        assert_eq!(launch_limits(&capped), Err(LaunchRefused::UserLimit));
        assert!(SESSIONS_PER_REQUEST_RANGE.contains(&SESSIONS_PER_REQUEST));
    }

    #[test]
    fn controls_follow_decisions_and_liveness() {
        let admin = actor(Who::Admin, false);
        let live = session(SOMEONE, SessionKind::Request);
        assert_eq!(
            controls(&admin, ASSET, &live),
            SessionControls {
                watch: true,
                lock: true,
                terminate: true,
                terminate_and_cancel: true
            }
        );
        let ended = SessionFacts {
            live: false,
            ..live
        };
        assert_eq!(
            controls(&admin, ASSET, &ended),
            SessionControls {
                watch: true,
                ..Default::default()
            }
        );
        let isa_session = session(SOMEONE, SessionKind::Isa);
        assert_eq!(
            controls(&actor(Who::Reviewer, true), ASSET, &isa_session),
            SessionControls {
                watch: true,
                lock: true,
                terminate: true,
                terminate_and_cancel: false
            }
        );
        assert_eq!(
            controls(&actor(Who::Reviewer, false), ASSET, &isa_session),
            SessionControls::default()
        );
    }

    /// Asset actions: who × covered → [view, request, launch direct, launch under request].
    #[test]
    fn asset_actions_table() {
        let table: &[(Who, bool, [bool; 4])] = &[
            (Who::Admin, false, [true, false, true, false]),
            (Who::Isa, true, [true, false, true, false]),
            (Who::Isa, false, [false, false, false, false]),
            (Who::Reviewer, true, [true, false, false, false]),
            (Who::Approver, true, [true, false, false, false]),
            (Who::Requestor, true, [true, true, false, true]),
            (Who::Requestor, false, [false, false, false, false]),
            (Who::Nobody, false, [false, false, false, false]),
        ];
        for (who, covered, want) in table {
            let a = actor(*who, *covered);
            let got = [
                Action::ViewAsset,
                Action::RequestAccess,
                Action::LaunchDirect,
                Action::LaunchUnderRequest,
            ]
            .map(|act| allowed(&a, ASSET, None, act));
            assert_eq!(&got, want, "{who:?} covered={covered}");
        }
    }

    #[test]
    fn approvals_and_check_in() {
        let approver = actor(Who::Approver, true);
        assert!(allowed(
            &approver,
            ASSET,
            None,
            Action::Approve { requester: SOMEONE }
        ));
        assert!(
            !allowed(&approver, ASSET, None, Action::Approve { requester: ME }),
            "no self-approval"
        );
        assert!(!allowed(
            &approver,
            OTHER,
            None,
            Action::Approve { requester: SOMEONE }
        ));
        assert!(allowed(
            &actor(Who::Admin, false),
            ASSET,
            None,
            Action::Approve { requester: SOMEONE }
        ));
        assert!(!allowed(
            &actor(Who::Requestor, true),
            ASSET,
            None,
            Action::Approve { requester: SOMEONE }
        ));
        assert!(allowed(
            &actor(Who::Requestor, true),
            ASSET,
            None,
            Action::CheckIn { requester: ME }
        ));
        assert!(!allowed(
            &approver,
            ASSET,
            None,
            Action::CheckIn { requester: SOMEONE }
        ));
    }

    #[test]
    fn launch_kinds() {
        assert_eq!(
            launch_kind(&actor(Who::Admin, false), ASSET, false),
            Ok(SessionKind::Admin)
        );
        assert_eq!(
            launch_kind(&actor(Who::Isa, true), ASSET, false),
            Ok(SessionKind::Isa)
        );
        assert_eq!(
            launch_kind(&actor(Who::Requestor, true), ASSET, true),
            Ok(SessionKind::Request)
        );
        assert_eq!(
            launch_kind(&actor(Who::Requestor, true), ASSET, false),
            Err(Denied::Forbidden)
        );
        assert_eq!(
            launch_kind(&actor(Who::Reviewer, true), ASSET, true),
            Err(Denied::Forbidden)
        );
        assert_eq!(
            launch_kind(&actor(Who::Isa, false), ASSET, false),
            Err(Denied::NotVisible)
        );
    }
}
