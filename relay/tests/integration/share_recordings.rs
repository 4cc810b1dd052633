//! Recording links (an ended session: the in-app replay, the download only if granted),
//! and what a link refuses: bad terms, expired links, code guessing, no login.

use serde_json::json;
use vigil_relay::store::{self, now_ms};
use vigil_wire::api::{Protocol, Session, SessionKind};
use vigil_wire::end::EndReason;
use vigil_wire::share::{CreatedShareLink, ShareKind};

use crate::share_world::{redeem, share_at, token_of};
use crate::support::{self, post, R};

/// An ended SSH session of alice's with a recording, and the people around it.
async fn ended_world() -> R<(support::Relay, String)> {
    let r = support::relay().await?;
    r.user("rex", false, &["audit"]).await?;
    let alice = r.user("alice", false, &["devs"]).await?;
    r.user("bob", false, &[]).await?;
    r.user("carol", false, &[]).await?;
    let web = r.asset("web-1", Protocol::Ssh).await?;
    use vigil_wire::api::GrantedRole::*;
    r.rule("audit", "web-*", "audit", &[ActiveSessionReviewer])
        .await?;
    r.rule("devs", "web-*", "devs", &[Requestor]).await?;
    let request = r.approved_request(alice, web, now_ms() + 3_600_000).await?;
    let id = r
        .session(alice, web, SessionKind::Request, Some(request))
        .await?;
    store::sessions::end(&r.state.db, &id, now_ms(), &EndReason::plain("closed")).await?;
    let path = r.state.hub.recording_path(&id);
    std::fs::create_dir_all(path.parent().ok_or("no parent")?)?;
    std::fs::write(
        &path,
        "{\"version\":2,\"width\":80,\"height\":24}\n[0.1,\"o\",\"hi\"]\n",
    )?;
    Ok((r, id))
}

#[tokio::test]
async fn a_recording_link_opens_the_replay_for_the_named_user_and_the_download_only_if_granted() -> R
{
    let (r, id) = ended_world().await?;
    let named = |download: bool| {
        json!({"audience": {"type": "named", "users": ["bob"], "groups": []},
               "allow_download": download, "expires_in_minutes": 30})
    };
    let (status, body) = share_at(&r, &id, "rex", named(false)).await?;
    assert_eq!(status, 200, "{body}");
    let link: CreatedShareLink = serde_json::from_value(body)?;
    assert_eq!(link.link.kind, ShareKind::Recording);
    assert!(link.link.expires_at - link.link.created_at == 30 * 60_000);
    let (bob, csrf) = r.login("bob").await?;
    let (carol, carol_csrf) = r.login("carol").await?;
    assert_eq!(
        bob.get(format!("{}/sessions/{id}/replay", r.base))
            .send()
            .await?
            .status(),
        404
    );
    assert_eq!(
        redeem(&r, &bob, &csrf, &token_of(&link)?, None).await?.0,
        200
    );
    assert_eq!(
        redeem(&r, &carol, &carol_csrf, &token_of(&link)?, None).await?,
        (403, "link_not_for_you".into())
    );
    let replay = bob
        .get(format!("{}/sessions/{id}/replay", r.base))
        .send()
        .await?;
    assert_eq!(replay.status(), 200);
    let disposition = replay.headers()["content-disposition"]
        .to_str()?
        .to_string();
    assert!(disposition.starts_with("inline"), "{disposition}");
    assert!(replay.text().await?.contains("\"hi\""));
    assert_eq!(
        carol
            .get(format!("{}/sessions/{id}/replay", r.base))
            .send()
            .await?
            .status(),
        404
    );
    assert_eq!(
        bob.get(format!("{}/sessions/{id}/recording", r.base))
            .send()
            .await?
            .status(),
        403,
        "no download without allow_download"
    );
    let s: Session = bob
        .get(format!("{}/sessions/{id}", r.base))
        .send()
        .await?
        .json()
        .await?;
    assert!(s.controls.watch && !s.controls.download && !s.controls.share);
    // A second link grants the download.
    let (_, body) = share_at(&r, &id, "rex", named(true)).await?;
    let with_download: CreatedShareLink = serde_json::from_value(body)?;
    assert_eq!(
        redeem(&r, &bob, &csrf, &token_of(&with_download)?, None)
            .await?
            .0,
        200
    );
    let download = bob
        .get(format!("{}/sessions/{id}/recording", r.base))
        .send()
        .await?;
    assert_eq!(download.status(), 200);
    assert!(download.headers()["content-disposition"]
        .to_str()?
        .starts_with("attachment"));
    let log = store::audit::list(&r.state.db, &Default::default()).await?;
    assert!(log
        .iter()
        .any(|e| e.actor == "bob" && e.action == "replay" && e.detail.contains("via link")));
    assert!(log
        .iter()
        .any(|e| e.actor == "bob" && e.action == "download"));
    Ok(())
}

