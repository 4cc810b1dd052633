//! The `[retention]` table of the configuration file and its `VIGIL_RETENTION_*`
//! overrides.

use std::time::Duration;

use serde::Deserialize;

/// How often the relay's retention task runs when `interval_secs` is not set: hourly.
pub const DEFAULT_INTERVAL_SECS: u64 = 3600;

/// `[retention]` as written in the file; every key optional.
#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RetentionFile {
    pub recordings_days: Option<u32>,
    pub audit_days: Option<u32>,
    pub interval_secs: Option<u64>,
}

/// What retention keeps. `None`: forever.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Retention {
    /// Recordings of sessions that ended more than this many days ago are deleted
    /// (unless on legal hold); 0 deletes them at the next pass after their seal.
    pub recordings_days: Option<u32>,
    /// Audit entries older than this many days are pruned behind a checkpoint.
    pub audit_days: Option<u32>,
    /// How often the relay's background task runs a pass.
    pub interval: Duration,
}

impl Default for Retention {
    fn default() -> Self {
        Retention {
            recordings_days: None,
            audit_days: None,
            interval: Duration::from_secs(DEFAULT_INTERVAL_SECS),
        }
    }
}

#[derive(Debug, thiserror::Error)]
pub enum RetentionConfigError {
    #[error("{var} must be a whole number (or empty to unset), not `{value}`")]
    NotANumber { var: &'static str, value: String },
}

impl Retention {
    /// The file's table, then `VIGIL_RETENTION_RECORDINGS_DAYS`,
    /// `VIGIL_RETENTION_AUDIT_DAYS` and `VIGIL_RETENTION_INTERVAL_SECS` over it (an empty
    /// variable unsets the key: keep forever).
    pub fn resolve(
        file: Option<RetentionFile>,
        env: &impl Fn(&str) -> Option<String>,
    ) -> Result<Retention, RetentionConfigError> {
        let file = file.unwrap_or_default();
        let recordings_days = over(env, "VIGIL_RETENTION_RECORDINGS_DAYS", file.recordings_days)?;
        let audit_days = over(env, "VIGIL_RETENTION_AUDIT_DAYS", file.audit_days)?;
        let interval = over(env, "VIGIL_RETENTION_INTERVAL_SECS", file.interval_secs)?
            .unwrap_or(DEFAULT_INTERVAL_SECS)
            .max(1);
        Ok(Retention {
            recordings_days,
            audit_days,
            interval: Duration::from_secs(interval),
        })
    }

    /// Whether a pass has anything to do.
    pub fn enabled(&self) -> bool {
        self.recordings_days.is_some() || self.audit_days.is_some()
    }
}

/// `var` from the environment over `file`: empty unsets, anything else must parse.
fn over<T: std::str::FromStr>(
    env: &impl Fn(&str) -> Option<String>,
    var: &'static str,
    file: Option<T>,
) -> Result<Option<T>, RetentionConfigError> {
    match env(var) {
        None => Ok(file),
        Some(v) if v.trim().is_empty() => Ok(None),
        Some(v) => v
            .trim()
            .parse()
            .map(Some)
            .map_err(|_| RetentionConfigError::NotANumber { var, value: v }),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashMap;

    #[test]
    fn absent_keeps_forever_and_the_environment_wins() {
        let none = |_: &str| None;
        let r = Retention::resolve(None, &none).expect("defaults");
        assert_eq!(r, Retention::default());
        assert!(!r.enabled());
        let file: RetentionFile =
            toml::from_str("recordings_days = 90\naudit_days = 365\n").expect("toml");
        let r = Retention::resolve(Some(file.clone()), &none).expect("file");
        assert_eq!(r.recordings_days, Some(90));
        assert_eq!(r.audit_days, Some(365));
        assert_eq!(r.interval, Duration::from_secs(3600));
        assert!(r.enabled());
        let env: HashMap<&str, &str> = [
            ("VIGIL_RETENTION_RECORDINGS_DAYS", "0"),
            ("VIGIL_RETENTION_AUDIT_DAYS", ""),
            ("VIGIL_RETENTION_INTERVAL_SECS", "60"),
        ]
        .into();
        let get = |k: &str| env.get(k).map(|v| v.to_string());
        let r = Retention::resolve(Some(file), &get).expect("env");
        assert_eq!(r.recordings_days, Some(0));
        assert_eq!(r.audit_days, None, "an empty variable unsets the key");
        assert_eq!(r.interval, Duration::from_secs(60));
        let bad = |k: &str| (k == "VIGIL_RETENTION_AUDIT_DAYS").then(|| "a year".to_string());
        let err = Retention::resolve(None, &bad).expect_err("not a number");
        assert!(
            err.to_string().contains("VIGIL_RETENTION_AUDIT_DAYS"),
            "{err}"
        );
        assert!(toml::from_str::<RetentionFile>("recording_days = 1\n").is_err());
    }
}
