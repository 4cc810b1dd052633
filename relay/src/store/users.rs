use vigil_wire::api::UserId;
use vigil_wire::desktop::KeyboardLayout;

use super::{now_ms, Db, DbKind};

#[derive(Debug, Clone, sqlx::FromRow)]
pub struct UserRow {
    pub id: UserId,
    pub username: String,
    pub display_name: String,
    pub password_hash: String,
    pub is_admin: bool,
    /// A disabled user cannot log in; their logins were ended when it happened.
    pub disabled: bool,
}

const COLS: &str = "id, username, display_name, password_hash, is_admin, disabled";

pub async fn create(
    db: &Db,
    username: &str,
    display_name: &str,
    password_hash: &str,
    is_admin: bool,
    groups: &[String],
) -> Result<UserId, sqlx::Error> {
    let mut tx = db.begin().await?;
    let id: i64 = sqlx::query_scalar(
        "INSERT INTO users (username, display_name, password_hash, is_admin, created_at)
         VALUES ($1, $2, $3, $4, $5) RETURNING id",
    )
    .bind(username)
    .bind(display_name)
    .bind(password_hash)
    .bind(is_admin)
    .bind(now_ms())
    .fetch_one(&mut *tx)
    .await?;
    for g in groups {
        sqlx::query("INSERT INTO user_groups (user_id, group_name) VALUES ($1, $2)")
            .bind(id)
            .bind(g)
            .execute(&mut *tx)
            .await?;
    }
    tx.commit().await?;
    Ok(id)
}

/// The user called `username`, disabled or not (check [`UserRow::disabled`]).
pub async fn by_name(db: &Db, username: &str) -> Result<Option<UserRow>, sqlx::Error> {
    sqlx::query_as(&format!("SELECT {COLS} FROM users WHERE username = $1"))
        .bind(username)
        .fetch_optional(db)
        .await
}

pub async fn by_id(db: &Db, id: UserId) -> Result<Option<UserRow>, sqlx::Error> {
    sqlx::query_as(&format!("SELECT {COLS} FROM users WHERE id = $1"))
        .bind(id)
        .fetch_optional(db)
        .await
}

pub async fn groups(db: &Db, user_id: UserId) -> Result<Vec<String>, sqlx::Error> {
    sqlx::query_scalar("SELECT group_name FROM user_groups WHERE user_id = $1 ORDER BY group_name")
        .bind(user_id)
        .fetch_all(db)
        .await
}

/// The keyboard layout of `user_id`'s desktop sessions (US English unless set).
pub async fn keyboard_layout<'e, E: sqlx::Executor<'e, Database = DbKind>>(
    ex: E,
    user_id: UserId,
) -> Result<KeyboardLayout, sqlx::Error> {
    let id: i64 = sqlx::query_scalar("SELECT keyboard_layout FROM users WHERE id = $1")
        .bind(user_id)
        .fetch_one(ex)
        .await?;
    u32::try_from(id)
        .ok()
        .and_then(KeyboardLayout::from_id)
        .ok_or_else(|| sqlx::Error::Decode(format!("unsupported keyboard layout {id:#x}").into()))
}

/// Sets the keyboard layout of `user_id`'s next desktop sessions (live ones keep theirs).
/// Whether it changed.
pub async fn set_keyboard_layout(
    db: &Db,
    user_id: UserId,
    layout: KeyboardLayout,
) -> Result<bool, sqlx::Error> {
    let r = sqlx::query(
        "UPDATE users SET keyboard_layout = $1 WHERE id = $2 AND keyboard_layout <> $1",
    )
    .bind(i64::from(layout.id()))
    .bind(user_id)
    .execute(db)
    .await?;
    Ok(r.rows_affected() > 0)
}
