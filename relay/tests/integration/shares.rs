//! Share links against a real session (the project's sshd): who may share, who may redeem,
//! what a link viewer may do (read only), revocation and group removal cutting viewers off
//! at once, the live participants, the audit trail. Recording links: share_recordings.rs.

use std::time::{Duration, Instant};

use serde_json::json;
use vigil_relay::auth;
use vigil_relay::store::now_ms;
use vigil_wire::api::Session;
use vigil_wire::end::ErrorCode;
use vigil_wire::live::{Participant, ServerControl};
use vigil_wire::share::{CreatedShareLink, JoinedVia, LiveParticipant, ShareKind, ShareLink};

use crate::share_world::{redeem, share_at, token_of, Feed, ShareWorld, Stream};
use crate::support::{post, Relay, R};
use vigil_wire::live::FeedMsg;

/// The generous bound on a cut-off in tests (the benchmark measures it: `bench-revoke`).
const CUT_OFF: Duration = Duration::from_secs(10);

fn welcome_participant(c: &ServerControl) -> Option<Participant> {
    match c {
        ServerControl::Welcome { participant, .. } => Some(*participant),
        _ => None,
    }
}

/// `who` attaches to session `id`; fails unless they are welcomed as an observer.
async fn observe(r: &Relay, id: &str, who: &str) -> R<Stream> {
    let mut ws = Stream::open(r, id, who).await?;
    let first = ws
        .next_control(Duration::from_secs(5))
        .await?
        .ok_or("closed")?;
    assert_eq!(
        welcome_participant(&first),
        Some(Participant::Observer),
        "{who}"
    );
    Ok(ws)
}

/// Reads until the viewer is told their access ended with `code`; then the socket closes.
async fn cut_off(ws: &mut Stream, code: ErrorCode) -> R<Duration> {
    let t0 = Instant::now();
    let got = ws
        .until("the cut-off", CUT_OFF, |c| {
            matches!(c, ServerControl::Error { .. })
        })
        .await?;
    let ServerControl::Error {
        code: got_code,
        message,
    } = got
    else {
        unreachable!()
    };
    assert_eq!(got_code, code, "{message}");
    assert!(
        ws.closes(Duration::from_secs(5)).await?,
        "the socket closes"
    );
    Ok(t0.elapsed())
}

