//! The sessions and roles the REST API's role and stream tests share.

use reqwest::Client;
use vigil_relay::store::{self, now_ms};
use vigil_wire::api::{RequestStatus, Session, SessionKind};
use vigil_wire::end::EndReason;

use crate::support::{relay, Relay, R};

pub struct World {
    pub r: Relay,
    pub web: i64,
    pub s_admin: String,
    pub s_isa: String,
    pub s_alice: String,
    pub s_bob_db: String,
    pub s_ended: String,
    pub alice_request: i64,
}

/// web-1 and db-1; ops = ISA on web-*, audit = reviewer on web-*, dbaudit = reviewer
/// on db-*, devs = requestors everywhere.
pub async fn world() -> R<World> {
    let r = relay().await?;
    let db = &r.state.db;
    let admin = r.user("root", true, &[]).await?;
    let isa = r.user("ivy", false, &["ops"]).await?;
    r.user("rex", false, &["audit"]).await?;
    r.user("dora", false, &["dbaudit"]).await?;
    let alice = r.user("alice", false, &["devs"]).await?;
    let bob = r.user("bob", false, &["devs"]).await?;
    let web = r.asset("web-1", vigil_wire::api::Protocol::Ssh).await?;
    let dbase = r.asset("db-1", vigil_wire::api::Protocol::Ssh).await?;
    use vigil_wire::api::GrantedRole::*;
    r.rule("ops", "web-*", "ops", &[Isa]).await?;
    r.rule("audit", "web-*", "audit", &[ActiveSessionReviewer])
        .await?;
    r.rule("dbaudit", "db-*", "dbaudit", &[ActiveSessionReviewer])
        .await?;
    r.rule("devs", "*", "devs", &[Requestor]).await?;
    let approved = |user_id, asset_id| store::requests::NewRequest {
        user_id,
        asset_id,
        reason: "fix",
        duration_minutes: 60,
        status: RequestStatus::Approved,
        expires_at: Some(now_ms() + 3_600_000),
        decided_by: Some("root"),
    };
    let alice_request = store::requests::insert(db, approved(alice, web)).await?;
    let bob_request = store::requests::insert(db, approved(bob, dbase)).await?;
    let s_admin = r.session(admin, web, SessionKind::Admin, None).await?;
    let s_isa = r.session(isa, web, SessionKind::Isa, None).await?;
    let s_alice = r
        .session(alice, web, SessionKind::Request, Some(alice_request))
        .await?;
    let s_bob_db = r
        .session(bob, dbase, SessionKind::Request, Some(bob_request))
        .await?;
    let s_ended = r
        .session(alice, web, SessionKind::Request, Some(alice_request))
        .await?;
    store::sessions::end(db, &s_ended, now_ms(), &EndReason::plain("closed")).await?;
    Ok(World {
        r,
        web,
        s_admin,
        s_isa,
        s_alice,
        s_bob_db,
        s_ended,
        alice_request,
    })
}

pub async fn active_ids(c: &Client, base: &str) -> R<Vec<String>> {
    let list: Vec<Session> = c
        .get(format!("{base}/sessions?state=active"))
        .send()
        .await?
        .json()
        .await?;
    let mut ids: Vec<String> = list.into_iter().map(|s| s.id).collect();
    ids.sort();
    Ok(ids)
}

pub fn sorted(ids: &[&String]) -> Vec<String> {
    let mut v: Vec<String> = ids.iter().map(|s| s.to_string()).collect();
    v.sort();
    v
}
