//! Browser input → [`vigil_wire::desktop::InputEvent`]: the pure half (no DOM).
//!
//! Keys are mapped by `KeyboardEvent.code` (the physical key) to PC/AT set-1 scancodes, so
//! the target's keyboard layout decides what a key types; `key` is only a hint, which the
//! relay compares with its own reading of the scancode (and flags when they differ).

/// PC/AT set-1 scancode and extended (E0) flag of a `KeyboardEvent.code` (US layout).
pub fn scancode(code: &str) -> Option<(u8, bool)> {
    let plain = |s: u8| Some((s, false));
    let ext = |s: u8| Some((s, true));
    match code {
        "Escape" => plain(0x01),
        "Digit1" => plain(0x02),
        "Digit2" => plain(0x03),
        "Digit3" => plain(0x04),
        "Digit4" => plain(0x05),
        "Digit5" => plain(0x06),
        "Digit6" => plain(0x07),
        "Digit7" => plain(0x08),
        "Digit8" => plain(0x09),
        "Digit9" => plain(0x0a),
        "Digit0" => plain(0x0b),
        "Minus" => plain(0x0c),
        "Equal" => plain(0x0d),
        "Backspace" => plain(0x0e),
        "Tab" => plain(0x0f),
        "KeyQ" => plain(0x10),
        "KeyW" => plain(0x11),
        "KeyE" => plain(0x12),
        "KeyR" => plain(0x13),
        "KeyT" => plain(0x14),
        "KeyY" => plain(0x15),
        "KeyU" => plain(0x16),
        "KeyI" => plain(0x17),
        "KeyO" => plain(0x18),
        "KeyP" => plain(0x19),
        "BracketLeft" => plain(0x1a),
        "BracketRight" => plain(0x1b),
        "Enter" => plain(0x1c),
        "ControlLeft" => plain(0x1d),
        "KeyA" => plain(0x1e),
        "KeyS" => plain(0x1f),
        "KeyD" => plain(0x20),
        "KeyF" => plain(0x21),
        "KeyG" => plain(0x22),
        "KeyH" => plain(0x23),
        "KeyJ" => plain(0x24),
        "KeyK" => plain(0x25),
        "KeyL" => plain(0x26),
        "Semicolon" => plain(0x27),
        "Quote" => plain(0x28),
        "Backquote" => plain(0x29),
        "ShiftLeft" => plain(0x2a),
        "Backslash" => plain(0x2b),
        "KeyZ" => plain(0x2c),
        "KeyX" => plain(0x2d),
        "KeyC" => plain(0x2e),
        "KeyV" => plain(0x2f),
        "KeyB" => plain(0x30),
        "KeyN" => plain(0x31),
        "KeyM" => plain(0x32),
        "Comma" => plain(0x33),
        "Period" => plain(0x34),
        "Slash" => plain(0x35),
        "ShiftRight" => plain(0x36),
        "NumpadMultiply" => plain(0x37),
        "AltLeft" => plain(0x38),
        "Space" => plain(0x39),
        "CapsLock" => plain(0x3a),
        "F1" => plain(0x3b),
        "F2" => plain(0x3c),
        "F3" => plain(0x3d),
        "F4" => plain(0x3e),
        "F5" => plain(0x3f),
        "F6" => plain(0x40),
        "F7" => plain(0x41),
        "F8" => plain(0x42),
        "F9" => plain(0x43),
        "F10" => plain(0x44),
        "NumLock" => plain(0x45),
        "ScrollLock" => plain(0x46),
        "Numpad7" => plain(0x47),
        "Numpad8" => plain(0x48),
        "Numpad9" => plain(0x49),
        "NumpadSubtract" => plain(0x4a),
        "Numpad4" => plain(0x4b),
        "Numpad5" => plain(0x4c),
        "Numpad6" => plain(0x4d),
        "NumpadAdd" => plain(0x4e),
        "Numpad1" => plain(0x4f),
        "Numpad2" => plain(0x50),
        "Numpad3" => plain(0x51),
        "Numpad0" => plain(0x52),
        "NumpadDecimal" => plain(0x53),
        "IntlBackslash" => plain(0x56),
        "F11" => plain(0x57),
        "F12" => plain(0x58),
        "NumpadEqual" => plain(0x59),
        "IntlRo" => plain(0x73),
        "IntlYen" => plain(0x7d),
        "NumpadComma" => plain(0x7e),
        "NumpadEnter" => ext(0x1c),
        "ControlRight" => ext(0x1d),
        "NumpadDivide" => ext(0x35),
        "PrintScreen" => ext(0x37),
        "AltRight" => ext(0x38),
        "Home" => ext(0x47),
        "ArrowUp" => ext(0x48),
        "PageUp" => ext(0x49),
        "ArrowLeft" => ext(0x4b),
        "ArrowRight" => ext(0x4d),
        "End" => ext(0x4f),
        "ArrowDown" => ext(0x50),
        "PageDown" => ext(0x51),
        "Insert" => ext(0x52),
        "Delete" => ext(0x53),
        // Older browsers call the Windows keys OSLeft/OSRight.
        "MetaLeft" | "OSLeft" => ext(0x5b),
        "MetaRight" | "OSRight" => ext(0x5c),
        "ContextMenu" => ext(0x5d),
        _ => None,
    }
}

