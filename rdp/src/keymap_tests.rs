use vigil_wire::desktop::KeyboardLayout::{self, DeDe, EnGb, EnUs, FrFr};

use super::*;

const LSHIFT: u8 = 0x2a;
const RSHIFT: u8 = 0x36;
const CTRL: u8 = 0x1d;
const ALT: u8 = 0x38;
const CAPS: u8 = 0x3a;
const NUMLOCK: u8 = 0x45;

/// A key of a chord or a sequence: scancode and extended flag.
type K = (u8, bool);

fn plain(sc: u8) -> K {
    (sc, false)
}

fn ext(sc: u8) -> K {
    (sc, true)
}

/// Holds `held` in order, presses `key`, releases everything in reverse; returns the
/// reading of `key`'s press.
fn chord(m: &mut KeyMap, held: &[K], key: K) -> KeyText {
    for &(sc, e) in held {
        m.key(sc, e, true);
    }
    let text = m.key(key.0, key.1, true);
    m.key(key.0, key.1, false);
    for &(sc, e) in held.iter().rev() {
        m.key(sc, e, false);
    }
    text
}

fn read(layout: KeyboardLayout, held: &[K], key: K) -> String {
    chord(&mut KeyMap::new(layout), held, key).text
}

#[test]
fn letters_and_digits_per_layout() {
    // (layout, scancode, unshifted, shifted)
    let table: &[(KeyboardLayout, u8, &str, &str)] = &[
        (EnUs, 0x10, "q", "Q"),
        (EnUs, 0x15, "y", "Y"),
        (EnUs, 0x2c, "z", "Z"),
        (EnUs, 0x1e, "a", "A"),
        (EnUs, 0x02, "1", "!"),
        (EnUs, 0x03, "2", "@"),
        (EnUs, 0x0c, "-", "_"),
        (EnUs, 0x28, "'", "\""),
        (EnUs, 0x2b, "\\", "|"),
        (EnUs, 0x35, "/", "?"),
        (EnGb, 0x03, "2", "\""),
        (EnGb, 0x04, "3", "£"),
        (EnGb, 0x28, "'", "@"),
        (EnGb, 0x2b, "#", "~"),
        (EnGb, 0x56, "\\", "|"),
        (EnGb, 0x29, "`", "¬"),
        // German: Y and Z swap, umlauts, ß.
        (DeDe, 0x15, "z", "Z"),
        (DeDe, 0x2c, "y", "Y"),
        (DeDe, 0x27, "ö", "Ö"),
        (DeDe, 0x28, "ä", "Ä"),
        (DeDe, 0x1a, "ü", "Ü"),
        (DeDe, 0x0c, "ß", "?"),
        (DeDe, 0x08, "7", "/"),
        (DeDe, 0x35, "-", "_"),
        (DeDe, 0x56, "<", ">"),
        (DeDe, 0x1b, "+", "*"),
        // French: AZERTY, digits only with Shift.
        (FrFr, 0x10, "a", "A"),
        (FrFr, 0x11, "z", "Z"),
        (FrFr, 0x1e, "q", "Q"),
        (FrFr, 0x2c, "w", "W"),
        (FrFr, 0x27, "m", "M"),
        (FrFr, 0x32, ",", "?"),
        (FrFr, 0x02, "&", "1"),
        (FrFr, 0x03, "é", "2"),
        (FrFr, 0x04, "\"", "3"),
        (FrFr, 0x08, "è", "7"),
        (FrFr, 0x0a, "ç", "9"),
        (FrFr, 0x0b, "à", "0"),
        (FrFr, 0x28, "ù", "%"),
        (FrFr, 0x35, "!", "§"),
    ];
    for &(layout, sc, unshifted, shifted) in table {
        assert_eq!(
            read(layout, &[], plain(sc)),
            unshifted,
            "{layout} {sc:#04x}"
        );
        assert_eq!(
            read(layout, &[plain(LSHIFT)], plain(sc)),
            shifted,
            "{layout} Shift+{sc:#04x}"
        );
        assert_eq!(
            read(layout, &[plain(RSHIFT)], plain(sc)),
            shifted,
            "{layout} right Shift+{sc:#04x}"
        );
    }
}

