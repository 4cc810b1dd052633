//! The durable record of a desktop session: `<id>.desktop` (the format of
//! [`vigil_wire::recording`]), its keyframe index `<id>.desktop.idx` (one
//! [`IndexEntry`] JSON a line) and the keystroke log `<id>.keys.jsonl`.
//!
//! Like the terminal recorder, every record is one unbuffered `write(2)` made inline by
//! the session, so nothing is dropped or reordered and a SIGKILLed relay leaves whole
//! records (at worst one torn tail, which readers stop at).

use std::fs::File;
use std::io::{self, BufRead, BufReader, Read, Seek, SeekFrom, Write};
use std::path::Path;

use vigil_wire::api::Keystroke;
use vigil_wire::recording::{
    self, IndexBuilder, IndexEntry, Kind, RecordingIndex, HEADER_LEN, MAGIC,
};

use crate::recording::{create_record_dir, create_record_file, KeyLog};

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
        create_record_dir(path)?;
        let mut file = create_record_file(path)?;
        let index = create_record_file(index_path)?;
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
        let started = std::time::Instant::now();
        let bytes = recording::encode(kind, t_ms, payload);
        self.file.write_all(&bytes)?;
        crate::metrics::timed(crate::metrics::RECORDING_WRITE_SECONDS, started.elapsed());
        self.offset += bytes.len() as u64;
        crate::metrics::recorded(bytes.len());
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
        self.index.write_all(line.as_bytes())?;
        crate::metrics::recorded(line.len());
        Ok(())
    }

    fn keystroke(&mut self, keystroke: &Keystroke) -> io::Result<()> {
        self.keys.write(keystroke)
    }
}

/// The index of the recording at `path`. Reads record headers only, never payloads: the
/// keyframes listed in `<path>.idx` are checked against the file (each must be a `Params`
/// record followed by a `Keyframe`), and only the records after the last good one are
/// walked. Without a usable index the walk starts at the beginning.
pub(crate) fn read_index(path: &Path) -> io::Result<RecordingIndex> {
    let mut file = BufReader::with_capacity(16 * 1024, File::open(path)?);
    let len = file.get_ref().metadata()?.len();
    let mut magic = [0; MAGIC.len()];
    if file.read_exact(&mut magic).is_err() || &magic != MAGIC {
        return Err(io::Error::new(
            io::ErrorKind::InvalidData,
            recording::FormatError::BadMagic,
        ));
    }
    let mut idx_path = path.as_os_str().to_owned();
    idx_path.push(".idx");
    let listed = File::open(&idx_path)
        .map(|f| trusted_entries(f, &mut file, len))
        .unwrap_or_default();
    let mut index = IndexBuilder::resume(listed);
    walk(&mut file, len, &mut index)?;
    Ok(index.finish())
}

/// The header of the record at `offset`, if a whole header lies within `len`.
fn header_at(
    file: &mut BufReader<File>,
    offset: u64,
    len: u64,
) -> io::Result<Option<(Kind, u32, u32)>> {
    // Offsets may come from the sidecar file: no arithmetic on them may overflow.
    if offset.saturating_add(HEADER_LEN as u64) > len {
        return Ok(None);
    }
    file.seek(SeekFrom::Start(offset))?;
    let mut h = [0; HEADER_LEN];
    file.read_exact(&mut h)?;
    recording::parse_header(&h, offset)
        .map(Some)
        .map_err(|e| io::Error::new(io::ErrorKind::InvalidData, e))
}

/// The index lines, up to the first that is torn or does not match the file.
fn trusted_entries(index: File, file: &mut BufReader<File>, len: u64) -> Vec<IndexEntry> {
    let mut good: Vec<IndexEntry> = Vec::new();
    for line in BufReader::new(index).lines() {
        let Some(entry) = line
            .ok()
            .and_then(|l| serde_json::from_str::<IndexEntry>(&l).ok())
        else {
            break;
        };
        let ordered = good.last().is_none_or(|k| k.offset < entry.offset);
        let params = header_at(file, entry.offset, len).ok().flatten();
        let matches = match params {
            Some((Kind::Params, t, plen)) if t == entry.t_ms && ordered => {
                let next = entry
                    .offset
                    .saturating_add(HEADER_LEN as u64)
                    .saturating_add(u64::from(plen));
                matches!(
                    header_at(file, next, len),
                    Ok(Some((Kind::Keyframe, _, klen)))
                        if next.saturating_add(HEADER_LEN as u64).saturating_add(u64::from(klen)) <= len
                )
            }
            _ => false,
        };
        if !matches {
            break;
        }
        good.push(entry);
    }
    good
}

/// Feeds `index` the headers of the whole records from its next offset on; stops at the
/// end of the file or at a torn tail.
fn walk(file: &mut BufReader<File>, len: u64, index: &mut IndexBuilder) -> io::Result<()> {
    file.seek(SeekFrom::Start(index.next_offset()))?;
    loop {
        let offset = index.next_offset();
        if offset.saturating_add(HEADER_LEN as u64) > len {
            return Ok(());
        }
        let mut h = [0; HEADER_LEN];
        file.read_exact(&mut h)?;
        let (kind, t_ms, plen) = recording::parse_header(&h, offset)
            .map_err(|e| io::Error::new(io::ErrorKind::InvalidData, e))?;
        if offset
            .saturating_add(HEADER_LEN as u64)
            .saturating_add(u64::from(plen))
            > len
        {
            return Ok(());
        }
        index.record(kind, t_ms, plen);
        file.seek_relative(i64::from(plen))?;
    }
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
        // So do entries that do not point at a keyframe, and those the file does not reach.
        let first = serde_json::to_string(&from_index.keyframes[0]).expect("json");
        std::fs::write(&idx, format!("{first}\n{{\"t_ms\":40,\"offset\":27}}\n")).expect("write");
        assert_eq!(read_index(&path).expect("checked"), from_index);
        std::fs::write(
            &idx,
            format!("{first}\n{{\"t_ms\":99,\"offset\":{whole}}}\n"),
        )
        .expect("write");
        assert_eq!(read_index(&path).expect("checked"), from_index);
        // An offset at the end of u64 must not overflow (it panicked in debug builds).
        std::fs::write(
            &idx,
            format!("{first}\n{{\"t_ms\":99,\"offset\":{}}}\n", u64::MAX),
        )
        .expect("write");
        assert_eq!(read_index(&path).expect("checked"), from_index);
    }

    #[test]
    fn a_file_that_is_not_a_recording_is_an_error() {
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join("x.desktop");
        std::fs::write(&path, b"VGDESK0").expect("write");
        assert!(read_index(&path).is_err());
        let mut bad = MAGIC.to_vec();
        bad.extend([9, 0, 0, 0, 0, 0, 0, 0, 0]);
        std::fs::write(&path, bad).expect("write");
        assert!(read_index(&path).is_err());
    }
}
