use vigil_wire::api::{AccessRequest, AssetId, RequestId, RequestStatus, UserId};

use super::{now_ms, Db, DbKind};
use crate::requests::{effective_status, parse_status, status_str, RequestState};

#[derive(Debug, Clone, sqlx::FromRow)]
pub struct RequestRow {
    pub id: RequestId,
    pub user_id: UserId,
    pub username: String,
    pub asset_id: AssetId,
    pub asset_name: String,
    pub reason: String,
    pub duration_minutes: i64,
    pub status: String,
    pub created_at: i64,
    pub expires_at: Option<i64>,
    pub decided_by: Option<String>,
}

impl RequestRow {
    pub fn state(&self) -> RequestState {
        RequestState {
            user_id: self.user_id,
            asset_id: self.asset_id,
            // An unreadable status is treated as the most restrictive one.
            status: parse_status(&self.status).unwrap_or(RequestStatus::Denied),
            duration_minutes: u32::try_from(self.duration_minutes).unwrap_or(0),
            expires_at: self.expires_at,
        }
    }

    pub fn to_api(&self, now: i64, can_approve: bool) -> AccessRequest {
        let st = self.state();
        AccessRequest {
            id: self.id,
            user: self.username.clone(),
            asset_id: self.asset_id,
            asset_name: self.asset_name.clone(),
            reason: self.reason.clone(),
            duration_minutes: st.duration_minutes,
            status: effective_status(st.status, st.expires_at, now),
            created_at: self.created_at,
            expires_at: self.expires_at,
            decided_by: self.decided_by.clone(),
            can_approve,
        }
    }
}

const SELECT: &str =
    "SELECT r.id, r.user_id, u.username, r.asset_id, a.name AS asset_name, r.reason,
    r.duration_minutes, r.status, r.created_at, r.expires_at, r.decided_by
    FROM access_requests r JOIN users u ON u.id = r.user_id JOIN assets a ON a.id = r.asset_id";

pub struct NewRequest<'a> {
    pub user_id: UserId,
    pub asset_id: AssetId,
    pub reason: &'a str,
    pub duration_minutes: u32,
    pub status: RequestStatus,
    pub expires_at: Option<i64>,
    pub decided_by: Option<&'a str>,
}

pub async fn insert(db: &Db, r: NewRequest<'_>) -> Result<RequestId, sqlx::Error> {
    sqlx::query_scalar(
        "INSERT INTO access_requests (user_id, asset_id, reason, duration_minutes, status, created_at, expires_at, decided_by)
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8) RETURNING id",
    )
    .bind(r.user_id)
    .bind(r.asset_id)
    .bind(r.reason)
    .bind(i64::from(r.duration_minutes))
    .bind(status_str(r.status))
    .bind(now_ms())
    .bind(r.expires_at)
    .bind(r.decided_by)
    .fetch_one(db)
    .await
}

pub async fn get<'e, E: sqlx::Executor<'e, Database = DbKind>>(
    ex: E,
    id: RequestId,
) -> Result<Option<RequestRow>, sqlx::Error> {
    sqlx::query_as(&format!("{SELECT} WHERE r.id = $1"))
        .bind(id)
        .fetch_optional(ex)
        .await
}

pub async fn list(db: &Db) -> Result<Vec<RequestRow>, sqlx::Error> {
    sqlx::query_as(&format!("{SELECT} ORDER BY r.created_at DESC, r.id DESC"))
        .fetch_all(db)
        .await
}

/// Moves a request from `from` to `to`; `false` if it was no longer in `from`
/// (someone else decided first).
pub async fn transition<'e, E: sqlx::Executor<'e, Database = DbKind>>(
    ex: E,
    id: RequestId,
    from: RequestStatus,
    to: RequestStatus,
    expires_at: Option<i64>,
    decided_by: Option<&str>,
) -> Result<bool, sqlx::Error> {
    let r = sqlx::query(
        "UPDATE access_requests SET status = $1, expires_at = COALESCE($2, expires_at),
         decided_by = COALESCE($3, decided_by) WHERE id = $4 AND status = $5",
    )
    .bind(status_str(to))
    .bind(expires_at)
    .bind(decided_by)
    .bind(id)
    .bind(status_str(from))
    .execute(ex)
    .await?;
    Ok(r.rows_affected() == 1)
}

/// The earliest end of an approved request's window after `now`, if any.
pub async fn next_expiry(db: &Db, now: i64) -> Result<Option<i64>, sqlx::Error> {
    sqlx::query_scalar(
        "SELECT MIN(expires_at) FROM access_requests
         WHERE status = 'approved' AND expires_at IS NOT NULL AND expires_at > $1",
    )
    .bind(now)
    .fetch_one(db)
    .await
}
