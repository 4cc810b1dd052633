//! Targets for the tests: the project's real servers on loopback, started by its own
//! scripts under `scripts/targets/` ([`sshd`], [`rdp`]), and hostile fakes served from the
//! test process ([`fake_ssh`], [`fake_rdp`]: floods, garbage, stalls, half packets, a huge
//! desktop, endless fragments; [`fake_net`] is their loopback plumbing).

use std::path::PathBuf;

pub mod fake_net;
pub mod fake_rdp;
pub mod fake_ssh;
pub mod rdp;
pub mod sshd;

/// The sshd account that logs in with a password, as `start-ssh.sh` creates it by default.
pub const SSH_PASSWORD_ACCOUNT: &str = "gwpass";
/// Its password.
pub const SSH_PASSWORD: &str = "gwpass-Secret1";
/// The sshd account that logs in with a key only.
pub const SSH_KEY_ACCOUNT: &str = "gwkey";
/// The RDP account `start-xrdp.sh` and `start-shadow.sh` create by default.
pub const RDP_ACCOUNT: &str = "gwrdp";
/// Its password.
pub const RDP_PASSWORD: &str = "gwrdp-Secret1";

/// `scripts/targets/` of the workspace.
pub fn scripts_dir() -> PathBuf {
    crate::workspace_root().join("scripts").join("targets")
}
