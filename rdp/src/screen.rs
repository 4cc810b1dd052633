//! The relay's decoded copy of a session's screen: fed the same fast-path PDUs as browsers,
//! it serves late joiners (a snapshot any fresh decoder turns into the identical image and
//! pointer), thumbnails and replay keyframes. The pixels never contain the pointer: browsers
//! draw it themselves (`pointer_software_rendering` is off everywhere).

use std::time::{Duration, Instant};

use ironrdp_core::WriteBuf;
use ironrdp_graphics::image_processing::PixelFormat;
use ironrdp_session::fast_path;
use ironrdp_session::image::DecodedImage;
use tracing::debug;

use crate::error::ScreenError;
use crate::fastpath::{self, Peek};
use crate::SessionParams;

/// Seconds the relay spends decoding one fast-path PDU into its copy of a screen (a
/// histogram, through the `metrics` facade: nothing is kept without a recorder).
pub const DECODE_SECONDS: &str = "vigil_rdp_decode_seconds";
/// PDUs the relay's copy could not decode (it recovers with the next repaint).
pub const DECODE_ERRORS: &str = "vigil_rdp_decode_errors_total";
/// Seconds the relay's copy spends reading one PDU before decoding it: fragment
/// reassembly, the RemoteFX prelude and pointer tracking (a histogram).
pub const PEEK_SECONDS: &str = "vigil_rdp_peek_seconds";

pub struct Screen {
    processor: fast_path::Processor,
    image: DecodedImage,
    peek: Peek,
    decode_time: Duration,
    errors: u64,
}

/// A fresh browser-equivalent decoder for `params`: the exact construction the browser uses.
/// Pointer updates come out as `UpdateKind::Pointer*` and never touch the image.
pub fn decoder(params: &SessionParams) -> (fast_path::Processor, DecodedImage) {
    let processor = fast_path::ProcessorBuilder {
        io_channel_id: params.io_channel_id,
        user_channel_id: params.user_channel_id,
        share_id: params.share_id,
        enable_server_pointer: true,
        pointer_software_rendering: false,
    }
    .build();
    (
        processor,
        DecodedImage::new(PixelFormat::RgbA32, params.width, params.height),
    )
}

impl Screen {
    pub fn new(params: &SessionParams) -> Self {
        let (processor, image) = decoder(params);
        Self {
            processor,
            image,
            peek: Peek::tracking_pointer(),
            decode_time: Duration::ZERO,
            errors: 0,
        }
    }

    /// Start over after a reactivation (the desktop size or channel ids may have changed).
    pub fn reset(&mut self, params: &SessionParams) {
        *self = Self::new(params);
    }

    /// Decode one fast-path PDU (an [`crate::Output::ToBrowsers`] payload). Decoding errors are
    /// counted, not fatal: the copy recovers with the next repaint of the damaged area.
    pub fn feed(&mut self, pdu: &[u8]) {
        let started = Instant::now();
        self.peek.inspect(pdu);
        metrics::histogram!(PEEK_SECONDS).record(started.elapsed().as_secs_f64());
        // The processor writes frame acks here; the relay's acks come from `Stream` instead.
        let mut discard = WriteBuf::new();
        let started = Instant::now();
        let result = self
            .processor
            .process(&mut self.image, pdu, &mut discard, &mut None);
        let took = started.elapsed();
        self.decode_time += took;
        metrics::histogram!(DECODE_SECONDS).record(took.as_secs_f64());
        if let Err(e) = result {
            self.errors += 1;
            metrics::counter!(DECODE_ERRORS).increment(1);
            debug!(error = %e, "relay screen decode error");
        }
    }

    /// Total time spent decoding (CPU cost of keeping this copy).
    pub fn decode_time(&self) -> Duration {
        self.decode_time
    }

    pub fn errors(&self) -> u64 {
        self.errors
    }

    pub fn width(&self) -> u16 {
        self.image.width()
    }

    pub fn height(&self) -> u16 {
        self.image.height()
    }

    /// RGBA pixels, row-major. The alpha channel is not meaningful (codecs leave it 0).
    pub fn rgba(&self) -> &[u8] {
        self.image.data()
    }

    pub fn at_fragment_boundary(&self) -> bool {
        !self.peek.in_fragment()
    }

