//! The `[audit_export]` settings: one sink per deployment, syslog or an HTTPS webhook.
//! Every scalar key may be overridden by a `VIGIL_AUDIT_EXPORT_*` variable (the export is
//! switched on by `kind`, from the file or `VIGIL_AUDIT_EXPORT_KIND`).

use std::path::PathBuf;

use serde::de::DeserializeOwned;
use serde::Deserialize;

/// `[audit_export]` as written in the file: every key optional, so that the environment
/// may fill it in; [`resolve`] checks what is required.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AuditExportFile {
    kind: Option<SinkKind>,
    batch_size: Option<usize>,
    backlog_warn: Option<u64>,
    syslog: Option<SyslogFile>,
    webhook: Option<WebhookFile>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct SyslogFile {
    transport: Option<Transport>,
    address: Option<String>,
    ca_file: Option<PathBuf>,
    server_name: Option<String>,
    facility: Option<Facility>,
    hostname: Option<String>,
    enterprise_id: Option<u32>,
    max_datagram: Option<usize>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct WebhookFile {
    url: Option<String>,
    secret_file: Option<PathBuf>,
    ca_file: Option<PathBuf>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum SinkKind {
    Syslog,
    Webhook,
}

/// How syslog messages travel.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Transport {
    /// RFC 5426: one datagram per entry, no acknowledgement.
    Udp,
    /// RFC 6587 octet counting over TCP.
    Tcp,
    /// RFC 5425: octet counting over TLS.
    Tls,
}

/// The syslog facility (RFC 5424, table 1).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Facility {
    Kern,
    User,
    Mail,
    Daemon,
    Auth,
    Syslog,
    Lpr,
    News,
    Uucp,
    Cron,
    Authpriv,
    Ftp,
    Local0,
    Local1,
    Local2,
    Local3,
    Local4,
    Local5,
    Local6,
    Local7,
}

impl Facility {
    /// Its number.
    pub fn code(self) -> u8 {
        match self {
            Facility::Kern => 0,
            Facility::User => 1,
            Facility::Mail => 2,
            Facility::Daemon => 3,
            Facility::Auth => 4,
            Facility::Syslog => 5,
            Facility::Lpr => 6,
            Facility::News => 7,
            Facility::Uucp => 8,
            Facility::Cron => 9,
            Facility::Authpriv => 10,
            Facility::Ftp => 11,
            Facility::Local0 => 16,
            Facility::Local1 => 17,
            Facility::Local2 => 18,
            Facility::Local3 => 19,
            Facility::Local4 => 20,
            Facility::Local5 => 21,
            Facility::Local6 => 22,
            Facility::Local7 => 23,
        }
    }
}

pub const DEFAULT_BATCH_SIZE: usize = 100;
pub const DEFAULT_BACKLOG_WARN: u64 = 10_000;
/// The private enterprise number reserved for documentation (RFC 5612).
pub const DEFAULT_ENTERPRISE_ID: u32 = 32473;
/// rsyslog's default largest message; RFC 5426 receivers need only take 480 octets.
pub const DEFAULT_MAX_DATAGRAM: usize = 8192;

