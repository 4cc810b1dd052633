//! Storage. Every function takes the pool (or a transaction) it works on, and the SQL
//! sticks to what SQLite and PostgreSQL share (`$n` parameters, BIGINT milliseconds,
//! JSON text for lists), so another backend can be added behind the same functions.

use std::path::Path;
use std::str::FromStr;

use sqlx::sqlite::{SqliteConnectOptions, SqliteJournalMode, SqlitePoolOptions};

pub mod access;
pub mod assets;
pub mod audit;
pub mod emergency;
pub mod export;
pub mod logins;
pub mod requests;
pub mod rules;
pub mod sessions;
pub mod shares;
pub mod throttle;
pub mod users;

pub type Db = sqlx::SqlitePool;
pub type DbKind = sqlx::Sqlite;
/// One connection of [`Db`] (inside a transaction, `&mut *tx`).
pub type DbConn = sqlx::SqliteConnection;

#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    #[error("cannot open database {path}: {source}")]
    Open { path: String, source: sqlx::Error },
    #[error("database migration failed: {0}")]
    Migrate(#[from] sqlx::migrate::MigrateError),
}

/// SQLite's page cache per connection, as its `cache_size` pragma (negative: KiB): 512 KiB
/// rather than SQLite's 2 MiB, so the pool's eight caches (4 MiB in all) are full within
/// minutes of a busy start instead of growing for as long as the database does. Reads
/// past it come from the operating system's file cache.
const PAGE_CACHE_PRAGMA: &str = "-512";

/// Opens (creating if needed) the database at `path` and applies the migrations.
pub async fn open(path: &Path) -> Result<Db, StoreError> {
    let opts = SqliteConnectOptions::new()
        .filename(path)
        .create_if_missing(true)
        .journal_mode(SqliteJournalMode::Wal)
        .foreign_keys(true)
        .busy_timeout(std::time::Duration::from_secs(5))
        .pragma("cache_size", PAGE_CACHE_PRAGMA);
    let db = SqlitePoolOptions::new()
        .max_connections(8)
        .connect_with(opts)
        .await
        .map_err(|source| StoreError::Open {
            path: path.display().to_string(),
            source,
        })?;
    sqlx::migrate!("./migrations").run(&db).await?;
    Ok(db)
}

/// Starts a transaction that holds the database's write lock from its first statement,
/// so that what it reads cannot change under it before it commits, whichever process
/// (another relay, the CLI) writes to the same database. With SQLite that is
/// `BEGIN IMMEDIATE` (it waits up to the busy timeout for another writer to finish).
/// A PostgreSQL backend would instead lock what the transaction decides on (an advisory
/// lock such as `pg_advisory_xact_lock`, or `SELECT … FOR UPDATE` on the rows counted).
pub async fn begin_write(db: &Db) -> Result<sqlx::Transaction<'static, DbKind>, sqlx::Error> {
    db.begin_with("BEGIN IMMEDIATE").await
}

/// Unix milliseconds now.
pub fn now_ms() -> i64 {
    let d = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap_or_default();
    i64::try_from(d.as_millis()).unwrap_or(i64::MAX)
}

pub(crate) fn tags_to_json(tags: &[String]) -> String {
    serde_json::to_string(tags).unwrap_or_else(|_| "[]".into())
}

/// A column that holds a JSON list. A value that does not parse is a corrupt row, named in
/// the error (`row`: "asset 7", "rule 3"), never read as an empty list: an empty list of
/// tags would widen what a rule selects.
pub(crate) fn json_list<T: serde::de::DeserializeOwned>(
    text: &str,
    row: &str,
    what: &str,
) -> Result<Vec<T>, sqlx::Error> {
    serde_json::from_str(text).map_err(|_| corrupt(row, what, text))
}

pub(crate) fn parse_or<T: FromStr>(s: &str, row: &str, what: &str) -> Result<T, sqlx::Error> {
    s.parse().map_err(|_| corrupt(row, what, s))
}

/// The error for a row whose `what` column holds `value`, which this relay cannot read.
pub(crate) fn corrupt(row: &str, what: &str, value: &str) -> sqlx::Error {
    sqlx::Error::Decode(format!("{row}: bad {what} `{value}` in database").into())
}
