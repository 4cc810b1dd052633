//! asciicast v2 recordings (`.cast`): a JSON header line, then one
//! `[time, code, data]` JSON array per line. Pure, so it is tested natively.
//!
//! The recorder appends as the session runs, so a recording of a session that was
//! cut short may end in a torn line; that last line is skipped, not an error.

use serde_json::Value;

/// What happened at one point of the recording.
#[derive(Debug, Clone, PartialEq)]
pub enum EventKind {
    /// Terminal output (`"o"`).
    Output(String),
    /// Input (`"i"`); kept, never written to the terminal.
    Input(String),
    /// The terminal was resized (`"r"`, data `"COLSxROWS"`).
    Resize { cols: u16, rows: u16 },
    /// A marker (`"m"`).
    Marker(String),
}

#[derive(Debug, Clone, PartialEq)]
pub struct Event {
    /// Milliseconds from the start of the recording.
    pub at_ms: f64,
    pub kind: EventKind,
}

#[derive(Debug, Clone, PartialEq)]
pub struct Cast {
    pub cols: u16,
    pub rows: u16,
    pub title: Option<String>,
    /// Unix seconds of the start, when the header has it.
    pub timestamp: Option<i64>,
    /// In time order (times that go backwards are clamped to the previous one).
    pub events: Vec<Event>,
    /// Time of the last event, or the header's `duration` when that is longer.
    pub duration_ms: f64,
    /// The last line was incomplete and was skipped.
    pub torn_tail: bool,
    /// Lines in the middle that could not be read and were skipped.
    pub skipped_lines: usize,
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum CastError {
    #[error("the recording is empty")]
    Empty,
    #[error("the recording's header is not valid: {0}")]
    BadHeader(String),
    #[error("unsupported asciicast version {0} (expected 2)")]
    Version(i64),
}

fn parse_event(line: &str) -> Option<(f64, EventKind)> {
    let v: Value = serde_json::from_str(line).ok()?;
    let arr = v.as_array()?;
    let t = arr.first()?.as_f64()?;
    if !t.is_finite() || t < 0.0 {
        return None;
    }
    let code = arr.get(1)?.as_str()?;
    let data = arr.get(2)?.as_str()?.to_string();
    let kind = match code {
        "o" => EventKind::Output(data),
        "i" => EventKind::Input(data),
        "r" => {
            let (c, r) = data.split_once('x')?;
            EventKind::Resize {
                cols: c.trim().parse().ok()?,
                rows: r.trim().parse().ok()?,
            }
        }
        "m" => EventKind::Marker(data),
        _ => return None,
    };
    Some((t * 1000.0, kind))
}

/// Parses a whole recording.
pub fn parse(text: &str) -> Result<Cast, CastError> {
    let mut lines = text
        .lines()
        .enumerate()
        .filter(|(_, l)| !l.trim().is_empty());
    let (_, header_line) = lines.next().ok_or(CastError::Empty)?;
    let header: Value =
        serde_json::from_str(header_line).map_err(|e| CastError::BadHeader(e.to_string()))?;
    let header = header
        .as_object()
        .ok_or_else(|| CastError::BadHeader("not a JSON object".into()))?;
    let version = header.get("version").and_then(Value::as_i64).unwrap_or(0);
    if version != 2 {
        return Err(CastError::Version(version));
    }
    let dim = |key: &str| {
        header
            .get(key)
            .and_then(Value::as_u64)
            .and_then(|n| u16::try_from(n).ok())
            .filter(|n| *n > 0)
            .ok_or_else(|| CastError::BadHeader(format!("missing or invalid `{key}`")))
    };
    let cols = dim("width")?;
    let rows = dim("height")?;
    let title = header
        .get("title")
        .and_then(Value::as_str)
        .map(str::to_string);
    let timestamp = header.get("timestamp").and_then(Value::as_i64);
    let header_duration = header
        .get("duration")
        .and_then(Value::as_f64)
        .filter(|d| d.is_finite() && *d > 0.0)
        .map_or(0.0, |d| d * 1000.0);

    let body: Vec<&str> = lines.map(|(_, l)| l).collect();
    let mut events = Vec::with_capacity(body.len());
    let mut torn_tail = false;
    let mut skipped_lines = 0;
    let mut last = 0.0_f64;
    for (i, line) in body.iter().enumerate() {
        match parse_event(line) {
            Some((at_ms, kind)) => {
                let at_ms = at_ms.max(last);
                last = at_ms;
                events.push(Event { at_ms, kind });
            }
            None if i + 1 == body.len() => torn_tail = true,
            None => skipped_lines += 1,
        }
    }
    Ok(Cast {
        cols,
        rows,
        title,
        timestamp,
        events,
        duration_ms: last.max(header_duration),
        torn_tail,
        skipped_lines,
    })
}

/// The state of the screen at one time, as the player needs it to seek.
#[derive(Debug, Clone, PartialEq)]
pub struct SeekState {
    /// Terminal size in effect at that time.
    pub cols: u16,
    pub rows: u16,
    /// All output up to and including that time, concatenated.
    pub output: String,
    /// Index of the first event after that time.
    pub next: usize,
}

impl Cast {
    /// Index of the first event strictly after `at_ms`.
    pub fn index_after(&self, at_ms: f64) -> usize {
        self.events.partition_point(|e| e.at_ms <= at_ms)
    }

