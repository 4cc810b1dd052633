//! The authorization matrix: every route of the OpenAPI document (REST and WebSocket),
//! against every role, every session kind, with and without the CSRF header, and
//! WebSockets from a foreign or missing Origin. Expected outcomes come from one table
//! ([`expect`]); a route the table does not know fails the test, so a new route cannot
//! be missed. Runs the relay's router on a real socket with a temporary data dir; the
//! sessions are database rows (not live in the hub), so an allowed Lock answers 409
//! `not_live` where a refused one answers 403 or 404.

use std::collections::BTreeSet;

use reqwest::{Client, Method};
use serde_json::{json, Value};
use tokio_tungstenite::tungstenite;
use tokio_tungstenite::tungstenite::client::IntoClientRequest;
use vigil_relay::auth;
use vigil_relay::store::{self, now_ms, sessions::NewSession};
use vigil_relay::AppState;
use vigil_wire::api::{AssetSelector, GrantedRole, Protocol, RequestStatus, SessionKind};
use vigil_wire::recording::{encode, Kind, MAGIC};
use vigil_wire::share::ShareKind;

use crate::support::{self, Relay, R};

/// The fingerprint the matrix records as offered before each accept-host-key call.
const OFFERED: &str = "sha256:ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad";

use crate::authz_table::{
    documented, expect, is_session_route, login_name, routed, transport, Role, Route, Transport,
    KINDS, ROLES,
};

#[test]
fn the_router_and_the_document_name_the_same_routes_with_unique_operation_ids() {
    let (doc, ids) = documented();
    let doc: BTreeSet<(String, String)> = doc
        .iter()
        .map(|(m, p)| (m.to_string(), p.to_string()))
        .collect();
    let router = routed();
    assert_eq!(
        doc, router,
        "the OpenAPI document and the router disagree on the routes"
    );
    let unique: BTreeSet<&String> = ids.iter().collect();
    assert_eq!(unique.len(), ids.len(), "operation ids repeat: {ids:?}");
    assert_eq!(ids.len(), doc.len(), "an operation has no id");
}

struct World {
    base: String,
    origin: String,
    state: AppState,
    web: i64,
    _relay: Relay,
}

async fn world() -> R<World> {
    // Every case makes a live session row: the caps (tested in controls.rs) stay out of
    // the way.
    let relay = support::start(tempfile::tempdir()?, |c| {
        c.max_sessions_per_user = u32::MAX;
        c.max_live_sessions = u32::MAX;
        // `/metrics` is off by default; on here, so that the matrix covers it as served.
        c.metrics.enabled = true;
    })
    .await?;
    let state = relay.state.clone();
    for (name, admin, groups) in [
        ("root", true, &[][..]),
        ("ada", true, &[][..]),
        ("ivy", false, &["ops"][..]),
        ("ian", false, &["ops"][..]),
        ("alice", false, &["devs"][..]),
        ("bob", false, &["devs"][..]),
        ("rex", false, &["audit"][..]),
        ("olga", false, &["audit-db"][..]),
        ("lena", false, &[][..]),
    ] {
        relay.user(name, admin, groups).await?;
    }
    let web = relay.asset("web-1", Protocol::Rdp).await?;
    relay.asset("db-1", Protocol::Rdp).await?;
    use GrantedRole::*;
    relay.rule("ops", "web-*", "ops", &[Isa]).await?;
    relay
        .rule("audit", "web-*", "audit", &[ActiveSessionReviewer])
        .await?;
    relay
        .rule("audit-db", "db-*", "audit-db", &[ActiveSessionReviewer])
        .await?;
    relay.rule("devs", "web-*", "devs", &[Requestor]).await?;
    Ok(World {
        base: relay.base.trim_end_matches("/api/v1").to_string(),
        origin: format!("http://{}", relay.addr),
        state,
        web,
        _relay: relay,
    })
}