/// What `KeyboardEvent.key` is worth sending as a hint: the produced character or the key's
/// name.
pub fn key_text(key: &str) -> Option<String> {
    (!key.is_empty() && key != "Unidentified" && key != "Dead").then(|| key.to_string())
}

/// Where the element showing the desktop is on the page (`getBoundingClientRect`).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct ClientBox {
    pub left: f64,
    pub top: f64,
    pub width: f64,
    pub height: f64,
}

/// Maps a pointer position (client coordinates) to desktop pixels. The picture is scaled
/// to fit the box keeping its aspect ratio and centred (`object-fit: contain`), so this
/// also holds when the box and the picture have the same ratio. Positions outside the
/// picture are clamped to its edge.
pub fn to_desktop(
    client_x: f64,
    client_y: f64,
    b: ClientBox,
    width: u16,
    height: u16,
) -> Option<(u16, u16)> {
    let (dw, dh) = (f64::from(width), f64::from(height));
    if b.width <= 0.0 || b.height <= 0.0 || width == 0 || height == 0 {
        return None;
    }
    let scale = (b.width / dw).min(b.height / dh);
    let ox = (b.width - dw * scale) / 2.0;
    let oy = (b.height - dh * scale) / 2.0;
    let x = ((client_x - b.left - ox) / scale)
        .floor()
        .clamp(0.0, dw - 1.0);
    let y = ((client_y - b.top - oy) / scale)
        .floor()
        .clamp(0.0, dh - 1.0);
    Some((x as u16, y as u16))
}

/// `WheelEvent.deltaMode` values.
pub const DOM_DELTA_PIXEL: u32 = 0;
pub const DOM_DELTA_LINE: u32 = 1;

/// Accumulates wheel deltas into RDP units (120 a notch; positive is away from the user,
/// i.e. the DOM's negative `deltaY`). Browsers report about 100 pixels or 3 lines a notch;
/// fine-grained touchpads add up until they make whole units.
#[derive(Debug, Default, Clone, Copy)]
pub struct WheelAcc {
    v: f64,
    h: f64,
}

