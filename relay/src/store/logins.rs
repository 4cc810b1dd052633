//! Login sessions. Only the SHA-256 of a cookie token is stored.

use super::users::UserRow;
use super::Db;

pub async fn create(
    db: &Db,
    token_hash: &str,
    user_id: i64,
    csrf_token: &str,
    now: i64,
    expires_at: i64,
) -> Result<(), sqlx::Error> {
    sqlx::query("DELETE FROM auth_sessions WHERE expires_at <= $1")
        .bind(now)
        .execute(db)
        .await?;
    // A disabled user gets no login, whatever the caller checked before.
    let made = sqlx::query(
        "INSERT INTO auth_sessions (token_hash, user_id, csrf_token, created_at, expires_at)
         SELECT $1, id, $3, $4, $5 FROM users WHERE id = $2 AND NOT disabled",
    )
    .bind(token_hash)
    .bind(user_id)
    .bind(csrf_token)
    .bind(now)
    .bind(expires_at)
    .execute(db)
    .await?;
    if made.rows_affected() == 0 {
        return Err(sqlx::Error::RowNotFound);
    }
    Ok(())
}

#[derive(Debug, Clone, sqlx::FromRow)]
pub struct LoginRow {
    #[sqlx(flatten)]
    pub user: UserRow,
    pub csrf_token: String,
}

/// The user and CSRF token of an unexpired login.
pub async fn find(db: &Db, token_hash: &str, now: i64) -> Result<Option<LoginRow>, sqlx::Error> {
    sqlx::query_as(
        "SELECT u.id, u.username, u.display_name, u.password_hash, u.is_admin, u.disabled,
                l.csrf_token
         FROM auth_sessions l JOIN users u ON u.id = l.user_id
         WHERE l.token_hash = $1 AND l.expires_at > $2 AND NOT u.disabled",
    )
    .bind(token_hash)
    .bind(now)
    .fetch_optional(db)
    .await
}

pub async fn delete(db: &Db, token_hash: &str) -> Result<(), sqlx::Error> {
    sqlx::query("DELETE FROM auth_sessions WHERE token_hash = $1")
        .bind(token_hash)
        .execute(db)
        .await?;
    Ok(())
}

/// When an unexpired login ends (Unix ms); `None` if it is gone or expired.
pub async fn expires_at(db: &Db, token_hash: &str, now: i64) -> Result<Option<i64>, sqlx::Error> {
    sqlx::query_scalar(
        "SELECT expires_at FROM auth_sessions WHERE token_hash = $1 AND expires_at > $2",
    )
    .bind(token_hash)
    .bind(now)
    .fetch_optional(db)
    .await
}
