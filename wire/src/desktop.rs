//! The desktop (RDP) part of the protocol.
//!
//! The relay connects to the RDP target and normalises its graphics to fast-path PDUs;
//! browsers decode those themselves with IronRDP's fast-path processor, built from the
//! plain values in [`DesktopParams`]. Input travels as typed [`InputEvent`]s, which the
//! relay gates (Lock) and encodes for the server: no browser byte goes upstream as is.

use serde::{Deserialize, Serialize};

/// What a browser needs to build its fast-path decoder. Sent on activation, to every
/// joiner, and again after a server reactivation (the browser then rebuilds its decoder).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct DesktopParams {
    pub io_channel_id: u16,
    pub user_channel_id: u16,
    pub share_id: u32,
    pub width: u16,
    pub height: u16,
}

/// One input event from the user's browser.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum InputEvent {
    /// A key by its PC/AT set-1 scancode. `key_text` is what the key produced in the
    /// browser's layout (`a`, `Enter`); it is only logged, never sent to the target.
    Key {
        scancode: u8,
        extended: bool,
        down: bool,
        key_text: Option<String>,
    },
    MouseMove {
        x: u16,
        y: u16,
    },
    /// `button` uses the DOM numbering: 0 left, 1 middle, 2 right, 3 back, 4 forward.
    MouseButton {
        button: u8,
        down: bool,
    },
    /// Wheel rotation in RDP units (120 per notch); positive is away from the user / right.
    Wheel {
        delta: i16,
        horizontal: bool,
    },
    /// The user's page lost focus: the relay releases every key and button still held.
    ReleaseAll,
}

/// Readable and raw forms of a key event, for the Keystrokes panel.
pub fn describe_key(
    scancode: u8,
    extended: bool,
    down: bool,
    key_text: Option<&str>,
) -> (String, String) {
    let raw = format!(
        "{}{:02x} {}",
        if extended { "e0 " } else { "" },
        scancode,
        if down { "down" } else { "up" }
    );
    let name = match key_text {
        Some(" ") => "Space".to_string(),
        Some(t) if !t.is_empty() => t.to_string(),
        _ => format!(
            "Scancode {}{scancode:#04x}",
            if extended { "E0 " } else { "" }
        ),
    };
    (name, raw)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn key_descriptions() {
        assert_eq!(
            describe_key(0x1e, false, true, Some("a")),
            ("a".into(), "1e down".into())
        );
        assert_eq!(
            describe_key(0x48, true, false, None),
            ("Scancode E0 0x48".into(), "e0 48 up".into())
        );
        assert_eq!(describe_key(0x39, false, true, Some(" ")).0, "Space");
    }

    #[test]
    fn input_events_have_a_stable_json_form() {
        let e = InputEvent::Key {
            scancode: 0x1c,
            extended: false,
            down: true,
            key_text: Some("Enter".into()),
        };
        let json = serde_json::to_string(&e).unwrap_or_default();
        assert_eq!(
            json,
            r#"{"type":"key","scancode":28,"extended":false,"down":true,"key_text":"Enter"}"#
        );
        assert_eq!(serde_json::from_str::<InputEvent>(&json).ok(), Some(e));
    }
}
