//! Emergency controls queued by the CLI for the running relay to apply.

use vigil_wire::api::{EmergencyAction, EmergencyScope};

use super::{now_ms, Db};

/// One queued emergency control.
#[derive(Debug, Clone)]
pub struct Queued {
    pub id: i64,
    pub scope: EmergencyScope,
    pub name: String,
    pub action: EmergencyAction,
    pub requested_by: String,
}

/// Queues a control and bumps the access change counter, in one transaction.
pub async fn queue(
    db: &Db,
    scope: EmergencyScope,
    name: &str,
    action: EmergencyAction,
    by: &str,
) -> Result<i64, sqlx::Error> {
    let mut tx = db.begin().await?;
    let id: i64 = sqlx::query_scalar(
        "INSERT INTO emergency_actions (scope, name, action, requested_by, requested_at)
         VALUES ($1, $2, $3, $4, $5) RETURNING id",
    )
    .bind(scope.as_str())
    .bind(name)
    .bind(action.as_str())
    .bind(by)
    .bind(now_ms())
    .fetch_one(&mut *tx)
    .await?;
    sqlx::query("UPDATE access_version SET version = version + 1 WHERE id = 1")
        .execute(&mut *tx)
        .await?;
    tx.commit().await?;
    Ok(id)
}

/// Controls not applied yet, oldest first. A row this relay cannot read is skipped.
pub async fn pending(db: &Db) -> Result<Vec<Queued>, sqlx::Error> {
    let rows: Vec<(i64, String, String, String, String)> = sqlx::query_as(
        "SELECT id, scope, name, action, requested_by FROM emergency_actions
         WHERE done_at IS NULL ORDER BY id",
    )
    .fetch_all(db)
    .await?;
    Ok(rows
        .into_iter()
        .filter_map(|(id, scope, name, action, requested_by)| {
            let scope = match scope.as_str() {
                "user" => EmergencyScope::User,
                "asset" => EmergencyScope::Asset,
                _ => return None,
            };
            let action = match action.as_str() {
                "lock" => EmergencyAction::Lock,
                "terminate" => EmergencyAction::Terminate,
                _ => return None,
            };
            Some(Queued {
                id,
                scope,
                name,
                action,
                requested_by,
            })
        })
        .collect())
}

pub async fn done(db: &Db, id: i64, at: i64, sessions: usize) -> Result<(), sqlx::Error> {
    sqlx::query("UPDATE emergency_actions SET done_at = $1, sessions = $2 WHERE id = $3")
        .bind(at)
        .bind(i64::try_from(sessions).unwrap_or(i64::MAX))
        .bind(id)
        .execute(db)
        .await?;
    Ok(())
}

/// `Some(sessions)` once the relay applied control `id`.
pub async fn outcome(db: &Db, id: i64) -> Result<Option<i64>, sqlx::Error> {
    let row: Option<(Option<i64>,)> = sqlx::query_as(
        "SELECT sessions FROM emergency_actions WHERE id = $1 AND done_at IS NOT NULL",
    )
    .bind(id)
    .fetch_optional(db)
    .await?;
    Ok(row.and_then(|(n,)| n))
}
