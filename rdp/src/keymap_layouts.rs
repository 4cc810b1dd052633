//! The printable keys of each keyboard layout Vigil reads keystrokes in, its dead accents
//! and what they compose with.

use vigil_wire::desktop::KeyboardLayout;

/// No character on this level of the key.
pub(super) const NO: char = '\0';

/// One printable key of a layout: its set-1 scancode and what it types unshifted, with
/// Shift, and with AltGr (`NO`: nothing).
type Key = (u8, [char; 3]);

/// Which level of a key is a dead accent (it types nothing until the next key).
#[derive(Clone, Copy, PartialEq, Eq)]
pub(super) enum Level {
    Base,
    Shift,
    AltGr,
}

pub(super) struct Table {
    pub(super) keys: &'static [Key],
    pub(super) dead: &'static [(u8, Level)],
    /// Whether right Alt (and Ctrl+Alt) is AltGr, the third level.
    pub(super) altgr: bool,
    /// What the numpad's decimal key types with Num Lock on.
    pub(super) decimal: char,
}

/// The letter keys shared by the QWERTY layouts (US, UK).
const QWERTY_LETTERS: [Key; 26] = [
    (0x10, ['q', 'Q', NO]),
    (0x11, ['w', 'W', NO]),
    (0x12, ['e', 'E', NO]),
    (0x13, ['r', 'R', NO]),
    (0x14, ['t', 'T', NO]),
    (0x15, ['y', 'Y', NO]),
    (0x16, ['u', 'U', NO]),
    (0x17, ['i', 'I', NO]),
    (0x18, ['o', 'O', NO]),
    (0x19, ['p', 'P', NO]),
    (0x1e, ['a', 'A', NO]),
    (0x1f, ['s', 'S', NO]),
    (0x20, ['d', 'D', NO]),
    (0x21, ['f', 'F', NO]),
    (0x22, ['g', 'G', NO]),
    (0x23, ['h', 'H', NO]),
    (0x24, ['j', 'J', NO]),
    (0x25, ['k', 'K', NO]),
    (0x26, ['l', 'L', NO]),
    (0x2c, ['z', 'Z', NO]),
    (0x2d, ['x', 'X', NO]),
    (0x2e, ['c', 'C', NO]),
    (0x2f, ['v', 'V', NO]),
    (0x30, ['b', 'B', NO]),
    (0x31, ['n', 'N', NO]),
    (0x32, ['m', 'M', NO]),
];

const US_REST: [Key; 22] = [
    (0x02, ['1', '!', NO]),
    (0x03, ['2', '@', NO]),
    (0x04, ['3', '#', NO]),
    (0x05, ['4', '$', NO]),
    (0x06, ['5', '%', NO]),
    (0x07, ['6', '^', NO]),
    (0x08, ['7', '&', NO]),
    (0x09, ['8', '*', NO]),
    (0x0a, ['9', '(', NO]),
    (0x0b, ['0', ')', NO]),
    (0x0c, ['-', '_', NO]),
    (0x0d, ['=', '+', NO]),
    (0x1a, ['[', '{', NO]),
    (0x1b, [']', '}', NO]),
    (0x27, [';', ':', NO]),
    (0x28, ['\'', '"', NO]),
    (0x29, ['`', '~', NO]),
    (0x2b, ['\\', '|', NO]),
    (0x33, [',', '<', NO]),
    (0x34, ['.', '>', NO]),
    (0x35, ['/', '?', NO]),
    (0x56, ['\\', '|', NO]),
];

const UK_REST: [Key; 22] = [
    (0x02, ['1', '!', NO]),
    (0x03, ['2', '"', NO]),
    (0x04, ['3', '£', NO]),
    (0x05, ['4', '$', '€']),
    (0x06, ['5', '%', NO]),
    (0x07, ['6', '^', NO]),
    (0x08, ['7', '&', NO]),
    (0x09, ['8', '*', NO]),
    (0x0a, ['9', '(', NO]),
    (0x0b, ['0', ')', NO]),
    (0x0c, ['-', '_', NO]),
    (0x0d, ['=', '+', NO]),
    (0x1a, ['[', '{', NO]),
    (0x1b, [']', '}', NO]),
    (0x27, [';', ':', NO]),
    (0x28, ['\'', '@', NO]),
    (0x29, ['`', '¬', '¦']),
    (0x2b, ['#', '~', NO]),
    (0x33, [',', '<', NO]),
    (0x34, ['.', '>', NO]),
    (0x35, ['/', '?', NO]),
    (0x56, ['\\', '|', NO]),
];

