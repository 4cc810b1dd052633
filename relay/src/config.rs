//! Configuration: an optional TOML file, every key overridable from the environment.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::time::Duration;

use serde::Deserialize;

use crate::logging::{BadLogFormat, LogFormat};
use crate::metrics::config::{MetricsConfig, MetricsConfigError, MetricsFile};

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct FileConfig {
    bind: Option<String>,
    data_dir: Option<PathBuf>,
    dist_dir: Option<PathBuf>,
    public_origin: Option<String>,
    tls_cert: Option<PathBuf>,
    tls_key: Option<PathBuf>,
    session_ttl_minutes: Option<u32>,
    max_connections: Option<usize>,
    header_timeout_secs: Option<u64>,
    idle_timeout_secs: Option<u64>,
    max_sessions_per_user: Option<u32>,
    max_live_sessions: Option<u32>,
    feed_send_timeout_secs: Option<u64>,
    kiosk_idle_secs: Option<u64>,
    audit_key_file: Option<PathBuf>,
    audit_head_interval_secs: Option<u64>,
    retention: Option<crate::retention::RetentionFile>,
    audit_export: Option<crate::export::config::AuditExportFile>,
    log_format: Option<LogFormat>,
    metrics: Option<MetricsFile>,
}

pub const DEFAULT_MAX_CONNECTIONS: usize = 4096;
pub const DEFAULT_HEADER_TIMEOUT_SECS: u64 = 10;
pub const DEFAULT_IDLE_TIMEOUT_SECS: u64 = 120;
pub const DEFAULT_MAX_SESSIONS_PER_USER: u32 = 10;
pub const DEFAULT_MAX_LIVE_SESSIONS: u32 = 1000;
pub const DEFAULT_FEED_SEND_TIMEOUT_SECS: u64 = 10;
pub const DEFAULT_AUDIT_HEAD_INTERVAL_SECS: u64 = 300;
pub const DEFAULT_KIOSK_IDLE_SECS: u64 = 300;
/// A day: the kiosk's idle time is at most this.
pub const MAX_KIOSK_IDLE_SECS: u64 = 24 * 60 * 60;

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TlsFiles {
    pub cert: PathBuf,
    pub key: PathBuf,
}

#[derive(Debug, Clone)]
pub struct Config {
    pub bind: SocketAddr,
    pub data_dir: PathBuf,
    pub dist_dir: PathBuf,
    /// `https://vigil.example.com`; absent: derived from the `Host` header.
    pub public_origin: Option<String>,
    pub tls: Option<TlsFiles>,
    /// Lifetime of a login.
    pub session_ttl_minutes: u32,
    /// Open connections at most (TLS handshakes and WebSockets included); more are
    /// closed as soon as they are accepted.
    pub max_connections: usize,
    /// Time a client has to send a request's headers, also between keep-alive requests.
    pub header_timeout: Duration,
    /// A connection (not yet upgraded to a WebSocket) on which no byte moves for this
    /// long is closed.
    pub idle_timeout: Duration,
    /// Live sessions one user may have at once.
    pub max_sessions_per_user: u32,
    /// Live sessions in all (counted in the database, so across relays that share it).
    pub max_live_sessions: u32,
    /// An Active Sessions feed (`/live`) whose peer takes longer than this to accept one
    /// message is closed, so a client that stops reading pins nothing.
    pub feed_send_timeout: Duration,
    /// The kiosk view (`/kiosk`) logs out after this long without a touch, click or key
    /// (`kiosk_idle_secs`, 1 s to a day).
    pub kiosk_idle: Duration,
    /// The audit key (outside `data_dir`); the relay and the CLI's writing commands
    /// refuse to run without it.
    pub audit_key_file: Option<PathBuf>,
    /// How often the relay logs the audit chain's head (`vigil::audit`).
    pub audit_head_interval: Duration,
    /// `[retention]`: how long recordings and audit entries are kept (forever unless set).
    pub retention: crate::retention::Retention,
    /// Where audit entries are exported (`[audit_export]`); `None`: nowhere.
    pub audit_export: Option<crate::export::AuditExport>,
    /// `text` or `json` (`VIGIL_LOG_FORMAT`).
    pub log_format: LogFormat,
    /// `[metrics]`: whether `/metrics` answers, and to whom.
    pub metrics: MetricsConfig,
}