    /// Fast-path PDUs that bring a fresh decoder (built from the session's [`SessionParams`])
    /// to this exact image and pointer: the cached RemoteFX prelude if the stream is RemoteFX
    /// (so the joiner can decode the RFX updates that follow), the image as 64×64 codec-NONE
    /// tiles, then the pointer cache, the current pointer and its last position. Only at a
    /// fragment boundary: the next live PDU must start an update.
    pub fn snapshot(&self) -> Result<Vec<Vec<u8>>, ScreenError> {
        if self.peek.in_fragment() {
            return Err(ScreenError::MidFragment);
        }
        let mut pdus = Vec::new();
        if let Some(prelude) = self.peek.rfx_prelude() {
            pdus.push(prelude);
        }
        let tiles = fastpath::none_codec_tiles(
            self.image.data(),
            usize::from(self.image.width()),
            usize::from(self.image.height()),
        )
        .map_err(|e| ScreenError::Encode(e.to_string()))?;
        pdus.extend(tiles);
        if let Some(pointer) = self.peek.pointer() {
            pdus.extend(
                pointer
                    .replay()
                    .map_err(|e| ScreenError::Encode(e.to_string()))?,
            );
        }
        Ok(pdus)
    }

    /// A PNG of the screen scaled down to at most `max_w` pixels wide (never up).
    pub fn thumbnail_png(&self, max_w: u16) -> Result<Vec<u8>, ScreenError> {
        let (w, h) = (
            usize::from(self.image.width()),
            usize::from(self.image.height()),
        );
        let tw = usize::from(max_w).clamp(1, w.max(1));
        let th = (h * tw).div_ceil(w.max(1)).max(1);
        let rgb = box_filter(self.image.data(), w, h, tw, th);
        encode_png(&rgb, tw, th, png::ColorType::Rgb)
    }

    /// The full-size screen as PNG (for keyframes and debugging).
    pub fn png(&self) -> Result<Vec<u8>, ScreenError> {
        let rgb: Vec<u8> = self
            .image
            .data()
            .chunks_exact(4)
            .flat_map(|p| [p[0], p[1], p[2]])
            .collect();
        encode_png(
            &rgb,
            usize::from(self.image.width()),
            usize::from(self.image.height()),
            png::ColorType::Rgb,
        )
    }
}

/// `src` (RGBA, `w`×`h`) scaled to `tw`×`th` RGB by a box filter: each thumbnail pixel
/// is the average of the source pixels it covers, so thin text and lines fade instead of
/// flickering in and out as nearest-neighbour would. The source is read once, row by row:
/// each band of source rows is summed per column first (a straight run the compiler
/// vectorises), then each thumbnail pixel adds its few columns, which is what makes it
/// cheap enough to run every second.
fn box_filter(src: &[u8], w: usize, h: usize, tw: usize, th: usize) -> Vec<u8> {
    let span = |i: usize, n: usize, of: usize| {
        let a = i * n / of;
        (a, ((i + 1) * n / of).max(a + 1).min(n))
    };
    let cols: Vec<(usize, usize)> = (0..tw).map(|tx| span(tx, w, tw)).collect();
    let mut columns = vec![0u32; w * 4];
    let mut rgb = Vec::with_capacity(tw * th * 3);
    for ty in 0..th {
        let (y0, y1) = span(ty, h, th);
        columns.fill(0);
        for row in src.chunks_exact(w * 4).skip(y0).take(y1 - y0) {
            for (sum, &byte) in columns.iter_mut().zip(row) {
                *sum += u32::from(byte);
            }
        }
        for &(x0, x1) in &cols {
            let mut sum = [0u32; 3];
            for p in columns
                .get(x0 * 4..x1 * 4)
                .unwrap_or_default()
                .chunks_exact(4)
            {
                sum[0] += p[0];
                sum[1] += p[1];
                sum[2] += p[2];
            }
            let n = u32::try_from((y1 - y0) * (x1 - x0))
                .unwrap_or(u32::MAX)
                .max(1);
            // An average of u8 values.
            rgb.extend(sum.iter().map(|s| u8::try_from(s / n).unwrap_or(u8::MAX)));
        }
    }
    rgb
}

fn encode_png(
    data: &[u8],
    w: usize,
    h: usize,
    color: png::ColorType,
) -> Result<Vec<u8>, ScreenError> {
    let err = |e: png::EncodingError| ScreenError::Encode(e.to_string());
    let mut out = Vec::new();
    let w = u32::try_from(w).map_err(|e| ScreenError::Encode(e.to_string()))?;
    let h = u32::try_from(h).map_err(|e| ScreenError::Encode(e.to_string()))?;
    let mut encoder = png::Encoder::new(&mut out, w, h);
    encoder.set_color(color);
    encoder.set_depth(png::BitDepth::Eight);
    let mut writer = encoder.write_header().map_err(err)?;
    writer.write_image_data(data).map_err(err)?;
    writer.finish().map_err(err)?;
    Ok(out)
}

