use vigil_wire::api::{AssetId, LegalHold, Protocol, RequestId, SessionKind, UserId};
use vigil_wire::end::{EndReason, ErrorCode};

use super::{parse_or, Db, DbKind};
use crate::policy::{Actor, SessionFacts};

#[derive(Debug, Clone, sqlx::FromRow)]
struct Raw {
    id: String,
    user_id: i64,
    username: String,
    asset_id: i64,
    asset_name: String,
    protocol: String,
    kind: String,
    request_id: Option<i64>,
    started_at: i64,
    ended_at: Option<i64>,
    locked: bool,
    end_reason: Option<String>,
    end_code: Option<String>,
    cols: i64,
    rows: i64,
    legal_hold_at: Option<i64>,
    legal_hold_by: Option<String>,
    legal_hold_reason: Option<String>,
    recording_deleted_at: Option<i64>,
}

#[derive(Debug, Clone)]
pub struct SessionRow {
    pub id: String,
    pub user_id: UserId,
    pub username: String,
    pub asset_id: AssetId,
    pub asset_name: String,
    pub protocol: Protocol,
    pub kind: SessionKind,
    pub request_id: Option<RequestId>,
    pub started_at: i64,
    pub ended_at: Option<i64>,
    pub locked: bool,
    pub end_reason: Option<EndReason>,
    pub cols: u16,
    pub rows: u16,
    /// The legal hold on it, if any (retention keeps its recording).
    pub legal_hold: Option<LegalHold>,
    /// When retention deleted its recording.
    pub recording_deleted_at: Option<i64>,
}

impl SessionRow {
    /// The session as policy sees it for `actor`, with the share link they hold on it.
    pub fn facts(&self, actor: &Actor) -> SessionFacts {
        SessionFacts {
            owner: self.user_id,
            kind: self.kind,
            live: self.ended_at.is_none(),
            link: actor.links.get(&self.id).map(|held| held.grant),
        }
    }
}

pub fn kind_str(k: SessionKind) -> &'static str {
    match k {
        SessionKind::Admin => "admin",
        SessionKind::Isa => "isa",
        SessionKind::Request => "request",
    }
}

fn parse_kind(s: &str) -> Result<SessionKind, sqlx::Error> {
    match s {
        "admin" => Ok(SessionKind::Admin),
        "isa" => Ok(SessionKind::Isa),
        "request" => Ok(SessionKind::Request),
        other => Err(sqlx::Error::Decode(
            format!("bad session kind `{other}`").into(),
        )),
    }
}

impl TryFrom<Raw> for SessionRow {
    type Error = sqlx::Error;
    fn try_from(r: Raw) -> Result<Self, sqlx::Error> {
        let end_reason = end_reason(&r.id, r.end_reason, r.end_code)?;
        let protocol = parse_or(&r.protocol, &format!("session {}", r.id), "protocol")?;
        Ok(SessionRow {
            id: r.id,
            user_id: r.user_id,
            username: r.username,
            asset_id: r.asset_id,
            asset_name: r.asset_name,
            protocol,
            kind: parse_kind(&r.kind)?,
            request_id: r.request_id,
            started_at: r.started_at,
            ended_at: r.ended_at,
            locked: r.locked,
            end_reason,
            cols: u16::try_from(r.cols).unwrap_or(80),
            rows: u16::try_from(r.rows).unwrap_or(24),
            legal_hold: r.legal_hold_at.map(|at| LegalHold {
                by: r.legal_hold_by.unwrap_or_default(),
                at,
                reason: r.legal_hold_reason.unwrap_or_default(),
            }),
            recording_deleted_at: r.recording_deleted_at,
        })
    }
}

/// The end reason as stored: a message, and the failure's code if there was one. A code
/// this relay does not know is a corrupt row, named in the error.
fn end_reason(
    id: &str,
    message: Option<String>,
    code: Option<String>,
) -> Result<Option<EndReason>, sqlx::Error> {
    let code = match code {
        None => None,
        Some(name) => Some(ErrorCode::from_name(&name).ok_or_else(|| {
            sqlx::Error::Decode(format!("session {id}: unknown end code `{name}`").into())
        })?),
    };
    Ok(match (message, code) {
        (Some(message), code) => Some(EndReason { code, message }),
        (None, Some(code)) => Some(EndReason::failed(code, String::new())),
        (None, None) => None,
    })
}