/// UK vowels with AltGr (acute accents); the other UK letters are the QWERTY ones.
const UK_VOWELS: [Key; 5] = [
    (0x1e, ['a', 'A', 'á']),
    (0x12, ['e', 'E', 'é']),
    (0x17, ['i', 'I', 'í']),
    (0x18, ['o', 'O', 'ó']),
    (0x16, ['u', 'U', 'ú']),
];

const DE: [Key; 48] = [
    (0x29, ['^', '°', NO]),
    (0x02, ['1', '!', NO]),
    (0x03, ['2', '"', '²']),
    (0x04, ['3', '§', '³']),
    (0x05, ['4', '$', NO]),
    (0x06, ['5', '%', NO]),
    (0x07, ['6', '&', NO]),
    (0x08, ['7', '/', '{']),
    (0x09, ['8', '(', '[']),
    (0x0a, ['9', ')', ']']),
    (0x0b, ['0', '=', '}']),
    (0x0c, ['ß', '?', '\\']),
    (0x0d, ['´', '`', NO]),
    (0x10, ['q', 'Q', '@']),
    (0x11, ['w', 'W', NO]),
    (0x12, ['e', 'E', '€']),
    (0x13, ['r', 'R', NO]),
    (0x14, ['t', 'T', NO]),
    (0x15, ['z', 'Z', NO]),
    (0x16, ['u', 'U', NO]),
    (0x17, ['i', 'I', NO]),
    (0x18, ['o', 'O', NO]),
    (0x19, ['p', 'P', NO]),
    (0x1a, ['ü', 'Ü', NO]),
    (0x1b, ['+', '*', '~']),
    (0x1e, ['a', 'A', NO]),
    (0x1f, ['s', 'S', NO]),
    (0x20, ['d', 'D', NO]),
    (0x21, ['f', 'F', NO]),
    (0x22, ['g', 'G', NO]),
    (0x23, ['h', 'H', NO]),
    (0x24, ['j', 'J', NO]),
    (0x25, ['k', 'K', NO]),
    (0x26, ['l', 'L', NO]),
    (0x27, ['ö', 'Ö', NO]),
    (0x28, ['ä', 'Ä', NO]),
    (0x2b, ['#', '\'', NO]),
    (0x2c, ['y', 'Y', NO]),
    (0x2d, ['x', 'X', NO]),
    (0x2e, ['c', 'C', NO]),
    (0x2f, ['v', 'V', NO]),
    (0x30, ['b', 'B', NO]),
    (0x31, ['n', 'N', NO]),
    (0x32, ['m', 'M', 'µ']),
    (0x33, [',', ';', NO]),
    (0x34, ['.', ':', NO]),
    (0x35, ['-', '_', NO]),
    (0x56, ['<', '>', '|']),
];

