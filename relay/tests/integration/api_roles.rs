//! Who sees and controls which sessions over the REST API, and a request's lifecycle.

use reqwest::StatusCode;
use serde_json::json;
use vigil_relay::store::{self};
use vigil_wire::api::{Me, RequestStatus, Session};

use crate::api_world::{active_ids, sorted, world};
use crate::support::{error_code, post, R};

#[tokio::test]
async fn each_role_sees_exactly_its_sessions() -> R {
    let w = world().await?;
    let b = &w.r.base;
    let cases: &[(&str, Vec<String>)] = &[
        (
            "root",
            sorted(&[&w.s_admin, &w.s_isa, &w.s_alice, &w.s_bob_db]),
        ),
        ("ivy", sorted(&[&w.s_isa, &w.s_alice])),
        ("rex", sorted(&[&w.s_isa, &w.s_alice])),
        ("dora", sorted(&[&w.s_bob_db])),
        ("alice", sorted(&[&w.s_alice])),
        ("bob", sorted(&[&w.s_bob_db])),
    ];
    for (who, expected) in cases {
        let (c, _, _) = w.r.login_with_cookie(who).await?;
        assert_eq!(&active_ids(&c, b).await?, expected, "{who}");
    }
    // Ended sessions follow the same rules.
    let (alice, _, _) = w.r.login_with_cookie("alice").await?;
    let ended: Vec<Session> = alice
        .get(format!("{b}/sessions?state=ended"))
        .send()
        .await?
        .json()
        .await?;
    assert_eq!(
        ended.iter().map(|s| &s.id).collect::<Vec<_>>(),
        vec![&w.s_ended]
    );
    // The owner sees their session without controls; ids of others are not confirmed.
    let own: Session = alice
        .get(format!("{b}/sessions/{}", w.s_alice))
        .send()
        .await?
        .json()
        .await?;
    assert_eq!(own.controls, Default::default());
    let other = alice
        .get(format!("{b}/sessions/{}", w.s_bob_db))
        .send()
        .await?;
    assert_eq!(other.status(), StatusCode::NOT_FOUND);
    // ISA: Admin Sessions are invisible; controls on covered Request sessions.
    let (ivy, _, _) = w.r.login_with_cookie("ivy").await?;
    let me: Me = ivy.get(format!("{b}/me")).send().await?.json().await?;
    assert!(me.is_isa && !me.is_reviewer);
    assert_eq!(
        ivy.get(format!("{b}/sessions/{}", w.s_admin))
            .send()
            .await?
            .status(),
        StatusCode::NOT_FOUND
    );
    let s: Session = ivy
        .get(format!("{b}/sessions/{}", w.s_alice))
        .send()
        .await?
        .json()
        .await?;
    assert!(
        s.controls.watch
            && s.controls.lock
            && s.controls.terminate
            && s.controls.terminate_and_cancel
    );
    // Her own ISA session: no control over it (nobody controls their own session).
    let s: Session = ivy
        .get(format!("{b}/sessions/{}", w.s_isa))
        .send()
        .await?
        .json()
        .await?;
    assert!(!s.controls.lock && !s.controls.terminate && !s.controls.terminate_and_cancel);
    // A reviewer on web-* may terminate it, but not terminate-and-cancel it.
    let (rex, _, _) = w.r.login_with_cookie("rex").await?;
    let s: Session = rex
        .get(format!("{b}/sessions/{}", w.s_isa))
        .send()
        .await?
        .json()
        .await?;
    assert!(s.controls.terminate && !s.controls.terminate_and_cancel);
    Ok(())
}

