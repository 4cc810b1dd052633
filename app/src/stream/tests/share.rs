//! What sharing adds to the player: the live participants, and a viewer cut off (a link
//! revoked or expired, a right lost) while the session goes on.

use vigil_wire::share::{JoinedVia, LiveParticipant};

use super::state::LINK_ACCESS_ENDED;
use super::*;

fn participant(name: &str, p: Participant, via: JoinedVia) -> LiveParticipant {
    LiveParticipant {
        username: name.into(),
        display_name: String::new(),
        participant: p,
        via,
        since: 5_000,
    }
}

/// A player watching a live SSH session as an observer.
fn watching() -> StreamState {
    let mut s = StreamState::new(Role::Watch, Some(session(Protocol::Ssh)));
    run(
        &mut s,
        [
            Input::Opening,
            Input::Opened,
            welcome(Participant::Observer, session(Protocol::Ssh)).into(),
            ServerMsg::Snapshot(b"$ ".to_vec()).into(),
        ],
    );
    s
}

#[test]
fn the_participants_are_kept_as_the_relay_last_sent_them() {
    let mut s = watching();
    assert_eq!(
        s.participants, None,
        "nothing is known before the relay says"
    );
    let first = vec![
        participant("alice", Participant::User, JoinedVia::Owner),
        participant("reviewer", Participant::Observer, JoinedVia::Role),
    ];
    let fx = s.apply(ServerControl::Participants {
        participants: first.clone(),
    });
    assert_eq!(fx, []);
    assert_eq!(s.participants.as_deref(), Some(&first[..]));
    let mut second = first.clone();
    second.push(participant("bob", Participant::Observer, JoinedVia::Link));
    s.apply(ServerControl::Participants {
        participants: second.clone(),
    });
    assert_eq!(s.participants.as_deref(), Some(&second[..]));
    // The list changes nothing else.
    assert_eq!(s.status, StreamStatus::Connected);
    assert!(!s.finished());
}

#[test]
fn a_revoked_link_ends_the_viewer_s_access_not_the_session() {
    for code in [ErrorCode::LinkRevoked, ErrorCode::LinkExpired] {
        let mut s = watching();
        let fx = s.apply(ServerControl::Error {
            code,
            message: "whatever the relay says".into(),
        });
        let told =
            format!("{LINK_ACCESS_ENDED} Ask the person who shared the session for a new link.");
        assert_eq!(
            fx,
            [
                Effect::Notice(Notice::AccessEnded(told.clone())),
                Effect::ReadOnly
            ],
            "{code:?}"
        );
        assert_eq!(s.access_ended.as_deref(), Some(told.as_str()));
        assert_eq!(s.error, None, "no error banner: the access ended");
        assert!(s.finished());
        // The relay's `Ended` for this viewer does not say the session ended.
        let fx = s.apply(ServerControl::Ended {
            reason: EndReason::plain(LINK_ACCESS_ENDED),
        });
        assert_eq!(fx, []);
        assert_eq!(s.ended, None);
        assert_eq!(s.session.as_ref().and_then(|s| s.ended_at), None);
        // Nor does the socket's close ask anything more.
        assert_eq!(s.apply(Input::Closed(LOST)), []);
        assert!(!s.can_retry);
    }
}

#[test]
fn a_lost_right_or_login_shows_the_relay_s_words() {
    for (code, message) in [
        (
            ErrorCode::AccessRevoked,
            "You no longer have access to this session. Ask an administrator if you still need it.",
        ),
        (
            ErrorCode::LoginEnded,
            "Your login has ended. Log in again to continue.",
        ),
    ] {
        let mut s = watching();
        s.apply(ServerControl::Participants {
            participants: vec![participant("alice", Participant::User, JoinedVia::Owner)],
        });
        s.apply(ServerControl::Error {
            code,
            message: message.into(),
        });
        assert_eq!(s.access_ended.as_deref(), Some(message));
        assert_eq!(s.status, StreamStatus::Unavailable);
        assert_eq!(
            s.participants, None,
            "a viewer cut off no longer sees who watches"
        );
    }
    // A failure of the target is still an error, not a cut-off.
    let mut s = watching();
    s.apply(ServerControl::Error {
        code: ErrorCode::TargetError,
        message: "oops".into(),
    });
    assert_eq!(s.access_ended, None);
    assert_eq!(s.error.as_deref(), Some("oops (target_error). Connect again; if it keeps failing, ask an administrator to check the asset."));
}
