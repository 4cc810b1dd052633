//! Vigil's desktop (RDP) recording format, version 1. The relay writes it; the browser
//! replays it with the same fast-path decoder as the live view.
//!
//! A file is [`MAGIC`] followed by records `[kind u8][t_ms u32 BE][len u32 BE][payload]`,
//! appended and flushed one at a time, so a relay killed mid-session leaves a file that
//! reads up to its last whole record ([`Reader`] stops at a torn tail).
//!
//! Seeking: at intervals the relay writes a [`Kind::Params`] record immediately followed
//! by a [`Kind::Keyframe`]; a seek starts at such a `Params` record. The offsets of those
//! records are also listed in an index ([`IndexEntry`], one JSON object a line in a file
//! beside the recording), which the relay can rebuild by scanning when it is missing.

use serde::{Deserialize, Serialize};

pub const MAGIC: &[u8; 8] = b"VGDESK01";
/// Size of a record's header.
pub const HEADER_LEN: usize = 9;
/// [`MAGIC`]'s length, and [`HEADER_LEN`], as file offsets.
const MAGIC_LEN_U64: u64 = 8;
const HEADER_LEN_U64: u64 = 9;

/// A `u32` length as a `usize` (lossless on every target Vigil builds for).
fn usize_of(n: u32) -> usize {
    usize::try_from(n).unwrap_or(usize::MAX)
}

/// A `usize` position as a file offset (lossless on every target Vigil builds for).
fn u64_of(n: usize) -> u64 {
    u64::try_from(n).unwrap_or(u64::MAX)
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[repr(u8)]
pub enum Kind {
    /// JSON [`crate::desktop::DesktopParams`]: (re)build the decoder.
    Params = 1,
    /// One fast-path graphics PDU.
    Graphics = 2,
    /// A complete picture: same payload as `ServerMsg::DesktopSnapshot` (zlib-compressed
    /// fast-path PDUs). Always directly after a `Params` record.
    Keyframe = 3,
    /// UTF-8 text: `lock`, `unlock`, `terminate: …`.
    Marker = 4,
}

impl Kind {
    fn to_u8(self) -> u8 {
        match self {
            Kind::Params => 1,
            Kind::Graphics => 2,
            Kind::Keyframe => 3,
            Kind::Marker => 4,
        }
    }

    fn from_u8(b: u8) -> Option<Kind> {
        Some(match b {
            1 => Kind::Params,
            2 => Kind::Graphics,
            3 => Kind::Keyframe,
            4 => Kind::Marker,
            _ => return None,
        })
    }
}

/// One line of the keyframe index.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct IndexEntry {
    pub t_ms: u32,
    /// Byte offset of the `Params` record that starts the keyframe.
    pub offset: u64,
}

/// What `GET /api/v1/sessions/{id}/recording/index` answers for a desktop recording.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RecordingIndex {
    pub duration_ms: u32,
    /// Size in bytes of the recording file (whole records only).
    pub size: u64,
    pub keyframes: Vec<IndexEntry>,
}

/// Encodes one record.
pub fn encode(kind: Kind, t_ms: u32, payload: &[u8]) -> Vec<u8> {
    let len = u32::try_from(payload.len()).unwrap_or(u32::MAX);
    let mut out = Vec::with_capacity(HEADER_LEN + payload.len());
    out.push(kind.to_u8());
    out.extend_from_slice(&t_ms.to_be_bytes());
    out.extend_from_slice(&len.to_be_bytes());
    out.extend_from_slice(&payload[..usize_of(len)]);
    out
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Record<'a> {
    /// Offset of the record's first byte in the buffer the reader was given, plus the
    /// reader's base offset.
    pub offset: u64,
    pub kind: Kind,
    pub t_ms: u32,
    pub payload: &'a [u8],
}