impl World {
    async fn user_id(&self, name: &str) -> R<i64> {
        Ok(store::users::by_name(&self.state.db, name)
            .await?
            .ok_or("no user")?
            .id)
    }

    /// A logged-in client, its CSRF token and its session cookie.
    async fn login(&self, name: &str) -> R<(Client, String, String)> {
        support::login_with_cookie_at(&format!("{}/api/v1", self.base), name).await
    }

    /// A fresh session of `kind` on web-1 (a database row with a desktop recording), and
    /// for a request session its approved request.
    async fn session(&self, kind: SessionKind) -> R<String> {
        let owner = login_name(Role::Owner, kind).ok_or("no owner")?;
        let user_id = self.user_id(owner).await?;
        let request_id = if kind == SessionKind::Request {
            Some(
                store::requests::insert(
                    &self.state.db,
                    store::requests::NewRequest {
                        user_id,
                        asset_id: self.web,
                        reason: "matrix",
                        duration_minutes: 60,
                        status: RequestStatus::Approved,
                        expires_at: Some(now_ms() + 3_600_000),
                        decided_by: Some("root"),
                    },
                )
                .await?,
            )
        } else {
            None
        };
        let id = auth::new_session_id();
        store::sessions::insert(
            &self.state.db,
            NewSession {
                id: &id,
                user_id,
                asset_id: self.web,
                kind,
                request_id,
                started_at: now_ms(),
                cols: 80,
                rows: 24,
            },
        )
        .await?;
        let mut f = MAGIC.to_vec();
        f.extend(encode(Kind::Params, 0, b"{}"));
        f.extend(encode(Kind::Keyframe, 0, b"kf"));
        let path = self.state.hub.desktop_recording_path(&id);
        std::fs::create_dir_all(path.parent().ok_or("no parent")?)?;
        std::fs::write(&path, f)?;
        Ok(id)
    }

    /// A share link on session `session` made by ada (any user may redeem it), and
    /// `holder`'s use of it; its id and token.
    async fn link(&self, session: &str, holder: Option<&str>) -> R<(String, String)> {
        let ended = store::sessions::get(&self.state.db, session)
            .await?
            .ok_or("no session")?
            .ended_at
            .is_some();
        let id = auth::new_session_id();
        let token = auth::new_token();
        let mut tx = store::begin_write(&self.state.db).await?;
        store::shares::insert(
            &mut tx,
            store::shares::NewLink {
                id: &id,
                session_id: session,
                kind: if ended {
                    ShareKind::Recording
                } else {
                    ShareKind::Live
                },
                token_hash: &auth::token_hash(&token),
                any_user: true,
                users: &[],
                groups: &[],
                code_hash: None,
                allow_download: false,
                created_by: self.user_id("ada").await?,
                created_at: now_ms(),
                expires_at: now_ms() + 3_600_000,
            },
        )
        .await?;
        if let Some(name) = holder {
            let user = self.user_id(name).await?;
            store::shares::record_use(&mut tx, &id, user, now_ms()).await?;
        }
        tx.commit().await?;
        Ok((id, token))
    }

    /// A pending request of alice's on web-1.
    async fn pending_request(&self) -> R<i64> {
        Ok(store::requests::insert(
            &self.state.db,
            store::requests::NewRequest {
                user_id: self.user_id("alice").await?,
                asset_id: self.web,
                reason: "matrix",
                duration_minutes: 60,
                status: RequestStatus::Pending,
                expires_at: None,
                decided_by: None,
            },
        )
        .await?)
    }

