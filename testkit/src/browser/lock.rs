//! What a locked user's page shows: the product's lock message, word for word.

use anyhow::Result;
use vigil_wire::{RDP_LOCK_MESSAGE, SSH_LOCK_MESSAGE};

use super::Browser;
use crate::{secs, tid};

/// Where this browser's session shows its lock.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LockShown {
    /// The SSH lock message in the lock banner and in the terminal itself.
    Terminal,
    /// The RDP lock message over the desktop (`lock-overlay`).
    Desktop,
}

impl Browser {
    /// Waits (5 s) until the user's page shows the lock message of `shown`; returns the
    /// banner's or overlay's text.
    pub async fn wait_lock_shown(&self, shown: LockShown) -> Result<String> {
        let what = "to carry the lock message";
        match shown {
            LockShown::Terminal => {
                let banner = self
                    .wait_text(&tid("lock-banner"), what, secs(5.0), |t| {
                        t.contains(SSH_LOCK_MESSAGE)
                    })
                    .await?;
                self.wait_terminal(&tid("terminal"), SSH_LOCK_MESSAGE, secs(5.0))
                    .await?;
                Ok(banner)
            }
            LockShown::Desktop => {
                self.wait_text(&tid("lock-overlay"), what, secs(5.0), |t| {
                    t.trim() == RDP_LOCK_MESSAGE
                })
                .await
            }
        }
    }
}
