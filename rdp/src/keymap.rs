//! Sans-IO key text: what the scancodes the relay forwards type, read in the session's
//! keyboard layout. The keystroke log's readable text comes from here, never from the
//! browser: a browser can label any scancode with any text, but the target acts on the
//! scancode. The browser's own text is only compared with this reading
//! ([`KeyText::agrees_with`]).
//!
//! [`KeyMap`] follows the modifier state from the same event stream (Shift, Ctrl, Alt, the
//! Windows keys; AltGr as right Alt or Ctrl+Alt on layouts that have it; Caps Lock and Num
//! Lock toggles; dead accents waiting for the next key). The relay cannot see the target's
//! lock lights: Caps Lock is assumed off and Num Lock on at the start, then toggled by the
//! user's presses. Printable keys read as the character (`a`, `Ä`, `@`, `Space`), other keys
//! by their browser name (`Enter`, `ArrowUp`, `F5`, `Escape`, `Control`), and chords as
//! `Ctrl+C`, `Alt+F4`, `Shift+Tab`, `Ctrl+Alt+Delete`.

use vigil_wire::desktop::KeyboardLayout;

#[path = "keymap_layouts.rs"]
mod layouts;

use layouts::{compose, levels, table, Level, NO};

/// Keys whose names do not depend on the layout (DOM `KeyboardEvent.key` names).
fn named(scancode: u8, extended: bool) -> Option<&'static str> {
    Some(match (scancode, extended) {
        (0x01, false) => "Escape",
        (0x0e, false) => "Backspace",
        (0x0f, false) => "Tab",
        (0x1c, _) => "Enter",
        (0x1d, _) => "Control",
        (0x2a, false) | (0x36, false) => "Shift",
        (0x38, false) => "Alt",
        (0x3a, false) => "CapsLock",
        (0x3b, false) => "F1",
        (0x3c, false) => "F2",
        (0x3d, false) => "F3",
        (0x3e, false) => "F4",
        (0x3f, false) => "F5",
        (0x40, false) => "F6",
        (0x41, false) => "F7",
        (0x42, false) => "F8",
        (0x43, false) => "F9",
        (0x44, false) => "F10",
        (0x57, false) => "F11",
        (0x58, false) => "F12",
        (0x45, false) => "NumLock",
        (0x46, false) => "ScrollLock",
        (0x37, true) => "PrintScreen",
        (0x47, true) => "Home",
        (0x48, true) => "ArrowUp",
        (0x49, true) => "PageUp",
        (0x4b, true) => "ArrowLeft",
        (0x4d, true) => "ArrowRight",
        (0x4f, true) => "End",
        (0x50, true) => "ArrowDown",
        (0x51, true) => "PageDown",
        (0x52, true) => "Insert",
        (0x53, true) => "Delete",
        (0x5b, true) | (0x5c, true) => "Meta",
        (0x5d, true) => "ContextMenu",
        _ => return None,
    })
}

/// The numpad's digit keys: with Num Lock on, without.
fn numpad(scancode: u8, decimal: char) -> Option<(char, &'static str)> {
    Some(match scancode {
        0x47 => ('7', "Home"),
        0x48 => ('8', "ArrowUp"),
        0x49 => ('9', "PageUp"),
        0x4b => ('4', "ArrowLeft"),
        0x4c => ('5', "Clear"),
        0x4d => ('6', "ArrowRight"),
        0x4f => ('1', "End"),
        0x50 => ('2', "ArrowDown"),
        0x51 => ('3', "PageDown"),
        0x52 => ('0', "Insert"),
        0x53 => (decimal, "Delete"),
        _ => return None,
    })
}

/// The numpad's operator keys (the same in every layout and lock state).
fn numpad_operator(scancode: u8, extended: bool) -> Option<char> {
    Some(match (scancode, extended) {
        (0x37, false) => '*',
        (0x4a, false) => '-',
        (0x4e, false) => '+',
        (0x35, true) => '/',
        (0x59, false) => '=',
        (0x7e, false) => ',',
        _ => return None,
    })
}

/// Held modifier keys, one bit each.
mod held {
    pub const LSHIFT: u16 = 1;
    pub const RSHIFT: u16 = 1 << 1;
    pub const LCTRL: u16 = 1 << 2;
    pub const RCTRL: u16 = 1 << 3;
    pub const LALT: u16 = 1 << 4;
    pub const RALT: u16 = 1 << 5;
    pub const LMETA: u16 = 1 << 6;
    pub const RMETA: u16 = 1 << 7;
    pub const CAPS: u16 = 1 << 8;
    pub const NUM: u16 = 1 << 9;
}

