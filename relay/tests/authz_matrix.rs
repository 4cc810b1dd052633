//! The authorization matrix: every route of the OpenAPI document (REST and WebSocket),
//! against every role, every session kind, with and without the CSRF header, and
//! WebSockets from a foreign or missing Origin. Expected outcomes come from one table
//! ([`expect`]); a route the table does not know fails the test, so a new route cannot
//! be missed. Runs the relay's router on a real socket with a temporary data dir; the
//! sessions are database rows (not live in the hub), so an allowed Lock answers 409
//! `not_live` where a refused one answers 403 or 404.

use std::collections::BTreeSet;

use reqwest::{Client, Method, StatusCode};
use serde_json::{json, Value};
use tokio_tungstenite::tungstenite;
use tokio_tungstenite::tungstenite::client::IntoClientRequest;
use vigil_relay::auth;
use vigil_relay::store::{self, now_ms, sessions::NewSession};
use vigil_relay::AppState;
use vigil_wire::api::{AssetSelector, GrantedRole, Protocol, RequestStatus, SessionKind};
use vigil_wire::recording::{encode, Kind, MAGIC};

/// The fingerprint the matrix records as offered before each accept-host-key call.
const OFFERED: &str = "sha256:ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad";

type R<T = ()> = Result<T, Box<dyn std::error::Error>>;

mod support;
use support::Relay;

/// Who calls. For session routes `Owner` is the session's own user: `alice` (a regular
/// user) for a request session, `ivy` (ISA on the asset) for an ISA session, `root` (an
/// administrator) for an Admin Session.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Role {
    Anonymous,
    Owner,
    OtherRegular,
    ReviewerInScope,
    ReviewerOutOfScope,
    Isa,
    Admin,
}

const ROLES: [Role; 7] = [
    Role::Anonymous,
    Role::Owner,
    Role::OtherRegular,
    Role::ReviewerInScope,
    Role::ReviewerOutOfScope,
    Role::Isa,
    Role::Admin,
];

const KINDS: [SessionKind; 3] = [SessionKind::Request, SessionKind::Isa, SessionKind::Admin];

fn login_name(role: Role, kind: SessionKind) -> Option<&'static str> {
    Some(match role {
        Role::Anonymous => return None,
        Role::Owner => match kind {
            SessionKind::Request => "alice",
            SessionKind::Isa => "ivy",
            SessionKind::Admin => "root",
        },
        Role::OtherRegular => "bob",
        Role::ReviewerInScope => "rex",
        Role::ReviewerOutOfScope => "olga",
        Role::Isa => "ian",
        Role::Admin => "ada",
    })
}

/// How a route is reached.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Transport {
    Rest,
    WebSocket,
}

/// One route of the document: method and path template.
type Route = (&'static str, &'static str);