const FR: [Key; 48] = [
    (0x29, ['²', NO, NO]),
    (0x02, ['&', '1', NO]),
    (0x03, ['é', '2', '~']),
    (0x04, ['"', '3', '#']),
    (0x05, ['\'', '4', '{']),
    (0x06, ['(', '5', '[']),
    (0x07, ['-', '6', '|']),
    (0x08, ['è', '7', '`']),
    (0x09, ['_', '8', '\\']),
    (0x0a, ['ç', '9', '^']),
    (0x0b, ['à', '0', '@']),
    (0x0c, [')', '°', ']']),
    (0x0d, ['=', '+', '}']),
    (0x10, ['a', 'A', NO]),
    (0x11, ['z', 'Z', NO]),
    (0x12, ['e', 'E', '€']),
    (0x13, ['r', 'R', NO]),
    (0x14, ['t', 'T', NO]),
    (0x15, ['y', 'Y', NO]),
    (0x16, ['u', 'U', NO]),
    (0x17, ['i', 'I', NO]),
    (0x18, ['o', 'O', NO]),
    (0x19, ['p', 'P', NO]),
    (0x1a, ['^', '¨', NO]),
    (0x1b, ['$', '£', '¤']),
    (0x1e, ['q', 'Q', NO]),
    (0x1f, ['s', 'S', NO]),
    (0x20, ['d', 'D', NO]),
    (0x21, ['f', 'F', NO]),
    (0x22, ['g', 'G', NO]),
    (0x23, ['h', 'H', NO]),
    (0x24, ['j', 'J', NO]),
    (0x25, ['k', 'K', NO]),
    (0x26, ['l', 'L', NO]),
    (0x27, ['m', 'M', NO]),
    (0x28, ['ù', '%', NO]),
    (0x2b, ['*', 'µ', NO]),
    (0x2c, ['w', 'W', NO]),
    (0x2d, ['x', 'X', NO]),
    (0x2e, ['c', 'C', NO]),
    (0x2f, ['v', 'V', NO]),
    (0x30, ['b', 'B', NO]),
    (0x31, ['n', 'N', NO]),
    (0x32, [',', '?', NO]),
    (0x33, [';', '.', NO]),
    (0x34, [':', '/', NO]),
    (0x35, ['!', '§', NO]),
    (0x56, ['<', '>', NO]),
];

const US_TABLE: Table = Table {
    keys: &US_REST,
    dead: &[],
    altgr: false,
    decimal: '.',
};
const UK_TABLE: Table = Table {
    keys: &UK_REST,
    dead: &[],
    altgr: true,
    decimal: '.',
};
const DE_TABLE: Table = Table {
    keys: &DE,
    dead: &[
        (0x29, Level::Base),
        (0x0d, Level::Base),
        (0x0d, Level::Shift),
    ],
    altgr: true,
    decimal: ',',
};
const FR_TABLE: Table = Table {
    keys: &FR,
    dead: &[
        (0x1a, Level::Base),
        (0x1a, Level::Shift),
        (0x03, Level::AltGr),
        (0x08, Level::AltGr),
    ],
    altgr: true,
    decimal: '.',
};

/// What a dead accent makes of the next character (pairs of base and result).
const COMPOSE: [(char, &str); 5] = [
    ('^', "aâeêiîoôuûAÂEÊIÎOÔUÛ"),
    ('´', "aáeéiíoóuúyýAÁEÉIÍOÓUÚYÝ"),
    ('`', "aàeèiìoòuùAÀEÈIÌOÒUÙ"),
    ('¨', "aäeëiïoöuüyÿAÄEËIÏOÖUÜ"),
    ('~', "aãoõnñAÃOÕNÑ"),
];

pub(super) fn compose(dead: char, base: char) -> Option<char> {
    let (_, pairs) = COMPOSE.iter().find(|(d, _)| *d == dead)?;
    let chars: Vec<char> = pairs.chars().collect();
    chars
        .chunks(2)
        .find(|p| p.first() == Some(&base))
        .and_then(|p| p.get(1).copied())
}

pub(super) fn table(layout: KeyboardLayout) -> &'static Table {
    match layout {
        KeyboardLayout::EnUs => &US_TABLE,
        KeyboardLayout::EnGb => &UK_TABLE,
        KeyboardLayout::DeDe => &DE_TABLE,
        KeyboardLayout::FrFr => &FR_TABLE,
    }
}

/// The three levels of a printable key in `layout`.
pub(super) fn levels(layout: KeyboardLayout, scancode: u8) -> Option<[char; 3]> {
    let t = table(layout);
    let find = |keys: &[Key]| keys.iter().find(|(s, _)| *s == scancode).map(|(_, l)| *l);
    match layout {
        KeyboardLayout::EnUs => find(t.keys).or_else(|| find(&QWERTY_LETTERS)),
        KeyboardLayout::EnGb => find(t.keys)
            .or_else(|| find(&UK_VOWELS))
            .or_else(|| find(&QWERTY_LETTERS)),
        KeyboardLayout::DeDe | KeyboardLayout::FrFr => find(t.keys),
    }
}
