//! Desktop replay, the pure half: the records of a fetched span (which span a seek needs
//! is `vigil_wire::recording::plan_seek`), and frame counting for the decode benchmark.

use ironrdp_core::{decode_cursor, ReadCursor};
use ironrdp_pdu::fast_path::{
    FastPathHeader, FastPathUpdate, FastPathUpdatePdu, Fragmentation, UpdateCode,
};
use ironrdp_pdu::surface_commands::{FrameAction, SurfaceCommand};
use vigil_wire::recording::{FormatError, Kind, Reader};

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
    use vigil_wire::recording::{encode, MAGIC};

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