/// The expected status of `route` for `role` (on a session of `kind` for session routes),
/// with the CSRF header and the relay's own Origin. `None`: a route this table does not
/// know.
fn expect(route: Route, role: Role, kind: SessionKind) -> Option<u16> {
    use Role::*;
    let anon = role == Anonymous;
    // Session facts, as policy sees them.
    let visible = match role {
        Owner | Admin => true,
        ReviewerInScope | Isa => kind != SessionKind::Admin,
        _ => false,
    };
    // Monitors the asset: may watch, download and control others' sessions.
    let monitors = match role {
        Admin => true,
        ReviewerInScope | Isa => kind != SessionKind::Admin,
        // ivy is ISA on the asset; root is an administrator; alice is plain.
        Owner => kind != SessionKind::Request,
        _ => false,
    };
    let read = || match (visible, monitors) {
        (false, _) => 404,
        (true, true) => 200,
        (true, false) => 403,
    };
    let control = |allowed: u16| match (visible, role, monitors) {
        (false, _, _) => 404,
        // Nobody controls their own session, whatever else they are.
        (true, Owner, _) => 403,
        (true, _, true) => allowed,
        (true, _, false) => 403,
    };
    let admin_only = |ok: u16| if role == Admin { ok } else { 403 };
    let logged_in = |ok: u16| ok;
    let status = match route {
        ("GET", "/api/v1/openapi.json") => return Some(200),
        // Wrong credentials, whoever is already logged in; no CSRF header is needed.
        ("POST", "/api/v1/auth/login") => return Some(401),
        _ if anon => 401,
        // Any login.
        ("GET", "/api/v1/me")
        | ("GET", "/api/v1/assets")
        | ("GET", "/api/v1/sessions")
        | ("GET", "/api/v1/requests") => logged_in(200),
        ("GET", "/api/v1/live") => logged_in(101),
        ("POST", "/api/v1/auth/logout") => logged_in(204),
        // Administrators only.
        ("GET", "/api/v1/rules") | ("GET", "/api/v1/audit") => admin_only(200),
        ("POST", "/api/v1/rules") | ("POST", "/api/v1/assets") => admin_only(200),
        ("POST", "/api/v1/emergency") => admin_only(200),
        // The matrix records an offered fingerprint first, and accepts that one.
        ("POST", "/api/v1/assets/{id}/accept-host-key") => admin_only(200),
        ("DELETE", "/api/v1/rules/{id}")
        | ("POST", "/api/v1/users/{name}/disable")
        | ("POST", "/api/v1/users/{name}/enable")
        | ("POST", "/api/v1/users/{name}/end-logins")
        | ("DELETE", "/api/v1/users/{name}/groups/{group}")
        | ("PUT", "/api/v1/users/{name}/keyboard-layout") => admin_only(204),
        // Requests on web-1: requestors ask; a pending request of alice's is approved by
        // an administrator (no approver is seeded), checked in by her or an administrator.
        ("POST", "/api/v1/requests") => match role {
            Owner if kind == SessionKind::Request => 200,
            OtherRegular => 200,
            ReviewerOutOfScope => 404,
            Owner if kind == SessionKind::Admin => 403,
            _ => 403,
        },
        // A request is confirmed only to its requester and to who may decide it: anyone
        // else gets 404, as for a session id.
        ("POST", "/api/v1/requests/{id}/approve") | ("POST", "/api/v1/requests/{id}/deny") => {
            match role {
                Admin => 200,
                // root, the Admin Session's owner, is an administrator too.
                Owner if kind == SessionKind::Admin => 200,
                // alice may not approve her own request.
                Owner if kind == SessionKind::Request => 403,
                _ => 404,
            }
        }
        ("POST", "/api/v1/requests/{id}/checkin") => match role {
            Admin => 200,
            Owner if kind != SessionKind::Isa => 200,
            _ => 404,
        },
        // A launch on web-1, which has no managed credential: whoever passes every check
        // is told so (400); regular users without a request are refused.
        ("POST", "/api/v1/sessions") => match role {
            Admin | Isa => 400,
            Owner if kind != SessionKind::Request => 400,
            ReviewerOutOfScope => 404,
            _ => 403,
        },
        // One session.
        ("GET", "/api/v1/sessions/{id}") => {
            if visible {
                200
            } else {
                404
            }
        }
        ("GET", "/api/v1/sessions/{id}/keystrokes")
        | ("GET", "/api/v1/sessions/{id}/recording")
        | ("GET", "/api/v1/sessions/{id}/recording/index") => read(),
        // Not live in the hub: an allowed Lock or Unlock answers `not_live`.
        ("POST", "/api/v1/sessions/{id}/lock") | ("POST", "/api/v1/sessions/{id}/unlock") => {
            control(409)
        }
        ("POST", "/api/v1/sessions/{id}/terminate") => control(200),
        ("POST", "/api/v1/sessions/{id}/terminate-and-cancel") => {
            control(if kind == SessionKind::Request {
                200
            } else {
                403
            })
        }
        ("GET", "/api/v1/sessions/{id}/stream") => match (visible, role == Owner || monitors) {
            (false, _) => 404,
            (true, true) => 101,
            (true, false) => 403,
        },
        _ => return None,
    };
    Some(status)
}

fn transport(route: Route) -> Transport {
    match route.1 {
        "/api/v1/live" | "/api/v1/sessions/{id}/stream" => Transport::WebSocket,
        _ => Transport::Rest,
    }
}

fn is_session_route(route: Route) -> bool {
    route.1.starts_with("/api/v1/sessions/{id}")
}

/// (method, path) of every operation in the OpenAPI document, and every operation id.
fn documented() -> (BTreeSet<Route>, Vec<String>) {
    let doc = serde_json::to_value(<vigil_relay::api::ApiDoc as utoipa::OpenApi>::openapi())
        .unwrap_or(Value::Null);
    let mut routes = BTreeSet::new();
    let mut ids = Vec::new();
    if let Some(paths) = doc["paths"].as_object() {
        for (path, ops) in paths {
            for (method, op) in ops.as_object().into_iter().flatten() {
                let path: &'static str = Box::leak(path.clone().into_boxed_str());
                let method: &'static str = Box::leak(method.to_uppercase().into_boxed_str());
                routes.insert((method, path));
                if let Some(id) = op["operationId"].as_str() {
                    ids.push(id.to_string());
                }
            }
        }
    }
    (routes, ids)
}

