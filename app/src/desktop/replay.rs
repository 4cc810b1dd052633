//! Desktop replay, the pure half: which bytes of a recording a seek needs, the records of
//! a fetched span, and frame counting for the decode benchmark.

use ironrdp_core::{decode_cursor, ReadCursor};
use ironrdp_pdu::fast_path::{
    FastPathHeader, FastPathUpdate, FastPathUpdatePdu, Fragmentation, UpdateCode,
};
use ironrdp_pdu::surface_commands::{FrameAction, SurfaceCommand};
use vigil_wire::recording::{FormatError, Kind, Reader, RecordingIndex, MAGIC};

/// A byte range of the recording file, `end` exclusive.
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
    let first_record = MAGIC.len() as u64;
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

/// One record of a [`Segment`]: its payload is `bytes[start..end]`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Rec {
    pub kind: Kind,
    pub t_ms: u32,
    pub start: usize,
    pub end: usize,
}

/// A fetched part of a recording, parsed into records.
pub struct Segment {
    pub bytes: Vec<u8>,
    /// File offset of `bytes[0]`.
    pub base: u64,
    pub recs: Vec<Rec>,
    /// File offset just past the last whole record.
    pub end: u64,
}

impl Segment {
    /// `bytes` starts at file offset `base` on a record boundary.
    pub fn at(bytes: Vec<u8>, base: u64) -> Result<Segment, FormatError> {
        let mut reader = Reader::at(&bytes, base);
        Self::collect(&mut reader, base).map(|(recs, consumed)| Segment {
            end: base + consumed as u64,
            recs,
            base,
            bytes,
        })
    }

    /// A whole file (starts with the magic).
    pub fn file(bytes: Vec<u8>) -> Result<Segment, FormatError> {
        let mut reader = Reader::file(&bytes)?;
        Self::collect(&mut reader, 0).map(|(recs, consumed)| Segment {
            end: consumed as u64,
            recs,
            base: 0,
            bytes,
        })
    }

    fn collect(reader: &mut Reader<'_>, base: u64) -> Result<(Vec<Rec>, usize), FormatError> {
        let mut recs = Vec::new();
        while let Some(r) = reader.next_record()? {
            let start = usize::try_from(r.offset - base).unwrap_or(usize::MAX)
                + vigil_wire::recording::HEADER_LEN;
            recs.push(Rec {
                kind: r.kind,
                t_ms: r.t_ms,
                start,
                end: start + r.payload.len(),
            });
        }
        Ok((recs, reader.consumed()))
    }

    pub fn payload(&self, r: &Rec) -> &[u8] {
        self.bytes.get(r.start..r.end).unwrap_or_default()
    }

    /// Index of the first record at or after `from` that is later than `t_ms`.
    pub fn due(&self, from: usize, t_ms: u32) -> usize {
        let rest = self.recs.get(from..).unwrap_or_default();
        from + rest.partition_point(|r| r.t_ms <= t_ms)
    }
}

/// Counts End frame markers in a fast-path stream (RemoteFX streams carry them; plain
/// bitmap streams do not). Fragmented updates are reassembled to see markers inside them.
#[derive(Default)]
pub struct FrameCounter {
    frag: Option<(UpdateCode, Vec<u8>)>,
}

impl FrameCounter {
    /// End frame markers in one PDU.
    pub fn frame_ends(&mut self, pdu: &[u8]) -> usize {
        let mut n = 0;
        let mut cur = ReadCursor::new(pdu);
        if decode_cursor::<FastPathHeader>(&mut cur).is_err() {
            return 0;
        }
        while !cur.is_empty() {
            let Ok(update) = decode_cursor::<FastPathUpdatePdu<'_>>(&mut cur) else {
                return n;
            };
            match update.fragmentation {
                Fragmentation::Single => {
                    self.frag = None;
                    n += count(update.update_code, update.data);
                }
                Fragmentation::First => {
                    self.frag = Some((update.update_code, update.data.to_vec()))
                }
                Fragmentation::Next => {
                    if let Some((_, buf)) = self.frag.as_mut() {
                        buf.extend_from_slice(update.data);
                    }
                }
                Fragmentation::Last => {
                    if let Some((code, mut buf)) = self.frag.take() {
                        buf.extend_from_slice(update.data);
                        n += count(code, &buf);
                    }
                }
            }
        }
        n
    }
}

fn count(code: UpdateCode, data: &[u8]) -> usize {
    if code != UpdateCode::SurfaceCommands {
        return 0;
    }
    match FastPathUpdate::decode_with_code(data, code) {
        Ok(FastPathUpdate::SurfaceCommands(cmds)) => cmds
            .iter()
            .filter(|c| matches!(c, SurfaceCommand::FrameMarker(m) if m.frame_action == FrameAction::End))
            .count(),
        _ => 0,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use vigil_wire::recording::{encode, IndexEntry};

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

    #[test]
    fn segment_records_and_due() {
        let mut bytes = Vec::new();
        bytes.extend(encode(Kind::Params, 10_000, b"{}"));
        bytes.extend(encode(Kind::Keyframe, 10_000, b"kf"));
        bytes.extend(encode(Kind::Graphics, 10_040, b"g1"));
        bytes.extend(encode(Kind::Marker, 10_500, b"lock"));
        bytes.extend(encode(Kind::Graphics, 11_000, b"g2"));
        let whole = bytes.len() as u64;
        bytes.extend(&encode(Kind::Graphics, 12_000, b"torn")[..5]);
        let seg = Segment::at(bytes, 3_000).expect("parses");
        assert_eq!(seg.recs.len(), 5);
        assert_eq!(seg.end, 3_000 + whole);
        assert_eq!(seg.payload(&seg.recs[3]), b"lock");
        assert_eq!(seg.due(0, 9_000), 0);
        assert_eq!(seg.due(0, 10_000), 2);
        assert_eq!(seg.due(2, 10_600), 4);
        assert_eq!(seg.due(0, 99_000), 5);
        assert_eq!(seg.due(9, 99_000), 9);
    }

    #[test]
    fn file_segment_checks_the_magic() {
        assert!(Segment::file(b"nope".to_vec()).is_err());
        let mut f = MAGIC.to_vec();
        f.extend(encode(Kind::Graphics, 5, b"x"));
        let seg = Segment::file(f).expect("file");
        assert_eq!(seg.recs[0].t_ms, 5);
        assert_eq!(seg.payload(&seg.recs[0]), b"x");
    }

    #[test]
    fn frame_counter_ignores_garbage() {
        let mut c = FrameCounter::default();
        assert_eq!(c.frame_ends(&[]), 0);
        assert_eq!(c.frame_ends(&[0xff, 0xff, 0xff]), 0);
    }
}