#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum FormatError {
    #[error("not a Vigil desktop recording")]
    BadMagic,
    #[error("unknown record kind {kind} at offset {offset}")]
    UnknownKind { kind: u8, offset: u64 },
}

/// Iterates over the whole records of a buffer. The buffer may start at the file's
/// beginning ([`Reader::file`], which checks the magic) or at any record boundary
/// ([`Reader::at`], e.g. a keyframe offset fetched with an HTTP range). A torn last
/// record ends the iteration; [`Reader::consumed`] tells how far it got.
pub struct Reader<'a> {
    buf: &'a [u8],
    pos: usize,
    base: u64,
}

impl<'a> Reader<'a> {
    pub fn file(buf: &'a [u8]) -> Result<Reader<'a>, FormatError> {
        if buf.len() < MAGIC.len() || &buf[..MAGIC.len()] != MAGIC {
            return Err(FormatError::BadMagic);
        }
        Ok(Reader {
            buf,
            pos: MAGIC.len(),
            base: 0,
        })
    }

    /// `buf` starts at byte `base` of the file, on a record boundary.
    pub fn at(buf: &'a [u8], base: u64) -> Reader<'a> {
        Reader { buf, pos: 0, base }
    }

    /// Bytes of `buf` consumed by whole records so far.
    pub fn consumed(&self) -> usize {
        self.pos
    }

    pub fn next_record(&mut self) -> Result<Option<Record<'a>>, FormatError> {
        let rest = &self.buf[self.pos..];
        if rest.len() < HEADER_LEN {
            return Ok(None);
        }
        let offset = self.base + u64_of(self.pos);
        let mut header = [0; HEADER_LEN];
        header.copy_from_slice(&rest[..HEADER_LEN]);
        let (kind, t_ms, len) = parse_header(&header, offset)?;
        let len = usize_of(len);
        let Some(payload) = rest.get(HEADER_LEN..HEADER_LEN + len) else {
            return Ok(None);
        };
        self.pos += HEADER_LEN + len;
        Ok(Some(Record {
            offset,
            kind,
            t_ms,
            payload,
        }))
    }
}

/// A record's header: kind, time and payload length.
pub fn parse_header(h: &[u8; HEADER_LEN], offset: u64) -> Result<(Kind, u32, u32), FormatError> {
    let kind = Kind::from_u8(h[0]).ok_or(FormatError::UnknownKind { kind: h[0], offset })?;
    let t_ms = u32::from_be_bytes([h[1], h[2], h[3], h[4]]);
    let len = u32::from_be_bytes([h[5], h[6], h[7], h[8]]);
    Ok((kind, t_ms, len))
}

/// Builds a [`RecordingIndex`] from whole records' headers, fed in file order. Without IO:
/// [`scan_index`] feeds it from memory, the relay from headers read off the disk.
#[derive(Debug, Clone)]
pub struct IndexBuilder {
    keyframes: Vec<IndexEntry>,
    duration_ms: u32,
    /// End of the last whole record.
    size: u64,
    pending_params: Option<IndexEntry>,
}

impl Default for IndexBuilder {
    fn default() -> Self {
        IndexBuilder {
            keyframes: Vec::new(),
            duration_ms: 0,
            size: MAGIC_LEN_U64,
            pending_params: None,
        }
    }
}

impl IndexBuilder {
    /// Continues from `keyframes` already known (a trusted index): the records fed next
    /// start at the last one's offset, which that entry must be.
    pub fn resume(mut keyframes: Vec<IndexEntry>) -> IndexBuilder {
        let last = keyframes.pop();
        IndexBuilder {
            keyframes,
            size: last.map_or(MAGIC_LEN_U64, |k| k.offset),
            ..IndexBuilder::default()
        }
    }

    /// Where the next record must start.
    pub fn next_offset(&self) -> u64 {
        self.size
    }