/// (method, path) of every route the router serves, read from `api::router`'s source:
/// each `.route("PATH", get(…).post(…))` up to the next `.route(` or `.fallback(`.
fn routed() -> BTreeSet<(String, String)> {
    let src = include_str!("../src/api/mod.rs");
    let mut out = BTreeSet::new();
    for chunk in src.split(".route(").skip(1) {
        let chunk = chunk.split(".fallback(").next().unwrap_or(chunk);
        let mut quoted = chunk.split('"');
        let (Some(_), Some(path)) = (quoted.next(), quoted.next()) else {
            continue;
        };
        for m in ["get", "post", "delete", "put", "patch"] {
            let call = format!("{m}(");
            let mut h = chunk;
            while let Some(i) = h.find(&call) {
                // `get(` but not `forget(`: the character before is no part of a name.
                let before = h[..i].chars().last();
                if !before.is_some_and(|c| c.is_ascii_alphanumeric() || c == '_') {
                    out.insert((m.to_uppercase(), format!("/api/v1{path}")));
                }
                h = &h[i + call.len()..];
            }
        }
    }
    out
}

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
    })
    .await?;
    let state = relay.state.clone();
    let db = &state.db;
    for (name, admin, groups) in [
        ("root", true, &[][..]),
        ("ada", true, &[][..]),
        ("ivy", false, &["ops"][..]),
        ("ian", false, &["ops"][..]),
        ("alice", false, &["devs"][..]),
        ("bob", false, &["devs"][..]),
        ("rex", false, &["audit"][..]),
        ("olga", false, &["audit-db"][..]),
    ] {
        let hash = auth::hash_password(&format!("pw-{name}"))?;
        let groups: Vec<String> = groups.iter().map(|g| g.to_string()).collect();
        store::users::create(db, name, name, &hash, admin, &groups).await?;
    }
    let asset = |name: &'static str| store::assets::NewAssetRow {
        name,
        protocol: Protocol::Rdp,
        host: "127.0.0.1",
        port: 1,
        account: "svc",
        tags: &[],
        credential_kind: store::assets::CredentialKind::None,
        host_key: None,
    };
    let web = store::assets::insert(db, asset("web-1")).await?;
    store::assets::insert(db, asset("db-1")).await?;
    let sel = |g: &str| AssetSelector {
        name_glob: Some(g.into()),
        protocol: None,
        tags: vec![],
    };
    use GrantedRole::*;
    store::rules::insert(db, "ops", &sel("web-*"), "ops", &[Isa], false).await?;
    store::rules::insert(
        db,
        "audit",
        &sel("web-*"),
        "audit",
        &[ActiveSessionReviewer],
        false,
    )
    .await?;
    store::rules::insert(
        db,
        "audit-db",
        &sel("db-*"),
        "audit-db",
        &[ActiveSessionReviewer],
        false,
    )
    .await?;
    store::rules::insert(db, "devs", &sel("web-*"), "devs", &[Requestor], false).await?;
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

    /// A logged-in client and its CSRF token.
    async fn login(&self, name: &str) -> R<(Client, String, String)> {
        let c = Client::builder().cookie_store(true).build()?;
        let resp = c
            .post(format!("{}/api/v1/auth/login", self.base))
            .json(&json!({"username": name, "password": format!("pw-{name}")}))
            .send()
            .await?;
        assert_eq!(resp.status(), StatusCode::OK, "login {name}");
        let cookie = resp
            .headers()
            .get_all("set-cookie")
            .iter()
            .filter_map(|v| v.to_str().ok())
            .filter_map(|v| v.split(';').next())
            .collect::<Vec<_>>()
            .join("; ");
        let me: vigil_wire::api::Me = resp.json().await?;
        Ok((c, me.csrf_token, cookie))
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
    async fn instantiate(&self, route: Route, kind: SessionKind, n: usize) -> R<(String, Value)> {
        let path = route.1;
        let body = match route {
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
            _ => json!({}),
        };
        let mut concrete = path.replace("{id}", "0");
        if is_session_route(route) {
            concrete = path.replace("{id}", &self.session(kind).await?);
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
                    let (path, body) = w.instantiate(route, kind, n).await?;
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
