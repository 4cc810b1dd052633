//! The `[metrics]` section: whether `/metrics` answers, and to whom.

use ipnet::IpNet;
use serde::Deserialize;
use vigil_secret::Secret;

/// `[metrics]` as written in the file.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct MetricsFile {
    enabled: Option<bool>,
    token: Option<String>,
    allow: Option<Vec<String>>,
}

/// Who may scrape `/metrics`.
#[derive(Debug, Clone)]
pub struct MetricsConfig {
    /// Off (the default): `/metrics` is a plain 404. Off unless asked for, because behind a
    /// reverse proxy on the same host every request comes from loopback.
    pub enabled: bool,
    /// When set, a scrape must carry `Authorization: Bearer <token>`.
    pub token: Option<Secret>,
    /// The addresses a scrape may come from (the TCP peer). Default: loopback only.
    pub allow: Vec<IpNet>,
}

impl Default for MetricsConfig {
    fn default() -> Self {
        MetricsConfig {
            enabled: false,
            token: None,
            allow: loopback(),
        }
    }
}

fn loopback() -> Vec<IpNet> {
    ["127.0.0.0/8", "::1/128"]
        .into_iter()
        .filter_map(|n| n.parse().ok())
        .collect()
}

#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum MetricsConfigError {
    #[error("metrics.allow: `{0}` is neither an IP address nor a CIDR network")]
    Allow(String),
    #[error("metrics.enabled: `{0}` is not true or false")]
    Enabled(String),
    #[error("metrics.token is empty; remove it or give a token")]
    EmptyToken,
}

impl MetricsConfig {
    /// The file's section, then `VIGIL_METRICS_ENABLED`, `VIGIL_METRICS_TOKEN` and
    /// `VIGIL_METRICS_ALLOW` (comma-separated).
    pub fn load(
        file: Option<MetricsFile>,
        env: impl Fn(&str) -> Option<String>,
    ) -> Result<MetricsConfig, MetricsConfigError> {
        let file = file.unwrap_or_default();
        let enabled = match env("VIGIL_METRICS_ENABLED").filter(|v| !v.is_empty()) {
            Some(v) => match v.to_ascii_lowercase().as_str() {
                "true" | "1" | "yes" | "on" => true,
                "false" | "0" | "no" | "off" => false,
                _ => return Err(MetricsConfigError::Enabled(v)),
            },
            None => file.enabled.unwrap_or(false),
        };
        let token = match env("VIGIL_METRICS_TOKEN").or(file.token) {
            Some(t) if t.trim().is_empty() => return Err(MetricsConfigError::EmptyToken),
            Some(t) => Some(Secret::new(t.trim())),
            None => None,
        };
        let allow = match env("VIGIL_METRICS_ALLOW") {
            Some(list) => Some(
                list.split(',')
                    .map(str::trim)
                    .filter(|s| !s.is_empty())
                    .map(str::to_string)
                    .collect(),
            ),
            None => file.allow,
        };
        let allow = match allow {
            Some(list) => list
                .iter()
                .map(|s| parse_net(s))
                .collect::<Result<_, _>>()?,
            None => loopback(),
        };
        Ok(MetricsConfig {
            enabled,
            token,
            allow,
        })
    }
}

/// `10.0.0.0/8`, `192.0.2.7` (a single address) or `::1`.
fn parse_net(s: &str) -> Result<IpNet, MetricsConfigError> {
    s.parse::<IpNet>()
        .or_else(|_| s.parse::<std::net::IpAddr>().map(IpNet::from))
        .map_err(|_| MetricsConfigError::Allow(s.to_string()))
}

#[cfg(test)]
mod tests {
    use std::collections::HashMap;

    use super::*;

    fn file(text: &str) -> MetricsFile {
        toml::from_str(text).expect("parse")
    }

    #[test]
    fn defaults_file_and_environment() {
        let none = |_: &str| None;
        let c = MetricsConfig::load(None, none).expect("defaults");
        assert!(!c.enabled, "off unless asked for");
        assert!(c.token.is_none());
        assert!(c
            .allow
            .iter()
            .any(|n| n.contains(&"127.0.0.1".parse::<std::net::IpAddr>().expect("ip"))));
        assert!(!c
            .allow
            .iter()
            .any(|n| n.contains(&"10.0.0.1".parse::<std::net::IpAddr>().expect("ip"))));

        let f =
            file("enabled = false\ntoken = \"s3cret\"\nallow = [\"10.0.0.0/8\", \"192.0.2.7\"]\n");
        let c = MetricsConfig::load(Some(f), none).expect("file");
        assert!(!c.enabled);
        assert_eq!(c.token.as_ref().map(Secret::expose), Some("s3cret"));
        assert_eq!(c.allow.len(), 2);
        assert_eq!(c.allow[1].to_string(), "192.0.2.7/32");
        assert!(
            !format!("{c:?}").contains("s3cret"),
            "the token is redacted"
        );

        let env: HashMap<&str, &str> = [
            ("VIGIL_METRICS_ENABLED", "true"),
            ("VIGIL_METRICS_TOKEN", "other"),
            ("VIGIL_METRICS_ALLOW", "::1, 203.0.113.0/24"),
        ]
        .into();
        let f = file("enabled = false\n");
        let c = MetricsConfig::load(Some(f), |k| env.get(k).map(|v| v.to_string())).expect("env");
        assert!(c.enabled);
        assert_eq!(c.token.as_ref().map(Secret::expose), Some("other"));
        assert_eq!(c.allow.len(), 2);

        assert!(
            toml::from_str::<MetricsFile>("tokn = \"x\"").is_err(),
            "unknown keys refused"
        );
        let bad =
            |k: &'static str, v: &'static str| move |key: &str| (key == k).then(|| v.to_string());
        assert_eq!(
            MetricsConfig::load(None, bad("VIGIL_METRICS_ALLOW", "nonsense")).err(),
            Some(MetricsConfigError::Allow("nonsense".into()))
        );
        assert!(MetricsConfig::load(None, bad("VIGIL_METRICS_ENABLED", "maybe")).is_err());
        assert!(MetricsConfig::load(None, bad("VIGIL_METRICS_TOKEN", " ")).is_err());
    }
}
