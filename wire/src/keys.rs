//! Readable names for terminal input, for the Keystrokes panel.
//!
//! A terminal sends bytes, not key events: one read can hold several keys, and one
//! key (an arrow, a function key) can be several bytes. [`split_terminal_input`]
//! cuts a chunk into keys and names each one.

/// One key found in a chunk of terminal input.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TerminalKey {
    pub name: String,
    pub raw: Vec<u8>,
}

/// Lower-case hex of `bytes`, space separated (`1b 5b 41`).
pub fn hex(bytes: &[u8]) -> String {
    bytes
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect::<Vec<_>>()
        .join(" ")
}

fn named_escape(seq: &[u8]) -> Option<&'static str> {
    Some(match seq {
        b"\x1b[A" | b"\x1bOA" => "ArrowUp",
        b"\x1b[B" | b"\x1bOB" => "ArrowDown",
        b"\x1b[C" | b"\x1bOC" => "ArrowRight",
        b"\x1b[D" | b"\x1bOD" => "ArrowLeft",
        b"\x1b[H" | b"\x1bOH" | b"\x1b[1~" => "Home",
        b"\x1b[F" | b"\x1bOF" | b"\x1b[4~" => "End",
        b"\x1b[2~" => "Insert",
        b"\x1b[3~" => "Delete",
        b"\x1b[5~" => "PageUp",
        b"\x1b[6~" => "PageDown",
        b"\x1b[Z" => "Shift+Tab",
        b"\x1bOP" => "F1",
        b"\x1bOQ" => "F2",
        b"\x1bOR" => "F3",
        b"\x1bOS" => "F4",
        b"\x1b[15~" => "F5",
        b"\x1b[17~" => "F6",
        b"\x1b[18~" => "F7",
        b"\x1b[19~" => "F8",
        b"\x1b[20~" => "F9",
        b"\x1b[21~" => "F10",
        b"\x1b[23~" => "F11",
        b"\x1b[24~" => "F12",
        _ => return None,
    })
}

/// Length of the escape sequence at the start of `input` (which starts with ESC).
fn escape_len(input: &[u8]) -> usize {
    match input.get(1) {
        // CSI: parameters and intermediates, then one final byte in 0x40..=0x7e.
        Some(b'[') => input[2..]
            .iter()
            .position(|b| (0x40..=0x7e).contains(b))
            .map_or(input.len(), |p| p + 3),
        // SS3: one more byte.
        Some(b'O') if input.len() >= 3 => 3,
        // Alt+key: ESC then one character.
        Some(_) => 1 + utf8_len(&input[1..]),
        None => 1,
    }
}

fn utf8_len(input: &[u8]) -> usize {
    let want = match input.first() {
        Some(b) if *b < 0x80 => 1,
        Some(b) if *b >= 0xf0 => 4,
        Some(b) if *b >= 0xe0 => 3,
        Some(b) if *b >= 0xc0 => 2,
        _ => 1,
    };
    want.min(input.len()).max(1)
}

fn control_name(b: u8) -> String {
    match b {
        b'\r' | b'\n' => "Enter".into(),
        b'\t' => "Tab".into(),
        0x7f | 0x08 => "Backspace".into(),
        0x1b => "Escape".into(),
        0x00 => "Ctrl+Space".into(),
        0x01..=0x1a => format!("Ctrl+{}", char::from(b'A' + b - 1)),
        0x1c => "Ctrl+\\".into(),
        0x1d => "Ctrl+]".into(),
        0x1e => "Ctrl+^".into(),
        0x1f => "Ctrl+_".into(),
        _ => format!("0x{b:02x}"),
    }
}

/// Splits a chunk of terminal input into named keys.
pub fn split_terminal_input(input: &[u8]) -> Vec<TerminalKey> {
    let mut keys = Vec::new();
    let mut rest = input;
    while let Some(&first) = rest.first() {
        let (len, name) = if first == 0x1b && rest.len() > 1 {
            let len = escape_len(rest);
            let seq = &rest[..len];
            let name = match named_escape(seq) {
                Some(n) => n.to_string(),
                None if seq[1] != b'[' && seq[1] != b'O' => {
                    format!("Alt+{}", String::from_utf8_lossy(&seq[1..]))
                }
                None => "Escape sequence".to_string(),
            };
            (len, name)
        } else if first < 0x20 || first == 0x7f {
            (1, control_name(first))
        } else {
            let len = utf8_len(rest);
            let text = String::from_utf8_lossy(&rest[..len]);
            let name = if text == " " {
                "Space".to_string()
            } else {
                text.into_owned()
            };
            (len, name)
        };
        keys.push(TerminalKey {
            name,
            raw: rest[..len].to_vec(),
        });
        rest = &rest[len..];
    }
    keys
}

#[cfg(test)]
mod tests {
    use super::*;

    fn names(input: &[u8]) -> Vec<String> {
        split_terminal_input(input)
            .into_iter()
            .map(|k| k.name)
            .collect()
    }

    #[test]
    fn names_common_keys() {
        assert_eq!(names(b"ls\r"), ["l", "s", "Enter"]);
        assert_eq!(
            names(b"\x03\x7f\t\x1b"),
            ["Ctrl+C", "Backspace", "Tab", "Escape"]
        );
        assert_eq!(
            names(b"\x1b[A\x1b[D\x1bOP\x1b[15~"),
            ["ArrowUp", "ArrowLeft", "F1", "F5"]
        );
        assert_eq!(names(b"\x1bb a"), ["Alt+b", "Space", "a"]);
        assert_eq!(names("é€".as_bytes()), ["é", "€"]);
    }

    #[test]
    fn raw_bytes_cover_the_input_exactly() {
        let input = b"x\x1b[1;5C\x1b[\xff\xfe";
        let keys = split_terminal_input(input);
        let joined: Vec<u8> = keys.iter().flat_map(|k| k.raw.clone()).collect();
        assert_eq!(joined, input);
        assert_eq!(hex(b"\x1b[A"), "1b 5b 41");
    }
}