#[tokio::test]
async fn links_refuse_bad_terms_expired_tokens_and_code_guessing() -> R {
    let (r, id) = ended_world().await?;
    // Terms: a lifetime over a day, an empty audience, an unknown user.
    for bad in [
        json!({"audience": {"type": "any_user"}, "expires_in_minutes": 1441}),
        json!({"audience": {"type": "named", "users": [], "groups": []}}),
        json!({"audience": {"type": "named", "users": ["nobody"], "groups": []}}),
    ] {
        assert_eq!(share_at(&r, &id, "rex", bad.clone()).await?.0, 400, "{bad}");
    }
    // A live link may not allow the download.
    let alice = store::users::by_name(&r.state.db, "alice")
        .await?
        .ok_or("alice")?
        .id;
    let web = store::assets::list_facts(&r.state.db).await?[0].id;
    let live = r.session(alice, web, SessionKind::Request, None).await?;
    let (status, _) = share_at(
        &r,
        &live,
        "rex",
        json!({"audience": {"type": "any_user"}, "allow_download": true}),
    )
    .await?;
    assert_eq!(status, 400);
    // Any logged-in user, with a code: five wrong codes and the link refuses that user.
    let body = json!({"audience": {"type": "any_user"}, "with_code": true});
    let (status, body) = share_at(&r, &id, "rex", body).await?;
    assert_eq!(status, 200);
    let link: CreatedShareLink = serde_json::from_value(body)?;
    let code = link.code.clone().ok_or("no code")?;
    let wrong = if code == "000000" { "111111" } else { "000000" };
    let (carol, csrf) = r.login("carol").await?;
    for _ in 0..5 {
        assert_eq!(
            redeem(&r, &carol, &csrf, &token_of(&link)?, Some(wrong))
                .await?
                .1,
            "wrong_code"
        );
    }
    assert_eq!(
        redeem(&r, &carol, &csrf, &token_of(&link)?, Some(&code)).await?,
        (429, "too_many_attempts".into())
    );
    let (bob, bob_csrf) = r.login("bob").await?;
    assert_eq!(
        redeem(&r, &bob, &bob_csrf, &token_of(&link)?, Some(&code))
            .await?
            .0,
        200,
        "others are not locked out"
    );
    // An expired link.
    sqlx::query("UPDATE share_links SET expires_at = $1 WHERE id = $2")
        .bind(now_ms() - 1)
        .bind(&link.link.id)
        .execute(&r.state.db)
        .await?;
    assert_eq!(
        redeem(&r, &bob, &bob_csrf, &token_of(&link)?, Some(&code)).await?,
        (410, "link_expired".into())
    );
    // Redeeming needs a login and the CSRF header.
    let anon = reqwest::Client::new();
    let resp = anon
        .post(format!("{}/shares/redeem", r.base))
        .json(&json!({"token": "x"}))
        .send()
        .await?;
    assert_eq!(resp.status(), 401);
    let resp = bob
        .post(format!("{}/shares/redeem", r.base))
        .json(&json!({"token": "x"}))
        .send()
        .await?;
    assert_eq!(resp.status(), 403);
    let _ = post(
        &bob,
        format!("{}/shares/redeem", r.base),
        &bob_csrf,
        json!({"token": "x"}),
    )
    .await?;
    Ok(())
}

#[tokio::test]
async fn a_live_link_ends_with_its_session() -> R {
    let (r, _) = ended_world().await?;
    let alice = store::users::by_name(&r.state.db, "alice")
        .await?
        .ok_or("alice")?
        .id;
    let web = store::assets::list_facts(&r.state.db).await?[0].id;
    let live = r.session(alice, web, SessionKind::Request, None).await?;
    let body = json!({"audience": {"type": "named", "users": ["bob"], "groups": []}});
    let (status, body) = share_at(&r, &live, "rex", body).await?;
    assert_eq!(status, 200, "{body}");
    let link: CreatedShareLink = serde_json::from_value(body)?;
    assert_eq!(link.link.kind, ShareKind::Live);
    let (bob, csrf) = r.login("bob").await?;
    assert_eq!(
        redeem(&r, &bob, &csrf, &token_of(&link)?, None).await?.0,
        200
    );
    let url = format!("{}/sessions/{live}", r.base);
    assert_eq!(bob.get(&url).send().await?.status(), 200);
    store::sessions::end(&r.state.db, &live, now_ms(), &EndReason::plain("closed")).await?;
    assert_eq!(
        bob.get(&url).send().await?.status(),
        404,
        "no replay through a live link"
    );
    assert_eq!(bob.get(format!("{url}/replay")).send().await?.status(), 404);
    assert_eq!(
        redeem(&r, &bob, &csrf, &token_of(&link)?, None).await?,
        (410, "link_expired".into())
    );
    // The sharer now makes a recording link for the ended session.
    let body = json!({"audience": {"type": "named", "users": ["bob"], "groups": []}});
    let (_, body) = share_at(&r, &live, "rex", body).await?;
    let link: CreatedShareLink = serde_json::from_value(body)?;
    assert_eq!(link.link.kind, ShareKind::Recording);
    Ok(())
}