fn held_bit(scancode: u8, extended: bool) -> Option<u16> {
    Some(match (scancode, extended) {
        (0x2a, false) => held::LSHIFT,
        (0x36, false) => held::RSHIFT,
        (0x1d, false) => held::LCTRL,
        (0x1d, true) => held::RCTRL,
        (0x38, false) => held::LALT,
        (0x38, true) => held::RALT,
        (0x5b, true) => held::LMETA,
        (0x5c, true) => held::RMETA,
        (0x3a, false) => held::CAPS,
        (0x45, false) => held::NUM,
        _ => return None,
    })
}

/// The relay's reading of one key event.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct KeyText {
    /// What the Keystrokes panel shows: `a`, `Space`, `Enter`, `Ctrl+C`, `Shift+Tab`.
    pub text: String,
    /// What a browser in the same layout and state reports as `KeyboardEvent.key`: the
    /// character the key types (ignoring Ctrl and Alt) or its name. `None` for a key the
    /// relay cannot read, which no browser text can vouch for.
    expected: Option<String>,
}

impl KeyText {
    /// Whether the browser's text for this key says the same as the relay's reading.
    pub fn agrees_with(&self, browser_text: &str) -> bool {
        self.expected.as_deref() == Some(browser_text)
    }
}

/// Follows one session's keyboard state and reads each forwarded key event as text.
#[derive(Debug, Clone)]
pub struct KeyMap {
    layout: KeyboardLayout,
    held: u16,
    caps_lock: bool,
    num_lock: bool,
    /// A dead accent waiting for the next key.
    dead: Option<char>,
}

impl KeyMap {
    pub fn new(layout: KeyboardLayout) -> Self {
        Self {
            layout,
            held: 0,
            caps_lock: false,
            num_lock: true,
            dead: None,
        }
    }

    pub fn layout(&self) -> KeyboardLayout {
        self.layout
    }

    /// Everything was released (focus lost, Lock, the user left): no modifier is held. The
    /// lock toggles stay as they are on the target.
    pub fn release_all(&mut self) {
        self.held = 0;
        self.dead = None;
    }

    fn has(&self, bits: u16) -> bool {
        self.held & bits != 0
    }

    /// Reads one key event that went to the target, then applies it to the state.
    pub fn key(&mut self, scancode: u8, extended: bool, down: bool) -> KeyText {
        let text = self.read(scancode, extended, down);
        if let Some(bit) = held_bit(scancode, extended) {
            let was_held = self.has(bit);
            if down {
                // A lock toggles on its press, not on the repeats while it is held.
                if !was_held && bit == held::CAPS {
                    self.caps_lock = !self.caps_lock;
                }
                if !was_held && bit == held::NUM {
                    self.num_lock = !self.num_lock;
                }
                self.held |= bit;
            } else {
                self.held &= !bit;
            }
        }
        text
    }

    fn read(&mut self, scancode: u8, extended: bool, down: bool) -> KeyText {
        let t = table(self.layout);
        let shift = self.has(held::LSHIFT | held::RSHIFT);
        let ctrl = self.has(held::LCTRL | held::RCTRL);
        let lalt = self.has(held::LALT);
        let ralt = self.has(held::RALT);
        let meta = self.has(held::LMETA | held::RMETA);
        // Windows reads right Alt, and Ctrl with left Alt, as AltGr on layouts that have it.
        let altgr = t.altgr && (ralt || (ctrl && lalt));
        let mods = Mods {
            ctrl,
            alt: lalt || (ralt && !t.altgr),
            altgr: ralt && t.altgr,
            shift,
            meta,
        };

        // Modifiers and locks read as their own names.
        if held_bit(scancode, extended).is_some() {
            let name = match (scancode, extended) {
                (0x38, true) if t.altgr => "AltGraph",
                (0x38, true) => "Alt",
                _ => named(scancode, extended).unwrap_or("Unidentified"),
            };
            return named_key(name, "");
        }

        // A printable key of the layout, Space, or the numpad.
        let printable = if (scancode, extended) == (0x39, false) {
            Some(Printable::plain(' '))
        } else if extended {
            numpad_operator(scancode, extended).map(Printable::plain)
        } else if let Some(levels) = levels(self.layout, scancode) {
            Some(self.printable(scancode, levels, shift))
        } else if let Some(c) = numpad_operator(scancode, extended) {
            Some(Printable::plain(c))
        } else if let Some((digit, name)) = numpad(scancode, t.decimal) {
            if !self.num_lock {
                return self.named_chord(name, down, &mods);
            }
            Some(Printable::plain(digit))
        } else {
            None
        };
        let Some(p) = printable else {
            return match named(scancode, extended) {
                Some(name) => self.named_chord(name, down, &mods),
                None => KeyText {
                    text: format!(
                        "Scancode {}{scancode:#04x}",
                        if extended { "E0 " } else { "" }
                    ),
                    expected: None,
                },
            };
        };

        if altgr {
            if let Some((c, dead)) = p.third {
                return self.typed(c, dead, down);
            }
        }
        // Ctrl, Alt, AltGr without a character, or a Windows key: a chord.
        if ctrl || lalt || ralt || meta {
            if down {
                self.dead = None;
            }
            let mut text = String::new();
            mods.push_to(&mut text);
            if p.base == ' ' {
                text.push_str("Space");
            } else {
                text.extend(p.base.to_uppercase());
            }
            return KeyText {
                text,
                expected: Some(p.level.to_string()),
            };
        }
        self.typed(p.level, p.dead, down)
    }