    /// One whole record at [`IndexBuilder::next_offset`].
    pub fn record(&mut self, kind: Kind, t_ms: u32, len: u32) {
        let offset = self.size;
        self.duration_ms = self.duration_ms.max(t_ms);
        match kind {
            Kind::Params => self.pending_params = Some(IndexEntry { t_ms, offset }),
            Kind::Keyframe => self.keyframes.extend(self.pending_params.take()),
            _ => self.pending_params = None,
        }
        self.size = offset + HEADER_LEN_U64 + u64::from(len);
    }

    pub fn finish(self) -> RecordingIndex {
        RecordingIndex {
            duration_ms: self.duration_ms,
            size: self.size,
            keyframes: self.keyframes,
        }
    }
}

/// Rebuilds the index of a recording held in memory by scanning it (for a file whose
/// index is missing or torn).
pub fn scan_index(file: &[u8]) -> Result<RecordingIndex, FormatError> {
    let mut reader = Reader::file(file)?;
    let mut index = IndexBuilder::default();
    while let Some(r) = reader.next_record()? {
        index.record(
            r.kind,
            r.t_ms,
            u32::try_from(r.payload.len()).unwrap_or(u32::MAX),
        );
    }
    Ok(index.finish())
}

/// A byte range of the recording file, `end` exclusive: what a replay fetches.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Span {
    pub start: u64,
    pub end: u64,
}

impl Span {
    /// The HTTP `Range` header value (inclusive end).
    pub fn range_header(&self) -> String {
        format!("bytes={}-{}", self.start, self.end.saturating_sub(1))
    }

    pub fn is_empty(&self) -> bool {
        self.end <= self.start
    }
}

/// The span a seek to `t_ms` must fetch: from the last keyframe at or before `t_ms` (the
/// first one when `t_ms` is earlier; the first record when there is no keyframe) to the
/// next keyframe (or the end of the file).
pub fn plan_seek(idx: &RecordingIndex, t_ms: u32) -> Span {
    let first_record = MAGIC_LEN_U64;
    let at = idx
        .keyframes
        .iter()
        .rposition(|k| k.t_ms <= t_ms)
        .or((!idx.keyframes.is_empty()).then_some(0));
    let start = at.map_or(first_record, |i| idx.keyframes[i].offset);
    span_from(idx, start)
}

/// The span after one that ended at `offset`, or `None` at the end of the file.
pub fn next_span(idx: &RecordingIndex, offset: u64) -> Option<Span> {
    (offset < idx.size).then(|| span_from(idx, offset))
}

