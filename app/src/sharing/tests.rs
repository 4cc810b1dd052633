//! The Share dialog's request, how links read, and opening a link.

use vigil_wire::share::{JoinedVia, Redeemed, ShareAudience, ShareKind, ShareLink, ShareLinkUse};

use super::describe::{self, LinkState};
use super::form::{names, FormError, ShareForm, Who, DEFAULT_EXPIRY, EXPIRIES};
use super::redeem::{after_redeem, destination, token_from_hash, Refusal, Step};

#[test]
fn names_are_split_on_commas_trimmed_and_unique() {
    assert_eq!(names(" bob , carol,,bob ,  "), ["bob", "carol"]);
    assert!(names(" , ").is_empty());
}

#[test]
fn the_default_form_names_people_for_one_hour_without_a_code() {
    let f = ShareForm::default();
    assert_eq!(
        (f.who, f.expires_in_minutes, f.with_code),
        (Who::Named, 60, false)
    );
    assert_eq!(DEFAULT_EXPIRY, 60);
    assert_eq!(
        EXPIRIES.map(|(m, _)| m),
        [15, 60, 240, 480, 1440],
        "15 min to 24 hours"
    );
    assert_eq!(f.request(ShareKind::Live), Err(FormError::NobodyNamed));
}

#[test]
fn the_request_says_who_for_how_long_and_with_what() {
    let f = ShareForm {
        users: "bob, dave".into(),
        groups: "auditors".into(),
        expires_in_minutes: 240,
        with_code: true,
        allow_download: true,
        ..ShareForm::default()
    };
    let live = f.request(ShareKind::Live).expect("a named audience");
    assert_eq!(
        live.audience,
        ShareAudience::Named {
            users: vec!["bob".into(), "dave".into()],
            groups: vec!["auditors".into()]
        }
    );
    assert_eq!(live.expires_in_minutes, Some(240));
    assert!(live.with_code);
    assert!(!live.allow_download, "a live link never carries a download");
    assert!(
        f.request(ShareKind::Recording)
            .expect("a named audience")
            .allow_download
    );

    let anyone = ShareForm {
        who: Who::AnyUser,
        users: "ignored".into(),
        ..ShareForm::default()
    };
    assert_eq!(
        anyone.request(ShareKind::Live).expect("any user").audience,
        ShareAudience::AnyUser
    );
    let odd = ShareForm {
        expires_in_minutes: 2000,
        ..anyone
    };
    assert_eq!(odd.request(ShareKind::Live), Err(FormError::Expiry));
}

fn link(revoked: bool, expires_at: i64) -> ShareLink {
    ShareLink {
        id: "l1".into(),
        session_id: "s1".into(),
        kind: ShareKind::Live,
        audience: ShareAudience::Named {
            users: vec!["bob".into()],
            groups: vec!["auditors".into()],
        },
        created_by: "reviewer".into(),
        created_at: 0,
        expires_at,
        revoked_at: revoked.then_some(10),
        revoked_by: revoked.then(|| "admin".into()),
        has_code: false,
        allow_download: false,
        uses: vec![
            ShareLinkUse {
                username: "bob".into(),
                first_at: 1,
                last_at: 2,
            },
            ShareLinkUse {
                username: "dave".into(),
                first_at: 3,
                last_at: 3,
            },
        ],
    }
}

#[test]
fn a_link_reads_as_who_it_is_for_who_used_it_and_where_it_stands() {
    assert_eq!(
        describe::link_state(&link(false, 100), 50),
        LinkState::Active
    );
    assert_eq!(
        describe::link_state(&link(false, 100), 100),
        LinkState::Expired
    );
    assert_eq!(
        describe::link_state(&link(true, 100), 50),
        LinkState::Revoked
    );
    assert_eq!(LinkState::Revoked.label(), ("Revoked", "revoked"));
    assert_eq!(
        describe::audience_text(&link(false, 1).audience),
        "users: bob; groups: auditors"
    );
    assert_eq!(
        describe::audience_text(&ShareAudience::AnyUser),
        "Any logged-in Vigil user"
    );
    assert_eq!(describe::used_by(&link(false, 1)), "bob, dave");
    let mut unused = link(false, 1);
    unused.uses.clear();
    assert_eq!(describe::used_by(&unused), "—");
    assert_eq!(describe::via_label(JoinedVia::Link), "link");
    assert_eq!(describe::watchers_text(0), "No watchers");
    assert_eq!(describe::watchers_text(1), "1 watcher");
    assert_eq!(describe::watchers_text(3), "3 watchers");
}

#[test]
fn the_token_comes_from_the_fragment_only() {
    assert_eq!(token_from_hash("#abc123").as_deref(), Some("abc123"));
    assert_eq!(token_from_hash("#").as_deref(), None);
    assert_eq!(token_from_hash("").as_deref(), None);
}

#[test]
fn a_redeemed_link_opens_its_player_and_a_refusal_says_why() {
    let live = Redeemed {
        session_id: "a b/c".into(),
        kind: ShareKind::Live,
    };
    assert_eq!(destination(&live), "/sessions/a%20b%2Fc");
    let rec = Redeemed {
        session_id: "s-1".into(),
        kind: ShareKind::Recording,
    };
    assert_eq!(after_redeem(Ok(rec), false), Step::Go("/replay/s-1".into()));

    // The code is asked for when none was given, and asked again when it was wrong.
    let wrong = || Err(Refusal::from_code("wrong_code", ""));
    assert_eq!(after_redeem(wrong(), false), Step::AskCode { wrong: false });
    assert_eq!(after_redeem(wrong(), true), Step::AskCode { wrong: true });

    for (code, reason) in [
        ("link_not_found", "link_not_found"),
        ("link_expired", "link_expired"),
        ("link_revoked", "link_revoked"),
        ("link_not_for_you", "link_not_for_you"),
        ("too_many_attempts", "too_many_attempts"),
        ("http_500", "error"),
    ] {
        let refusal = Refusal::from_code(code, "boom");
        assert_eq!(refusal.reason(), reason);
        assert!(!refusal.message().is_empty());
        assert_eq!(
            after_redeem(Err(refusal.clone()), true),
            Step::Refused(refusal)
        );
    }
    assert!(Refusal::from_code("link_not_for_you", "")
        .message()
        .starts_with("This link was not shared with you. "));
    assert!(Refusal::from_code("x", "boom").message().contains("boom"));
}