const SELECT: &str =
    "SELECT s.id, s.user_id, u.username, s.asset_id, a.name AS asset_name, a.protocol,
    s.kind, s.request_id, s.started_at, s.ended_at, s.locked, s.end_reason, s.end_code,
    s.cols, s.rows, s.legal_hold_at, s.legal_hold_by, s.legal_hold_reason,
    s.recording_deleted_at
    FROM sessions s JOIN users u ON u.id = s.user_id JOIN assets a ON a.id = s.asset_id";

pub struct NewSession<'a> {
    pub id: &'a str,
    pub user_id: UserId,
    pub asset_id: AssetId,
    pub kind: SessionKind,
    pub request_id: Option<RequestId>,
    pub started_at: i64,
    pub cols: u16,
    pub rows: u16,
}

pub async fn insert<'e, E: sqlx::Executor<'e, Database = DbKind>>(
    ex: E,
    s: NewSession<'_>,
) -> Result<(), sqlx::Error> {
    sqlx::query(
        "INSERT INTO sessions (id, user_id, asset_id, kind, request_id, started_at, locked, cols, rows)
         VALUES ($1, $2, $3, $4, $5, $6, FALSE, $7, $8)",
    )
    .bind(s.id)
    .bind(s.user_id)
    .bind(s.asset_id)
    .bind(kind_str(s.kind))
    .bind(s.request_id)
    .bind(s.started_at)
    .bind(i64::from(s.cols))
    .bind(i64::from(s.rows))
    .execute(ex)
    .await?;
    Ok(())
}

pub async fn get(db: &Db, id: &str) -> Result<Option<SessionRow>, sqlx::Error> {
    let raw: Option<Raw> = sqlx::query_as(&format!("{SELECT} WHERE s.id = $1"))
        .bind(id)
        .fetch_optional(db)
        .await?;
    raw.map(SessionRow::try_from).transpose()
}

/// `active`: `Some(true)` only running sessions, `Some(false)` only ended ones.
pub async fn list(db: &Db, active: Option<bool>) -> Result<Vec<SessionRow>, sqlx::Error> {
    let filter = match active {
        Some(true) => " WHERE s.ended_at IS NULL",
        Some(false) => " WHERE s.ended_at IS NOT NULL",
        None => "",
    };
    let raws: Vec<Raw> = sqlx::query_as(&format!(
        "{SELECT}{filter} ORDER BY s.started_at DESC, s.id"
    ))
    .fetch_all(db)
    .await?;
    raws.into_iter().map(SessionRow::try_from).collect()
}

pub async fn set_connected<'e, E: sqlx::Executor<'e, Database = DbKind>>(
    ex: E,
    id: &str,
    at: i64,
) -> Result<(), sqlx::Error> {
    sqlx::query("UPDATE sessions SET connected_at = $1 WHERE id = $2 AND connected_at IS NULL")
        .bind(at)
        .bind(id)
        .execute(ex)
        .await?;
    Ok(())
}

pub async fn set_locked<'e, E: sqlx::Executor<'e, Database = DbKind>>(
    ex: E,
    id: &str,
    locked: bool,
) -> Result<(), sqlx::Error> {
    sqlx::query("UPDATE sessions SET locked = $1 WHERE id = $2 AND ended_at IS NULL")
        .bind(locked)
        .bind(id)
        .execute(ex)
        .await?;
    Ok(())
}

/// Marks a session ended, unless it already is (the first reason wins).
pub async fn end<'e, E: sqlx::Executor<'e, Database = DbKind>>(
    ex: E,
    id: &str,
    at: i64,
    reason: &EndReason,
) -> Result<bool, sqlx::Error> {
    let r = sqlx::query(
        "UPDATE sessions SET ended_at = $1, end_reason = $2, end_code = $3, locked = FALSE
         WHERE id = $4 AND ended_at IS NULL",
    )
    .bind(at)
    .bind(&reason.message)
    .bind(reason.code.map(ErrorCode::as_str))
    .bind(id)
    .execute(ex)
    .await?;
    Ok(r.rows_affected() == 1)
}

/// Sessions a previous run left marked as running.
pub async fn end_all_running(db: &Db, at: i64, reason: &str) -> Result<u64, sqlx::Error> {
    let r = sqlx::query(
        "UPDATE sessions SET ended_at = $1, end_reason = $2, locked = FALSE WHERE ended_at IS NULL",
    )
    .bind(at)
    .bind(reason)
    .execute(db)
    .await?;
    Ok(r.rows_affected())
}

