//! Share links: their rows, audiences, uses and wrong-code counts. Creating, redeeming
//! and revoking a link change what someone may see, so each bumps `access_version` (like
//! every grant change): permission views rebuild, and open streams re-check their viewers.
//! Those three run inside the caller's write transaction, which also appends their audit
//! entry: the change and its record commit together.

use vigil_wire::api::UserId;
use vigil_wire::share::{ShareAudience, ShareKind, ShareLink, ShareLinkUse};

use super::{access, corrupt, Db, DbConn};

/// A link as stored (the token only as its hash, the code only as its keyed hash).
#[derive(Debug, Clone)]
pub struct LinkRow {
    pub id: String,
    pub session_id: String,
    pub kind: ShareKind,
    /// Any logged-in user may redeem it (else the named users and groups).
    pub any_user: bool,
    pub code_hash: Option<String>,
    pub allow_download: bool,
    pub created_by: UserId,
    pub created_at: i64,
    pub expires_at: i64,
    pub revoked_at: Option<i64>,
}

#[derive(sqlx::FromRow)]
struct Raw {
    id: String,
    session_id: String,
    kind: String,
    audience: String,
    code_hash: Option<String>,
    allow_download: bool,
    created_by: i64,
    created_at: i64,
    expires_at: i64,
    revoked_at: Option<i64>,
}

const COLS: &str = "id, session_id, kind, audience, code_hash, allow_download, created_by, \
                    created_at, expires_at, revoked_at";

pub fn kind_str(kind: ShareKind) -> &'static str {
    match kind {
        ShareKind::Live => "live",
        ShareKind::Recording => "recording",
    }
}

fn parse_kind(id: &str, s: &str) -> Result<ShareKind, sqlx::Error> {
    match s {
        "live" => Ok(ShareKind::Live),
        "recording" => Ok(ShareKind::Recording),
        other => Err(corrupt(&format!("share link {id}"), "kind", other)),
    }
}

impl TryFrom<Raw> for LinkRow {
    type Error = sqlx::Error;
    fn try_from(r: Raw) -> Result<Self, sqlx::Error> {
        let any_user = match r.audience.as_str() {
            "any_user" => true,
            "named" => false,
            other => return Err(corrupt(&format!("share link {}", r.id), "audience", other)),
        };
        Ok(LinkRow {
            kind: parse_kind(&r.id, &r.kind)?,
            id: r.id,
            session_id: r.session_id,
            any_user,
            code_hash: r.code_hash,
            allow_download: r.allow_download,
            created_by: r.created_by,
            created_at: r.created_at,
            expires_at: r.expires_at,
            revoked_at: r.revoked_at,
        })
    }
}

/// A link to insert.
pub struct NewLink<'a> {
    pub id: &'a str,
    pub session_id: &'a str,
    pub kind: ShareKind,
    pub token_hash: &'a str,
    pub any_user: bool,
    /// The named users (ids) and groups; empty for `any_user`.
    pub users: &'a [UserId],
    pub groups: &'a [String],
    pub code_hash: Option<&'a str>,
    pub allow_download: bool,
    pub created_by: UserId,
    pub created_at: i64,
    pub expires_at: i64,
}

pub async fn insert(conn: &mut DbConn, l: NewLink<'_>) -> Result<(), sqlx::Error> {
    sqlx::query(
        "INSERT INTO share_links (id, session_id, kind, token_hash, audience, code_hash,
         allow_download, created_by, created_at, expires_at)
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10)",
    )
    .bind(l.id)
    .bind(l.session_id)
    .bind(kind_str(l.kind))
    .bind(l.token_hash)
    .bind(if l.any_user { "any_user" } else { "named" })
    .bind(l.code_hash)
    .bind(l.allow_download)
    .bind(l.created_by)
    .bind(l.created_at)
    .bind(l.expires_at)
    .execute(&mut *conn)
    .await?;
    for user in l.users {
        sqlx::query("INSERT OR IGNORE INTO share_link_users (link_id, user_id) VALUES ($1, $2)")
            .bind(l.id)
            .bind(*user)
            .execute(&mut *conn)
            .await?;
    }
    for group in l.groups {
        sqlx::query(
            "INSERT OR IGNORE INTO share_link_groups (link_id, group_name) VALUES ($1, $2)",
        )
        .bind(l.id)
        .bind(group)
        .execute(&mut *conn)
        .await?;
    }
    access::bump(conn).await
}

