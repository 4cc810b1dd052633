//! The policy's decision tables.

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
        links: Default::default(),
    }
}

fn session(owner: UserId, kind: SessionKind) -> SessionFacts {
    SessionFacts {
        owner,
        kind,
        live: true,
        link: None,
    }
}

const OK: Result<(), Denied> = Ok(());
const NV: Result<(), Denied> = Err(Denied::NotVisible);
const NO: Result<(), Denied> = Err(Denied::Forbidden);
const NC: Result<(), Denied> = Err(Denied::NotCancellable);

/// The columns of the session tables.
const SESSION_ACTIONS: [Action; 9] = [
    Action::SeeSession,
    Action::WatchSession,
    Action::LockSession,
    Action::TerminateSession,
    Action::TerminateAndCancel,
    Action::Download,
    Action::Participate,
    Action::Share,
    Action::SeeParticipants,
];

/// The decisions of one row, in the order of [`SESSION_ACTIONS`].
type Decisions = [Result<(), Denied>; 9];

type Row = (Who, bool, SessionKind, Decisions);

/// Someone else's session on ASSET: (who, covered, kind) → [see, watch, lock, terminate,
/// t&c, download, participate, share, participants].
#[test]
fn others_sessions_table() {
    use SessionKind::{Admin as A, Isa as I, Request as R};
    let table: &[Row] = &[
        (Who::Admin, false, A, [OK, OK, OK, OK, NC, OK, NO, OK, OK]),
        (Who::Admin, false, I, [OK, OK, OK, OK, NC, OK, NO, OK, OK]),
        (Who::Admin, false, R, [OK, OK, OK, OK, OK, OK, NO, OK, OK]),
        (Who::Isa, true, A, [NV, NV, NV, NV, NV, NV, NV, NV, NV]),
        (Who::Isa, true, I, [OK, OK, OK, OK, NC, OK, NO, OK, OK]),
        (Who::Isa, true, R, [OK, OK, OK, OK, OK, OK, NO, OK, OK]),
        (Who::Isa, false, R, [NV, NV, NV, NV, NV, NV, NV, NV, NV]),
        (Who::Reviewer, true, A, [NV, NV, NV, NV, NV, NV, NV, NV, NV]),
        (Who::Reviewer, true, I, [OK, OK, OK, OK, NC, OK, NO, OK, OK]),
        (Who::Reviewer, true, R, [OK, OK, OK, OK, OK, OK, NO, OK, OK]),
        (
            Who::Reviewer,
            false,
            R,
            [NV, NV, NV, NV, NV, NV, NV, NV, NV],
        ),
        (Who::Approver, true, R, [NV, NV, NV, NV, NV, NV, NV, NV, NV]),
        (
            Who::Requestor,
            true,
            R,
            [NV, NV, NV, NV, NV, NV, NV, NV, NV],
        ),
        (Who::Nobody, false, R, [NV, NV, NV, NV, NV, NV, NV, NV, NV]),
    ];
    for (who, covered, kind, expected) in table {
        let a = actor(*who, *covered);
        let s = session(SOMEONE, *kind);
        for (action, want) in SESSION_ACTIONS.iter().zip(expected) {
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
        Action::Share,
        Action::SeeParticipants,
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
        links: Default::default(),
    };
    let reviewer_and_requestor = Actor {
        user_id: ME,
        is_admin: false,
        grants: [(ASSET, ActiveSessionReviewer), (ASSET, Requestor)]
            .into_iter()
            .collect(),
        links: Default::default(),
    };
    let admin = actor(Who::Admin, false);
    let isa = actor(Who::Isa, true);
    // [see, watch, lock, terminate, t&c, download, participate, share, participants]:
    // monitors still watch, download and see who watches, but control and share nothing
    // of their own.
    let own = [OK, OK, NO, NO, NO, OK, OK, NO, OK];
    let table: &[(&str, &Actor, SessionKind)] = &[
        ("admin", &admin, A),
        ("admin", &admin, R),
        ("isa", &isa, I),
        ("isa+requestor", &isa_and_requestor, R),
        ("isa+requestor", &isa_and_requestor, I),
        ("reviewer+requestor", &reviewer_and_requestor, R),
    ];
    for (who, a, kind) in table {
        let s = session(ME, *kind);
        for (action, want) in SESSION_ACTIONS.iter().zip(&own) {
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
                download: true,
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
            terminate_and_cancel: true,
            share: true,
            download: true,
            legal_hold: true,
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
            share: true,
            download: true,
            legal_hold: true,
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
            terminate_and_cancel: false,
            share: true,
            download: true,
            legal_hold: false,
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

/// (who, covered, action) → allowed: approvals need the Approver role on the asset (and
/// are never one's own), check-ins are the requester's (or an administrator's).
#[test]
fn approvals_and_check_in() {
    let approve = |requester| Action::Approve { requester };
    let check_in = |requester| Action::CheckIn { requester };
    let table: &[(Who, bool, Action, bool)] = &[
        (Who::Approver, true, approve(SOMEONE), true),
        (Who::Approver, true, approve(ME), false),
        (Who::Approver, false, approve(SOMEONE), false),
        (Who::Admin, false, approve(SOMEONE), true),
        (Who::Requestor, true, approve(SOMEONE), false),
        (Who::Requestor, true, check_in(ME), true),
        (Who::Approver, true, check_in(SOMEONE), false),
        (Who::Admin, false, check_in(SOMEONE), true),
    ];
    for (who, covered, action, want) in table {
        assert_eq!(
            allowed(&actor(*who, *covered), ASSET, None, *action),
            *want,
            "{who:?} covered={covered} {action:?}"
        );
    }
}

/// (who, covered, with a request) → the kind of session a launch makes.
#[test]
fn launch_kinds() {
    let table: &[(Who, bool, bool, Result<SessionKind, Denied>)] = &[
        (Who::Admin, false, false, Ok(SessionKind::Admin)),
        (Who::Isa, true, false, Ok(SessionKind::Isa)),
        (Who::Requestor, true, true, Ok(SessionKind::Request)),
        (Who::Requestor, true, false, Err(Denied::Forbidden)),
        (Who::Reviewer, true, true, Err(Denied::Forbidden)),
        (Who::Isa, false, false, Err(Denied::NotVisible)),
    ];
    for (who, covered, with_request, want) in table {
        assert_eq!(
            launch_kind(&actor(*who, *covered), ASSET, *with_request),
            *want,
            "{who:?} covered={covered} request={with_request}"
        );
    }
}

#[test]
fn only_administrators_administer() {
    for who in [
        Who::Isa,
        Who::Reviewer,
        Who::Approver,
        Who::Requestor,
        Who::Nobody,
    ] {
        assert_eq!(administer(&actor(who, true)), NO, "{who:?}");
    }
    assert_eq!(administer(&actor(Who::Admin, false)), OK);
    let disable = |a: &Actor, user| decide(a, NO_ASSET, None, Action::DisableUser { user });
    assert_eq!(disable(&actor(Who::Admin, false), SOMEONE), OK);
    assert_eq!(
        disable(&actor(Who::Admin, false), ME),
        NO,
        "nobody disables themselves"
    );
    assert_eq!(disable(&actor(Who::Isa, true), SOMEONE), NO);
}

/// A share link's holder: (link kind, download allowed, session live, session kind) →
/// [see, watch, lock, terminate, t&c, download, participate, share, participants]. A link
/// reads only, and only while it matches the session's state.
#[test]
fn link_holders_table() {
    use SessionKind::{Admin as A, Request as R};
    use ShareKind::{Live as L, Recording as Rec};
    let read = [OK, OK, NO, NO, NO, NO, NO, NO, NO];
    let read_download = [OK, OK, NO, NO, NO, OK, NO, NO, NO];
    let gone = [NV; 9];
    let table: &[(ShareKind, bool, bool, SessionKind, Decisions)] = &[
        (L, false, true, R, read),
        (L, false, true, A, read),
        // A live link never downloads, whatever its row says.
        (L, true, true, R, read),
        // A live link ends with its session.
        (L, false, false, R, gone),
        (Rec, false, false, R, read),
        (Rec, true, false, R, read_download),
        (Rec, true, false, A, read_download),
        // A recording link opens nothing while the session is live.
        (Rec, true, true, R, gone),
    ];
    // A user with no role anywhere, so only the link speaks.
    let a = actor(Who::Nobody, false);
    for (kind, allow_download, live, session_kind, expected) in table {
        let s = SessionFacts {
            live: *live,
            link: Some(LinkGrant {
                kind: *kind,
                allow_download: *allow_download,
            }),
            ..session(SOMEONE, *session_kind)
        };
        for (action, want) in SESSION_ACTIONS.iter().zip(expected) {
            assert_eq!(
                decide(&a, ASSET, Some(&s), *action),
                *want,
                "{kind:?} download={allow_download} live={live} {session_kind:?} {action:?}"
            );
        }
    }
    let live = SessionFacts {
        link: Some(LinkGrant {
            kind: L,
            allow_download: false,
        }),
        ..session(SOMEONE, R)
    };
    assert_eq!(
        controls(&a, ASSET, &live),
        SessionControls {
            watch: true,
            ..Default::default()
        },
        "a link viewer is offered watching only"
    );
    // A monitor holding a link keeps every right of the role.
    let reviewer = actor(Who::Reviewer, true);
    assert_eq!(decide(&reviewer, ASSET, Some(&live), Action::Share), OK);
    assert_eq!(
        decide(&reviewer, ASSET, Some(&live), Action::LockSession),
        OK
    );
}

#[test]
fn the_better_of_two_links_downloads_then_lasts() {
    let held = |allow_download, expires_at| HeldGrant {
        link_id: "l".into(),
        grant: LinkGrant {
            kind: ShareKind::Recording,
            allow_download,
        },
        expires_at,
    };
    assert!(held(true, 1).better_than(&held(false, 9)));
    assert!(held(false, 9).better_than(&held(false, 1)));
    assert!(!held(false, 1).better_than(&held(false, 1)));
}

#[test]
fn only_administrators_hold_sessions_and_never_their_own() {
    let hold = |a: &Actor, s: &SessionFacts| decide(a, ASSET, Some(s), Action::HoldSession);
    let admin = actor(Who::Admin, false);
    for kind in [SessionKind::Request, SessionKind::Isa, SessionKind::Admin] {
        let theirs = session(SOMEONE, kind);
        assert_eq!(hold(&admin, &theirs), OK, "{kind:?}");
        let ended = SessionFacts {
            live: false,
            ..theirs
        };
        assert_eq!(hold(&admin, &ended), OK, "ended {kind:?}");
        assert_eq!(hold(&admin, &session(ME, kind)), Err(Denied::Forbidden));
    }
    let request = session(SOMEONE, SessionKind::Request);
    // Monitors may control a session, but holding evidence is not theirs to decide.
    assert_eq!(
        hold(&actor(Who::Reviewer, true), &request),
        Err(Denied::Forbidden)
    );
    assert_eq!(
        hold(&actor(Who::Reviewer, false), &request),
        Err(Denied::NotVisible)
    );
}

#[test]
fn metrics_scrapes() {
    let facts = |enabled, address_allowed, token_required, token_matches| ScrapeFacts {
        enabled,
        address_allowed,
        token_required,
        token_matches,
    };
    let table = [
        (
            facts(false, true, false, false),
            Err(ScrapeRefused::Disabled),
        ),
        (
            facts(false, false, true, false),
            Err(ScrapeRefused::Disabled),
        ),
        (
            facts(true, false, false, false),
            Err(ScrapeRefused::Address),
        ),
        (facts(true, false, true, true), Err(ScrapeRefused::Address)),
        (facts(true, true, true, false), Err(ScrapeRefused::Token)),
        (facts(true, true, true, true), Ok(())),
        (facts(true, true, false, false), Ok(())),
    ];
    for (f, expected) in table {
        assert_eq!(scrape_metrics(&f), expected, "{f:?}");
    }
}
