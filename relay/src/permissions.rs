//! Who may do what: a user's permission view, built from the Smart Rules, their groups and
//! the assets' facts, and cached per user against the database's change counter.
//!
//! Every write that changes a grant bumps `access_version` in its own transaction (the
//! revocations in `store::access`, and a trigger on rules, group members, users and
//! assets for everything else), whichever process makes it. Each request reads the
//! counter first (one small query) and reuses a view built at that same value, or builds
//! one; so a change made here, by the CLI or by another relay applies from the very next
//! request, with no polling window. A view holds no credential and no address: only what
//! grants are computed from.

use std::collections::HashMap;
use std::sync::{Arc, Mutex, PoisonError};

use vigil_wire::api::{AssetId, GrantedRole, Me, SmartRule, UserId};

use crate::error::AppError;
use crate::policy::{Actor, HeldGrant, LinkGrant};
use crate::rules::{self, AssetFacts, Grants};
use crate::state::AppState;
use crate::store::shares::HeldLink;
use crate::store::users::UserRow;
use crate::store::{self, now_ms, Db};

/// How many users' views are kept at one counter value; beyond it the cache starts over.
const MAX_CACHED_USERS: usize = 10_000;

/// What every user's view at one counter value shares: the rules and the assets' facts.
#[derive(Debug)]
pub struct Catalog {
    pub rules: Vec<SmartRule>,
    pub assets: Vec<AssetFacts>,
}

/// One user's permission view: their groups, the grants the rules give them, and the
/// share links they redeemed that still admit them (neither revoked nor expired when the
/// view was built; expiry is checked again at each decision).
#[derive(Debug)]
pub struct Permissions {
    pub catalog: Arc<Catalog>,
    pub groups: Vec<String>,
    pub grants: Grants,
    pub links: Vec<HeldLink>,
}

impl Permissions {
    /// The facts of asset `id`, if it exists.
    pub fn asset(&self, id: AssetId) -> Option<&AssetFacts> {
        self.catalog.assets.iter().find(|a| a.id == id)
    }

    /// Whether a request on `asset` is approved at once (`rules::auto_approves`).
    pub fn auto_approves(&self, asset: &AssetFacts) -> bool {
        rules::auto_approves(&self.catalog.rules, &self.groups, asset)
    }

    /// How many live sessions one request on `asset` allows (`rules::sessions_per_request`).
    pub fn sessions_per_request(&self, asset: &AssetFacts) -> u32 {
        rules::sessions_per_request(&self.catalog.rules, &self.groups, asset)
    }
}

#[derive(Default)]
struct Cached {
    /// The counter value everything below was built at.
    version: i64,
    catalog: Option<Arc<Catalog>>,
    users: HashMap<UserId, Arc<Permissions>>,
}

/// Permission views by user, valid for one value of the change counter.
#[derive(Default)]
pub struct PermissionCache {
    // A std mutex: it is never held across an await.
    inner: Mutex<Cached>,
}

impl PermissionCache {
    /// The permission view of `user_id` as the database is now.
    pub async fn get(&self, db: &Db, user_id: UserId) -> Result<Arc<Permissions>, sqlx::Error> {
        // The counter is read before anything it guards, so what is read below is at
        // least as new as the value it is filed under.
        let version = store::access::version(db).await?;
        let catalog = {
            let cached = self.lock();
            if cached.version == version {
                if let Some(view) = cached.users.get(&user_id) {
                    return Ok(view.clone());
                }
                cached.catalog.clone()
            } else {
                None
            }
        };
        let catalog = match catalog {
            Some(c) => c,
            None => Arc::new(Catalog {
                rules: store::rules::list(db).await?,
                assets: store::assets::list_facts(db).await?,
            }),
        };
        let groups = store::users::groups(db, user_id).await?;
        let grants = rules::grants(&catalog.rules, &groups, &catalog.assets);
        let links = store::shares::held_by(db, user_id, now_ms()).await?;
        let view = Arc::new(Permissions {
            catalog: catalog.clone(),
            groups,
            grants,
            links,
        });
        let mut cached = self.lock();
        if version > cached.version || cached.catalog.is_none() {
            *cached = Cached {
                version,
                catalog: Some(catalog),
                users: HashMap::new(),
            };
        }
        // A view read at an older value than the cache's (a slow request) is used once,
        // never kept.
        if cached.version == version {
            if cached.users.len() >= MAX_CACHED_USERS {
                cached.users.clear();
            }
            cached.users.insert(user_id, view.clone());
        }
        Ok(view)
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Cached> {
        // Whatever a panicking holder left is a consistent map: every write is whole.
        self.inner.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

/// A logged-in user with everything policy needs: the user as the login read them, their
/// [`Actor`], and the permission view it was made from.
pub struct Viewer {
    pub user: UserRow,
    pub actor: Actor,
    pub permissions: Arc<Permissions>,
    /// The client's address, as the audit log records it (set by the extractor).
    pub source: Option<String>,
}

impl Viewer {
    pub async fn load(state: &AppState, user: UserRow) -> Result<Viewer, AppError> {
        let permissions = state.permissions.get(&state.db, user.id).await?;
        let actor = Actor {
            user_id: user.id,
            is_admin: user.is_admin,
            grants: permissions.grants.clone(),
            links: usable_links(&permissions.links, now_ms()),
        };
        Ok(Viewer {
            user,
            actor,
            permissions,
            source: None,
        })
    }

    /// The viewer as an audit entry's actor and source.
    pub fn who(&self) -> crate::store::audit::Who<'_> {
        crate::store::audit::Who {
            actor: &self.user.username,
            source: self.source.as_deref(),
        }
    }

    pub fn me(&self, csrf_token: &str) -> Me {
        Me {
            id: self.user.id,
            username: self.user.username.clone(),
            display_name: self.user.display_name.clone(),
            is_admin: self.user.is_admin,
            is_isa: self.actor.holds_anywhere(GrantedRole::Isa),
            is_reviewer: self
                .actor
                .holds_anywhere(GrantedRole::ActiveSessionReviewer),
            csrf_token: csrf_token.to_string(),
        }
    }
}

/// The links usable at `now`, the best one per session ([`HeldGrant::better_than`]).
pub fn usable_links(held: &[HeldLink], now: i64) -> HashMap<String, HeldGrant> {
    let mut out: HashMap<String, HeldGrant> = HashMap::new();
    for link in held.iter().filter(|l| l.expires_at > now) {
        let grant = HeldGrant {
            link_id: link.id.clone(),
            grant: LinkGrant {
                kind: link.kind,
                allow_download: link.allow_download,
            },
            expires_at: link.expires_at,
        };
        match out.get(&link.session_id) {
            Some(have) if !grant.better_than(have) => {}
            _ => {
                out.insert(link.session_id.clone(), grant);
            }
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use vigil_wire::share::ShareKind;

    use super::*;

    fn held(id: &str, session: &str, allow_download: bool, expires_at: i64) -> HeldLink {
        HeldLink {
            id: id.into(),
            session_id: session.into(),
            kind: ShareKind::Recording,
            allow_download,
            expires_at,
        }
    }

    #[test]
    fn expired_links_grant_nothing_and_the_best_link_wins() {
        let links = [
            held("old", "s1", true, 100),
            held("short", "s1", false, 300),
            held("long", "s1", false, 900),
            held("other", "s2", false, 900),
        ];
        let usable = usable_links(&links, 200);
        assert_eq!(usable.len(), 2);
        assert_eq!(
            usable["s1"].link_id, "long",
            "the expired download link is gone"
        );
        assert_eq!(usable_links(&links, 900).len(), 0, "all expired at 900");
    }
}