#[test]
fn altgr_is_right_alt_or_ctrl_alt_where_the_layout_has_it() {
    let ralt = ext(ALT);
    let table: &[(KeyboardLayout, &[K], u8, &str)] = &[
        (DeDe, &[ralt], 0x10, "@"),
        (DeDe, &[plain(CTRL), plain(ALT)], 0x10, "@"),
        // Windows sends a left Ctrl with AltGr: still AltGr.
        (DeDe, &[plain(CTRL), ralt], 0x10, "@"),
        (DeDe, &[ralt], 0x12, "€"),
        (DeDe, &[ralt], 0x08, "{"),
        (DeDe, &[ralt], 0x0c, "\\"),
        (DeDe, &[ralt], 0x56, "|"),
        (DeDe, &[ralt], 0x1b, "~"),
        (FrFr, &[ralt], 0x0b, "@"),
        (FrFr, &[ralt], 0x04, "#"),
        (FrFr, &[ralt], 0x09, "\\"),
        (EnGb, &[ralt], 0x05, "€"),
        (EnGb, &[ralt], 0x12, "é"),
        // Nothing on the third level: a chord.
        (DeDe, &[ralt], 0x1e, "AltGr+A"),
        (DeDe, &[plain(CTRL), plain(ALT)], 0x14, "Ctrl+Alt+T"),
        // US has no AltGr: right Alt is Alt.
        (EnUs, &[ralt], 0x10, "Alt+Q"),
        (EnUs, &[plain(CTRL), plain(ALT)], 0x10, "Ctrl+Alt+Q"),
    ];
    for &(layout, held, sc, want) in table {
        assert_eq!(
            read(layout, held, plain(sc)),
            want,
            "{layout} {held:?} {sc:#04x}"
        );
    }
    assert_eq!(read(DeDe, &[], ralt), "AltGraph");
    assert_eq!(read(EnUs, &[], ralt), "Alt");
}

#[test]
fn named_keys_and_chords() {
    let table: &[(&[K], K, &str)] = &[
        (&[], plain(0x1c), "Enter"),
        (&[], ext(0x1c), "Enter"),
        (&[], plain(0x0e), "Backspace"),
        (&[], plain(0x0f), "Tab"),
        (&[], plain(0x01), "Escape"),
        (&[], plain(0x39), "Space"),
        (&[], plain(0x3b), "F1"),
        (&[], plain(0x44), "F10"),
        (&[], plain(0x57), "F11"),
        (&[], plain(0x58), "F12"),
        (&[], ext(0x48), "ArrowUp"),
        (&[], ext(0x50), "ArrowDown"),
        (&[], ext(0x4b), "ArrowLeft"),
        (&[], ext(0x4d), "ArrowRight"),
        (&[], ext(0x47), "Home"),
        (&[], ext(0x4f), "End"),
        (&[], ext(0x49), "PageUp"),
        (&[], ext(0x51), "PageDown"),
        (&[], ext(0x52), "Insert"),
        (&[], ext(0x53), "Delete"),
        (&[], plain(CTRL), "Control"),
        (&[], ext(CTRL), "Control"),
        (&[], plain(LSHIFT), "Shift"),
        (&[], plain(ALT), "Alt"),
        (&[], ext(0x5b), "Meta"),
        (&[], plain(CAPS), "CapsLock"),
        (&[plain(CTRL)], plain(0x2e), "Ctrl+C"),
        (&[ext(CTRL)], plain(0x2e), "Ctrl+C"),
        (&[plain(CTRL), plain(LSHIFT)], plain(0x14), "Ctrl+Shift+T"),
        (&[plain(ALT)], plain(0x3e), "Alt+F4"),
        (&[plain(LSHIFT)], plain(0x0f), "Shift+Tab"),
        (&[plain(CTRL), plain(ALT)], ext(0x53), "Ctrl+Alt+Delete"),
        (&[plain(CTRL)], plain(0x39), "Ctrl+Space"),
        (&[ext(0x5b)], plain(0x13), "Meta+R"),
    ];
    for layout in KeyboardLayout::ALL {
        for &(held, key, want) in table {
            assert_eq!(read(layout, held, key), want, "{layout} {held:?} {key:?}");
        }
    }
    // Chords name the layout's letter: Ctrl+Z is where the layout has its Z.
    assert_eq!(read(DeDe, &[plain(CTRL)], plain(0x15)), "Ctrl+Z");
    assert_eq!(read(FrFr, &[plain(CTRL)], plain(0x10)), "Ctrl+A");
    assert_eq!(read(FrFr, &[plain(CTRL)], plain(0x1e)), "Ctrl+Q");
    // …and its unshifted character on other keys.
    assert_eq!(read(EnUs, &[plain(CTRL)], plain(0x02)), "Ctrl+1");
    assert_eq!(read(FrFr, &[plain(CTRL)], plain(0x02)), "Ctrl+&");
}