#[tokio::test]
async fn a_live_link_lets_the_named_user_watch_read_only_until_it_is_revoked() -> R {
    let w = ShareWorld::start().await?;
    let (r, id) = (&w.r, w.session.clone());
    // Who may share: reviewers (and administrators), not the session's own user nor a
    // user without a role.
    let bob_only = json!({"audience": {"type": "named", "users": ["bob"], "groups": []},
                          "with_code": true});
    assert_eq!(
        w.share("alice", bob_only.clone()).await?.0,
        403,
        "the owner may not share"
    );
    assert_eq!(
        w.share("bob", bob_only.clone()).await?.0,
        404,
        "bob may not see it yet"
    );
    let (status, body) = w.share("rex", bob_only.clone()).await?;
    assert_eq!(status, 200, "{body}");
    let created: CreatedShareLink = serde_json::from_value(body)?;
    assert_eq!(created.link.kind, ShareKind::Live);
    assert!(created.link.has_code && !created.link.allow_download);
    let code = created.code.clone().ok_or("no code")?;
    assert!(code.len() == 6 && code.bytes().all(|b| b.is_ascii_digit()));
    let token = token_of(&created)?;
    assert!(token.len() >= 43, "at least 256 bits: {token}");
    // The token is stored hashed only.
    let stored: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM share_links WHERE token_hash = $1")
        .bind(auth::token_hash(&token))
        .fetch_one(&r.state.db)
        .await?;
    assert_eq!(stored, 1);
    let leaked: i64 = sqlx::query_scalar(
        "SELECT COUNT(*) FROM share_links WHERE token_hash = $1 OR code_hash = $2",
    )
    .bind(&token)
    .bind(&code)
    .fetch_one(&r.state.db)
    .await?;
    assert_eq!(leaked, 0, "neither the token nor the code is stored as is");

    // Redeeming: carol is not named; a bad token; a missing and a wrong code.
    let (carol, carol_csrf) = r.login("carol").await?;
    assert_eq!(
        redeem(r, &carol, &carol_csrf, &token, Some(&code)).await?,
        (403, "link_not_for_you".into())
    );
    let (bob, csrf) = r.login("bob").await?;
    assert_eq!(
        redeem(r, &bob, &csrf, "not-a-token", None).await?,
        (404, "link_not_found".into())
    );
    assert_eq!(
        redeem(r, &bob, &csrf, &token, None).await?,
        (403, "wrong_code".into())
    );
    let wrong = if code == "000000" { "111111" } else { "000000" };
    assert_eq!(
        redeem(r, &bob, &csrf, &token, Some(wrong)).await?,
        (403, "wrong_code".into())
    );
    assert_eq!(
        redeem(r, &bob, &csrf, &token, Some(&code)).await?,
        (200, String::new())
    );

    // Bob sees the session, read-only: no lock, terminate, share or participants.
    let s: Session = bob
        .get(format!("{}/sessions/{id}", r.base))
        .send()
        .await?
        .json()
        .await?;
    assert!(s.controls.watch);
    assert!(!s.controls.lock && !s.controls.terminate && !s.controls.share && !s.controls.download);
    assert_eq!(s.watchers, None, "a link viewer is not told who watches");
    for action in [
        "lock",
        "unlock",
        "terminate",
        "terminate-and-cancel",
        "shares",
    ] {
        let resp = post(
            &bob,
            format!("{}/sessions/{id}/{action}", r.base),
            &csrf,
            bob_only.clone(),
        )
        .await?;
        assert_eq!(resp.status(), 403, "bob {action}");
    }
    for path in ["participants", "shares", "recording"] {
        let resp = bob
            .get(format!("{}/sessions/{id}/{path}", r.base))
            .send()
            .await?;
        assert_eq!(resp.status(), 403, "bob GET {path}");
    }
    let keys = bob
        .get(format!("{}/sessions/{id}/keystrokes", r.base))
        .send()
        .await?;
    assert_eq!(keys.status(), 200, "the live Keystrokes are his to read");
    // A role's view of the same session is unchanged by the link.
    let (carol_ws_status, _) = share_at(r, &id, "carol", bob_only.clone()).await?;
    assert_eq!(carol_ws_status, 404, "carol still may not see it");

    // rex's Active Sessions feed counts the watchers; alice's never does.
    let mut rex_feed = Feed::open(r, "rex").await?;
    let mut alice_feed = Feed::open(r, "alice").await?;
    // Bob attaches: as an observer, never the user.
    let mut bob_ws = observe(r, &id, "bob").await?;
    // rex watches too, and is told who is there.
    let mut rex_ws = Stream::open(r, &id, "rex").await?;
    let want = vec![
        format!("alice {:?} {:?}", Participant::User, JoinedVia::Owner),
        format!("bob {:?} {:?}", Participant::Observer, JoinedVia::Link),
        format!("rex {:?} {:?}", Participant::Observer, JoinedVia::Role),
    ];
    fn summary(list: &[LiveParticipant]) -> Vec<String> {
        let mut v: Vec<String> = list
            .iter()
            .map(|p| format!("{} {:?} {:?}", p.username, p.participant, p.via))
            .collect();
        v.sort();
        v
    }
    rex_ws
        .until("all three participants", Duration::from_secs(5), |c| {
            matches!(c, ServerControl::Participants { participants } if summary(participants) == want)
        })
        .await?;
    let (rex, rex_csrf) = r.login("rex").await?;
    let listed: Vec<LiveParticipant> = rex
        .get(format!("{}/sessions/{id}/participants", r.base))
        .send()
        .await?
        .json()
        .await?;
    assert_eq!(summary(&listed), want);
    let as_rex: Session = rex
        .get(format!("{}/sessions/{id}", r.base))
        .send()
        .await?
        .json()
        .await?;
    assert_eq!(as_rex.watchers, Some(2));
    assert!(as_rex.controls.share);
    let (alice, _) = r.login("alice").await?;
    let as_alice: Session = alice
        .get(format!("{}/sessions/{id}", r.base))
        .send()
        .await?
        .json()
        .await?;
    assert_eq!(
        as_alice.watchers, None,
        "the session's own user never learns who watches"
    );
    let counted = |n: u32| {
        let id = id.clone();
        move |m: &FeedMsg| matches!(m, FeedMsg::Upsert { session } if session.id == id && session.watchers == Some(n))
    };
    rex_feed.until(Duration::from_secs(5), counted(2)).await?;
    let seen = alice_feed
        .until(
            Duration::from_secs(5),
            |m| matches!(m, FeedMsg::Upsert { session } if session.id == id),
        )
        .await?;
    assert!(
        matches!(&seen, FeedMsg::Upsert { session } if session.watchers.is_none()),
        "{seen:?}"
    );
    let links: Vec<ShareLink> = rex
        .get(format!("{}/sessions/{id}/shares", r.base))
        .send()
        .await?
        .json()
        .await?;
    assert_eq!(links.len(), 1);
    assert_eq!(links[0].uses.len(), 1);
    assert_eq!(links[0].uses[0].username, "bob");

    // Revoked while bob watches: his stream is told and closed; rex's goes on.
    let link_id = created.link.id.clone();
    let resp = post(
        &rex,
        format!("{}/shares/{link_id}/revoke", r.base),
        &rex_csrf,
        json!({}),
    )
    .await?;
    assert_eq!(resp.status(), 200);
    let revoked: ShareLink = resp.json().await?;
    assert_eq!(revoked.revoked_by.as_deref(), Some("rex"));
    let took = cut_off(&mut bob_ws, ErrorCode::LinkRevoked).await?;
    println!("revoke → cut-off: {took:?}");
    rex_feed.until(Duration::from_secs(5), counted(1)).await?;
    rex_ws
        .until("bob gone from the participants", Duration::from_secs(5), |c| {
            matches!(c, ServerControl::Participants { participants } if participants.len() == 2)
        })
        .await?;
    assert_eq!(
        bob.get(format!("{}/sessions/{id}", r.base))
            .send()
            .await?
            .status(),
        404
    );
    assert_eq!(
        redeem(r, &bob, &csrf, &token, Some(&code)).await?,
        (410, "link_revoked".into())
    );
    // Someone who may not see the session is not told the link exists.
    let resp = post(
        &carol,
        format!("{}/shares/{link_id}/revoke", r.base),
        &carol_csrf,
        json!({}),
    )
    .await?;
    assert_eq!(resp.status(), 404);

    // The audit trail: share, link use, view start and end, revoke, with actors.
    let share = w.await_audit(|e| e.action == "share").await?;
    assert_eq!(share.actor, "rex");
    assert!(
        share.detail.contains("users bob") && share.detail.contains("code: yes"),
        "{}",
        share.detail
    );
    assert_eq!(share.source.as_deref(), Some("127.0.0.1"), "{share:?}");
    w.await_audit(|e| e.action == "link_use" && e.actor == "bob")
        .await?;
    let via_link = format!("via link {link_id}");
    let start = w
        .await_audit(|e| e.action == "view_start" && e.actor == "bob")
        .await?;
    assert!(start.detail.contains(&via_link), "{}", start.detail);
    w.await_audit(|e| {
        e.action == "view_start" && e.actor == "rex" && e.detail.contains("via role")
    })
    .await?;
    w.await_audit(|e| e.action == "view_end" && e.actor == "bob" && e.detail.contains(&via_link))
        .await?;
    w.await_audit(|e| e.action == "revoke" && e.actor == "rex")
        .await?;
    assert_eq!(share.session_id.as_deref(), Some(id.as_str()));
    drop(rex_ws);
    Ok(())
}

