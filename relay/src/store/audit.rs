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
