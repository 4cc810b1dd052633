//! Every rule a launch obeys, read from the database (not from the hub's memory).

use vigil_wire::api::{AssetId, RequestId, SessionKind};

use crate::error::{AppError, AppResult};
use crate::policy::{self, Actor, LaunchFacts, LaunchRefused};
use crate::store;

/// How many live sessions one user, all users together, and one access request may have.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SessionCaps {
    pub per_user: u32,
    pub in_all: u32,
    /// The strictest `sessions_per_request` of the Smart Rules that make the user a
    /// requestor on the asset (`rules::sessions_per_request`); used only under a request.
    pub per_request: u32,
}

/// What a launch may start.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Admitted {
    pub kind: SessionKind,
    pub request_id: Option<RequestId>,
}

/// Decides whether `actor` may launch a session on `asset` (named `asset_name`) now,
/// optionally under `request_id`: the roles, the request's state, no locked session of
/// theirs on the asset, and the request's live-session limit.
///
/// Check and insert must not interleave with another launch, in this relay or in another
/// one on the same database: callers run both in one transaction that holds the
/// database's write lock from its start (`store::begin_write`), and pass its connection.
/// (They also queue on `AppState::launch_gate` first, so that a relay's own launches wait
/// in turn rather than each holding a pooled connection while SQLite makes it wait.)
pub async fn check_launch(
    db: &mut store::DbConn,
    caps: SessionCaps,
    actor: &Actor,
    asset: AssetId,
    asset_name: &str,
    request_id: Option<RequestId>,
    now: i64,
) -> AppResult<Admitted> {
    let kind = policy::launch_kind(actor, asset, request_id.is_some())?;
    let request_id = match (kind, request_id) {
        (SessionKind::Request, Some(rid)) => {
            let req = store::requests::get(&mut *db, rid)
                .await?
                .ok_or(AppError::NotFound)?;
            req.state()
                .usable_for_launch(actor.user_id, asset, now)
                .map_err(|e| AppError::RequestNotUsable(e.to_string()))?;
            Some(rid)
        }
        _ => None,
    };
    let live_under_request = match request_id {
        Some(rid) => store::sessions::count_live_under_request(&mut *db, rid).await?,
        None => 0,
    };
    let (in_all, of_user) = store::sessions::count_live(&mut *db, actor.user_id).await?;
    let locked_on_asset = store::sessions::has_locked_live(&mut *db, actor.user_id, asset).await?;
    let count = |n: i64| u32::try_from(n).unwrap_or(u32::MAX);
    let facts = LaunchFacts {
        locked_on_asset,
        live_under_request: count(live_under_request),
        max_per_request: caps.per_request,
        live_of_user: count(of_user),
        max_per_user: caps.per_user,
        live_in_all: count(in_all),
        max_live: caps.in_all,
    };
    policy::launch_limits(&facts).map_err(|e| match e {
        LaunchRefused::SessionLocked => AppError::SessionLocked(asset_name.to_string()),
        LaunchRefused::RequestInUse => AppError::RequestInUse,
        LaunchRefused::UserLimit | LaunchRefused::RelayFull => {
            AppError::SessionLimit(e.to_string())
        }
    })?;
    Ok(Admitted { kind, request_id })
}
