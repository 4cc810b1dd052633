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
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct DesktopParams {
    pub io_channel_id: u16,
    pub user_channel_id: u16,
    pub share_id: u32,
    pub width: u16,
    pub height: u16,
}

/// One input event from the user's browser.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum InputEvent {
    /// A key by its PC/AT set-1 scancode. `key_text` is what the key produced in the
    /// browser's layout (`a`, `Enter`): a hint only. It is never sent to the target, and the
    /// keystroke log's text is derived at the relay from the scancodes and the session's
    /// [`KeyboardLayout`]; a hint that disagrees is kept beside it as
    /// [`crate::api::Keystroke::browser_text`].
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

/// The raw form of a key event for the Keystrokes panel: scancode (hex) and direction.
/// The readable form is derived at the relay (`vigil_rdp::keymap`), never taken from the
/// browser.
pub fn raw_key(scancode: u8, extended: bool, down: bool) -> String {
    format!(
        "{}{:02x} {}",
        if extended { "e0 " } else { "" },
        scancode,
        if down { "down" } else { "up" }
    )
}

/// The keyboard layout of a user's desktop sessions: announced to the RDP server at
/// connect (`keyboard_layout`, a Windows keyboard layout id) and used by the relay to read
/// the scancodes it forwards as text. Serialised as its language tag (`en-US`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub enum KeyboardLayout {
    /// US English, 0x409 (the default).
    #[default]
    #[serde(rename = "en-US")]
    EnUs,
    /// United Kingdom, 0x809.
    #[serde(rename = "en-GB")]
    EnGb,
    /// German, 0x407 (QWERTZ).
    #[serde(rename = "de-DE")]
    DeDe,
    /// French, 0x40C (AZERTY).
    #[serde(rename = "fr-FR")]
    FrFr,
}

/// A layout name or id that is not one Vigil supports.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("unsupported keyboard layout `{0}` (supported: en-US, en-GB, de-DE, fr-FR, or their ids 0x409, 0x809, 0x407, 0x40c)")]
pub struct UnsupportedLayout(pub String);

impl KeyboardLayout {
    /// Every supported layout.
    pub const ALL: [KeyboardLayout; 4] = [Self::EnUs, Self::EnGb, Self::DeDe, Self::FrFr];

    /// The Windows keyboard layout id announced to the server (and stored per user).
    pub fn id(self) -> u32 {
        match self {
            Self::EnUs => 0x409,
            Self::EnGb => 0x809,
            Self::DeDe => 0x407,
            Self::FrFr => 0x40c,
        }
    }

    /// The language tag (`en-US`), as serialised.
    pub fn tag(self) -> &'static str {
        match self {
            Self::EnUs => "en-US",
            Self::EnGb => "en-GB",
            Self::DeDe => "de-DE",
            Self::FrFr => "fr-FR",
        }
    }

    /// The supported layout with this id.
    pub fn from_id(id: u32) -> Option<Self> {
        Self::ALL.into_iter().find(|l| l.id() == id)
    }
}

impl std::fmt::Display for KeyboardLayout {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{} ({:#05x})", self.tag(), self.id())
    }
}

/// A language tag (any case: `de-DE`, `de-de`) or a hexadecimal id (`0x407`, `00000407`).
impl std::str::FromStr for KeyboardLayout {
    type Err = UnsupportedLayout;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let t = s.trim();
        if let Some(l) = Self::ALL
            .into_iter()
            .find(|l| l.tag().eq_ignore_ascii_case(t))
        {
            return Ok(l);
        }
        let hex = t
            .strip_prefix("0x")
            .or_else(|| t.strip_prefix("0X"))
            .unwrap_or(t);
        u32::from_str_radix(hex, 16)
            .ok()
            .filter(|_| {
                !hex.is_empty() && hex.len() <= 8 && hex.bytes().all(|b| b.is_ascii_hexdigit())
            })
            .and_then(Self::from_id)
            .ok_or_else(|| UnsupportedLayout(s.chars().take(40).collect()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn raw_key_forms() {
        assert_eq!(raw_key(0x1e, false, true), "1e down");
        assert_eq!(raw_key(0x48, true, false), "e0 48 up");
    }

    #[test]
    fn layouts_parse_by_tag_or_id_and_nothing_else() {
        for l in KeyboardLayout::ALL {
            assert_eq!(l.tag().parse::<KeyboardLayout>(), Ok(l));
            assert_eq!(format!("{:#x}", l.id()).parse::<KeyboardLayout>(), Ok(l));
            assert_eq!(KeyboardLayout::from_id(l.id()), Some(l));
            let json = serde_json::to_string(&l).unwrap_or_default();
            assert_eq!(json, format!("\"{}\"", l.tag()));
        }
        assert_eq!("de-de".parse(), Ok(KeyboardLayout::DeDe));
        assert_eq!("0000040C".parse(), Ok(KeyboardLayout::FrFr));
        for bad in [
            "",
            "0x",
            "0x411",
            "ja-JP",
            "de",
            "0x1000000407",
            "-409",
            "+409",
        ] {
            assert!(bad.parse::<KeyboardLayout>().is_err(), "{bad}");
        }
        assert!(serde_json::from_str::<KeyboardLayout>("\"ja-JP\"").is_err());
        assert_eq!(KeyboardLayout::default().id(), 0x409);
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
