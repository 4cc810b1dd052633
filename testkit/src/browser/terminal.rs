//! xterm screens in the page: reading them and typing into them.

use std::time::{Duration, Instant};

use anyhow::{Context, Result};
use serde_json::json;

use super::Browser;
use crate::{secs, POLL};

impl Browser {
    /// The text on the xterm screen inside `container` (its `.xterm-rows`, one line per
    /// row, non-breaking spaces made plain).
    pub async fn terminal_text(&self, container: &str) -> Result<String> {
        let v = self
            .js(
                "const c = document.querySelector(arguments[0]); if (!c) return null;
                 const r = c.querySelector('.xterm-rows') || c; return r.innerText;",
                vec![json!(container)],
            )
            .await?;
        Ok(v.as_str().unwrap_or_default().replace('\u{a0}', " "))
    }

    /// Waits until the xterm inside `container` shows `needle`; returns the screen.
    pub async fn wait_terminal(
        &self,
        container: &str,
        needle: &str,
        timeout: Duration,
    ) -> Result<String> {
        let deadline = Instant::now() + timeout;
        loop {
            let screen = self.terminal_text(container).await.unwrap_or_default();
            if screen.contains(needle) {
                return Ok(screen);
            }
            if Instant::now() >= deadline {
                return Err(self
                    .fail(format!("timed out after {timeout:?} waiting for {needle:?} in `{container}`; screen:\n{screen}"))
                    .await);
            }
            tokio::time::sleep(POLL).await;
        }
    }

    /// Types `text` into the xterm inside `container` (through its hidden textarea, as a
    /// keyboard would). `\n` is sent as the Enter key.
    pub async fn type_terminal(&self, container: &str, text: &str) -> Result<()> {
        let area_css = format!("{container} .xterm-helper-textarea");
        let area = self.wait_for(&area_css, secs(10.0)).await?;
        let keys: String = text
            .chars()
            .map(|c| {
                if c == '\n' {
                    char::from(fantoccini::key::Key::Enter)
                } else {
                    c
                }
            })
            .collect();
        area.send_keys(&keys)
            .await
            .with_context(|| format!("{}: type into {container}", self.name))?;
        Ok(())
    }
}