/// Pixels that differ in colour (alpha ignored) between two RGBA images of the same size.
pub fn differing_pixels(a: &[u8], b: &[u8]) -> usize {
    a.chunks_exact(4)
        .zip(b.chunks_exact(4))
        .filter(|(p, q)| p[..3] != q[..3])
        .count()
        + a.len().abs_diff(b.len()) / 4
}

#[cfg(test)]
mod tests {
    use super::*;

    fn params(width: u16, height: u16) -> SessionParams {
        SessionParams {
            io_channel_id: 1003,
            user_channel_id: 1002,
            share_id: 0x103ea,
            width,
            height,
            input_flags: 0,
        }
    }

    /// A pattern with a different colour in every pixel, so any misplaced tile shows.
    fn pattern(w: usize, h: usize) -> Vec<u8> {
        let mut v = Vec::with_capacity(w * h * 4);
        for y in 0..h {
            for x in 0..w {
                let low = |v: usize| v.to_le_bytes()[0];
                v.extend_from_slice(&[low(x * 7), low(y * 3), low((x ^ y) * 5), 0xff]);
            }
        }
        v
    }

    /// Feed an image through codec-NONE tiles into a Screen, snapshot it, decode the snapshot
    /// in a fresh browser-equivalent decoder: both must hold the original image exactly.
    /// The size is deliberately not a multiple of 64.
    #[test]
    fn snapshot_round_trip_reproduces_the_image() {
        let (w, h) = (300usize, 200usize);
        let p = params(300, 200);
        let original = pattern(w, h);
        let mut screen = Screen::new(&p);
        for pdu in fastpath::none_codec_tiles(&original, w, h).expect("tiles") {
            screen.feed(&pdu);
        }
        assert_eq!(screen.errors(), 0);
        assert_eq!(differing_pixels(screen.rgba(), &original), 0);

        let snapshot = screen.snapshot().expect("at a boundary");
        let (mut joiner, mut image) = decoder(&p);
        for pdu in &snapshot {
            let mut out = WriteBuf::new();
            joiner
                .process(&mut image, pdu, &mut out, &mut None)
                .expect("decodes");
        }
        assert_eq!(differing_pixels(image.data(), screen.rgba()), 0);
    }

    /// A stream of pointer updates (a large one fragmented, slots redefined and re-selected)
    /// between graphics: a fresh decoder fed the snapshot shows the same pointer at the same
    /// position and holds the same cache as one that saw it all live, and the pixels have no
    /// pointer in them.
    #[test]
    fn snapshot_replays_the_pointer() {
        use crate::pointer::tests::{cached, color, large, new_pointer, pdus, PointerBrowser};
        use ironrdp_pdu::fast_path::UpdateCode;

        let (w, h) = (128usize, 96usize);
        let p = crate::pointer::tests::params();
        let original = pattern(w, h);
        let mut stream = fastpath::none_codec_tiles(&original, w, h).expect("tiles");
        for (code, payload) in [
            (UpdateCode::LargePointer, large(4, 96, 96, 1)),
            (UpdateCode::ColorPointer, color(0, 32, 32, 2)),
            (UpdateCode::PositionPointer, vec![5, 0, 6, 0]),
            (UpdateCode::NewPointer, new_pointer(9, 32, 32, 3)),
            (UpdateCode::CachedPointer, cached(4)),
            (UpdateCode::ColorPointer, color(1, 32, 32, 4)),
            (UpdateCode::PositionPointer, vec![100, 0, 50, 0]),
            (UpdateCode::CachedPointer, cached(4)),
        ] {
            stream.extend(pdus(code, &payload));
        }
        assert!(
            pdus(UpdateCode::LargePointer, &large(4, 96, 96, 1)).len() > 1,
            "the large pointer arrives fragmented"
        );

        let mut screen = Screen::new(&p);
        let mut live = PointerBrowser::new(&p);
        for pdu in &stream {
            screen.feed(pdu);
            live.feed(pdu);
        }
        assert_eq!(screen.errors(), 0);
        assert_eq!(
            differing_pixels(screen.rgba(), &original),
            0,
            "no pointer drawn"
        );

        let snapshot = screen.snapshot().expect("at a boundary");
        let mut joiner = PointerBrowser::new(&p);
        joiner.feed_all(&snapshot);
        assert!(matches!(
            joiner.shown,
            Some(crate::pointer::tests::Shown::Bitmap { width: 96, .. })
        ));
        assert_eq!(joiner.shown, live.shown);
        assert_eq!(joiner.position, Some((100, 50)));
        for slot in [0, 1, 4, 9, 2] {
            assert_eq!(
                joiner.probe_slot(slot),
                live.probe_slot(slot),
                "slot {slot}"
            );
        }
        // The pixels are the tiles', the pointer only an overlay.
        let (mut check, mut image) = decoder(&p);
        for pdu in &snapshot {
            let mut out = WriteBuf::new();
            check
                .process(&mut image, pdu, &mut out, &mut None)
                .expect("decodes");
        }
        assert_eq!(differing_pixels(image.data(), &original), 0);
    }