pub async fn by_token_hash(db: &Db, token_hash: &str) -> Result<Option<LinkRow>, sqlx::Error> {
    let raw: Option<Raw> = sqlx::query_as(&format!(
        "SELECT {COLS} FROM share_links WHERE token_hash = $1"
    ))
    .bind(token_hash)
    .fetch_optional(db)
    .await?;
    raw.map(LinkRow::try_from).transpose()
}

pub async fn by_id(db: &Db, id: &str) -> Result<Option<LinkRow>, sqlx::Error> {
    let raw: Option<Raw> = sqlx::query_as(&format!("SELECT {COLS} FROM share_links WHERE id = $1"))
        .bind(id)
        .fetch_optional(db)
        .await?;
    raw.map(LinkRow::try_from).transpose()
}

/// The condition "link `l` admits user `$1`": any user, a named user, or a member of a
/// named group, as the database says now.
const ADMITS: &str = "(l.audience = 'any_user'
    OR EXISTS (SELECT 1 FROM share_link_users lu WHERE lu.link_id = l.id AND lu.user_id = $1)
    OR EXISTS (SELECT 1 FROM share_link_groups lg JOIN user_groups ug
               ON ug.group_name = lg.group_name
               WHERE lg.link_id = l.id AND ug.user_id = $1))";

/// Whether link `link_id`'s audience includes `user_id`.
pub async fn admits(db: &Db, link_id: &str, user_id: UserId) -> Result<bool, sqlx::Error> {
    let n: i64 = sqlx::query_scalar(&format!(
        "SELECT COUNT(*) FROM share_links l WHERE l.id = $2 AND {ADMITS}"
    ))
    .bind(user_id)
    .bind(link_id)
    .fetch_one(db)
    .await?;
    Ok(n > 0)
}

/// A link a user redeemed and may still use: not revoked, not expired at `now`, and
/// its audience includes them.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HeldLink {
    pub id: String,
    pub session_id: String,
    pub kind: ShareKind,
    pub allow_download: bool,
    pub expires_at: i64,
}

#[derive(sqlx::FromRow)]
struct HeldRaw {
    id: String,
    session_id: String,
    kind: String,
    allow_download: bool,
    expires_at: i64,
}

/// The links `user_id` redeemed and may use at `now`.
pub async fn held_by(db: &Db, user_id: UserId, now: i64) -> Result<Vec<HeldLink>, sqlx::Error> {
    let raws: Vec<HeldRaw> = sqlx::query_as(&format!(
        "SELECT l.id, l.session_id, l.kind, l.allow_download, l.expires_at
         FROM share_links l JOIN share_link_uses u ON u.link_id = l.id AND u.user_id = $1
         WHERE l.revoked_at IS NULL AND l.expires_at > $2 AND {ADMITS}"
    ))
    .bind(user_id)
    .bind(now)
    .fetch_all(db)
    .await?;
    raws.into_iter()
        .map(|r| {
            Ok(HeldLink {
                kind: parse_kind(&r.id, &r.kind)?,
                id: r.id,
                session_id: r.session_id,
                allow_download: r.allow_download,
                expires_at: r.expires_at,
            })
        })
        .collect()
}

/// Wrong codes `user_id` gave for `link_id`.
pub async fn failures(db: &Db, link_id: &str, user_id: UserId) -> Result<u32, sqlx::Error> {
    let n: Option<i64> = sqlx::query_scalar(
        "SELECT count FROM share_link_failures WHERE link_id = $1 AND user_id = $2",
    )
    .bind(link_id)
    .bind(user_id)
    .fetch_optional(db)
    .await?;
    Ok(n.and_then(|n| u32::try_from(n).ok()).unwrap_or(0))
}

/// Counts one more wrong code; returns the new count.
pub async fn add_failure(
    db: &Db,
    link_id: &str,
    user_id: UserId,
    now: i64,
) -> Result<u32, sqlx::Error> {
    let n: i64 = sqlx::query_scalar(
        "INSERT INTO share_link_failures (link_id, user_id, count, last_at) VALUES ($1, $2, 1, $3)
         ON CONFLICT (link_id, user_id) DO UPDATE SET count = count + 1, last_at = $3
         RETURNING count",
    )
    .bind(link_id)
    .bind(user_id)
    .bind(now)
    .fetch_one(db)
    .await?;
    Ok(u32::try_from(n).unwrap_or(u32::MAX))
}

/// Records that `user_id` redeemed `link_id` at `now` (which grants them its rights).
pub async fn record_use(
    conn: &mut DbConn,
    link_id: &str,
    user_id: UserId,
    now: i64,
) -> Result<(), sqlx::Error> {
    sqlx::query(
        "INSERT INTO share_link_uses (link_id, user_id, first_at, last_at) VALUES ($1, $2, $3, $3)
         ON CONFLICT (link_id, user_id) DO UPDATE SET last_at = $3",
    )
    .bind(link_id)
    .bind(user_id)
    .bind(now)
    .execute(&mut *conn)
    .await?;
    access::bump(conn).await
}

