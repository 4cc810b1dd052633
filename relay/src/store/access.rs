//! Revocation: disabling users, ending logins, removing group members, deleting Smart
//! Rules. Each change bumps `access_version` in the same transaction, so any relay
//! watching the counter learns of it, whichever process made it. (Other grant changes,
//! such as a new rule, member or asset, bump it through the triggers of migration 0013.)

use super::{Db, DbKind};

/// What a revocation changed; `false` fields: there was nothing to change.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Revoked {
    pub changed: bool,
    /// Logins that were ended with it.
    pub logins_ended: u64,
}

/// The current value of the change counter.
pub async fn version(db: &Db) -> Result<i64, sqlx::Error> {
    sqlx::query_scalar("SELECT version FROM access_version WHERE id = 1")
        .fetch_one(db)
        .await
}

/// Bumps the change counter, inside the caller's transaction.
pub(crate) async fn bump(tx: &mut sqlx::SqliteConnection) -> Result<(), sqlx::Error> {
    sqlx::query("UPDATE access_version SET version = version + 1 WHERE id = 1")
        .execute(tx)
        .await?;
    Ok(())
}

async fn delete_logins(tx: &mut sqlx::SqliteConnection, user_id: i64) -> Result<u64, sqlx::Error> {
    Ok(sqlx::query("DELETE FROM auth_sessions WHERE user_id = $1")
        .bind(user_id)
        .execute(tx)
        .await?
        .rows_affected())
}

/// Ends every login of `user_id`.
pub async fn end_logins(db: &Db, user_id: i64) -> Result<Revoked, sqlx::Error> {
    let mut tx = db.begin().await?;
    let logins_ended = delete_logins(&mut tx, user_id).await?;
    bump(&mut tx).await?;
    tx.commit().await?;
    Ok(Revoked {
        changed: logins_ended > 0,
        logins_ended,
    })
}

/// Disables (or enables) `user_id`; disabling also ends their logins.
pub async fn set_disabled(db: &Db, user_id: i64, disabled: bool) -> Result<Revoked, sqlx::Error> {
    let mut tx = db.begin().await?;
    let changed = sqlx::query("UPDATE users SET disabled = $1 WHERE id = $2 AND disabled <> $1")
        .bind(disabled)
        .bind(user_id)
        .execute(&mut *tx)
        .await?
        .rows_affected()
        > 0;
    let logins_ended = if disabled {
        delete_logins(&mut tx, user_id).await?
    } else {
        0
    };
    bump(&mut tx).await?;
    tx.commit().await?;
    Ok(Revoked {
        changed,
        logins_ended,
    })
}

/// Takes `user_id` out of `group`.
pub async fn remove_member(db: &Db, user_id: i64, group: &str) -> Result<Revoked, sqlx::Error> {
    let delete = sqlx::query("DELETE FROM user_groups WHERE user_id = $1 AND group_name = $2")
        .bind(user_id)
        .bind(group);
    delete_and_bump(db, delete).await
}

/// Deletes the Smart Rule `rule_id`.
pub async fn delete_rule(db: &Db, rule_id: i64) -> Result<Revoked, sqlx::Error> {
    let delete = sqlx::query("DELETE FROM smart_rules WHERE id = $1").bind(rule_id);
    delete_and_bump(db, delete).await
}

/// Runs `delete` and bumps the counter in one transaction.
async fn delete_and_bump<'q>(
    db: &Db,
    delete: sqlx::query::Query<'q, DbKind, sqlx::sqlite::SqliteArguments<'q>>,
) -> Result<Revoked, sqlx::Error> {
    let mut tx = db.begin().await?;
    let changed = delete.execute(&mut *tx).await?.rows_affected() > 0;
    bump(&mut tx).await?;
    tx.commit().await?;
    Ok(Revoked {
        changed,
        logins_ended: 0,
    })
}

/// The Smart Rule called `name`, if any.
pub async fn rule_id(db: &Db, name: &str) -> Result<Option<i64>, sqlx::Error> {
    sqlx::query_scalar("SELECT id FROM smart_rules WHERE name = $1")
        .bind(name)
        .fetch_optional(db)
        .await
}

/// Live sessions whose user is disabled: they must not go on.
pub async fn live_sessions_of_disabled_users(db: &Db) -> Result<Vec<String>, sqlx::Error> {
    sqlx::query_scalar(
        "SELECT s.id FROM sessions s JOIN users u ON u.id = s.user_id
         WHERE s.ended_at IS NULL AND u.disabled",
    )
    .fetch_all(db)
    .await
}
