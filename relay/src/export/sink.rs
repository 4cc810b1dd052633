//! A configured sink, opened: syslog ([`super::transport`]) or the webhook
//! ([`super::webhook`]), behind one `deliver` that either has the sink accept a whole
//! batch or fails (and the batch is delivered again later).

use vigil_wire::audit::AuditEntry;

use super::config::{SinkConfig, Transport};
use super::transport::SyslogSink;
use super::webhook::WebhookSink;

/// Why a sink cannot be set up (the relay refuses to start).
#[derive(Debug, thiserror::Error)]
pub enum SetupError {
    #[error("audit_export: CA file {path}: {reason}")]
    Ca { path: String, reason: String },
    #[error("audit_export: no usable system root certificate; set ca_file")]
    NoSystemRoots,
    #[error("audit_export: TLS settings: {0}")]
    Tls(#[from] tokio_rustls::rustls::Error),
    #[error("audit_export: `{0}` is not a valid TLS server name")]
    ServerName(String),
    #[error("audit_export: webhook secret file {path}: {reason}")]
    Secret { path: String, reason: String },
    #[error("audit_export: webhook client: {0}")]
    Client(String),
}

/// Why a batch was not accepted (it is tried again).
#[derive(Debug, thiserror::Error)]
pub enum SinkError {
    #[error("cannot reach {address}: {source}")]
    Connect {
        address: String,
        source: std::io::Error,
    },
    #[error("{address} resolves to no address")]
    Unresolved { address: String },
    #[error("TLS handshake with {address}: {source}")]
    Handshake {
        address: String,
        source: std::io::Error,
    },
    #[error("sending to {address}: {source}")]
    Send {
        address: String,
        source: std::io::Error,
    },
    #[error("{address} did not answer within {secs} s")]
    Timeout { address: String, secs: u64 },
    #[error("webhook request failed: {0}")]
    Request(String),
    #[error("webhook answered {0}")]
    Status(u16),
}

pub enum Sink {
    Syslog(SyslogSink),
    Webhook(WebhookSink),
}

impl Sink {
    /// Reads what the sink needs (CA file, secret) and builds its client; connects later.
    pub fn open(config: &SinkConfig) -> Result<Sink, SetupError> {
        Ok(match config {
            SinkConfig::Syslog(c) => Sink::Syslog(SyslogSink::new(c)?),
            SinkConfig::Webhook(c) => Sink::Webhook(WebhookSink::new(c)?),
        })
    }

    /// The cursor's key: the kind, transport and destination. Another destination is
    /// another sink, which starts from the oldest entry in the log.
    pub fn key(config: &SinkConfig) -> String {
        match config {
            SinkConfig::Syslog(c) => {
                let t = match c.transport {
                    Transport::Udp => "udp",
                    Transport::Tcp => "tcp",
                    Transport::Tls => "tls",
                };
                format!("syslog+{t}://{}", c.address)
            }
            SinkConfig::Webhook(c) => format!("webhook+{}", c.url),
        }
    }

    /// Has the sink accept `entries` (in seq order), or fails.
    pub async fn deliver(&mut self, entries: &[AuditEntry]) -> Result<(), SinkError> {
        match self {
            Sink::Syslog(s) => s.deliver(entries).await,
            Sink::Webhook(w) => w.deliver(entries).await,
        }
    }
}
