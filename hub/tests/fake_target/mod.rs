//! The launch spec of an SSH session on the test harness's fake sshd (`fake_ssh`), which
//! takes any login. Shared by the hub tests that run against it.

use vigil_hub::{LaunchSpec, Secret, SshAuth, SshTarget, Target};

/// Session `id` on the fake sshd at `port`, 80×24.
pub fn ssh_spec(id: &str, port: u16) -> LaunchSpec {
    LaunchSpec {
        session_id: id.into(),
        target: Target::Ssh(SshTarget {
            host: "127.0.0.1".into(),
            port,
            username: "anyone".into(),
            auth: SshAuth::Password(Secret::new("anything")),
            pinned_host_key: None,
        }),
        cols: 80,
        rows: 24,
        title: format!("test@{id}"),
    }
}