    /// What to write to a freshly reset terminal to show the screen at `at_ms`.
    pub fn seek(&self, at_ms: f64) -> SeekState {
        let next = self.index_after(at_ms);
        let (mut cols, mut rows) = (self.cols, self.rows);
        let mut output = String::new();
        for e in &self.events[..next] {
            match &e.kind {
                EventKind::Output(s) => output.push_str(s),
                EventKind::Resize { cols: c, rows: r } => {
                    (cols, rows) = (*c, *r);
                }
                _ => {}
            }
        }
        SeekState {
            cols,
            rows,
            output,
            next,
        }
    }

    /// Events from `from` up to and including `at_ms`: the output to write, the last
    /// resize among them, and the index to continue from.
    pub fn advance(&self, from: usize, at_ms: f64) -> (String, Option<(u16, u16)>, usize) {
        let from = from.min(self.events.len());
        let end = from + self.events[from..].partition_point(|e| e.at_ms <= at_ms);
        let mut output = String::new();
        let mut resize = None;
        for e in &self.events[from..end] {
            match &e.kind {
                EventKind::Output(s) => output.push_str(s),
                EventKind::Resize { cols, rows } => resize = Some((*cols, *rows)),
                _ => {}
            }
        }
        (output, resize, end)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const CAST: &str = concat!(
        r#"{"version": 2, "width": 80, "height": 24, "timestamp": 1700000000, "title": "web-1"}"#,
        "\n",
        r#"[0.5, "o", "$ "]"#,
        "\n",
        r#"[1.25, "i", "l"]"#,
        "\n",
        r#"[1.5, "o", "ls\r\n"]"#,
        "\n",
        r#"[2.0, "r", "100x30"]"#,
        "\n",
        r#"[3.0, "o", "a  b\r\n"]"#,
        "\n",
    );

    #[test]
    fn parses_header_and_events() {
        let c = parse(CAST).expect("valid cast");
        assert_eq!((c.cols, c.rows), (80, 24));
        assert_eq!(c.title.as_deref(), Some("web-1"));
        assert_eq!(c.timestamp, Some(1_700_000_000));
        assert_eq!(c.events.len(), 5);
        assert_eq!(
            c.events[0],
            Event {
                at_ms: 500.0,
                kind: EventKind::Output("$ ".into())
            }
        );
        assert_eq!(
            c.events[3].kind,
            EventKind::Resize {
                cols: 100,
                rows: 30
            }
        );
        assert_eq!(c.duration_ms, 3000.0);
        assert!(!c.torn_tail);
        assert_eq!(c.skipped_lines, 0);
    }

    #[test]
    fn tolerates_a_torn_last_line() {
        let text = format!("{CAST}[3.5, \"o\", \"half a li");
        let c = parse(&text).expect("torn tail is fine");
        assert!(c.torn_tail);
        assert_eq!(c.events.len(), 5);
        assert_eq!(c.duration_ms, 3000.0);
    }

    #[test]
    fn no_trailing_newline_is_not_torn() {
        let c = parse(CAST.trim_end()).expect("valid");
        assert!(!c.torn_tail);
        assert_eq!(c.events.len(), 5);
    }

    #[test]
    fn skips_bad_lines_in_the_middle_and_clamps_time() {
        let text = "{\"version\":2,\"width\":10,\"height\":5}\n[1,\"o\",\"a\"]\nnot json\n[0.5,\"o\",\"b\"]\n[2,\"x\",\"?\"]\n[3,\"o\",\"c\"]\n";
        let c = parse(text).expect("valid");
        assert_eq!(c.skipped_lines, 2);
        assert_eq!(
            c.events.iter().map(|e| e.at_ms).collect::<Vec<_>>(),
            [1000.0, 1000.0, 3000.0]
        );
    }

    #[test]
    fn header_errors() {
        assert_eq!(parse(""), Err(CastError::Empty));
        assert_eq!(parse("\n\n"), Err(CastError::Empty));
        assert!(matches!(
            parse("[1, \"o\", \"x\"]"),
            Err(CastError::BadHeader(_))
        ));
        assert!(matches!(
            parse("{\"version\":2"),
            Err(CastError::BadHeader(_))
        ));
        assert_eq!(
            parse("{\"version\":1,\"width\":80,\"height\":24}"),
            Err(CastError::Version(1))
        );
        assert!(matches!(
            parse("{\"version\":2,\"width\":0,\"height\":24}"),
            Err(CastError::BadHeader(_))
        ));
    }

    #[test]
    fn header_only_recording_is_empty_but_valid() {
        let c =
            parse("{\"version\":2,\"width\":80,\"height\":24,\"duration\":4.5}\n").expect("valid");
        assert!(c.events.is_empty());
        assert_eq!(c.duration_ms, 4500.0);
        assert_eq!(c.seek(10_000.0).output, "");
    }

    #[test]
    fn seek_collects_output_and_size() {
        let c = parse(CAST).expect("valid");
        let s = c.seek(0.0);
        assert_eq!((s.output.as_str(), s.next, s.cols, s.rows), ("", 0, 80, 24));
        let s = c.seek(1500.0);
        assert_eq!(s.output, "$ ls\r\n");
        assert_eq!(s.next, 3);
        let s = c.seek(10_000.0);
        assert_eq!(s.output, "$ ls\r\na  b\r\n");
        assert_eq!((s.cols, s.rows, s.next), (100, 30, 5));
    }

    #[test]
    fn advance_continues_from_an_index() {
        let c = parse(CAST).expect("valid");
        let (out, resize, next) = c.advance(0, 600.0);
        assert_eq!((out.as_str(), resize, next), ("$ ", None, 1));
        let (out, resize, next) = c.advance(next, 2500.0);
        assert_eq!((out.as_str(), resize, next), ("ls\r\n", Some((100, 30)), 4));
        let (out, _, next) = c.advance(next, 99_999.0);
        assert_eq!((out.as_str(), next), ("a  b\r\n", 5));
        let (out, _, next) = c.advance(next, 99_999.0);
        assert_eq!((out.as_str(), next), ("", 5));
        // Seeking and advancing agree.
        assert_eq!(c.seek(2500.0).next, c.advance(0, 2500.0).2);
    }
}
