//! The durable record of a desktop session: `<id>.desktop` (the format of
//! [`vigil_wire::recording`]), its keyframe index `<id>.desktop.idx` (one
//! [`IndexEntry`] JSON a line) and the keystroke log `<id>.keys.jsonl`.
//!
//! Like the terminal recorder, every record is one unbuffered `write(2)` made inline by
//! the session, so nothing is dropped or reordered and a SIGKILLed relay leaves whole
//! records (at worst one torn tail, which readers stop at).

use std::fs::File;
use std::io::{self, BufRead, Write};
use std::path::Path;

use vigil_wire::api::Keystroke;
use vigil_wire::recording::{self, IndexEntry, Kind, RecordingIndex, MAGIC};

use crate::recording::KeyLog;

/// Where the desktop core writes its record; a `Vec` in unit tests.
pub(crate) trait DesktopRecorder: Send {
    fn record(&mut self, kind: Kind, t_ms: u32, payload: &[u8]) -> io::Result<()>;
    /// A `Params` + `Keyframe` pair, listed in the index.
    fn keyframe(&mut self, t_ms: u32, params: &[u8], keyframe: &[u8]) -> io::Result<()>;
    fn keystroke(&mut self, keystroke: &Keystroke) -> io::Result<()>;
}

pub(crate) struct FileDesktopRecorder {
    file: File,
    index: File,
    keys: KeyLog,
    /// Bytes written to `file` so far: the offset of the next record.
    offset: u64,
}

impl FileDesktopRecorder {
    /// Creates the three files (failing if any exists) and writes the magic.
    pub(crate) fn create(
        path: &Path,
        index_path: &Path,
        keys_path: &Path,
    ) -> io::Result<FileDesktopRecorder> {
        if let Some(dir) = path.parent() {
            std::fs::create_dir_all(dir)?;
        }
        let open = |p: &Path| File::options().append(true).create_new(true).open(p);
        let mut file = open(path)?;
        let index = open(index_path)?;
        let keys = KeyLog::create(keys_path)?;
        file.write_all(MAGIC)?;
        Ok(FileDesktopRecorder {
            file,
            index,
            keys,
            offset: MAGIC.len() as u64,
        })
    }
}

impl DesktopRecorder for FileDesktopRecorder {
    fn record(&mut self, kind: Kind, t_ms: u32, payload: &[u8]) -> io::Result<()> {
        let bytes = recording::encode(kind, t_ms, payload);
        self.file.write_all(&bytes)?;
        self.offset += bytes.len() as u64;
        Ok(())
    }

    fn keyframe(&mut self, t_ms: u32, params: &[u8], keyframe: &[u8]) -> io::Result<()> {
        let offset = self.offset;
        self.record(Kind::Params, t_ms, params)?;
        self.record(Kind::Keyframe, t_ms, keyframe)?;
        // Listed only once both records are in the file.
        let mut line =
            serde_json::to_string(&IndexEntry { t_ms, offset }).map_err(io::Error::other)?;
        line.push('\n');
        self.index.write_all(line.as_bytes())
    }

    fn keystroke(&mut self, keystroke: &Keystroke) -> io::Result<()> {
        self.keys.write(keystroke)
    }
}

/// The index of the recording at `path`, from `<path>.idx` when it is whole and fits
/// the file, else by scanning the recording.
pub(crate) fn read_index(path: &Path) -> io::Result<RecordingIndex> {
    let data = std::fs::read(path)?;
    // Size, duration and the keyframes from the records (cheap: headers only); the
    // keyframes are taken from the index when every entry points at a Params record
    // followed by a Keyframe.
    let scanned =
        recording::scan_index(&data).map_err(|e| io::Error::new(io::ErrorKind::InvalidData, e))?;
    let mut idx_path = path.as_os_str().to_owned();
    idx_path.push(".idx");
    let Ok(idx) = File::open(&idx_path) else {
        return Ok(scanned);
    };
    let starts: std::collections::HashSet<u64> =
        scanned.keyframes.iter().map(|k| k.offset).collect();
    let mut keyframes = Vec::new();
    for line in io::BufReader::new(idx).lines() {
        let Ok(line) = line else { return Ok(scanned) };
        let Ok(entry) = serde_json::from_str::<IndexEntry>(&line) else {
            // A torn last line: the scan knows better.
            return Ok(scanned);
        };
        if !starts.contains(&entry.offset) {
            return Ok(scanned);
        }
        keyframes.push(entry);
    }
    if keyframes.len() != starts.len() {
        return Ok(scanned);
    }
    Ok(RecordingIndex {
        keyframes,
        ..scanned
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn index_file_and_scan_agree_and_a_torn_tail_is_excluded() {
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join("s.desktop");
        let idx = dir.path().join("s.desktop.idx");
        let mut rec = FileDesktopRecorder::create(&path, &idx, &dir.path().join("s.keys.jsonl"))
            .expect("create");
        rec.keyframe(0, b"{}", b"kf").expect("kf");
        rec.record(Kind::Graphics, 40, b"pdu").expect("g");
        rec.keyframe(10_000, b"{}", b"kf2").expect("kf");
        rec.record(Kind::Marker, 10_500, b"lock").expect("m");
        let whole = std::fs::metadata(&path).expect("meta").len();
        rec.file.write_all(&[2, 0, 0]).expect("torn");
        let from_index = read_index(&path).expect("index");
        assert_eq!(from_index.size, whole);
        assert_eq!(from_index.duration_ms, 10_500);
        assert_eq!(from_index.keyframes.len(), 2);
        assert_eq!(from_index.keyframes[0].offset, MAGIC.len() as u64);
        std::fs::remove_file(&idx).expect("rm");
        assert_eq!(read_index(&path).expect("scan"), from_index);
        // A torn index line falls back to the scan too.
        std::fs::write(&idx, "{\"t_ms\":0,\"off").expect("write");
        assert_eq!(read_index(&path).expect("scan"), from_index);
    }
}