#[tokio::test]
async fn group_removal_and_expiry_cut_viewers_off() -> R {
    let w = ShareWorld::start().await?;
    let (r, id) = (&w.r, w.session.clone());
    // A link for the group `friends` (dave), and one for bob that will expire.
    let (status, body) = w
        .share(
            "rex",
            json!({"audience": {"type": "named", "users": [], "groups": ["friends"]}}),
        )
        .await?;
    assert_eq!(status, 200, "{body}");
    let friends: CreatedShareLink = serde_json::from_value(body)?;
    let (dave, dave_csrf) = r.login("dave").await?;
    assert_eq!(
        redeem(r, &dave, &dave_csrf, &token_of(&friends)?, None)
            .await?
            .0,
        200
    );
    let (_, body) = w
        .share(
            "root",
            json!({"audience": {"type": "named", "users": ["bob"], "groups": []}}),
        )
        .await?;
    let bobs: CreatedShareLink = serde_json::from_value(body)?;
    let (bob, bob_csrf) = r.login("bob").await?;
    assert_eq!(
        redeem(r, &bob, &bob_csrf, &token_of(&bobs)?, None).await?.0,
        200
    );

    let mut dave_ws = observe(r, &id, "dave").await?;
    let mut rita_ws = observe(r, &id, "rita").await?;
    let mut bob_ws = observe(r, &id, "bob").await?;
    // While bob watches, his link is cut to 2 s from now, as another process would write
    // it (the counter bumped with it): his stream re-reads when it ends.
    sqlx::query("UPDATE share_links SET expires_at = $1 WHERE id = $2")
        .bind(now_ms() + 2_000)
        .bind(&bobs.link.id)
        .execute(&r.state.db)
        .await?;
    sqlx::query("UPDATE access_version SET version = version + 1 WHERE id = 1")
        .execute(&r.state.db)
        .await?;

    let (root, csrf) = r.login("root").await?;
    let remove = |user: &str, group: &str| {
        root.delete(format!("{}/users/{user}/groups/{group}", r.base))
            .header(vigil_wire::CSRF_HEADER, &csrf)
            .send()
    };
    // dave leaves `friends`: the link no longer admits him.
    assert_eq!(remove("dave", "friends").await?.status(), 204);
    let took = cut_off(&mut dave_ws, ErrorCode::AccessRevoked).await?;
    println!("group removal → link viewer cut off: {took:?}");
    // rita leaves the group that made her a reviewer.
    assert_eq!(remove("rita", "audit2").await?.status(), 204);
    let took = cut_off(&mut rita_ws, ErrorCode::AccessRevoked).await?;
    println!("group removal → reviewer cut off: {took:?}");
    // bob's link expires while he watches.
    cut_off(&mut bob_ws, ErrorCode::LinkExpired).await?;
    assert_eq!(
        redeem(r, &bob, &bob_csrf, &token_of(&bobs)?, None).await?,
        (410, "link_expired".into())
    );
    Ok(())
}
