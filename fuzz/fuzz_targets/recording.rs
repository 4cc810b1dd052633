//! The desktop recording format: the record reader, the index scan, an index sidecar
//! (`IndexEntry` JSON a line) checked against the file and resumed from, and seek planning
//! over any `RecordingIndex` (the app parses that JSON from the relay).
//!
//! Input layout: everything before the first `VGDESK01` is index text (sidecar lines, or one
//! `RecordingIndex` JSON); the recording file starts at the magic. Without a magic the whole
//! input is both.
#![no_main]

use libfuzzer_sys::fuzz_target;
use vigil_wire::recording::{
    next_span, parse_header, plan_seek, scan_index, IndexBuilder, IndexEntry, Kind, Reader,
    RecordingIndex, HEADER_LEN, MAGIC,
};

/// The header of the whole record at `offset`, if there is one.
fn header_at(file: &[u8], offset: u64) -> Option<(Kind, u32, u32)> {
    let start = usize::try_from(offset).ok()?;
    let h: &[u8; HEADER_LEN] = file
        .get(start..start.checked_add(HEADER_LEN)?)?
        .try_into()
        .ok()?;
    parse_header(h, offset).ok()
}

/// What the hub trusts from a sidecar: entries in order, each a `Params` record at its offset
/// with its time, followed by a whole `Keyframe` record.
fn trusted(text: &str, file: &[u8]) -> Vec<IndexEntry> {
    let mut good: Vec<IndexEntry> = Vec::new();
    for line in text.lines() {
        let Ok(entry) = serde_json::from_str::<IndexEntry>(line) else {
            break;
        };
        let ordered = good.last().is_none_or(|k| k.offset < entry.offset);
        let ok = match header_at(file, entry.offset) {
            Some((Kind::Params, t, plen)) if t == entry.t_ms && ordered => {
                let next = entry.offset + HEADER_LEN as u64 + u64::from(plen);
                matches!(header_at(file, next), Some((Kind::Keyframe, _, klen))
                    if next + HEADER_LEN as u64 + u64::from(klen) <= file.len() as u64)
            }
            _ => false,
        };
        if !ok {
            break;
        }
        good.push(entry);
    }
    good
}

fn check_seeks(idx: &RecordingIndex) {
    let mut times = vec![0, u32::MAX, idx.duration_ms];
    for k in idx.keyframes.iter().take(64) {
        times.extend([k.t_ms, k.t_ms.saturating_sub(1), k.t_ms.saturating_add(1)]);
    }
    for t in times {
        let span = plan_seek(idx, t);
        assert!(span.start <= span.end);
        let _ = span.range_header();
        let _ = span.is_empty();
        if let Some(next) = next_span(idx, span.end) {
            assert!(next.start <= next.end);
        }
    }
}

fuzz_target!(|data: &[u8]| {
    let (index_text, file) = match data.windows(MAGIC.len()).position(|w| w == MAGIC) {
        Some(at) => data.split_at(at),
        None => (data, data),
    };
    let index_text = String::from_utf8_lossy(index_text);

    // The record scanner from any boundary: offsets ascend, never past what was consumed.
    let mut reader = Reader::at(data, 3);
    while let Ok(Some(r)) = reader.next_record() {
        assert!(
            r.offset >= 3
                && r.offset - 3 + (HEADER_LEN + r.payload.len()) as u64 == reader.consumed() as u64
        );
    }
    assert!(reader.consumed() <= data.len());

    if let Ok(mut reader) = Reader::file(file) {
        let mut last = None;
        while let Ok(Some(r)) = reader.next_record() {
            assert!(last.is_none_or(|o| o < r.offset));
            last = Some(r.offset);
        }
        assert!(reader.consumed() <= file.len());
    }

    if let Ok(idx) = scan_index(file) {
        assert!(idx.size <= file.len() as u64);
        for k in &idx.keyframes {
            let start = usize::try_from(k.offset).expect("offset within the file");
            let first = Reader::at(&file[start..], k.offset).next_record();
            assert!(matches!(first, Ok(Some(r)) if r.kind == Kind::Params && r.offset == k.offset));
        }
        check_seeks(&idx);

        // Resuming from the part of a sidecar that checks out against the file (as the hub
        // does) stays within the file. Not equal to the scan in general: a forged sidecar can
        // point into a payload that looks like a Params + Keyframe pair.
        let entries = trusted(&index_text, file);
        let mut builder = IndexBuilder::resume(entries);
        let start = usize::try_from(builder.next_offset()).expect("offset within the file");
        let mut reader = Reader::at(&file[start..], builder.next_offset());
        while let Ok(Some(r)) = reader.next_record() {
            builder.record(r.kind, r.t_ms, r.payload.len() as u32);
        }
        let resumed = builder.finish();
        assert!(resumed.size <= file.len() as u64);
        assert!(resumed.keyframes.iter().all(|k| k.offset < resumed.size));
        check_seeks(&resumed);
    }

    // Seek planning over any index the app might be given.
    if let Ok(idx) = serde_json::from_str::<RecordingIndex>(&index_text) {
        check_seeks(&idx);
    }
});