fn span_from(idx: &RecordingIndex, start: u64) -> Span {
    let end = idx
        .keyframes
        .iter()
        .map(|k| k.offset)
        .find(|&o| o > start)
        .unwrap_or(idx.size)
        .max(start);
    Span { start, end }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn file(records: &[(Kind, u32, &[u8])]) -> Vec<u8> {
        let mut out = MAGIC.to_vec();
        for (k, t, p) in records {
            out.extend(encode(*k, *t, p));
        }
        out
    }

    #[test]
    fn records_round_trip_and_a_torn_tail_is_ignored() {
        let mut f = file(&[
            (Kind::Params, 0, b"{}"),
            (Kind::Keyframe, 0, b"kf"),
            (Kind::Graphics, 40, b"pdu"),
        ]);
        let whole = f.len();
        f.extend(&encode(Kind::Graphics, 80, b"torn")[..6]);
        let mut r = Reader::file(&f).expect("magic");
        let kinds: Vec<_> = std::iter::from_fn(|| r.next_record().ok().flatten())
            .map(|r| (r.kind, r.t_ms))
            .collect();
        assert_eq!(
            kinds,
            [(Kind::Params, 0), (Kind::Keyframe, 0), (Kind::Graphics, 40)]
        );
        assert_eq!(r.consumed(), whole);
    }

    #[test]
    fn index_finds_keyframes_and_reader_starts_at_one() {
        let f = file(&[
            (Kind::Params, 0, b"{}"),
            (Kind::Keyframe, 0, b"a"),
            (Kind::Graphics, 500, b"g"),
            (Kind::Marker, 700, b"lock"),
            (Kind::Params, 10_000, b"{}"),
            (Kind::Keyframe, 10_000, b"b"),
            (Kind::Graphics, 12_000, b"h"),
        ]);
        let idx = scan_index(&f).expect("scan");
        assert_eq!(idx.duration_ms, 12_000);
        assert_eq!(idx.keyframes.len(), 2);
        assert_eq!(idx.size, u64_of(f.len()));
        assert_eq!(
            (MAGIC_LEN_U64, HEADER_LEN_U64),
            (u64_of(MAGIC.len()), u64_of(HEADER_LEN))
        );
        let second = idx.keyframes[1];
        let at = usize::try_from(second.offset).expect("offset fits");
        let mut r = Reader::at(&f[at..], second.offset);
        let first = r.next_record().expect("ok").expect("record");
        assert_eq!(
            (first.kind, first.t_ms, first.offset),
            (Kind::Params, 10_000, second.offset)
        );
    }

    #[test]
    fn garbage_is_an_error_not_a_panic() {
        assert_eq!(Reader::file(b"nope").err(), Some(FormatError::BadMagic));
        let mut f = MAGIC.to_vec();
        f.extend([9u8, 0, 0, 0, 0, 0, 0, 0, 0]);
        let mut r = Reader::file(&f).expect("magic");
        assert!(matches!(
            r.next_record(),
            Err(FormatError::UnknownKind { kind: 9, .. })
        ));
    }

    fn idx() -> RecordingIndex {
        RecordingIndex {
            duration_ms: 30_000,
            size: 9_000,
            keyframes: vec![
                IndexEntry { t_ms: 0, offset: 8 },
                IndexEntry {
                    t_ms: 10_000,
                    offset: 3_000,
                },
                IndexEntry {
                    t_ms: 20_000,
                    offset: 6_000,
                },
            ],
        }
    }

    #[test]
    fn seek_starts_at_the_last_keyframe_before_t() {
        let i = idx();
        assert_eq!(
            plan_seek(&i, 0),
            Span {
                start: 8,
                end: 3_000
            }
        );
        assert_eq!(
            plan_seek(&i, 9_999),
            Span {
                start: 8,
                end: 3_000
            }
        );
        assert_eq!(
            plan_seek(&i, 10_000),
            Span {
                start: 3_000,
                end: 6_000
            }
        );
        assert_eq!(
            plan_seek(&i, 25_000),
            Span {
                start: 6_000,
                end: 9_000
            }
        );
        assert_eq!(
            plan_seek(&i, 99_999),
            Span {
                start: 6_000,
                end: 9_000
            }
        );
        assert_eq!(plan_seek(&i, 25_000).range_header(), "bytes=6000-8999");
    }

    #[test]
    fn seek_before_the_first_keyframe_and_without_any() {
        let mut i = idx();
        i.keyframes[0].t_ms = 500;
        assert_eq!(plan_seek(&i, 100).start, 8);
        i.keyframes.clear();
        assert_eq!(
            plan_seek(&i, 100),
            Span {
                start: 8,
                end: 9_000
            }
        );
    }

    #[test]
    fn spans_follow_one_another_to_the_end() {
        let i = idx();
        assert_eq!(
            next_span(&i, 3_000),
            Some(Span {
                start: 3_000,
                end: 6_000
            })
        );
        assert_eq!(
            next_span(&i, 6_000),
            Some(Span {
                start: 6_000,
                end: 9_000
            })
        );
        // A span ending between keyframes (torn fetch) resumes up to the next keyframe.
        assert_eq!(
            next_span(&i, 4_000),
            Some(Span {
                start: 4_000,
                end: 6_000
            })
        );
        assert_eq!(next_span(&i, 9_000), None);
    }
}
