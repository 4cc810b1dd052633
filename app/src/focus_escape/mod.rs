//! The focus escape chord: **Ctrl+Alt+Shift**, pressed together with no other key, moves
//! the keyboard focus out of a terminal or the desktop canvas, which otherwise keep every
//! key (Tab included) for the target.
//!
//! Why this chord: modifiers alone type nothing, so a shell or an editor never receives
//! it, and remote desktops bind two modifiers at most (Windows switches keyboard layouts
//! with Alt+Shift or Ctrl+Shift), never all three alone. Tab and Escape could not serve:
//! shells, editors and desktops need them.
//!
//! This module is the pure decision ([`is_escape_chord`]); `dom` (wasm32) reads it from
//! a `KeyboardEvent`, moves the focus, and holds the hint shown beside each terminal and
//! canvas ([`dom::FocusEscapeHint`]).

#[cfg(target_arch = "wasm32")]
pub mod dom;

/// The chord as the page shows it.
pub const CHORD: &str = "Ctrl+Alt+Shift";

/// What a `keydown` says of itself: its `key` and `code`, and the modifier flags it
/// carries (which, on a modifier's own keydown, already include that modifier in the
/// browsers Vigil supports; the key itself is counted anyway).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct KeyDown<'a> {
    pub key: &'a str,
    pub code: &'a str,
    pub ctrl: bool,
    pub alt: bool,
    pub shift: bool,
    /// `getModifierState("AltGraph")`: AltGr is reported as Ctrl+Alt on Windows, and
    /// AltGr+Shift types characters on many layouts, so it never counts as the chord.
    pub alt_graph: bool,
    /// An auto-repeated keydown (a modifier held down).
    pub repeat: bool,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Modifier {
    Ctrl,
    Alt,
    Shift,
}

/// Which of the chord's modifiers this key is, by its `code` (the physical key) or else
/// its `key` (on-screen keyboards and synthesized events may give no `code`).
fn modifier(k: &KeyDown) -> Option<Modifier> {
    let by_code = match k.code {
        "ControlLeft" | "ControlRight" => Some(Modifier::Ctrl),
        "AltLeft" | "AltRight" => Some(Modifier::Alt),
        "ShiftLeft" | "ShiftRight" => Some(Modifier::Shift),
        _ => None,
    };
    by_code.or(match k.key {
        "Control" => Some(Modifier::Ctrl),
        "Alt" => Some(Modifier::Alt),
        "Shift" => Some(Modifier::Shift),
        _ => None,
    })
}

/// Whether this keydown completes the chord: it is one of Ctrl, Alt and Shift, pressed
/// (not repeated) while the other two are held, and AltGr is not among them.
pub fn is_escape_chord(k: &KeyDown) -> bool {
    if k.repeat || k.alt_graph {
        return false;
    }
    let Some(m) = modifier(k) else {
        return false;
    };
    let ctrl = k.ctrl || m == Modifier::Ctrl;
    let alt = k.alt || m == Modifier::Alt;
    let shift = k.shift || m == Modifier::Shift;
    ctrl && alt && shift
}

#[cfg(test)]
mod tests {
    use super::{is_escape_chord, KeyDown};

    fn down<'a>(key: &'a str, code: &'a str, ctrl: bool, alt: bool, shift: bool) -> KeyDown<'a> {
        KeyDown {
            key,
            code,
            ctrl,
            alt,
            shift,
            ..KeyDown::default()
        }
    }

    #[test]
    fn the_third_modifier_completes_the_chord_in_any_order() {
        assert!(is_escape_chord(&down(
            "Shift",
            "ShiftLeft",
            true,
            true,
            true
        )));
        assert!(is_escape_chord(&down("Alt", "AltLeft", true, false, true)));
        assert!(is_escape_chord(&down(
            "Control",
            "ControlRight",
            false,
            true,
            true
        )));
        // The key's own flag missing (some browsers set it only after the keydown).
        assert!(is_escape_chord(&down(
            "Shift",
            "ShiftLeft",
            true,
            true,
            false
        )));
        // No `code` (an on-screen keyboard): the key names it.
        assert!(is_escape_chord(&down("Shift", "", true, true, false)));
        // Shift+Alt reported as Meta on X11: the physical key still says Alt.
        assert!(is_escape_chord(&down("Meta", "AltLeft", true, false, true)));
    }

    #[test]
    fn two_modifiers_or_a_key_with_all_three_are_not_the_chord() {
        assert!(!is_escape_chord(&down(
            "Shift",
            "ShiftLeft",
            true,
            false,
            true
        )));
        assert!(!is_escape_chord(&down("Alt", "AltLeft", false, true, true)));
        // Ctrl+Alt+Shift+T is a key the target may want.
        assert!(!is_escape_chord(&down("T", "KeyT", true, true, true)));
        assert!(!is_escape_chord(&down("Tab", "Tab", true, true, true)));
        assert!(!is_escape_chord(&down(
            "Escape", "Escape", true, true, true
        )));
    }

    #[test]
    fn held_keys_and_altgr_never_count() {
        let mut held = down("Shift", "ShiftLeft", true, true, true);
        held.repeat = true;
        assert!(!is_escape_chord(&held));
        let mut altgr = down("Shift", "ShiftLeft", true, true, true);
        altgr.alt_graph = true;
        assert!(!is_escape_chord(&altgr));
    }
}
