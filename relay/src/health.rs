//! Health: `/healthz` (the process serves requests) and `/readyz` (the relay can do its
//! work: each [`ReadinessCheck`] passes). A check's result names only the check and a
//! fixed outcome: never a path, an error text or a secret.
//!
//! To add a check: a variant of [`ReadinessCheck`], its entry in [`ReadinessCheck::ALL`],
//! its name and its `run` arm.

use std::time::Duration;

use serde::Serialize;
use utoipa::ToSchema;

use crate::state::AppState;

/// How long one check may take before it counts as failed.
pub const CHECK_TIMEOUT: Duration = Duration::from_secs(2);

/// `/healthz`: always `ok` while the process answers.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct Health {
    /// `ok`
    pub status: &'static str,
}

/// What `/readyz` answers: `ready` with 200 when every check passed, else `not_ready` with 503.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct Readiness {
    /// `ready` or `not_ready`
    pub status: &'static str,
    pub checks: Vec<CheckResult>,
}

/// One check's result.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct CheckResult {
    /// `database`, `data_dir` or `app_bundle`
    pub name: &'static str,
    pub ok: bool,
    /// Why it failed, a fixed phrase: `timeout`, `query_failed`, `not_writable`, `missing`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub problem: Option<&'static str>,
}

/// What `/readyz` checks.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ReadinessCheck {
    /// The database answers `SELECT 1`.
    Database,
    /// A file can be created (and removed) in the data directory.
    DataDir,
    /// The app's `index.html` is in `dist_dir`.
    AppBundle,
}

impl ReadinessCheck {
    pub const ALL: [ReadinessCheck; 3] = [Self::Database, Self::DataDir, Self::AppBundle];

    pub fn name(self) -> &'static str {
        match self {
            Self::Database => "database",
            Self::DataDir => "data_dir",
            Self::AppBundle => "app_bundle",
        }
    }

    /// Runs the check, within [`CHECK_TIMEOUT`]: `Err` holds its fixed problem phrase.
    pub async fn run(self, state: &AppState) -> Result<(), &'static str> {
        let work = async {
            match self {
                Self::Database => sqlx::query("SELECT 1")
                    .execute(&state.db)
                    .await
                    .map(drop)
                    .map_err(|_| "query_failed"),
                Self::DataDir => data_dir_writable(&state.config.data_dir).await,
                Self::AppBundle => {
                    match tokio::fs::metadata(state.config.dist_dir.join("index.html")).await {
                        Ok(meta) if meta.is_file() => Ok(()),
                        _ => Err("missing"),
                    }
                }
            }
        };
        tokio::time::timeout(CHECK_TIMEOUT, work)
            .await
            .unwrap_or(Err("timeout"))
    }
}

/// Creates and removes a file of a random name in `dir`.
async fn data_dir_writable(dir: &std::path::Path) -> Result<(), &'static str> {
    let probe = dir.join(format!(".ready-{:016x}", rand::random::<u64>()));
    let created = tokio::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .open(&probe)
        .await;
    match created {
        Ok(file) => {
            drop(file);
            tokio::fs::remove_file(&probe)
                .await
                .map_err(|_| "not_writable")
        }
        Err(_) => Err("not_writable"),
    }
}

/// Runs every check (concurrently) and gathers their results, in [`ReadinessCheck::ALL`]'s order.
pub async fn readiness(state: &AppState) -> Readiness {
    let runs = ReadinessCheck::ALL.map(|check| async move {
        let outcome = check.run(state).await;
        CheckResult {
            name: check.name(),
            ok: outcome.is_ok(),
            problem: outcome.err(),
        }
    });
    let checks = futures_util::future::join_all(runs).await;
    let ready = checks.iter().all(|c| c.ok);
    Readiness {
        status: if ready { "ready" } else { "not_ready" },
        checks,
    }
}
