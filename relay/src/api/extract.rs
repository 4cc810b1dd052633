//! The extractors that authorize a request before its handler runs, so that a handler's
//! signature states what it checked and none can forget a check:
//!
//! - [`Viewer`]: a logged-in user and their permission view (after `CurrentUser`: the
//!   login, and CSRF on state-changing methods);
//! - [`RequireAdmin`]: a viewer `policy` lets administer, else 403 `forbidden`;
//! - [`SessionFor`]: the session named by the path's `{id}` and a viewer `policy` lets
//!   act on it: 404 `not_found` for a session they may not see (ids are not confirmed to
//!   outsiders), else the decision's refusal.
//!
//! They run before the body is read: a caller who may not act is refused before their
//! body is looked at.

use std::marker::PhantomData;

use axum::extract::{FromRequestParts, Path};
use axum::http::request::Parts;

use crate::auth::{self, CurrentUser};
use crate::error::{AppError, AppResult};
use crate::permissions::Viewer;
use crate::policy::{self, decide, Action};
use crate::state::AppState;
use vigil_wire::audit::AuditAction;

use crate::store;
use crate::store::audit::NewEntry;
use crate::store::sessions::SessionRow;

impl FromRequestParts<AppState> for Viewer {
    type Rejection = AppError;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, AppError> {
        let user = CurrentUser::from_request_parts(parts, state).await?;
        let mut viewer = Viewer::load(state, user.user).await?;
        viewer.source = auth::client_ip(&parts.extensions).map(|ip| ip.to_string());
        Ok(viewer)
    }
}

/// An administrator's view.
pub struct RequireAdmin(pub Viewer);

impl FromRequestParts<AppState> for RequireAdmin {
    type Rejection = AppError;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, AppError> {
        let viewer = Viewer::from_request_parts(parts, state).await?;
        policy::administer(&viewer.actor)?;
        Ok(RequireAdmin(viewer))
    }
}

/// The session `id` if `v` may see it; 404 otherwise, so ids are not confirmed to outsiders.
/// A refusal on a session that exists is audited (`access_denied`); an id that does not
/// exist is not.
pub async fn visible_session(state: &AppState, v: &Viewer, id: &str) -> AppResult<SessionRow> {
    if !auth::is_session_id(id) {
        return Err(AppError::NotFound);
    }
    let row = store::sessions::get(&state.db, id)
        .await?
        .ok_or(AppError::NotFound)?;
    if let Err(denied) = decide(
        &v.actor,
        row.asset_id,
        Some(&row.facts(&v.actor)),
        Action::SeeSession,
    ) {
        return Err(refused(state, v, &row, Action::SeeSession, denied.into()).await);
    }
    Ok(row)
}

/// The session `id` if `v` may see it and take `action` on it.
pub async fn authorized_session(
    state: &AppState,
    v: &Viewer,
    id: &str,
    action: Action,
) -> AppResult<SessionRow> {
    let row = visible_session(state, v, id).await?;
    if let Err(denied) = decide(&v.actor, row.asset_id, Some(&row.facts(&v.actor)), action) {
        return Err(refused(state, v, &row, action, denied.into()).await);
    }
    Ok(row)
}

/// Audits `v`'s refused `action` on the session `row` and hands back the refusal. An
/// audit that cannot be written is logged; the caller is refused either way.
pub async fn refused(
    state: &AppState,
    v: &Viewer,
    row: &SessionRow,
    action: Action,
    error: AppError,
) -> AppError {
    let what = format!("{action:?} on {}", row.asset_name);
    refusal_audited(state, v, &row.id, &what, error).await
}

/// Audits `v`'s refused attempt at `what` on session `session` (`access_denied`, the
/// detail naming the answer's status and code) and hands back the refusal. An audit that
/// cannot be written is logged; the caller is refused either way.
pub async fn refusal_audited(
    state: &AppState,
    v: &Viewer,
    session: &str,
    what: &str,
    error: AppError,
) -> AppError {
    let (status, code) = error.status_and_code();
    let detail = format!("{what}: {} {code}", status.as_u16());
    let entry = NewEntry::new(v.who(), AuditAction::AccessDenied, &detail).on(session);
    if let Err(e) = store::audit::record(&state.db, &state.audit_key, entry).await {
        tracing::error!(error = %e, %session, "Refusal not audited");
    }
    error
}

/// A session action, named at the type level for [`SessionFor`].
pub trait SessionAction {
    const ACTION: Action;
}

macro_rules! session_actions {
    ($($(#[$doc:meta])* $name:ident => $action:expr;)*) => {$(
        $(#[$doc])*
        pub struct $name;
        impl SessionAction for $name {
            const ACTION: Action = $action;
        }
    )*};
}

session_actions! {
    /// See it (in lists, by id).
    See => Action::SeeSession;
    /// Watch it, read its keystrokes.
    Watch => Action::WatchSession;
    /// Lock or unlock it.
    Lock => Action::LockSession;
    Terminate => Action::TerminateSession;
    TerminateAndCancel => Action::TerminateAndCancel;
    /// Download its recording.
    Download => Action::Download;
    /// Make, list and revoke its share links.
    ShareIt => Action::Share;
    /// See who is watching it.
    SeeWho => Action::SeeParticipants;
    /// Place or release its legal hold.
    Hold => Action::HoldSession;
}

/// The client's address, as the relay's accept loop recorded it (`None` when the request
/// did not come through it). Never refuses.
pub struct PeerAddr(pub Option<std::net::IpAddr>);

impl<S: Send + Sync> FromRequestParts<S> for PeerAddr {
    type Rejection = std::convert::Infallible;

    async fn from_request_parts(parts: &mut Parts, _: &S) -> Result<Self, Self::Rejection> {
        Ok(PeerAddr(auth::client_ip(&parts.extensions)))
    }
}

/// The session of the path's `{id}`, which `viewer` may take action `A` on.
pub struct SessionFor<A> {
    pub viewer: Viewer,
    pub row: SessionRow,
    action: PhantomData<A>,
}

impl<A: SessionAction> FromRequestParts<AppState> for SessionFor<A> {
    type Rejection = AppError;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, AppError> {
        let viewer = Viewer::from_request_parts(parts, state).await?;
        let Path(id) = Path::<String>::from_request_parts(parts, state)
            .await
            .map_err(|_| AppError::NotFound)?;
        let row = authorized_session(state, &viewer, &id, A::ACTION).await?;
        Ok(SessionFor {
            viewer,
            row,
            action: PhantomData,
        })
    }
}
