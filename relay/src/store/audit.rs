use vigil_wire::api::AuditEntry;

use super::{now_ms, DbKind};

pub async fn record<'e, E: sqlx::Executor<'e, Database = DbKind>>(
    ex: E,
    actor: &str,
    action: &str,
    session_id: Option<&str>,
    detail: &str,
) -> Result<(), sqlx::Error> {
    sqlx::query(
        "INSERT INTO audit_log (at, actor, action, session_id, detail) VALUES ($1, $2, $3, $4, $5)",
    )
    .bind(now_ms())
    .bind(actor)
    .bind(action)
    .bind(session_id)
    .bind(detail)
    .execute(ex)
    .await?;
    Ok(())
}

/// Records `action` by `actor` on `session_id` unless the same actor already has
/// that action on that session in the log (one statement, so concurrent reads
/// still audit once). Returns whether a row was written.
pub async fn record_once<'e, E: sqlx::Executor<'e, Database = DbKind>>(
    ex: E,
    actor: &str,
    action: &str,
    session_id: &str,
    detail: &str,
) -> Result<bool, sqlx::Error> {
    let r = sqlx::query(
        "INSERT INTO audit_log (at, actor, action, session_id, detail)
         SELECT $1, $2, $3, $4, $5
         WHERE NOT EXISTS (SELECT 1 FROM audit_log WHERE actor = $2 AND action = $3 AND session_id = $4)",
    )
    .bind(now_ms())
    .bind(actor)
    .bind(action)
    .bind(session_id)
    .bind(detail)
    .execute(ex)
    .await?;
    Ok(r.rows_affected() == 1)
}

#[derive(sqlx::FromRow)]
struct Raw {
    id: i64,
    at: i64,
    actor: String,
    action: String,
    session_id: Option<String>,
    detail: String,
}

/// Newest first.
pub async fn list<'e, E: sqlx::Executor<'e, Database = DbKind>>(
    ex: E,
    limit: i64,
) -> Result<Vec<AuditEntry>, sqlx::Error> {
    let raws: Vec<Raw> = sqlx::query_as(
        "SELECT id, at, actor, action, session_id, detail FROM audit_log ORDER BY id DESC LIMIT $1",
    )
    .bind(limit)
    .fetch_all(ex)
    .await?;
    Ok(raws
        .into_iter()
        .map(|r| AuditEntry {
            id: r.id,
            at: r.at,
            actor: r.actor,
            action: r.action,
            session_id: r.session_id,
            detail: r.detail,
        })
        .collect())
}