#[tokio::test]
async fn controls_are_enforced_and_audited() -> R {
    let w = world().await?;
    let b = &w.r.base;
    let (root, root_csrf, _) = w.r.login_with_cookie("root").await?;
    // Terminate and Cancel does not exist for ISA (or Admin) sessions; root's own
    // Admin Session is not root's to control at all.
    for (s, code) in [(&w.s_isa, "not_cancellable"), (&w.s_admin, "forbidden")] {
        let resp = post(
            &root,
            format!("{b}/sessions/{s}/terminate-and-cancel"),
            &root_csrf,
            json!({}),
        )
        .await?;
        assert_eq!(
            error_code(resp).await?,
            (StatusCode::FORBIDDEN, code.into()),
            "{s}"
        );
    }
    // A regular user may not lock, even their own session; others' are not confirmed.
    let (alice, alice_csrf, _) = w.r.login_with_cookie("alice").await?;
    let resp = post(
        &alice,
        format!("{b}/sessions/{}/lock", w.s_alice),
        &alice_csrf,
        json!({}),
    )
    .await?;
    assert_eq!(
        error_code(resp).await?,
        (StatusCode::FORBIDDEN, "forbidden".into())
    );
    let resp = post(
        &alice,
        format!("{b}/sessions/{}/lock", w.s_bob_db),
        &alice_csrf,
        json!({}),
    )
    .await?;
    assert_eq!(resp.status(), StatusCode::NOT_FOUND);
    // A reviewer not covering db-1 can't touch it.
    let (rex, rex_csrf, _) = w.r.login_with_cookie("rex").await?;
    let resp = post(
        &rex,
        format!("{b}/sessions/{}/terminate", w.s_bob_db),
        &rex_csrf,
        json!({}),
    )
    .await?;
    assert_eq!(resp.status(), StatusCode::NOT_FOUND);
    // Locking a session the hub does not run: allowed, but it is not live.
    let resp = post(
        &rex,
        format!("{b}/sessions/{}/lock", w.s_alice),
        &rex_csrf,
        json!({}),
    )
    .await?;
    assert_eq!(
        error_code(resp).await?,
        (StatusCode::CONFLICT, "not_live".into())
    );
    // The covering reviewer terminates and cancels alice's session: ended + checked in.
    let resp = post(
        &rex,
        format!("{b}/sessions/{}/terminate-and-cancel", w.s_alice),
        &rex_csrf,
        json!({}),
    )
    .await?;
    assert_eq!(resp.status(), StatusCode::OK);
    let s: Session = resp.json().await?;
    assert!(s.ended_at.is_some());
    assert_eq!(
        s.end_reason.map(|r| r.message).as_deref(),
        Some("terminated and cancelled by rex")
    );
    let reqs: Vec<vigil_wire::api::AccessRequest> = alice
        .get(format!("{b}/requests"))
        .send()
        .await?
        .json()
        .await?;
    let req = reqs
        .iter()
        .find(|r| r.id == w.alice_request)
        .ok_or("alice's request")?;
    assert_eq!(req.status, RequestStatus::CheckedIn);
    // The request can no longer launch a session.
    let body = json!({"asset_id": w.web, "request_id": w.alice_request, "cols": 80, "rows": 24});
    let resp = post(&alice, format!("{b}/sessions"), &alice_csrf, body).await?;
    assert_eq!(
        error_code(resp).await?,
        (StatusCode::FORBIDDEN, "request_not_usable".into())
    );
    // The audit log (administrators only) names who did what to which session.
    assert_eq!(
        rex.get(format!("{b}/audit")).send().await?.status(),
        StatusCode::FORBIDDEN
    );
    let audit: Vec<vigil_wire::api::AuditEntry> =
        root.get(format!("{b}/audit")).send().await?.json().await?;
    assert!(audit.iter().any(|e| e.actor == "rex"
        && e.action == "terminate_and_cancel"
        && e.session_id.as_deref() == Some(w.s_alice.as_str())));
    Ok(())
}

#[tokio::test]
async fn request_lifecycle_over_the_api() -> R {
    let w = world().await?;
    let b = &w.r.base;
    let db = &w.r.state.db;
    w.r.user("april", false, &["approvers"]).await?;
    let all = vigil_wire::api::AssetSelector::default();
    store::rules::insert(
        db,
        "approvers",
        &all,
        "approvers",
        &[vigil_wire::api::GrantedRole::Approver],
        false,
    )
    .await?;
    let (bob, bob_csrf, _) = w.r.login_with_cookie("bob").await?;
    let body = json!({"asset_id": w.web, "reason": "deploy", "duration_minutes": 30});
    let req: vigil_wire::api::AccessRequest = post(&bob, format!("{b}/requests"), &bob_csrf, body)
        .await?
        .json()
        .await?;
    assert_eq!(req.status, RequestStatus::Pending);
    // Not yet usable; the requester cannot approve it himself.
    let launch = json!({"asset_id": w.web, "request_id": req.id, "cols": 80, "rows": 24});
    let resp = post(&bob, format!("{b}/sessions"), &bob_csrf, launch.clone()).await?;
    assert_eq!(
        error_code(resp).await?,
        (StatusCode::FORBIDDEN, "request_not_usable".into())
    );
    let resp = post(
        &bob,
        format!("{b}/requests/{}/approve", req.id),
        &bob_csrf,
        json!({}),
    )
    .await?;
    assert_eq!(resp.status(), StatusCode::FORBIDDEN);
    // The approver sees it as approvable and approves it.
    let (april, april_csrf, _) = w.r.login_with_cookie("april").await?;
    let listed: Vec<vigil_wire::api::AccessRequest> = april
        .get(format!("{b}/requests"))
        .send()
        .await?
        .json()
        .await?;
    assert!(listed.iter().any(|r| r.id == req.id && r.can_approve));
    let approved: vigil_wire::api::AccessRequest = post(
        &april,
        format!("{b}/requests/{}/approve", req.id),
        &april_csrf,
        json!({}),
    )
    .await?
    .json()
    .await?;
    assert_eq!(approved.status, RequestStatus::Approved);
    assert_eq!(approved.decided_by.as_deref(), Some("april"));
    let again = post(
        &april,
        format!("{b}/requests/{}/deny", req.id),
        &april_csrf,
        json!({}),
    )
    .await?;
    assert_eq!(again.status(), StatusCode::CONFLICT);
    // Another requestor may not use bob's request.
    let (alice, alice_csrf, _) = w.r.login_with_cookie("alice").await?;
    let resp = post(&alice, format!("{b}/sessions"), &alice_csrf, launch.clone()).await?;
    assert_eq!(
        error_code(resp).await?,
        (StatusCode::FORBIDDEN, "request_not_usable".into())
    );
    // A requestor without a request may not launch at all.
    let resp = post(
        &alice,
        format!("{b}/sessions"),
        &alice_csrf,
        json!({"asset_id": w.web, "cols": 80, "rows": 24}),
    )
    .await?;
    assert_eq!(resp.status(), StatusCode::FORBIDDEN);
    // Check-in by the requester closes it.
    let done: vigil_wire::api::AccessRequest = post(
        &bob,
        format!("{b}/requests/{}/checkin", req.id),
        &bob_csrf,
        json!({}),
    )
    .await?
    .json()
    .await?;
    assert_eq!(done.status, RequestStatus::CheckedIn);
    Ok(())
}
