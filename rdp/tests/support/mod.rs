//! Shared by the integration tests: real target servers started by Vigil's own scripts, and a
//! session pump that plays the relay and a primary browser around `vigil_rdp`.
#![allow(dead_code)] // each test binary uses a different subset

pub mod checks;
pub mod connection;

use std::net::TcpListener;
use std::path::PathBuf;
use std::process::Command;

pub const USER: &str = "gwrdp";
pub const PASSWORD: &str = "gwrdp-Secret1";

/// A target started by `scripts/targets/start-<kind>.sh` on a free loopback port, stopped by
/// its PID-based stop script when dropped (also when the test panics).
pub struct Server {
    kind: &'static str,
    pub port: u16,
    pub dir: PathBuf,
}

fn scripts() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../scripts/targets")
}

pub fn free_port() -> u16 {
    let l = TcpListener::bind("127.0.0.1:0").expect("bind");
    l.local_addr().expect("addr").port()
}

impl Server {
    /// `kind` is "xrdp" or "shadow".
    pub fn start(kind: &'static str) -> Self {
        let port = free_port();
        let dir =
            std::env::temp_dir().join(format!("vigil-rdp-test-{}-{kind}", std::process::id()));
        let port_var = if kind == "xrdp" {
            "XRDP_PORT"
        } else {
            "SHADOW_PORT"
        };
        let server = Self { kind, port, dir };
        let out = Command::new(scripts().join(format!("start-{kind}.sh")))
            .env("VIGIL_TARGETS_DIR", &server.dir)
            .env(port_var, port.to_string())
            .output()
            .expect("run start script");
        assert!(
            out.status.success(),
            "start-{kind}.sh failed:\n{}\n{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
        println!("{}", String::from_utf8_lossy(&out.stdout).trim());
        server
    }

    pub fn typed_file(&self) -> PathBuf {
        self.dir.join(self.kind).join("typed.txt")
    }

    pub fn typed(&self) -> String {
        std::fs::read_to_string(self.typed_file()).unwrap_or_default()
    }

    pub fn target(&self, password: &str) -> vigil_rdp::Target {
        vigil_rdp::Target {
            host: "127.0.0.1".into(),
            port: self.port,
            username: USER.into(),
            password: vigil_secret::Secret::new(password),
            domain: None,
        }
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        let out = Command::new(scripts().join(format!("stop-{}.sh", self.kind)))
            .env("VIGIL_TARGETS_DIR", &self.dir)
            .output();
        match out {
            Ok(o) if o.status.success() => println!("stopped {}", self.kind),
            other => eprintln!("stop-{}.sh: {other:?}", self.kind),
        }
    }
}

/// US-layout scancodes for lowercase letters and digits (enough for test words).
pub fn scancode(c: char) -> Option<u8> {
    let row = |s: &str, base: u8| {
        s.find(c)
            .and_then(|i| u8::try_from(i).ok())
            .map(|i| base + i)
    };
    row("qwertyuiop", 0x10)
        .or_else(|| row("asdfghjkl", 0x1e))
        .or_else(|| row("zxcvbnm", 0x2c))
        .or_else(|| row("1234567890", 0x02))
}

/// Key events typing `word` and Enter.
pub fn typing(word: &str) -> Vec<vigil_rdp::InputEvent> {
    let mut events = Vec::new();
    for (c, sc) in word
        .chars()
        .filter_map(|c| scancode(c).map(|s| (c.to_string(), s)))
        .chain([("Enter".to_string(), 0x1c)])
    {
        for down in [true, false] {
            events.push(vigil_rdp::InputEvent::Key {
                scancode: sc,
                extended: false,
                down,
                key_text: Some(c.clone()),
            });
        }
    }
    events
}

/// A word unlikely to be in the typed file already.
pub fn unique_word(prefix: &str) -> String {
    let n = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.subsec_nanos())
        .unwrap_or(0);
    // Letters only: digits would do, but letters exercise more scancodes.
    let tail: String = format!("{n:08}")
        .chars()
        .map(|d| (b'a' + (d as u8 - b'0')) as char)
        .collect();
    format!("{prefix}{tail}")
}