    /// A character typed (or an accent waiting for the next key).
    fn typed(&mut self, c: char, dead: bool, down: bool) -> KeyText {
        if !down {
            let text = if dead {
                format!("{c} (dead)")
            } else {
                c.to_string()
            };
            return printable_text(text, c);
        }
        if dead {
            if let Some(pending) = self.dead.take() {
                // A second accent types both.
                return printable_text(format!("{pending}{c}"), c);
            }
            self.dead = Some(c);
            return KeyText {
                text: format!("{c} (dead)"),
                expected: Some(c.to_string()),
            };
        }
        let out = match self.dead.take() {
            None => c.to_string(),
            Some(accent) if c == ' ' => accent.to_string(),
            Some(accent) => match compose(accent, c) {
                Some(composed) => composed.to_string(),
                None => format!("{accent}{c}"),
            },
        };
        KeyText {
            text: if out == " " {
                "Space".into()
            } else {
                out.clone()
            },
            expected: Some(out),
        }
    }

    /// A printable key's levels in the current Shift and Caps Lock state.
    fn printable(&self, scancode: u8, levels: [char; 3], shift: bool) -> Printable {
        let [base, shifted, third] = levels;
        let is_dead = |level: Level| {
            table(self.layout)
                .dead
                .iter()
                .any(|&(s, l)| s == scancode && l == level)
        };
        // Caps Lock shifts letters only.
        let letter = base.is_alphabetic() && base.to_uppercase().eq(std::iter::once(shifted));
        let upper = shift ^ (self.caps_lock && letter);
        let (level, dead) = if upper && shifted != NO {
            (shifted, is_dead(Level::Shift))
        } else {
            (base, is_dead(Level::Base))
        };
        Printable {
            base,
            level,
            dead,
            third: (third != NO).then(|| (third, is_dead(Level::AltGr))),
        }
    }

    /// A named key, with the modifiers held as a chord prefix (`Shift+Tab`, `Alt+F4`).
    fn named_chord(&mut self, name: &str, down: bool, mods: &Mods) -> KeyText {
        if down {
            self.dead = None;
        }
        let mut prefix = String::new();
        mods.push_to(&mut prefix);
        named_key(name, &prefix)
    }
}

/// The modifiers a chord names, in the order they are written.
struct Mods {
    ctrl: bool,
    alt: bool,
    altgr: bool,
    shift: bool,
    meta: bool,
}

impl Mods {
    fn push_to(&self, out: &mut String) {
        for (on, name) in [
            (self.ctrl, "Ctrl+"),
            (self.alt, "Alt+"),
            (self.altgr, "AltGr+"),
            (self.shift, "Shift+"),
            (self.meta, "Meta+"),
        ] {
            if on {
                out.push_str(name);
            }
        }
    }
}

/// A printable key in the current Shift and Caps Lock state: its unshifted character (for
/// `Ctrl+C`), what it types without AltGr and whether that is a dead accent, and its AltGr
/// character (with the same flag) if it has one.
struct Printable {
    base: char,
    level: char,
    dead: bool,
    third: Option<(char, bool)>,
}

impl Printable {
    fn plain(c: char) -> Self {
        Self {
            base: c,
            level: c,
            dead: false,
            third: None,
        }
    }
}

fn named_key(name: &str, prefix: &str) -> KeyText {
    KeyText {
        text: format!("{prefix}{name}"),
        expected: Some(name.to_string()),
    }
}

fn printable_text(text: String, typed: char) -> KeyText {
    KeyText {
        text: if text == " " { "Space".into() } else { text },
        expected: Some(typed.to_string()),
    }
}

#[cfg(test)]
#[path = "keymap_tests.rs"]
mod tests;