    #[test]
    fn every_decode_is_timed_and_errors_are_counted() {
        use metrics_util::debugging::{DebugValue, DebuggingRecorder};
        let recorder = DebuggingRecorder::new();
        let snap = recorder.snapshotter();
        let (w, h) = (64usize, 64usize);
        let tiles = fastpath::none_codec_tiles(&pattern(w, h), w, h).expect("tiles");
        metrics::with_local_recorder(&recorder, || {
            let mut screen = Screen::new(&params(64, 64));
            for pdu in &tiles {
                screen.feed(pdu);
            }
            screen.feed(&[0x00, 0x03, 0xff]);
        });
        let (mut samples, mut errors) = (0, 0);
        for (key, .., value) in snap.snapshot().into_vec() {
            match (key.key().name(), value) {
                (DECODE_SECONDS, DebugValue::Histogram(v)) => samples += v.len(),
                (DECODE_ERRORS, DebugValue::Counter(n)) => errors += n,
                _ => {}
            }
        }
        assert_eq!(samples, tiles.len() + 1, "one sample per PDU");
        assert_eq!(errors, 1, "the broken PDU");
    }

    #[test]
    fn snapshot_is_refused_inside_a_fragment() {
        let p = params(64, 64);
        let mut screen = Screen::new(&p);
        // One update split across PDUs: stop after the first fragment.
        let big = vec![0u8; 40_000];
        let pdus = fastpath::wrap(ironrdp_pdu::fast_path::UpdateCode::Bitmap, &big).expect("wrap");
        assert!(pdus.len() > 1);
        screen.feed(&pdus[0]);
        assert!(!screen.at_fragment_boundary());
        assert!(matches!(screen.snapshot(), Err(ScreenError::MidFragment)));
    }

    /// The box filter gives exactly the average of the source pixels each thumbnail pixel
    /// covers, computed here the plain way, for sizes that divide and sizes that do not.
    #[test]
    fn box_filter_averages_the_pixels_each_covers() {
        for (w, h, tw) in [
            (300usize, 200usize, 64usize),
            (1024, 768, 320),
            (50, 30, 50),
        ] {
            let src = pattern(w, h);
            let th = (h * tw).div_ceil(w).max(1);
            let got = box_filter(&src, w, h, tw, th);
            assert_eq!(got.len(), tw * th * 3);
            for ty in 0..th {
                let (y0, y1) = (ty * h / th, ((ty + 1) * h / th).max(ty * h / th + 1).min(h));
                for tx in 0..tw {
                    let (x0, x1) = (tx * w / tw, ((tx + 1) * w / tw).max(tx * w / tw + 1).min(w));
                    for c in 0..3 {
                        let mut sum = 0usize;
                        for y in y0..y1 {
                            for x in x0..x1 {
                                sum += usize::from(src[(y * w + x) * 4 + c]);
                            }
                        }
                        let want = sum / ((y1 - y0) * (x1 - x0));
                        assert_eq!(
                            usize::from(got[(ty * tw + tx) * 3 + c]),
                            want,
                            "{w}x{h}→{tw}: pixel {tx},{ty} channel {c}"
                        );
                    }
                }
            }
        }
    }

    #[test]
    fn thumbnail_keeps_the_aspect_ratio() {
        let p = params(1024, 768);
        let screen = Screen::new(&p);
        let png = screen.thumbnail_png(256).expect("png");
        let decoder = png::Decoder::new(std::io::Cursor::new(png));
        let reader = decoder.read_info().expect("valid png");
        assert_eq!((reader.info().width, reader.info().height), (256, 192));
    }
}
