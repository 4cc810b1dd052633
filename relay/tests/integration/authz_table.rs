//! The authorization matrix's table: who calls ([`Role`]), on which session kind, and the
//! status each route must answer them ([`expect`]); and the routes as the OpenAPI document
//! and the router name them.

use std::collections::BTreeSet;

use serde_json::Value;
use vigil_wire::api::SessionKind;

/// Who calls. For session routes `Owner` is the session's own user: `alice` (a regular
/// user) for a request session, `ivy` (ISA on the asset) for an ISA session, `root` (an
/// administrator) for an Admin Session. `LinkViewer` is `lena`, a user with no role who
/// redeemed a share link for the session concerned: a live link, or for the replay
/// routes (whose session has ended) a recording link without the download.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Role {
    Anonymous,
    Owner,
    OtherRegular,
    ReviewerInScope,
    ReviewerOutOfScope,
    Isa,
    Admin,
    LinkViewer,
}

pub(crate) const ROLES: [Role; 8] = [
    Role::Anonymous,
    Role::Owner,
    Role::OtherRegular,
    Role::ReviewerInScope,
    Role::ReviewerOutOfScope,
    Role::Isa,
    Role::Admin,
    Role::LinkViewer,
];

pub(crate) const KINDS: [SessionKind; 3] =
    [SessionKind::Request, SessionKind::Isa, SessionKind::Admin];

pub(crate) fn login_name(role: Role, kind: SessionKind) -> Option<&'static str> {
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
        Role::LinkViewer => "lena",
    })
}

/// How a route is reached.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Transport {
    Rest,
    WebSocket,
}

/// One route of the document: method and path template.
pub(crate) type Route = (&'static str, &'static str);

/// The expected status of `route` for `role` (on a session of `kind` for session routes),
/// with the CSRF header and the relay's own Origin. `None`: a route this table does not
/// know.
pub(crate) fn expect(route: Route, role: Role, kind: SessionKind) -> Option<u16> {
    use Role::*;
    let anon = role == Anonymous;
    // Session facts, as policy sees them.
    let visible = match role {
        Owner | Admin | LinkViewer => true,
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
    // Watching (the stream's keystrokes, the in-app replay): monitors, and link viewers.
    let watch = || match (visible, monitors || role == LinkViewer) {
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
        // Probes, and the metrics (enabled in this world; from loopback, without a token).
        ("GET", "/healthz") | ("GET", "/readyz") | ("GET", "/metrics") => return Some(200),
        // Wrong credentials, whoever is already logged in; no CSRF header is needed.
        ("POST", "/api/v1/auth/login") => return Some(401),
        _ if anon => 401,
        // Any login.
        ("GET", "/api/v1/me")
        | ("GET", "/api/v1/kiosk")
        | ("GET", "/api/v1/assets")
        | ("GET", "/api/v1/sessions")
        | ("GET", "/api/v1/requests") => logged_in(200),
        ("GET", "/api/v1/live") => logged_in(101),
        ("POST", "/api/v1/auth/logout") => logged_in(204),
        // Administrators only.
        ("GET", "/api/v1/rules")
        | ("GET", "/api/v1/audit")
        | ("GET", "/api/v1/audit/verify")
        | ("GET", "/api/v1/audit/export") => admin_only(200),
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
            ReviewerOutOfScope | LinkViewer => 404,
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
            ReviewerOutOfScope | LinkViewer => 404,
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
        | ("GET", "/api/v1/sessions/{id}/replay")
        | ("GET", "/api/v1/sessions/{id}/replay/index") => watch(),
        // The download: monitors only (the link viewer's link grants none).
        ("GET", "/api/v1/sessions/{id}/recording")
        | ("GET", "/api/v1/sessions/{id}/recording/index")
        // Who watches: monitors only.
        | ("GET", "/api/v1/sessions/{id}/participants") => read(),
        // Sharing: monitors, never the session's own user nor a link viewer.
        ("GET", "/api/v1/sessions/{id}/shares") | ("POST", "/api/v1/sessions/{id}/shares") => {
            control(200)
        }
        // A link made by ada on alice's request session: its maker, an administrator, or
        // whoever may share the session revokes it; who may see the session but not share
        // it is refused; anyone else is not told it exists.
        ("POST", "/api/v1/shares/{link_id}/revoke") => match role {
            Admin | ReviewerInScope | Isa => 200,
            Owner | LinkViewer => 403,
            _ => 404,
        },
        // A fresh link for any logged-in user.
        ("POST", "/api/v1/shares/redeem") => logged_in(200),
        // Not live in the hub: an allowed Lock or Unlock answers `not_live`.
        ("POST", "/api/v1/sessions/{id}/lock") | ("POST", "/api/v1/sessions/{id}/unlock") => {
            control(409)
        }
        ("POST", "/api/v1/sessions/{id}/terminate") => control(200),
        // Legal hold: administrators only, never on their own session (root's Admin
        // Session); who else may see the session is refused, anyone else not told of it.
        ("PUT", "/api/v1/sessions/{id}/legal-hold") => match (visible, role) {
            (false, _) => 404,
            (true, Admin) => 200,
            (true, _) => 403,
        },
        ("POST", "/api/v1/sessions/{id}/terminate-and-cancel") => {
            control(if kind == SessionKind::Request {
                200
            } else {
                403
            })
        }
        ("GET", "/api/v1/sessions/{id}/stream") => match (
            visible,
            role == Owner || monitors || role == LinkViewer,
        ) {
            (false, _) => 404,
            (true, true) => 101,
            (true, false) => 403,
        },
        _ => return None,
    };
    Some(status)
}

pub(crate) fn transport(route: Route) -> Transport {
    match route.1 {
        "/api/v1/live" | "/api/v1/sessions/{id}/stream" => Transport::WebSocket,
        _ => Transport::Rest,
    }
}

pub(crate) fn is_session_route(route: Route) -> bool {
    route.1.starts_with("/api/v1/sessions/{id}")
}

/// (method, path) of every operation in the OpenAPI document, and every operation id.
pub(crate) fn documented() -> (BTreeSet<Route>, Vec<String>) {
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

/// (method, path) of every route the router serves, read from `api::router`'s source
/// (under `/api/v1`) and `api::ops::routes`' (at the root): each
/// `.route("PATH", get(…).post(…))` up to the next `.route(` or `.fallback(`.
pub(crate) fn routed() -> BTreeSet<(String, String)> {
    let mut out = routes_in(include_str!("../../src/api/mod.rs"), "/api/v1");
    out.extend(routes_in(include_str!("../../src/api/ops.rs"), ""));
    out
}

fn routes_in(src: &str, prefix: &str) -> BTreeSet<(String, String)> {
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
                    out.insert((m.to_uppercase(), format!("{prefix}{path}")));
                }
                h = &h[i + call.len()..];
            }
        }
    }
    out
}
