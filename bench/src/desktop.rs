//! Desktop recordings for the benchmarks: a long recording made by repeating a real one
//! ([`repeat_to`]), the keyframe sidecar the hub writes ([`index_sidecar`]), and the
//! picture the replay page must show after a seek, decoded natively ([`picture_at`]).

use std::io::Read as _;

use vigil_rdp::{Screen, SessionParams};
use vigil_wire::desktop::DesktopParams;
use vigil_wire::recording::{
    encode, plan_seek, scan_index, FormatError, Kind, Reader, RecordingIndex, Span, MAGIC,
};

#[derive(Debug, thiserror::Error)]
pub enum DesktopError {
    #[error(transparent)]
    Format(#[from] FormatError),
    #[error("the recording has no keyframe")]
    NoKeyframe,
    #[error("the repeated recording would pass u32::MAX milliseconds")]
    TooLong,
    #[error("bad keyframe: {0}")]
    Keyframe(&'static str),
    #[error("bad params record: {0}")]
    Params(#[from] serde_json::Error),
    #[error("{0} record before any params record")]
    NoParams(&'static str),
}

/// Points the relay at the benchmark bundle (`cargo xtask dist --bench`: the app with its
/// decode benchmark page and hidden timing figures), unless `VIGIL_DIST_DIR` names another.
pub fn use_bench_bundle() {
    if std::env::var_os("VIGIL_DIST_DIR").is_none() {
        let bundle = vigil_testkit::target_dir().join("dist-bench");
        std::env::set_var("VIGIL_DIST_DIR", bundle);
    }
}

/// A recording at least `min_ms` long made from a real one: the records before its first
/// keyframe as they are, then the rest (from that keyframe's `Params` record to the end)
/// again and again with shifted timestamps. Every copy starts with a `Params` + `Keyframe`
/// pair, so a decoder draws in each copy exactly what it drew in the original. A copy's
/// keyframe comes `keyframe_every_ms` after the previous copy's last keyframe (the hub's
/// spacing), or just after its last record if that is later. Markers (`terminate: …`)
/// are kept in the last copy only.
pub fn repeat_to(
    file: &[u8],
    min_ms: u32,
    keyframe_every_ms: u32,
) -> Result<Vec<u8>, DesktopError> {
    let idx = scan_index(file)?;
    let (first, last) = match (idx.keyframes.first(), idx.keyframes.last()) {
        (Some(f), Some(l)) => (*f, *l),
        _ => return Err(DesktopError::NoKeyframe),
    };
    let mut reader = Reader::file(file)?;
    let mut recs = Vec::new();
    while let Some(r) = reader.next_record()? {
        recs.push(r);
    }
    let at = recs
        .iter()
        .position(|r| r.offset == first.offset)
        .ok_or(DesktopError::NoKeyframe)?;
    let (head, body) = recs.split_at(at);
    let body_end = u64::from(body.last().map_or(first.t_ms, |r| r.t_ms));
    let body_bytes = idx.size - first.offset;
    let copies = u64::from(min_ms) / (body_end - u64::from(first.t_ms)).max(1) + 1;
    let mut out = Vec::with_capacity(usize::try_from(copies * body_bytes).unwrap_or(0));
    out.extend_from_slice(MAGIC);
    for r in head {
        out.extend(encode(r.kind, r.t_ms, r.payload));
    }
    let mut shift = 0u64;
    loop {
        let last_copy = body_end + shift >= u64::from(min_ms);
        for r in body {
            if r.kind == Kind::Marker && !last_copy {
                continue;
            }
            let t = u32::try_from(u64::from(r.t_ms) + shift).map_err(|_| DesktopError::TooLong)?;
            out.extend(encode(r.kind, t, r.payload));
        }
        if last_copy {
            return Ok(out);
        }
        let next =
            (body_end + shift + 1).max(u64::from(last.t_ms) + shift + u64::from(keyframe_every_ms));
        shift = next - u64::from(first.t_ms);
    }
}

/// The `.desktop.idx` sidecar for `idx`, as the hub writes it: one `IndexEntry` JSON a line.
pub fn index_sidecar(idx: &RecordingIndex) -> Result<String, DesktopError> {
    let mut out = String::new();
    for k in &idx.keyframes {
        out.push_str(&serde_json::to_string(k)?);
        out.push('\n');
    }
    Ok(out)
}

/// The fast-path PDUs of a keyframe (zlib of concatenated PDUs).
pub fn keyframe_pdus(z: &[u8]) -> Result<Vec<Vec<u8>>, DesktopError> {
    let mut raw = Vec::new();
    flate2::read::ZlibDecoder::new(z)
        .read_to_end(&mut raw)
        .map_err(|_| DesktopError::Keyframe("not zlib"))?;
    let mut pdus = Vec::new();
    let mut rest = &raw[..];
    while !rest.is_empty() {
        let len = match rest {
            [_, b, c, ..] if b & 0x80 != 0 => (usize::from(b & 0x7f) << 8) | usize::from(*c),
            [_, b, ..] if b & 0x80 == 0 => usize::from(*b),
            _ => return Err(DesktopError::Keyframe("truncated")),
        };
        if len == 0 || len > rest.len() {
            return Err(DesktopError::Keyframe("bad PDU length"));
        }
        pdus.push(rest[..len].to_vec());
        rest = &rest[len..];
    }
    Ok(pdus)
}

/// A decoder like the browser's for a `Params` record.
pub fn screen_for(p: &DesktopParams) -> Screen {
    Screen::new(&SessionParams {
        io_channel_id: p.io_channel_id,
        user_channel_id: p.user_channel_id,
        share_id: p.share_id,
        width: p.width,
        height: p.height,
        input_flags: 0,
    })
}

/// FNV-1a over the R, G and B bytes of RGBA pixels (a canvas's alpha is always 255 and a
/// decoder's is meaningless, so it is left out). The page computes the same.
pub fn fnv1a_rgb(rgba: &[u8]) -> u32 {
    let mut h = 0x811c_9dc5_u32;
    for px in rgba.chunks_exact(4) {
        for &b in &px[..3] {
            h = (h ^ u32::from(b)).wrapping_mul(16_777_619);
        }
    }
    h
}

/// What the replay page shows after a seek.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Picture {
    pub width: u16,
    pub height: u16,
    /// [`fnv1a_rgb`] of the picture.
    pub hash: u32,
    /// Records decoded to get there (keyframe included).
    pub records: usize,
    /// Decoder errors on the way (the page counts them too; 0 expected).
    pub errors: u64,
}

/// The picture after a seek to `t_ms`, as the replay page makes it: the span of
/// [`plan_seek`], its records with a time at or before `t_ms` (`Segment::due`) fed to a
/// decoder that every `Params` record rebuilds. `None` when nothing is due (the page then
/// leaves the canvas as it was).
pub fn picture_at(
    file: &[u8],
    idx: &RecordingIndex,
    t_ms: u32,
) -> Result<Option<Picture>, DesktopError> {
    let Span { start, end } = plan_seek(idx, t_ms);
    let span = usize::try_from(start)
        .ok()
        .zip(usize::try_from(end).ok())
        .and_then(|(s, e)| file.get(s..e))
        .ok_or(DesktopError::Keyframe("span outside the file"))?;
    let mut reader = Reader::at(span, start);
    let mut recs = Vec::new();
    while let Some(r) = reader.next_record()? {
        recs.push(r);
    }
    let due = recs.partition_point(|r| r.t_ms <= t_ms);
    let mut screen: Option<Screen> = None;
    for r in &recs[..due] {
        match r.kind {
            Kind::Params => screen = Some(screen_for(&serde_json::from_slice(r.payload)?)),
            Kind::Keyframe => {
                let s = screen.as_mut().ok_or(DesktopError::NoParams("keyframe"))?;
                for pdu in keyframe_pdus(r.payload)? {
                    s.feed(&pdu);
                }
            }
            Kind::Graphics => screen
                .as_mut()
                .ok_or(DesktopError::NoParams("graphics"))?
                .feed(r.payload),
            Kind::Marker => {}
        }
    }
    Ok(screen.map(|s| Picture {
        width: s.width(),
        height: s.height(),
        hash: fnv1a_rgb(s.rgba()),
        records: due,
        errors: s.errors(),
    }))
}

/// The `p` quantile (0..=1) of sorted values, nearest rank; 0 when empty.
pub fn percentile(sorted: &[f64], p: f64) -> f64 {
    if sorted.is_empty() {
        return 0.0;
    }
    let i = ((sorted.len() - 1) as f64 * p).round() as usize;
    sorted[i.min(sorted.len() - 1)]
}

#[cfg(test)]
mod tests {
    use super::*;
    use vigil_wire::recording::IndexEntry;

    fn file(records: &[(Kind, u32, &[u8])]) -> Vec<u8> {
        let mut out = MAGIC.to_vec();
        for (k, t, p) in records {
            out.extend(encode(*k, *t, p));
        }
        out
    }

    fn records(f: &[u8]) -> Vec<(Kind, u32, Vec<u8>)> {
        let mut r = Reader::file(f).expect("magic");
        std::iter::from_fn(|| r.next_record().expect("whole records"))
            .map(|r| (r.kind, r.t_ms, r.payload.to_vec()))
            .collect()
    }

    #[test]
    fn repeats_from_the_first_keyframe_until_long_enough() {
        let original = file(&[
            (Kind::Graphics, 10, b"pre"),
            (Kind::Params, 100, b"{}"),
            (Kind::Keyframe, 100, b"k1"),
            (Kind::Graphics, 5_000, b"g1"),
            (Kind::Params, 10_100, b"{}"),
            (Kind::Keyframe, 10_100, b"k2"),
            (Kind::Graphics, 14_000, b"g2"),
            (Kind::Marker, 14_000, b"terminate: done"),
        ]);
        let long = repeat_to(&original, 60_000, 10_000).expect("repeats");
        let recs = records(&long);
        let idx = scan_index(&long).expect("scan");

        // The head once, then copies of the 6-record body, each starting at a keyframe.
        assert_eq!(recs[0], (Kind::Graphics, 10, b"pre".to_vec()));
        let body = &recs[1..];
        let starts: Vec<u32> = idx.keyframes.iter().step_by(2).map(|k| k.t_ms).collect();
        // The next copy's keyframe comes 10 s after the previous copy's last one.
        assert_eq!(starts, [100, 20_100, 40_100, 60_100]);
        assert!(idx.duration_ms >= 60_000);
        assert_eq!(idx.duration_ms, 60_100 + 13_900);
        assert!(
            body.windows(2).all(|w| w[0].1 <= w[1].1),
            "time never goes back"
        );
        // Three copies without the marker, then the last one with it; times shifted.
        assert_eq!(body.len(), 3 * 6 + 7);
        for (copy, shift) in body.chunks(6).take(3).zip([0, 20_000, 40_000]) {
            let got: Vec<(Kind, u32)> = copy.iter().map(|r| (r.0, r.1)).collect();
            let want: Vec<(Kind, u32)> = [
                (Kind::Params, 100),
                (Kind::Keyframe, 100),
                (Kind::Graphics, 5_000),
                (Kind::Params, 10_100),
                (Kind::Keyframe, 10_100),
                (Kind::Graphics, 14_000),
            ]
            .iter()
            .map(|&(k, t)| (k, t + shift))
            .collect();
            assert_eq!(got, want);
        }
        // Payloads are the original ones; the marker only ends the last copy.
        let markers: Vec<_> = recs.iter().filter(|r| r.0 == Kind::Marker).collect();
        assert_eq!(markers.len(), 1);
        assert_eq!(
            recs.last().map(|r| r.2.as_slice()),
            Some(&b"terminate: done"[..])
        );
        assert_eq!(recs.iter().filter(|r| r.2 == b"g2").count(), 4);
        assert_eq!(idx.keyframes.len(), 8);
        assert_eq!(idx.size as usize, long.len());

        // The sidecar lists the same keyframes, one JSON object a line.
        let side = index_sidecar(&idx).expect("json");
        let parsed: Vec<IndexEntry> = side
            .lines()
            .map(|l| serde_json::from_str(l).expect("entry"))
            .collect();
        assert_eq!(parsed, idx.keyframes);
    }

    #[test]
    fn copies_follow_the_last_record_when_it_is_late() {
        // The last record is 15 s after the last keyframe: the next copy starts after it.
        let original = file(&[
            (Kind::Params, 0, b"{}"),
            (Kind::Keyframe, 0, b"k"),
            (Kind::Graphics, 15_000, b"g"),
        ]);
        let idx = scan_index(&repeat_to(&original, 30_002, 10_000).expect("ok")).expect("scan");
        let starts: Vec<u32> = idx.keyframes.iter().map(|k| k.t_ms).collect();
        assert_eq!(starts, [0, 15_001, 30_002]);
    }

    #[test]
    fn no_keyframe_is_an_error() {
        let original = file(&[(Kind::Graphics, 0, b"g")]);
        assert!(matches!(
            repeat_to(&original, 1_000, 10_000),
            Err(DesktopError::NoKeyframe)
        ));
        assert!(repeat_to(b"nope", 1_000, 10_000).is_err());
    }

    #[test]
    fn nothing_due_before_the_first_record() {
        let f = file(&[(Kind::Params, 500, b"{}"), (Kind::Keyframe, 500, b"k")]);
        let idx = scan_index(&f).expect("scan");
        assert_eq!(picture_at(&f, &idx, 100).expect("ok"), None);
    }

    #[test]
    fn fnv1a_skips_alpha() {
        assert_eq!(fnv1a_rgb(&[]), 0x811c_9dc5);
        assert_eq!(fnv1a_rgb(&[1, 2, 3, 0]), fnv1a_rgb(&[1, 2, 3, 255]));
        assert_ne!(fnv1a_rgb(&[1, 2, 3, 0]), fnv1a_rgb(&[1, 2, 4, 0]));
    }
}
