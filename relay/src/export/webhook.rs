//! The HTTPS webhook: each batch is one POST of an [`AuditExportBatch`] (JSON), signed
//! ([`super::signature`]); any 2xx answer accepts it, anything else (or no answer within
//! the timeout) leaves it to be sent again.

use std::time::Duration;

use vigil_hub::Secret;
use vigil_wire::audit::{AuditEntry, AuditExportBatch};

use super::config::WebhookConfig;
use super::signature::{self, SIGNATURE_HEADER, TIMESTAMP_HEADER};
use super::sink::{SetupError, SinkError};

const TIMEOUT: Duration = Duration::from_secs(10);

pub struct WebhookSink {
    client: reqwest::Client,
    url: String,
    secret: Secret,
}

impl WebhookSink {
    pub fn new(c: &WebhookConfig) -> Result<WebhookSink, SetupError> {
        let secret = read_secret(&c.secret_file)?;
        let tls = super::tls::client_config(c.ca_file.as_deref(), &[b"http/1.1"])?;
        let client = reqwest::Client::builder()
            .use_preconfigured_tls(tls)
            .https_only(true)
            .timeout(TIMEOUT)
            .connect_timeout(TIMEOUT)
            .redirect(reqwest::redirect::Policy::none())
            .user_agent(concat!("vigil/", env!("CARGO_PKG_VERSION")))
            .build()
            .map_err(|e| SetupError::Client(e.to_string()))?;
        Ok(WebhookSink {
            client,
            url: c.url.clone(),
            secret,
        })
    }

    pub async fn deliver(&mut self, entries: &[AuditEntry]) -> Result<(), SinkError> {
        let batch = AuditExportBatch {
            entries: entries.to_vec(),
        };
        let body = serde_json::to_vec(&batch).map_err(|e| SinkError::Request(e.to_string()))?;
        let timestamp = (crate::store::now_ms() / 1000).to_string();
        let sig = signature::sign(self.secret.expose().as_bytes(), &timestamp, &body);
        let resp = self
            .client
            .post(&self.url)
            .header(reqwest::header::CONTENT_TYPE, "application/json")
            .header(TIMESTAMP_HEADER, timestamp)
            .header(SIGNATURE_HEADER, sig)
            .body(body)
            .send()
            .await
            .map_err(|e| SinkError::Request(describe(&e)))?;
        let status = resp.status();
        if status.is_success() {
            Ok(())
        } else {
            Err(SinkError::Status(status.as_u16()))
        }
    }
}

/// The secret file's content, its surrounding whitespace ignored; empty is refused.
fn read_secret(path: &std::path::Path) -> Result<Secret, SetupError> {
    let bad = |reason: String| SetupError::Secret {
        path: path.display().to_string(),
        reason,
    };
    let text = std::fs::read_to_string(path).map_err(|e| bad(e.to_string()))?;
    let secret = text.trim();
    if secret.is_empty() {
        return Err(bad("it is empty".into()));
    }
    Ok(Secret::new(secret))
}

/// reqwest's error with its causes (the TLS or connection failure behind it).
fn describe(e: &reqwest::Error) -> String {
    let mut text = e.to_string();
    let mut source = std::error::Error::source(e);
    while let Some(s) = source {
        text.push_str(": ");
        text.push_str(&s.to_string());
        source = s.source();
    }
    text
}