#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    #[error("cannot read config file {path}: {source}")]
    Read {
        path: String,
        source: std::io::Error,
    },
    #[error("config file {path}: {source}")]
    Parse {
        path: String,
        source: toml::de::Error,
    },
    #[error("invalid bind address `{0}`")]
    Bind(String),
    #[error("public_origin `{0}` must look like http(s)://host[:port], without a path")]
    Origin(String),
    #[error("tls_cert and tls_key must be given together")]
    TlsPair,
    #[error(transparent)]
    Retention(#[from] crate::retention::RetentionConfigError),
    #[error(transparent)]
    AuditExport(#[from] crate::export::config::AuditExportError),
    #[error(transparent)]
    LogFormat(#[from] BadLogFormat),
    #[error(transparent)]
    Metrics(#[from] MetricsConfigError),
}

impl Config {
    /// Defaults for everything, for tests and bootstrap commands.
    pub fn with_data_dir(data_dir: PathBuf) -> Config {
        Config {
            bind: SocketAddr::from(([127, 0, 0, 1], 8080)),
            dist_dir: PathBuf::from("./dist"),
            data_dir,
            public_origin: None,
            tls: None,
            session_ttl_minutes: 12 * 60,
            max_connections: DEFAULT_MAX_CONNECTIONS,
            max_sessions_per_user: DEFAULT_MAX_SESSIONS_PER_USER,
            max_live_sessions: DEFAULT_MAX_LIVE_SESSIONS,
            header_timeout: Duration::from_secs(DEFAULT_HEADER_TIMEOUT_SECS),
            idle_timeout: Duration::from_secs(DEFAULT_IDLE_TIMEOUT_SECS),
            feed_send_timeout: Duration::from_secs(DEFAULT_FEED_SEND_TIMEOUT_SECS),
            kiosk_idle: Duration::from_secs(DEFAULT_KIOSK_IDLE_SECS),
            audit_key_file: None,
            audit_head_interval: Duration::from_secs(DEFAULT_AUDIT_HEAD_INTERVAL_SECS),
            retention: crate::retention::Retention::default(),
            audit_export: None,
            log_format: LogFormat::Text,
            metrics: MetricsConfig::default(),
        }
    }

    /// Reads `file` (if any), then applies `VIGIL_*` overrides from the process environment.
    pub fn load(file: Option<&Path>) -> Result<Config, ConfigError> {
        Config::load_with(file, |k| std::env::var(k).ok())
    }

    pub fn load_with(
        file: Option<&Path>,
        env: impl Fn(&str) -> Option<String>,
    ) -> Result<Config, ConfigError> {
        let fc: FileConfig = match file {
            Some(path) => {
                let p = path.display().to_string();
                let text = std::fs::read_to_string(path).map_err(|source| ConfigError::Read {
                    path: p.clone(),
                    source,
                })?;
                toml::from_str(&text).map_err(|source| ConfigError::Parse { path: p, source })?
            }
            None => FileConfig::default(),
        };
        let env_path = |k: &str| env(k).filter(|v| !v.is_empty()).map(PathBuf::from);
        let bind = env("VIGIL_BIND")
            .or(fc.bind)
            .unwrap_or_else(|| "127.0.0.1:8080".into());
        let bind = bind.parse().map_err(|_| ConfigError::Bind(bind.clone()))?;
        let public_origin = env("VIGIL_PUBLIC_ORIGIN")
            .or(fc.public_origin)
            .filter(|o| !o.is_empty())
            .map(|o| normalise_origin(&o).ok_or(ConfigError::Origin(o)))
            .transpose()?;
        let tls = match (
            env_path("VIGIL_TLS_CERT").or(fc.tls_cert),
            env_path("VIGIL_TLS_KEY").or(fc.tls_key),
        ) {
            (Some(cert), Some(key)) => Some(TlsFiles { cert, key }),
            (None, None) => None,
            _ => return Err(ConfigError::TlsPair),
        };
        let ttl = env("VIGIL_SESSION_TTL_MINUTES")
            .and_then(|v| v.parse().ok())
            .or(fc.session_ttl_minutes)
            .unwrap_or(12 * 60);
        let max_connections = env("VIGIL_MAX_CONNECTIONS")
            .and_then(|v| v.parse().ok())
            .or(fc.max_connections)
            .unwrap_or(DEFAULT_MAX_CONNECTIONS);
        let secs = |var: &str, file: Option<u64>, default: u64| {
            let s = env(var)
                .and_then(|v| v.parse().ok())
                .or(file)
                .unwrap_or(default);
            Duration::from_secs(s.max(1))
        };
        let cap = |var: &str, file: Option<u32>, default: u32| {
            env(var)
                .and_then(|v| v.parse().ok())
                .or(file)
                .unwrap_or(default)
                .max(1)
        };
        let audit_export = crate::export::config::resolve(fc.audit_export, &env)?;
        let log_format = match env("VIGIL_LOG_FORMAT").filter(|v| !v.is_empty()) {
            Some(v) => v.parse()?,
            None => fc.log_format.unwrap_or_default(),
        };
        let metrics = MetricsConfig::load(fc.metrics, &env)?;
        Ok(Config {
            log_format,
            metrics,
            max_sessions_per_user: cap(
                "VIGIL_MAX_SESSIONS_PER_USER",
                fc.max_sessions_per_user,
                DEFAULT_MAX_SESSIONS_PER_USER,
            ),
            max_live_sessions: cap(
                "VIGIL_MAX_LIVE_SESSIONS",
                fc.max_live_sessions,
                DEFAULT_MAX_LIVE_SESSIONS,
            ),
            bind,
            data_dir: env_path("VIGIL_DATA_DIR")
                .or(fc.data_dir)
                .unwrap_or_else(|| "./data".into()),
            dist_dir: env_path("VIGIL_DIST_DIR")
                .or(fc.dist_dir)
                .unwrap_or_else(|| "./dist".into()),
            public_origin,
            tls,
            session_ttl_minutes: ttl.max(1),
            max_connections: max_connections.max(1),
            header_timeout: secs(
                "VIGIL_HEADER_TIMEOUT_SECS",
                fc.header_timeout_secs,
                DEFAULT_HEADER_TIMEOUT_SECS,
            ),
            idle_timeout: secs(
                "VIGIL_IDLE_TIMEOUT_SECS",
                fc.idle_timeout_secs,
                DEFAULT_IDLE_TIMEOUT_SECS,
            ),
            feed_send_timeout: secs(
                "VIGIL_FEED_SEND_TIMEOUT_SECS",
                fc.feed_send_timeout_secs,
                DEFAULT_FEED_SEND_TIMEOUT_SECS,
            ),
            kiosk_idle: secs(
                "VIGIL_KIOSK_IDLE_SECS",
                fc.kiosk_idle_secs,
                DEFAULT_KIOSK_IDLE_SECS,
            )
            .min(Duration::from_secs(MAX_KIOSK_IDLE_SECS)),
            audit_key_file: env_path("VIGIL_AUDIT_KEY_FILE").or(fc.audit_key_file),
            audit_head_interval: secs(
                "VIGIL_AUDIT_HEAD_INTERVAL_SECS",
                fc.audit_head_interval_secs,
                DEFAULT_AUDIT_HEAD_INTERVAL_SECS,
            ),
            retention: crate::retention::Retention::resolve(fc.retention, &env)?,
            audit_export,
        })
    }

    /// Cookies get `Secure` when the relay is reached over HTTPS.
    pub fn secure_cookies(&self) -> bool {
        self.tls.is_some()
            || self
                .public_origin
                .as_deref()
                .is_some_and(|o| o.starts_with("https://"))
    }

    pub fn db_path(&self) -> PathBuf {
        self.data_dir.join("vigil.db")
    }

    pub fn recordings_dir(&self) -> PathBuf {
        self.data_dir.join("recordings")
    }

    pub fn secret_key_path(&self) -> PathBuf {
        self.data_dir.join("secret.key")
    }

    /// The relay's own origin for a request that arrived with `host`.
    pub fn origin_for_host(&self, host: Option<&str>) -> Option<String> {
        if let Some(o) = &self.public_origin {
            return Some(o.clone());
        }
        let host = host?;
        if host.is_empty() || host.contains(['/', '@', ' ']) {
            return None;
        }
        let scheme = if self.tls.is_some() { "https" } else { "http" };
        Some(format!("{scheme}://{}", host.to_ascii_lowercase()))
    }
}

/// Lower-cases and strips a trailing slash; `None` if it is not a bare origin.
pub fn normalise_origin(o: &str) -> Option<String> {
    let o = o.trim().trim_end_matches('/').to_ascii_lowercase();
    let rest = o
        .strip_prefix("https://")
        .or_else(|| o.strip_prefix("http://"))?;
    if rest.is_empty() || rest.contains(['/', '?', '#', '@']) {
        return None;
    }
    Some(o)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashMap;

    #[test]
    fn defaults_file_and_env_overrides() {
        let dir = tempfile::tempdir().expect("tempdir");
        let file = dir.path().join("vigil.toml");
        std::fs::write(&file, "bind = \"0.0.0.0:9000\"\ndata_dir = \"/var/lib/vigil\"\npublic_origin = \"https://Vigil.example/\"\n")
            .expect("write");
        let none = |_: &str| None;
        let c = Config::load_with(None, none).expect("defaults");
        assert_eq!(c.bind.to_string(), "127.0.0.1:8080");
        assert_eq!(c.data_dir, PathBuf::from("./data"));
        assert!(!c.secure_cookies());
        let c = Config::load_with(Some(&file), none).expect("file");
        assert_eq!(c.bind.to_string(), "0.0.0.0:9000");
        assert_eq!(c.public_origin.as_deref(), Some("https://vigil.example"));
        assert!(c.secure_cookies());
        let env: HashMap<&str, &str> =
            [("VIGIL_BIND", "127.0.0.1:1"), ("VIGIL_DATA_DIR", "/tmp/x")].into();
        let c = Config::load_with(Some(&file), |k| env.get(k).map(|v| v.to_string())).expect("env");
        assert_eq!(c.bind.to_string(), "127.0.0.1:1");
        assert_eq!(c.data_dir, PathBuf::from("/tmp/x"));
        let c = Config::load_with(None, none).expect("defaults");
        assert_eq!(c.max_connections, DEFAULT_MAX_CONNECTIONS);
        assert_eq!(c.header_timeout, Duration::from_secs(10));
        assert_eq!(c.feed_send_timeout, Duration::from_secs(10));
        let env: HashMap<&str, &str> = [
            ("VIGIL_MAX_CONNECTIONS", "7"),
            ("VIGIL_HEADER_TIMEOUT_SECS", "3"),
            ("VIGIL_IDLE_TIMEOUT_SECS", "0"),
            ("VIGIL_FEED_SEND_TIMEOUT_SECS", "2"),
        ]
        .into();
        let c = Config::load_with(None, |k| env.get(k).map(|v| v.to_string())).expect("env");
        assert_eq!(c.max_connections, 7);
        assert_eq!(c.header_timeout, Duration::from_secs(3));
        assert_eq!(c.idle_timeout, Duration::from_secs(1), "at least a second");
        assert_eq!(c.feed_send_timeout, Duration::from_secs(2));
        std::fs::write(&file, "[retention]\nrecordings_days = 30\n").expect("write");
        let c = Config::load_with(Some(&file), none).expect("retention");
        assert_eq!(c.retention.recordings_days, Some(30));
        assert_eq!(c.retention.audit_days, None);
        assert_eq!(c.log_format, LogFormat::Text);
        std::fs::write(
            &file,
            "log_format = \"json\"\n[metrics]\nenabled = false\nallow = [\"10.0.0.0/8\"]\n",
        )
        .expect("write");
        let c = Config::load_with(Some(&file), none).expect("log format and metrics");
        assert_eq!(c.log_format, LogFormat::Json);
        assert!(!c.metrics.enabled);
        assert_eq!(c.metrics.allow.len(), 1);
        let env: HashMap<&str, &str> = [("VIGIL_LOG_FORMAT", "text")].into();
        let c = Config::load_with(Some(&file), |k| env.get(k).map(|v| v.to_string())).expect("env");
        assert_eq!(c.log_format, LogFormat::Text);
        let env: HashMap<&str, &str> = [("VIGIL_LOG_FORMAT", "xml")].into();
        assert!(Config::load_with(None, |k| env.get(k).map(|v| v.to_string())).is_err());
        std::fs::write(&file, "[metrics]\nbogus = 1\n").expect("write");
        assert!(Config::load_with(Some(&file), none).is_err());
        std::fs::write(&file, "nonsense = 1\n").expect("write");
        assert!(Config::load_with(Some(&file), none).is_err());
    }

    #[test]
    fn kiosk_idle_time() {
        let dir = tempfile::tempdir().expect("tempdir");
        let file = dir.path().join("vigil.toml");
        let none = |_: &str| None;
        let c = Config::load_with(None, none).expect("defaults");
        assert_eq!(c.kiosk_idle, Duration::from_secs(DEFAULT_KIOSK_IDLE_SECS));
        std::fs::write(&file, "kiosk_idle_secs = 90\n").expect("write");
        let c = Config::load_with(Some(&file), none).expect("file");
        assert_eq!(c.kiosk_idle, Duration::from_secs(90));
        let env = |k: &str| (k == "VIGIL_KIOSK_IDLE_SECS").then(|| "7".to_string());
        let c = Config::load_with(Some(&file), env).expect("env");
        assert_eq!(c.kiosk_idle, Duration::from_secs(7), "the environment wins");
        let env = |k: &str| (k == "VIGIL_KIOSK_IDLE_SECS").then(|| "0".to_string());
        let c = Config::load_with(None, env).expect("zero");
        assert_eq!(c.kiosk_idle, Duration::from_secs(1), "at least a second");
        let env = |k: &str| (k == "VIGIL_KIOSK_IDLE_SECS").then(|| "999999999".to_string());
        let c = Config::load_with(None, env).expect("huge");
        assert_eq!(
            c.kiosk_idle,
            Duration::from_secs(MAX_KIOSK_IDLE_SECS),
            "at most a day"
        );
    }

    #[test]
    fn audit_export_section() {
        let dir = tempfile::tempdir().expect("tempdir");
        let file = dir.path().join("vigil.toml");
        std::fs::write(
            &file,
            "[audit_export]\nkind = \"webhook\"\n[audit_export.webhook]\nurl = \"https://siem.example/vigil\"\nsecret_file = \"/etc/vigil/webhook.secret\"\n",
        )
        .expect("write");
        let c = Config::load_with(Some(&file), |_| None).expect("file");
        let export = c.audit_export.expect("configured");
        assert!(matches!(
            export.sink,
            crate::export::config::SinkConfig::Webhook(ref w) if w.url == "https://siem.example/vigil"
        ));
        assert_eq!(
            Config::load_with(None, |_| None)
                .expect("none")
                .audit_export,
            None
        );
        let env = |k: &str| (k == "VIGIL_AUDIT_EXPORT_KIND").then(|| "syslog".to_string());
        assert!(
            Config::load_with(None, env).is_err(),
            "syslog without a transport and address"
        );
    }

    #[test]
    fn origins() {
        assert_eq!(
            normalise_origin("http://a:8080"),
            Some("http://a:8080".into())
        );
        assert_eq!(normalise_origin("ftp://a"), None);
        assert_eq!(normalise_origin("https://a/path"), None);
        let c = Config::with_data_dir("d".into());
        assert_eq!(
            c.origin_for_host(Some("Relay:8080")),
            Some("http://relay:8080".into())
        );
        assert_eq!(c.origin_for_host(None), None);
    }
}