#[test]
fn caps_lock_toggles_letters_only_and_once_per_press() {
    let mut m = KeyMap::new(DeDe);
    m.key(CAPS, false, true);
    // Typematic repeats of a held Caps Lock do not toggle it again.
    m.key(CAPS, false, true);
    m.key(CAPS, false, false);
    assert_eq!(chord(&mut m, &[], plain(0x1e)).text, "A");
    assert_eq!(chord(&mut m, &[], plain(0x27)).text, "Ö");
    assert_eq!(chord(&mut m, &[], plain(0x02)).text, "1");
    assert_eq!(chord(&mut m, &[], plain(0x0c)).text, "ß");
    assert_eq!(chord(&mut m, &[plain(LSHIFT)], plain(0x1e)).text, "a");
    m.key(CAPS, false, true);
    m.key(CAPS, false, false);
    assert_eq!(chord(&mut m, &[], plain(0x1e)).text, "a");
    // French digits stay unshifted under Caps Lock.
    let mut fr = KeyMap::new(FrFr);
    fr.key(CAPS, false, true);
    fr.key(CAPS, false, false);
    assert_eq!(chord(&mut fr, &[], plain(0x03)).text, "é");
    assert_eq!(chord(&mut fr, &[], plain(0x10)).text, "A");
}

#[test]
fn dead_accents_compose_with_the_next_key() {
    let mut fr = KeyMap::new(FrFr);
    let dead = chord(&mut fr, &[], plain(0x1a));
    assert_eq!(dead.text, "^ (dead)");
    assert_eq!(chord(&mut fr, &[], plain(0x12)).text, "ê");
    // Plain again afterwards.
    assert_eq!(chord(&mut fr, &[], plain(0x12)).text, "e");
    chord(&mut fr, &[], plain(0x1a));
    assert_eq!(chord(&mut fr, &[], plain(0x39)).text, "^");
    chord(&mut fr, &[], plain(0x1a));
    assert_eq!(chord(&mut fr, &[], plain(0x2d)).text, "^x");
    // Shift on the accent key is ¨; Shift on the vowel too.
    chord(&mut fr, &[plain(LSHIFT)], plain(0x1a));
    assert_eq!(chord(&mut fr, &[plain(LSHIFT)], plain(0x16)).text, "Ü");
    // A named key drops the accent.
    chord(&mut fr, &[], plain(0x1a));
    chord(&mut fr, &[], plain(0x0e));
    assert_eq!(chord(&mut fr, &[], plain(0x12)).text, "e");

    let mut de = KeyMap::new(DeDe);
    chord(&mut de, &[], plain(0x0d));
    assert_eq!(chord(&mut de, &[], plain(0x12)).text, "é");
    chord(&mut de, &[plain(LSHIFT)], plain(0x0d));
    assert_eq!(chord(&mut de, &[], plain(0x1e)).text, "à");
    chord(&mut de, &[], plain(0x29));
    assert_eq!(chord(&mut de, &[], plain(0x29)).text, "^^");
    // UK and US have no dead keys.
    assert_eq!(read(EnGb, &[], plain(0x29)), "`");
    assert_eq!(read(EnUs, &[plain(LSHIFT)], plain(0x07)), "^");
}

