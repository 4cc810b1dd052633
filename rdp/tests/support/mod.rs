//! Shared by the integration tests: real target servers started by Vigil's own scripts, and a
//! session pump that plays the relay and a primary browser around `vigil_rdp`.
#![allow(dead_code)] // each test binary uses a different subset

pub mod checks;
pub mod connection;

pub use vigil_testkit::targets::rdp::StartedRdp as Server;
pub use vigil_testkit::targets::{RDP_ACCOUNT as USER, RDP_PASSWORD as PASSWORD};
pub use vigil_testkit::unique_word;

/// The connection target of a started server, for the scripts' account.
pub fn target(server: &Server, password: &str) -> vigil_rdp::Target {
    vigil_rdp::Target {
        host: "127.0.0.1".into(),
        port: server.port,
        username: USER.into(),
        password: vigil_secret::Secret::new(password),
        domain: None,
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
