//! The session's model of the target's screen, fed with every output byte. It is
//! the source of late joiners' snapshots and of text thumbnails.

/// Lines kept above the visible screen. Snapshots and thumbnails show only the
/// visible screen, so none is needed.
const SCROLLBACK: usize = 0;

pub(crate) struct TerminalScreen {
    parser: vt100::Parser,
}

impl TerminalScreen {
    pub(crate) fn new(cols: u16, rows: u16) -> TerminalScreen {
        TerminalScreen {
            parser: vt100::Parser::new(rows, cols, SCROLLBACK),
        }
    }

    pub(crate) fn process(&mut self, bytes: &[u8]) {
        self.parser.process(bytes);
    }

    pub(crate) fn resize(&mut self, cols: u16, rows: u16) {
        self.parser.screen_mut().set_size(rows, cols);
    }

    /// Bytes that redraw the current screen on a freshly reset xterm.js: the
    /// alternate-screen switch (so that an app's later `?1049l` restores the right
    /// buffer), the cells with their attributes, input modes (application cursor,
    /// bracketed paste, mouse), then the cursor and the current drawing attributes.
    pub(crate) fn snapshot(&self) -> Vec<u8> {
        let screen = self.parser.screen();
        let mut out = Vec::new();
        if screen.alternate_screen() {
            out.extend_from_slice(b"\x1b[?1049h");
        }
        out.extend(screen.state_formatted());
        out.extend(screen.cursor_state_formatted());
        out.extend(screen.attributes_formatted());
        out
    }

    /// The visible text, one string per row, trailing blanks trimmed.
    pub(crate) fn text_rows(&self) -> Vec<String> {
        let screen = self.parser.screen();
        let (_, cols) = screen.size();
        screen
            .rows(0, cols)
            .map(|r| r.trim_end().to_string())
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn snapshot_replays_to_the_same_screen() {
        let mut screen = TerminalScreen::new(20, 4);
        screen.process(b"\x1b[31mred\x1b[0m\r\nline two\r\n$ ");
        let mut replay = TerminalScreen::new(20, 4);
        replay.process(&screen.snapshot());
        assert_eq!(replay.text_rows(), screen.text_rows());
        assert_eq!(replay.parser.screen().cursor_position(), (2, 2));
        assert_eq!(screen.text_rows(), ["red", "line two", "$", ""]);
    }

    #[test]
    fn snapshot_of_an_alternate_screen_enters_it() {
        let mut screen = TerminalScreen::new(10, 3);
        screen.process(b"shell\x1b[?1049hvim");
        let mut replay = TerminalScreen::new(10, 3);
        replay.process(&screen.snapshot());
        assert!(replay.parser.screen().alternate_screen());
        assert_eq!(replay.text_rows()[0], "vim");
    }
}