/// Places (`Some`) or releases (`None`) the legal hold on session `id`. Returns whether
/// it changed anything (placing a hold on a held session keeps the first one).
pub async fn set_legal_hold<'e, E: sqlx::Executor<'e, Database = DbKind>>(
    ex: E,
    id: &str,
    hold: Option<&LegalHold>,
) -> Result<bool, sqlx::Error> {
    let r = match hold {
        Some(h) => sqlx::query(
            "UPDATE sessions SET legal_hold_at = $1, legal_hold_by = $2, legal_hold_reason = $3
             WHERE id = $4 AND legal_hold_at IS NULL",
        )
        .bind(h.at)
        .bind(&h.by)
        .bind(&h.reason)
        .bind(id),
        None => sqlx::query(
            "UPDATE sessions SET legal_hold_at = NULL, legal_hold_by = NULL, legal_hold_reason = NULL
             WHERE id = $1 AND legal_hold_at IS NOT NULL",
        )
        .bind(id),
    }
    .execute(ex)
    .await?;
    Ok(r.rows_affected() == 1)
}

/// Does `user` have a live, locked session on `asset`?
pub async fn has_locked_live<'e, E: sqlx::Executor<'e, Database = DbKind>>(
    ex: E,
    user: UserId,
    asset: AssetId,
) -> Result<bool, sqlx::Error> {
    let n: i64 = sqlx::query_scalar(
        "SELECT COUNT(*) FROM sessions
         WHERE user_id = $1 AND asset_id = $2 AND ended_at IS NULL AND locked = TRUE",
    )
    .bind(user)
    .bind(asset)
    .fetch_one(ex)
    .await?;
    Ok(n > 0)
}

/// How many live sessions run under `request`.
pub async fn count_live_under_request<'e, E: sqlx::Executor<'e, Database = DbKind>>(
    ex: E,
    request: RequestId,
) -> Result<i64, sqlx::Error> {
    sqlx::query_scalar("SELECT COUNT(*) FROM sessions WHERE request_id = $1 AND ended_at IS NULL")
        .bind(request)
        .fetch_one(ex)
        .await
}

/// Live sessions in all, and of `user` alone (the session caps).
pub async fn count_live<'e, E: sqlx::Executor<'e, Database = DbKind>>(
    ex: E,
    user: UserId,
) -> Result<(i64, i64), sqlx::Error> {
    sqlx::query_as(
        "SELECT COUNT(*), COALESCE(SUM(CASE WHEN user_id = $1 THEN 1 ELSE 0 END), 0)
         FROM sessions WHERE ended_at IS NULL",
    )
    .bind(user)
    .fetch_one(ex)
    .await
}

/// Ids of the live sessions under `request`.
pub async fn live_under_request(db: &Db, request: RequestId) -> Result<Vec<String>, sqlx::Error> {
    sqlx::query_scalar("SELECT id FROM sessions WHERE request_id = $1 AND ended_at IS NULL")
        .bind(request)
        .fetch_all(db)
        .await
}

/// Ids of the live sessions whose approved request's window ended at or before `now`.
pub async fn live_under_expired_requests(db: &Db, now: i64) -> Result<Vec<String>, sqlx::Error> {
    sqlx::query_scalar(
        "SELECT s.id FROM sessions s JOIN access_requests r ON r.id = s.request_id
         WHERE s.ended_at IS NULL AND r.status = 'approved'
           AND r.expires_at IS NOT NULL AND r.expires_at <= $1",
    )
    .bind(now)
    .fetch_all(db)
    .await
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_end_reason_reads_back_typed_and_an_unknown_code_names_its_row() {
        assert_eq!(end_reason("s1", None, None).expect("none"), None);
        assert_eq!(
            end_reason("s1", Some("closed".into()), None).expect("plain"),
            Some(EndReason::plain("closed"))
        );
        assert_eq!(
            end_reason("s1", Some("refused".into()), Some("auth_failed".into())).expect("failed"),
            Some(EndReason::failed(ErrorCode::AuthFailed, "refused"))
        );
        let err = end_reason("s7", Some("x".into()), Some("no_such_code".into()))
            .expect_err("an unknown code is an error");
        let text = err.to_string();
        assert!(
            text.contains("s7") && text.contains("no_such_code"),
            "{text}"
        );
    }
}