impl WheelAcc {
    /// Returns the (vertical, horizontal) RDP deltas to send now (0 = nothing).
    pub fn add(&mut self, dx: f64, dy: f64, mode: u32) -> (i16, i16) {
        let per_unit = match mode {
            DOM_DELTA_PIXEL => 120.0 / 100.0,
            DOM_DELTA_LINE => 120.0 / 3.0,
            _ => 120.0, // pages
        };
        self.v += -dy * per_unit;
        self.h += dx * per_unit;
        let take = |acc: &mut f64| {
            let whole = acc.trunc().clamp(-32_767.0, 32_767.0);
            *acc -= whole;
            whole as i16
        };
        (take(&mut self.v), take(&mut self.h))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn scancodes_of_the_us_layout() {
        assert_eq!(scancode("KeyA"), Some((0x1e, false)));
        assert_eq!(scancode("KeyQ"), Some((0x10, false)));
        assert_eq!(scancode("KeyZ"), Some((0x2c, false)));
        assert_eq!(scancode("Digit1"), Some((0x02, false)));
        assert_eq!(scancode("Digit0"), Some((0x0b, false)));
        assert_eq!(scancode("Enter"), Some((0x1c, false)));
        assert_eq!(scancode("NumpadEnter"), Some((0x1c, true)));
        assert_eq!(scancode("Space"), Some((0x39, false)));
        assert_eq!(scancode("F1"), Some((0x3b, false)));
        assert_eq!(scancode("F10"), Some((0x44, false)));
        assert_eq!(scancode("F11"), Some((0x57, false)));
        assert_eq!(scancode("F12"), Some((0x58, false)));
        assert_eq!(scancode("ArrowUp"), Some((0x48, true)));
        assert_eq!(scancode("ArrowDown"), Some((0x50, true)));
        assert_eq!(scancode("ArrowLeft"), Some((0x4b, true)));
        assert_eq!(scancode("ArrowRight"), Some((0x4d, true)));
        assert_eq!(scancode("Home"), Some((0x47, true)));
        assert_eq!(scancode("End"), Some((0x4f, true)));
        assert_eq!(scancode("PageUp"), Some((0x49, true)));
        assert_eq!(scancode("PageDown"), Some((0x51, true)));
        assert_eq!(scancode("Insert"), Some((0x52, true)));
        assert_eq!(scancode("Delete"), Some((0x53, true)));
        assert_eq!(scancode("Numpad7"), Some((0x47, false)));
        assert_eq!(scancode("NumpadDecimal"), Some((0x53, false)));
        assert_eq!(scancode("NumpadDivide"), Some((0x35, true)));
        assert_eq!(scancode("ControlLeft"), Some((0x1d, false)));
        assert_eq!(scancode("ControlRight"), Some((0x1d, true)));
        assert_eq!(scancode("AltRight"), Some((0x38, true)));
        assert_eq!(scancode("ShiftRight"), Some((0x36, false)));
        assert_eq!(scancode("MetaLeft"), Some((0x5b, true)));
        assert_eq!(scancode("OSRight"), Some((0x5c, true)));
        assert_eq!(scancode("Unknown"), None);
        assert_eq!(scancode(""), None);
    }

    #[test]
    fn every_scancode_is_used_once() {
        let codes: Vec<String> = (0..26)
            .map(|i| format!("Key{}", char::from(b'A' + i)))
            .chain((0..10).map(|i| format!("Digit{i}")))
            .chain((1..=12).map(|i| format!("F{i}")))
            .chain((0..10).map(|i| format!("Numpad{i}")))
            .chain(
                [
                    "Escape",
                    "Minus",
                    "Equal",
                    "Backspace",
                    "Tab",
                    "BracketLeft",
                    "BracketRight",
                    "Enter",
                    "ControlLeft",
                    "Semicolon",
                    "Quote",
                    "Backquote",
                    "ShiftLeft",
                    "Backslash",
                    "Comma",
                    "Period",
                    "Slash",
                    "ShiftRight",
                    "NumpadMultiply",
                    "AltLeft",
                    "Space",
                    "CapsLock",
                    "NumLock",
                    "ScrollLock",
                    "NumpadSubtract",
                    "NumpadAdd",
                    "NumpadDecimal",
                    "NumpadEnter",
                    "ControlRight",
                    "NumpadDivide",
                    "AltRight",
                    "Home",
                    "ArrowUp",
                    "PageUp",
                    "ArrowLeft",
                    "ArrowRight",
                    "End",
                    "ArrowDown",
                    "PageDown",
                    "Insert",
                    "Delete",
                    "MetaLeft",
                    "MetaRight",
                    "ContextMenu",
                    "PrintScreen",
                ]
                .map(String::from),
            )
            .collect();
        let mut seen = std::collections::HashSet::new();
        for c in &codes {
            let sc = scancode(c).unwrap_or_else(|| panic!("{c} is mapped"));
            assert!(seen.insert(sc), "{c} shares {sc:?}");
        }
        assert_eq!(seen.len(), codes.len());
    }

    #[test]
    fn key_text_for_the_log() {
        assert_eq!(key_text("a").as_deref(), Some("a"));
        assert_eq!(key_text("Enter").as_deref(), Some("Enter"));
        assert_eq!(key_text("Dead"), None);
        assert_eq!(key_text(""), None);
    }

    #[test]
    fn pointer_maps_through_the_css_scale() {
        // 1920×1080 shown at half size, box exactly the picture.
        let b = ClientBox {
            left: 100.0,
            top: 50.0,
            width: 960.0,
            height: 540.0,
        };
        assert_eq!(to_desktop(100.0, 50.0, b, 1920, 1080), Some((0, 0)));
        assert_eq!(to_desktop(580.0, 320.0, b, 1920, 1080), Some((960, 540)));
        assert_eq!(to_desktop(1059.9, 589.9, b, 1920, 1080), Some((1919, 1079)));
        // Outside: clamped.
        assert_eq!(to_desktop(0.0, 2000.0, b, 1920, 1080), Some((0, 1079)));
        // Letterboxed (object-fit: contain): 1024×768 in a 1000×500 box → scale 500/768,
        // picture 666.67 wide centred at x offset 166.67.
        let wide = ClientBox {
            left: 0.0,
            top: 0.0,
            width: 1000.0,
            height: 500.0,
        };
        assert_eq!(to_desktop(166.7, 0.0, wide, 1024, 768), Some((0, 0)));
        assert_eq!(to_desktop(500.0, 250.0, wide, 1024, 768), Some((512, 384)));
        // Native size: identity.
        let one = ClientBox {
            left: 8.0,
            top: 8.0,
            width: 1024.0,
            height: 768.0,
        };
        assert_eq!(
            to_desktop(8.0 + 123.0, 8.0 + 456.0, one, 1024, 768),
            Some((123, 456))
        );
        assert_eq!(
            to_desktop(1.0, 1.0, ClientBox { width: 0.0, ..one }, 1024, 768),
            None
        );
    }

    #[test]
    fn wheel_in_rdp_units() {
        let mut w = WheelAcc::default();
        assert_eq!(w.add(0.0, -100.0, DOM_DELTA_PIXEL), (120, 0));
        assert_eq!(w.add(0.0, 3.0, DOM_DELTA_LINE), (-120, 0));
        assert_eq!(w.add(50.0, 0.0, DOM_DELTA_PIXEL), (0, 60));
        // Small touchpad deltas add up.
        let mut t = WheelAcc::default();
        assert_eq!(t.add(0.0, -0.5, DOM_DELTA_PIXEL), (0, 0));
        assert_eq!(t.add(0.0, -0.5, DOM_DELTA_PIXEL), (1, 0));
    }
}