/// Revokes `link_id`; `false` if it already was.
pub async fn revoke(
    conn: &mut DbConn,
    link_id: &str,
    by: UserId,
    now: i64,
) -> Result<bool, sqlx::Error> {
    let changed = sqlx::query(
        "UPDATE share_links SET revoked_at = $1, revoked_by = $2 WHERE id = $3 AND revoked_at IS NULL",
    )
    .bind(now)
    .bind(by)
    .bind(link_id)
    .execute(&mut *conn)
    .await?
    .rows_affected()
        > 0;
    if changed {
        access::bump(conn).await?;
    }
    Ok(changed)
}

#[derive(sqlx::FromRow)]
struct ListRaw {
    id: String,
    session_id: String,
    kind: String,
    audience: String,
    code_hash: Option<String>,
    allow_download: bool,
    created_at: i64,
    expires_at: i64,
    revoked_at: Option<i64>,
    creator: String,
    revoker: Option<String>,
}

/// A link as sharers see it, with its maker's and revoker's names (`ListRaw`).
const LIST_SELECT: &str = "SELECT l.id, l.session_id, l.kind, l.audience, l.code_hash,
        l.allow_download, l.created_at, l.expires_at, l.revoked_at,
        c.username AS creator, r.username AS revoker
     FROM share_links l JOIN users c ON c.id = l.created_by
     LEFT JOIN users r ON r.id = l.revoked_by";

/// The links of session `session_id`, newest first, as sharers see them.
pub async fn list_for_session(db: &Db, session_id: &str) -> Result<Vec<ShareLink>, sqlx::Error> {
    let raws: Vec<ListRaw> = sqlx::query_as(&format!(
        "{LIST_SELECT} WHERE l.session_id = $1 ORDER BY l.created_at DESC, l.id"
    ))
    .bind(session_id)
    .fetch_all(db)
    .await?;
    let mut out = Vec::with_capacity(raws.len());
    for r in raws {
        out.push(link_dto(db, r).await?);
    }
    Ok(out)
}

/// Link `id` as sharers see it.
pub async fn get_dto(db: &Db, id: &str) -> Result<Option<ShareLink>, sqlx::Error> {
    let raw: Option<ListRaw> = sqlx::query_as(&format!("{LIST_SELECT} WHERE l.id = $1"))
        .bind(id)
        .fetch_optional(db)
        .await?;
    match raw {
        Some(r) => Ok(Some(link_dto(db, r).await?)),
        None => Ok(None),
    }
}

async fn link_dto(db: &Db, r: ListRaw) -> Result<ShareLink, sqlx::Error> {
    let audience = match r.audience.as_str() {
        "any_user" => ShareAudience::AnyUser,
        "named" => ShareAudience::Named {
            users: sqlx::query_scalar(
                "SELECT u.username FROM share_link_users lu JOIN users u ON u.id = lu.user_id
                 WHERE lu.link_id = $1 ORDER BY u.username",
            )
            .bind(&r.id)
            .fetch_all(db)
            .await?,
            groups: sqlx::query_scalar(
                "SELECT group_name FROM share_link_groups WHERE link_id = $1 ORDER BY group_name",
            )
            .bind(&r.id)
            .fetch_all(db)
            .await?,
        },
        other => return Err(corrupt(&format!("share link {}", r.id), "audience", other)),
    };
    let uses: Vec<(String, i64, i64)> = sqlx::query_as(
        "SELECT u.username, s.first_at, s.last_at FROM share_link_uses s
         JOIN users u ON u.id = s.user_id WHERE s.link_id = $1 ORDER BY s.first_at",
    )
    .bind(&r.id)
    .fetch_all(db)
    .await?;
    Ok(ShareLink {
        kind: parse_kind(&r.id, &r.kind)?,
        id: r.id,
        session_id: r.session_id,
        audience,
        created_by: r.creator,
        created_at: r.created_at,
        expires_at: r.expires_at,
        revoked_at: r.revoked_at,
        revoked_by: r.revoker,
        has_code: r.code_hash.is_some(),
        allow_download: r.allow_download,
        uses: uses
            .into_iter()
            .map(|(username, first_at, last_at)| ShareLinkUse {
                username,
                first_at,
                last_at,
            })
            .collect(),
    })
}