/// The export, resolved: one sink and how it is fed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AuditExport {
    pub sink: SinkConfig,
    /// Entries per delivery (a webhook POST, a burst of syslog messages).
    pub batch_size: usize,
    /// A backlog (head seq minus the sink's cursor) above this is logged as a warning.
    pub backlog_warn: u64,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SinkConfig {
    Syslog(SyslogConfig),
    Webhook(WebhookConfig),
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SyslogConfig {
    pub transport: Transport,
    /// `host:port`.
    pub address: String,
    /// The CA that signs the server's certificate (TLS); absent: the system's roots.
    pub ca_file: Option<PathBuf>,
    /// The name the server's certificate must carry (TLS); absent: the address's host.
    pub server_name: Option<String>,
    pub facility: Facility,
    /// HOSTNAME of the messages; absent: this machine's name.
    pub hostname: Option<String>,
    /// The SD-ID is `vigil@<enterprise_id>`.
    pub enterprise_id: u32,
    /// UDP only: a message longer than this is sent without its JSON body.
    pub max_datagram: usize,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WebhookConfig {
    /// An `https://` URL.
    pub url: String,
    /// A file holding the HMAC secret (its surrounding whitespace ignored).
    pub secret_file: PathBuf,
    /// The CA that signs the receiver's certificate; absent: the system's roots.
    pub ca_file: Option<PathBuf>,
}

#[derive(Debug, thiserror::Error)]
pub enum AuditExportError {
    #[error("audit_export: `kind` must be set (\"syslog\" or \"webhook\") when other audit_export keys are")]
    NoKind,
    #[error("audit_export: `{0}` is required")]
    Missing(&'static str),
    #[error("audit_export: `{key}`: {reason}")]
    Invalid { key: &'static str, reason: String },
    #[error("audit_export: [audit_export.{0}] does not apply to kind = \"{1}\"")]
    OtherSink(&'static str, &'static str),
}

/// Reads `[audit_export]` (if any) with the `VIGIL_AUDIT_EXPORT_*` overrides from `env`.
/// `None`: no export.
pub fn resolve(
    file: Option<AuditExportFile>,
    env: &dyn Fn(&str) -> Option<String>,
) -> Result<Option<AuditExport>, AuditExportError> {
    let present = file.is_some();
    let f = file.unwrap_or_default();
    let var = |k: &str| env(k).filter(|v| !v.is_empty());
    let kind: Option<SinkKind> = over(var, "VIGIL_AUDIT_EXPORT_KIND", "kind", f.kind)?;
    let Some(kind) = kind else {
        return if present {
            Err(AuditExportError::NoKind)
        } else {
            Ok(None)
        };
    };
    let batch_size: usize = over(
        var,
        "VIGIL_AUDIT_EXPORT_BATCH_SIZE",
        "batch_size",
        f.batch_size,
    )?
    .unwrap_or(DEFAULT_BATCH_SIZE)
    .clamp(1, 10_000);
    let backlog_warn = over(
        var,
        "VIGIL_AUDIT_EXPORT_BACKLOG_WARN",
        "backlog_warn",
        f.backlog_warn,
    )?
    .unwrap_or(DEFAULT_BACKLOG_WARN)
    .max(1);
    let sink = match kind {
        SinkKind::Syslog => {
            if f.webhook.is_some() {
                return Err(AuditExportError::OtherSink("webhook", "syslog"));
            }
            SinkConfig::Syslog(syslog(f.syslog.unwrap_or_default(), var)?)
        }
        SinkKind::Webhook => {
            if f.syslog.is_some() {
                return Err(AuditExportError::OtherSink("syslog", "webhook"));
            }
            SinkConfig::Webhook(webhook(f.webhook.unwrap_or_default(), var)?)
        }
    };
    Ok(Some(AuditExport {
        sink,
        batch_size,
        backlog_warn,
    }))
}

fn syslog(
    f: SyslogFile,
    var: impl Fn(&str) -> Option<String> + Copy,
) -> Result<SyslogConfig, AuditExportError> {
    const P: &str = "VIGIL_AUDIT_EXPORT_SYSLOG_";
    let transport = over(
        var,
        &format!("{P}TRANSPORT"),
        "syslog.transport",
        f.transport,
    )?
    .ok_or(AuditExportError::Missing("syslog.transport"))?;
    let address = var(&format!("{P}ADDRESS"))
        .or(f.address)
        .ok_or(AuditExportError::Missing("syslog.address"))?;
    if !address.contains(':') {
        return Err(AuditExportError::Invalid {
            key: "syslog.address",
            reason: format!("`{address}` is not host:port"),
        });
    }
    Ok(SyslogConfig {
        transport,
        address,
        ca_file: var(&format!("{P}CA_FILE")).map(PathBuf::from).or(f.ca_file),
        server_name: var(&format!("{P}SERVER_NAME")).or(f.server_name),
        facility: over(var, &format!("{P}FACILITY"), "syslog.facility", f.facility)?
            .unwrap_or(Facility::Authpriv),
        hostname: var(&format!("{P}HOSTNAME")).or(f.hostname),
        enterprise_id: over(
            var,
            &format!("{P}ENTERPRISE_ID"),
            "syslog.enterprise_id",
            f.enterprise_id,
        )?
        .unwrap_or(DEFAULT_ENTERPRISE_ID),
        max_datagram: over(
            var,
            &format!("{P}MAX_DATAGRAM"),
            "syslog.max_datagram",
            f.max_datagram,
        )?
        .unwrap_or(DEFAULT_MAX_DATAGRAM)
        .clamp(480, 65_000),
    })
}

fn webhook(
    f: WebhookFile,
    var: impl Fn(&str) -> Option<String> + Copy,
) -> Result<WebhookConfig, AuditExportError> {
    const P: &str = "VIGIL_AUDIT_EXPORT_WEBHOOK_";
    let url = var(&format!("{P}URL"))
        .or(f.url)
        .ok_or(AuditExportError::Missing("webhook.url"))?;
    if !url.starts_with("https://") {
        return Err(AuditExportError::Invalid {
            key: "webhook.url",
            reason: format!("`{url}` is not an https:// URL"),
        });
    }
    Ok(WebhookConfig {
        url,
        secret_file: var(&format!("{P}SECRET_FILE"))
            .map(PathBuf::from)
            .or(f.secret_file)
            .ok_or(AuditExportError::Missing("webhook.secret_file"))?,
        ca_file: var(&format!("{P}CA_FILE")).map(PathBuf::from).or(f.ca_file),
    })
}

/// The environment's value of `name` (read as the file would read it) over `file`'s.
fn over<T: DeserializeOwned>(
    var: impl Fn(&str) -> Option<String>,
    name: &str,
    key: &'static str,
    file: Option<T>,
) -> Result<Option<T>, AuditExportError> {
    let Some(v) = var(name) else {
        return Ok(file);
    };
    // Numbers as numbers, everything else as a string: the same reading as the file's.
    let value = match v.parse::<i64>() {
        Ok(n) => toml::Value::Integer(n),
        Err(_) => toml::Value::String(v),
    };
    value
        .try_into()
        .map(Some)
        .map_err(|e: toml::de::Error| AuditExportError::Invalid {
            key,
            reason: format!("{name}: {}", e.message()),
        })
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashMap;

    fn parse(text: &str) -> AuditExportFile {
        #[derive(Deserialize)]
        struct Top {
            audit_export: AuditExportFile,
        }
        toml::from_str::<Top>(text).expect("toml").audit_export
    }

    #[test]
    fn syslog_over_tls_from_the_file() {
        let f = parse(
            "[audit_export]\nkind = \"syslog\"\nbatch_size = 50\n[audit_export.syslog]\ntransport = \"tls\"\naddress = \"siem:6514\"\nca_file = \"/etc/ca.pem\"\nserver_name = \"siem.example\"\nfacility = \"local4\"\n",
        );
        let c = resolve(Some(f), &|_| None).expect("ok").expect("on");
        assert_eq!(c.batch_size, 50);
        assert_eq!(c.backlog_warn, DEFAULT_BACKLOG_WARN);
        let SinkConfig::Syslog(s) = c.sink else {
            panic!("syslog expected")
        };
        assert_eq!(s.transport, Transport::Tls);
        assert_eq!(s.address, "siem:6514");
        assert_eq!(s.facility.code(), 20);
        assert_eq!(s.server_name.as_deref(), Some("siem.example"));
        assert_eq!(s.enterprise_id, 32473);
    }

    #[test]
    fn defaults_env_overrides_and_refusals() {
        assert_eq!(
            resolve(None, &|_| None).expect("ok"),
            None,
            "off by default"
        );
        let env: HashMap<&str, &str> = [
            ("VIGIL_AUDIT_EXPORT_KIND", "syslog"),
            ("VIGIL_AUDIT_EXPORT_SYSLOG_TRANSPORT", "udp"),
            ("VIGIL_AUDIT_EXPORT_SYSLOG_ADDRESS", "127.0.0.1:514"),
            ("VIGIL_AUDIT_EXPORT_BATCH_SIZE", "7"),
        ]
        .into();
        let get = |k: &str| env.get(k).map(|v| v.to_string());
        let c = resolve(None, &get).expect("ok").expect("on");
        assert_eq!(c.batch_size, 7);
        let SinkConfig::Syslog(s) = c.sink else {
            panic!("syslog expected")
        };
        assert_eq!(s.facility, Facility::Authpriv, "the default facility");
        assert_eq!(s.max_datagram, DEFAULT_MAX_DATAGRAM);

        let f = parse("[audit_export]\nkind = \"webhook\"\n[audit_export.webhook]\nurl = \"https://siem/in\"\nsecret_file = \"/etc/s\"\n");
        let env = |k: &str| {
            (k == "VIGIL_AUDIT_EXPORT_WEBHOOK_URL").then(|| "https://other/in".to_string())
        };
        let c = resolve(Some(f), &env).expect("ok").expect("on");
        assert_eq!(
            c.sink,
            SinkConfig::Webhook(WebhookConfig {
                url: "https://other/in".into(),
                secret_file: "/etc/s".into(),
                ca_file: None
            })
        );

        let bad = [
            "[audit_export]\nbatch_size = 3\n",
            "[audit_export]\nkind = \"webhook\"\n[audit_export.webhook]\nurl = \"http://plain/in\"\nsecret_file = \"/s\"\n",
            "[audit_export]\nkind = \"syslog\"\n[audit_export.syslog]\ntransport = \"udp\"\n",
            "[audit_export]\nkind = \"syslog\"\n[audit_export.syslog]\ntransport = \"udp\"\naddress = \"a:1\"\n[audit_export.webhook]\nurl = \"https://a\"\n",
        ];
        for text in bad {
            assert!(resolve(Some(parse(text)), &|_| None).is_err(), "{text}");
        }
        let env = |k: &str| (k == "VIGIL_AUDIT_EXPORT_KIND").then(|| "carrier-pigeon".to_string());
        assert!(resolve(None, &env).is_err());
        #[derive(Deserialize)]
        #[allow(dead_code)]
        struct Top {
            audit_export: AuditExportFile,
        }
        assert!(
            toml::from_str::<Top>("[audit_export]\nkind = \"syslog\"\nnonsense = 1\n").is_err(),
            "unknown keys are refused"
        );
    }
}
