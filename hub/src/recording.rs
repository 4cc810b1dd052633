//! The session's durable record: the asciicast v2 file (`<id>.cast`) and the
//! keystroke log (`<id>.keys.jsonl`).
//!
//! Every event is one line written with a single `write(2)` straight from the session
//! (no userspace buffer, no queue), so it is never dropped, keeps the session's
//! order exactly, and a relay killed with SIGKILL leaves every line written so far:
//! the kernel already holds it. Writing inline costs one short syscall into the page
//! cache per event; in exchange a slow disk slows the session rather than losing
//! audit data, which is the policy the architecture asks for.

use std::fs::{DirBuilder, File};
use std::io::{self, BufRead, Write};
use std::os::unix::fs::{DirBuilderExt as _, OpenOptionsExt as _};
use std::path::Path;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use vigil_wire::api::Keystroke;

use crate::metrics;

/// One line of the cast after the header. `at` is the time since the session started.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum CastEvent {
    Output(String),
    Input(String),
    Resize { cols: u16, rows: u16 },
    Marker(String),
}

/// Where the session core writes its record. The files in production; a `Vec` in
/// the core's unit tests, which check order and completeness.
pub(crate) trait Recorder: Send {
    fn event(&mut self, at: Duration, event: &CastEvent) -> io::Result<()>;
    fn keystroke(&mut self, keystroke: &Keystroke) -> io::Result<()>;
}

/// The cast line for `event`: `[seconds, code, data]`.
pub(crate) fn cast_line(at: Duration, event: &CastEvent) -> String {
    // Microsecond precision, as asciinema writes it.
    let t = at.as_micros() as f64 / 1e6;
    let (code, data) = match event {
        CastEvent::Output(s) => ("o", s.clone()),
        CastEvent::Input(s) => ("i", s.clone()),
        CastEvent::Resize { cols, rows } => ("r", format!("{cols}x{rows}")),
        CastEvent::Marker(s) => ("m", s.clone()),
    };
    let mut line = serde_json::json!([t, code, data]).to_string();
    line.push('\n');
    line
}

/// Owner-only: recordings and keystroke logs hold whatever the user typed and saw.
pub(crate) const RECORD_FILE_MODE: u32 = 0o600;
/// The recordings directory, when the hub has to create it.
pub(crate) const RECORD_DIR_MODE: u32 = 0o700;

/// Creates a record file for appending, owner-only, failing if it exists (a record is
/// never overwritten).
pub(crate) fn create_record_file(path: &Path) -> io::Result<File> {
    File::options()
        .append(true)
        .create_new(true)
        .mode(RECORD_FILE_MODE)
        .open(path)
}

/// Creates the directory of a record file (and its missing parents) owner-only; an
/// existing directory is left as it is.
pub(crate) fn create_record_dir(file_path: &Path) -> io::Result<()> {
    match file_path.parent() {
        Some(dir) if !dir.as_os_str().is_empty() && !dir.is_dir() => DirBuilder::new()
            .recursive(true)
            .mode(RECORD_DIR_MODE)
            .create(dir),
        _ => Ok(()),
    }
}

/// The keystroke log `<id>.keys.jsonl`, shared by terminal and desktop sessions: one
/// JSON [`Keystroke`] a line, each written with one unbuffered `write(2)`.
pub(crate) struct KeyLog {
    file: File,
}

impl KeyLog {
    /// Creates the log, failing if it exists (a record is never overwritten).
    pub(crate) fn create(path: &Path) -> io::Result<KeyLog> {
        let file = create_record_file(path)?;
        Ok(KeyLog { file })
    }

    pub(crate) fn write(&mut self, keystroke: &Keystroke) -> io::Result<()> {
        let mut line = serde_json::to_string(keystroke).map_err(io::Error::other)?;
        line.push('\n');
        self.file.write_all(line.as_bytes())?;
        metrics::recorded(line.len());
        Ok(())
    }
}

pub(crate) struct FileRecorder {
    cast: File,
    keys: KeyLog,
}

impl FileRecorder {
    /// Creates both files (failing if either exists: ids are never reused, and an
    /// existing record must not be overwritten) and writes the cast header.
    pub(crate) fn create(
        cast_path: &Path,
        keys_path: &Path,
        cols: u16,
        rows: u16,
        title: &str,
    ) -> io::Result<FileRecorder> {
        create_record_dir(cast_path)?;
        let mut cast = create_record_file(cast_path)?;
        let keys = KeyLog::create(keys_path)?;
        let timestamp = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map_or(0, |d| d.as_secs());
        let header = serde_json::json!({
            "version": 2,
            "width": cols,
            "height": rows,
            "timestamp": timestamp,
            "title": title,
            "env": {"TERM": "xterm-256color"},
        });
        let header = format!("{header}\n");
        cast.write_all(header.as_bytes())?;
        metrics::recorded(header.len());
        Ok(FileRecorder { cast, keys })
    }
}

impl Recorder for FileRecorder {
    fn event(&mut self, at: Duration, event: &CastEvent) -> io::Result<()> {
        // One write_all of a whole line: an unbuffered File makes it one syscall, so a
        // kill leaves either the whole line or none of it (short of a full disk).
        let line = cast_line(at, event);
        self.cast.write_all(line.as_bytes())?;
        metrics::recorded(line.len());
        Ok(())
    }