    /// The concrete path and body of `route` for one case, with its fixtures made.
    async fn instantiate(
        &self,
        route: Route,
        kind: SessionKind,
        role: Role,
        n: usize,
    ) -> R<(String, Value)> {
        let path = route.1;
        let holder = (role == Role::LinkViewer).then_some("lena");
        let mut body = match route {
            ("POST", "/api/v1/assets") => json!({"name": format!("new-{n}"), "protocol": "ssh",
                "host": "127.0.0.1", "port": 22, "account": "svc", "tags": []}),
            ("POST", "/api/v1/rules") => json!({"name": format!("rule-{n}"),
                "selector": {"name_glob": "none-*", "protocol": null, "tags": []},
                "group": "g", "roles": ["requestor"], "auto_approve": false}),
            // A different name each time: the (name, address) pair is not locked out.
            ("POST", "/api/v1/auth/login") => {
                json!({"username": format!("nobody-{n}"), "password": "wrong"})
            }
            ("POST", "/api/v1/emergency") => {
                json!({"scope": "user", "name": "nobody", "action": "lock"})
            }
            ("POST", "/api/v1/requests") => {
                json!({"asset_id": self.web, "reason": "matrix", "duration_minutes": 5})
            }
            ("POST", "/api/v1/sessions") => {
                json!({"asset_id": self.web, "request_id": null, "cols": 80, "rows": 24})
            }
            ("POST", "/api/v1/assets/{id}/accept-host-key") => json!({"fingerprint": OFFERED}),
            ("PUT", "/api/v1/users/{name}/keyboard-layout") => json!({"layout": "de-DE"}),
            ("PUT", "/api/v1/sessions/{id}/legal-hold") => {
                json!({"hold": true, "reason": "matrix"})
            }
            ("POST", "/api/v1/sessions/{id}/shares") => {
                json!({"audience": {"type": "named", "users": ["bob"], "groups": []}})
            }
            _ => json!({}),
        };
        let mut concrete = path.replace("{id}", "0");
        if is_session_route(route) {
            let session = self.session(kind).await?;
            if path.contains("/replay") {
                let closed = vigil_wire::end::EndReason::plain("closed");
                store::sessions::end(&self.state.db, &session, now_ms(), &closed).await?;
            }
            if holder.is_some() {
                self.link(&session, holder).await?;
            }
            concrete = path.replace("{id}", &session);
        } else if path == "/api/v1/shares/{link_id}/revoke" {
            let (link, _) = self.link(&self.session(kind).await?, holder).await?;
            concrete = path.replace("{link_id}", &link);
        } else if path == "/api/v1/shares/redeem" {
            let (_, token) = self.link(&self.session(kind).await?, None).await?;
            body = json!({"token": token});
        } else if path.starts_with("/api/v1/requests/{id}") {
            concrete = path.replace("{id}", &self.pending_request().await?.to_string());
        } else if path == "/api/v1/assets/{id}/accept-host-key" {
            concrete = path.replace("{id}", &self.web.to_string());
            store::assets::record_offered(&self.state.db, self.web, OFFERED).await?;
        } else if path == "/api/v1/rules/{id}" {
            let id = store::rules::insert(
                &self.state.db,
                &format!("doomed-{n}"),
                &AssetSelector {
                    name_glob: Some("none-*".into()),
                    protocol: None,
                    tags: vec![],
                },
                "g",
                &[GrantedRole::Requestor],
                false,
            )
            .await?;
            concrete = path.replace("{id}", &id.to_string());
        } else if path.starts_with("/api/v1/users/{name}") {
            let name = format!("victim-{n}");
            let hash = auth::hash_password("pw-victim")?;
            store::users::create(&self.state.db, &name, &name, &hash, false, &["g".into()]).await?;
            concrete = path.replace("{name}", &name).replace("{group}", "g");
        }
        Ok((concrete, body))
    }
}

/// One login per user, made when first needed.
struct Logins<'a> {
    world: &'a World,
    by_name: std::collections::HashMap<String, (Client, String, String)>,
}

impl Logins<'_> {
    async fn get(&mut self, name: &str) -> R<(Client, String, String)> {
        if let Some(l) = self.by_name.get(name) {
            return Ok(l.clone());
        }
        let l = self.world.login(name).await?;
        self.by_name.insert(name.to_string(), l.clone());
        Ok(l)
    }
}