#[test]
fn numpad_follows_num_lock() {
    let mut m = KeyMap::new(DeDe);
    assert_eq!(chord(&mut m, &[], plain(0x47)).text, "7");
    assert_eq!(chord(&mut m, &[], plain(0x53)).text, ",");
    assert_eq!(chord(&mut m, &[], plain(0x37)).text, "*");
    assert_eq!(chord(&mut m, &[], ext(0x35)).text, "/");
    assert_eq!(chord(&mut m, &[], plain(NUMLOCK)).text, "NumLock");
    assert_eq!(chord(&mut m, &[], plain(0x47)).text, "Home");
    assert_eq!(chord(&mut m, &[], plain(0x53)).text, "Delete");
    assert_eq!(chord(&mut m, &[], plain(0x4a)).text, "-");
    assert_eq!(read(EnUs, &[], plain(0x53)), ".");
}

#[test]
fn unknown_scancodes_are_named_by_number() {
    assert_eq!(read(EnUs, &[], plain(0x73)), "Scancode 0x73");
    assert_eq!(read(EnUs, &[], ext(0x6a)), "Scancode E0 0x6a");
    assert!(!chord(&mut KeyMap::new(EnUs), &[], plain(0x73)).agrees_with(""));
}

#[test]
fn release_all_lets_go_of_modifiers_but_not_locks() {
    let mut m = KeyMap::new(EnUs);
    m.key(LSHIFT, false, true);
    m.key(CTRL, false, true);
    m.key(CAPS, false, true);
    m.release_all();
    assert_eq!(chord(&mut m, &[], plain(0x1e)).text, "A");
    assert_eq!(chord(&mut m, &[], plain(0x02)).text, "1");
}

#[test]
fn the_browser_text_agrees_only_with_what_the_key_types() {
    let mut m = KeyMap::new(EnUs);
    let a = chord(&mut m, &[], plain(0x1e));
    assert!(a.agrees_with("a"));
    assert!(!a.agrees_with("rm -rf /"));
    assert!(!a.agrees_with("A"));
    // Browsers report Ctrl+C as `c` and Shift+Tab as `Tab`.
    assert!(chord(&mut m, &[plain(CTRL)], plain(0x2e)).agrees_with("c"));
    assert!(chord(&mut m, &[plain(LSHIFT)], plain(0x0f)).agrees_with("Tab"));
    assert!(chord(&mut m, &[], plain(0x39)).agrees_with(" "));
    assert!(chord(&mut m, &[], ext(0x48)).agrees_with("ArrowUp"));
    assert!(chord(&mut m, &[plain(LSHIFT)], plain(0x02)).agrees_with("!"));
    // A browser in another layout than the session's disagrees, as it should: the target
    // types what the session's layout makes of the scancode.
    let mut de = KeyMap::new(DeDe);
    let z = chord(&mut de, &[], plain(0x15));
    assert_eq!(z.text, "z");
    assert!(!z.agrees_with("y"));
    assert!(chord(&mut de, &[ext(ALT)], plain(0x10)).agrees_with("@"));
    assert!(chord(&mut de, &[], ext(ALT)).agrees_with("AltGraph"));
    // A dead key agrees with its accent; the composed letter with the composition.
    let mut fr = KeyMap::new(FrFr);
    chord(&mut fr, &[], plain(0x1a));
    assert!(chord(&mut fr, &[], plain(0x12)).agrees_with("ê"));
}

#[test]
fn key_ups_read_like_their_presses() {
    let mut m = KeyMap::new(EnUs);
    m.key(LSHIFT, false, true);
    assert_eq!(m.key(0x1e, false, true).text, "A");
    assert_eq!(m.key(0x1e, false, false).text, "A");
    assert_eq!(m.key(LSHIFT, false, false).text, "Shift");
    assert_eq!(m.key(0x1e, false, true).text, "a");
}