    fn keystroke(&mut self, keystroke: &Keystroke) -> io::Result<()> {
        self.keys.write(keystroke)
    }
}

/// Turns a byte stream cut at arbitrary points into valid UTF-8 strings, as the cast's
/// JSON needs: an incomplete character at the end of a chunk waits for the next one;
/// bytes that can never be UTF-8 become U+FFFD.
#[derive(Debug, Default)]
pub(crate) struct Utf8Carry {
    pending: Vec<u8>,
}

impl Utf8Carry {
    pub(crate) fn push(&mut self, bytes: &[u8]) -> String {
        let mut buf = std::mem::take(&mut self.pending);
        buf.extend_from_slice(bytes);
        let mut out = String::with_capacity(buf.len());
        let mut rest = &buf[..];
        loop {
            match std::str::from_utf8(rest) {
                Ok(s) => {
                    out.push_str(s);
                    break;
                }
                Err(e) => {
                    let (valid, after) = rest.split_at(e.valid_up_to());
                    out.push_str(&String::from_utf8_lossy(valid));
                    match e.error_len() {
                        // Cut mid-character: keep the start for the next chunk.
                        None => {
                            self.pending = after.to_vec();
                            break;
                        }
                        Some(n) => {
                            out.push(char::REPLACEMENT_CHARACTER);
                            rest = &after[n..];
                        }
                    }
                }
            }
        }
        out
    }

    /// What is left at the end of the stream: an incomplete character, as U+FFFD.
    pub(crate) fn finish(&mut self) -> String {
        String::from_utf8_lossy(&std::mem::take(&mut self.pending)).into_owned()
    }
}

/// Reads a keystroke log. Stops at the first line that does not parse: only the last
/// line can be torn (the log is append-only), and a torn line is not a keystroke.
pub(crate) fn read_keystrokes(path: &Path) -> io::Result<Vec<Keystroke>> {
    let file = File::open(path)?;
    let mut out = Vec::new();
    for line in io::BufReader::new(file).lines() {
        let line = match line {
            Ok(l) => l,
            // A torn multi-byte character at the very end.
            Err(e) if e.kind() == io::ErrorKind::InvalidData => break,
            Err(e) => return Err(e),
        };
        match serde_json::from_str::<Keystroke>(&line) {
            Ok(k) => out.push(k),
            Err(_) => break,
        }
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn carry_joins_a_character_split_across_reads() {
        let euro = "€".as_bytes(); // e2 82 ac
        let mut carry = Utf8Carry::default();
        assert_eq!(carry.push(&[b'a', euro[0]]), "a");
        assert_eq!(carry.push(&euro[1..2]), "");
        assert_eq!(carry.push(&[euro[2], b'b']), "€b");
        assert_eq!(carry.push(b"\xffz"), "\u{fffd}z");
    }

    #[test]
    fn cast_lines_are_json_arrays() {
        let line = cast_line(
            Duration::from_millis(1500),
            &CastEvent::Output("\x1b[1mé\"".into()),
        );
        let v: serde_json::Value = serde_json::from_str(&line).expect("json");
        assert_eq!(v, serde_json::json!([1.5, "o", "\x1b[1mé\""]));
        let r = cast_line(Duration::ZERO, &CastEvent::Resize { cols: 80, rows: 24 });
        assert_eq!(r, "[0.0,\"r\",\"80x24\"]\n");
    }

    #[test]
    fn keystroke_log_tolerates_a_torn_last_line() {
        let dir = tempfile::tempdir().expect("tempdir");
        let (cast, keys) = (dir.path().join("s.cast"), dir.path().join("s.keys.jsonl"));
        let mut rec = FileRecorder::create(&cast, &keys, 80, 24, "t").expect("create");
        let k = Keystroke {
            seq: 0,
            at_ms: 5,
            key: "a".into(),
            raw: "61".into(),
            browser_text: None,
        };
        rec.keystroke(&k).expect("write");
        rec.keys.file.write_all(b"{\"seq\":1,\"at_").expect("write");
        assert_eq!(read_keystrokes(&keys).expect("read"), vec![k]);
        assert!(
            FileRecorder::create(&cast, &keys, 80, 24, "t").is_err(),
            "never overwrites"
        );
    }

    #[test]
    fn records_and_keystroke_logs_are_owner_only() {
        use std::os::unix::fs::PermissionsExt as _;
        let mode = |p: &Path| std::fs::metadata(p).expect("metadata").permissions().mode() & 0o777;
        let root = tempfile::tempdir().expect("tempdir");
        let dir = root.path().join("recordings");
        let (cast, keys) = (dir.join("s.cast"), dir.join("s.keys.jsonl"));
        FileRecorder::create(&cast, &keys, 80, 24, "t").expect("create");
        assert_eq!(mode(&dir), RECORD_DIR_MODE, "the directory the hub made");
        assert_eq!(mode(&cast), 0o600, "the cast");
        assert_eq!(mode(&keys), 0o600, "the keystroke log");
        let (desk, idx, desk_keys) = (
            dir.join("d.desktop"),
            dir.join("d.desktop.idx"),
            dir.join("d.keys.jsonl"),
        );
        crate::desktop::recorder::FileDesktopRecorder::create(&desk, &idx, &desk_keys)
            .expect("create");
        for p in [&desk, &idx, &desk_keys] {
            assert_eq!(mode(p), 0o600, "{}", p.display());
        }
    }
}