/// Opens a WebSocket; the HTTP status of the answer (101 when upgraded).
async fn ws_status(url: &str, origin: Option<&str>, cookie: Option<&str>) -> R<u16> {
    let mut req = url.into_client_request()?;
    if let Some(o) = origin {
        req.headers_mut().insert("Origin", o.parse()?);
    }
    if let Some(c) = cookie.filter(|c| !c.is_empty()) {
        req.headers_mut().insert("Cookie", c.parse()?);
    }
    match tokio_tungstenite::connect_async(req).await {
        Ok(_) => Ok(101),
        Err(tungstenite::Error::Http(resp)) => Ok(resp.status().as_u16()),
        Err(e) => Err(e.into()),
    }
}

#[tokio::test]
async fn every_route_against_every_role_kind_and_transport() -> R {
    let w = world().await?;
    let (routes, _) = documented();
    let mut logins = Logins {
        world: &w,
        by_name: Default::default(),
    };
    let mut cases = 0usize;
    let mut failures = Vec::new();
    let mut n = 0usize;
    for route in routes.iter().copied() {
        let kinds: &[SessionKind] = if is_session_route(route)
            || matches!(
                route,
                ("POST", "/api/v1/sessions") | ("POST", "/api/v1/requests")
            )
            || route.1.starts_with("/api/v1/requests/{id}")
        {
            &KINDS
        } else {
            &KINDS[..1]
        };
        for &kind in kinds {
            for role in ROLES {
                let Some(want) = expect(route, role, kind) else {
                    failures.push(format!("{route:?}: not in the matrix's table"));
                    continue;
                };
                let who = login_name(role, kind);
                // Variants: as is; without the CSRF header (unsafe REST methods); from a
                // foreign Origin and with none (WebSockets).
                let variants: &[&str] = match transport(route) {
                    Transport::Rest if route.0 != "GET" => &["plain", "no-csrf"],
                    Transport::Rest => &["plain"],
                    Transport::WebSocket => &["plain", "foreign-origin", "no-origin"],
                };
                for &variant in variants {
                    // Logging out ends the login it is made with: a fresh one for it.
                    let login = match who {
                        Some(name) if route.1 == "/api/v1/auth/logout" => {
                            Some(w.login(name).await?)
                        }
                        Some(name) => Some(logins.get(name).await?),
                        None => None,
                    };
                    n += 1;
                    let (path, body) = w.instantiate(route, kind, role, n).await?;
                    let want = match variant {
                        "no-csrf" if role == Role::Anonymous || route.1 == "/api/v1/auth/login" => {
                            401
                        }
                        "no-csrf" => 403,
                        "foreign-origin" | "no-origin" => 403,
                        _ => want,
                    };
                    let got = match transport(route) {
                        Transport::Rest => {
                            let client = login.as_ref().map(|l| l.0.clone()).unwrap_or_default();
                            let method = Method::from_bytes(route.0.as_bytes())?;
                            let mut req = client
                                .request(method, format!("{}{path}", w.base))
                                .json(&body);
                            if let (Some(l), "plain") = (&login, variant) {
                                req = req.header(vigil_wire::CSRF_HEADER, &l.1);
                            }
                            req.send().await?.status().as_u16()
                        }
                        Transport::WebSocket => {
                            let url = format!("{}{path}", w.base.replacen("http", "ws", 1));
                            let origin = match variant {
                                "foreign-origin" => Some("http://evil.example"),
                                "no-origin" => None,
                                _ => Some(w.origin.as_str()),
                            };
                            ws_status(&url, origin, login.as_ref().map(|l| l.2.as_str())).await?
                        }
                    };
                    cases += 1;
                    if got != want {
                        failures.push(format!(
                            "{} {} as {role:?} on a {kind:?} session ({variant}): got {got}, want {want}",
                            route.0, route.1
                        ));
                    }
                }
            }
        }
    }
    println!("authz matrix: {cases} cases, {} failures", failures.len());
    assert!(failures.is_empty(), "{}", failures.join("\n"));
    Ok(())
}
