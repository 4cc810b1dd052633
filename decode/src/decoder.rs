//! The browser's RDP decoder: IronRDP's fast-path processor and an RGBA image, built from
//! the plain [`DesktopParams`] the relay sends (the relay's screen copy is built the same
//! way, so both decode the same stream to the same picture).
//!
//! [`Decoder::feed`] returns the dirty rectangles the caller must redraw;
//! [`append_opaque`] copies one of them out with alpha forced to 0xFF (the codecs leave it 0).

use std::sync::Arc;

use ironrdp_core::WriteBuf;
use ironrdp_graphics::image_processing::PixelFormat;
use ironrdp_graphics::pointer::DecodedPointer;
use ironrdp_session::fast_path::{self, UpdateKind};
use ironrdp_session::image::DecodedImage;
use vigil_wire::desktop::DesktopParams;

/// A rectangle in desktop pixels, `x`/`y` inclusive, `w`/`h` > 0.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Rect {
    pub x: u16,
    pub y: u16,
    pub w: u16,
    pub h: u16,
}

impl Rect {
    /// The smallest rectangle covering both.
    pub fn union(self, o: Rect) -> Rect {
        let x = self.x.min(o.x);
        let y = self.y.min(o.y);
        let r = (u32::from(self.x) + u32::from(self.w)).max(u32::from(o.x) + u32::from(o.w));
        let b = (u32::from(self.y) + u32::from(self.h)).max(u32::from(o.y) + u32::from(o.h));
        Rect {
            x,
            y,
            w: u16::try_from(r - u32::from(x)).unwrap_or(u16::MAX),
            h: u16::try_from(b - u32::from(y)).unwrap_or(u16::MAX),
        }
    }

    /// Clipped to a `width`×`height` image; `None` when nothing is left.
    pub fn clip(self, width: u16, height: u16) -> Option<Rect> {
        if self.x >= width || self.y >= height {
            return None;
        }
        let w = self.w.min(width - self.x);
        let h = self.h.min(height - self.y);
        (w > 0 && h > 0).then_some(Rect {
            x: self.x,
            y: self.y,
            w,
            h,
        })
    }
}

#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum DecodeError {
    #[error("RDP decode error: {0}")]
    Rdp(String),
    #[error("snapshot is not valid zlib data")]
    Inflate,
    #[error("snapshot holds a malformed PDU at byte {0}")]
    Split(usize),
}

pub struct Decoder {
    params: DesktopParams,
    processor: fast_path::Processor,
    image: DecodedImage,
    pointer: PointerState,
}

/// The server pointer's look.
#[derive(Debug, Clone)]
pub enum Shape {
    Hidden,
    /// The system's default arrow.
    Default,
    /// RGBA, not premultiplied.
    Bitmap(Arc<DecodedPointer>),
}

impl Shape {
    /// The same look (bitmaps compared by identity: a cached pointer re-selected is one).
    pub fn same(&self, other: &Shape) -> bool {
        match (self, other) {
            (Shape::Hidden, Shape::Hidden) | (Shape::Default, Shape::Default) => true,
            (Shape::Bitmap(a), Shape::Bitmap(b)) => Arc::ptr_eq(a, b),
            _ => false,
        }
    }
}

/// Pointer state: the latest shape and position, each `None` until the server sends one.
#[derive(Debug, Clone, Default)]
pub struct PointerState {
    pub shape: Option<Shape>,
    pub position: Option<(u16, u16)>,
}

impl Decoder {
    pub fn new(params: &DesktopParams) -> Self {
        let processor = fast_path::ProcessorBuilder {
            io_channel_id: params.io_channel_id,
            user_channel_id: params.user_channel_id,
            share_id: params.share_id,
            // Shapes come out as bitmaps for the page to show; the picture stays pointer-free
            // (as the relay's copy is), so snapshots and replays compare pixel for pixel.
            enable_server_pointer: true,
            pointer_software_rendering: false,
        }
        .build();
        Decoder {
            params: params.clone(),
            processor,
            image: DecodedImage::new(PixelFormat::RgbA32, params.width, params.height),
            pointer: PointerState::default(),
        }
    }

    pub fn params(&self) -> &DesktopParams {
        &self.params
    }

    pub fn width(&self) -> u16 {
        self.image.width()
    }

    pub fn height(&self) -> u16 {
        self.image.height()
    }

    /// The pointer as the stream has set it so far.
    pub fn pointer(&self) -> &PointerState {
        &self.pointer
    }

    /// RGBA pixels, row-major, alpha not meaningful.
    pub fn rgba(&self) -> &[u8] {
        self.image.data()
    }

    /// The whole image as one rectangle.
    pub fn full(&self) -> Rect {
        Rect {
            x: 0,
            y: 0,
            w: self.width(),
            h: self.height(),
        }
    }

    /// Decodes one fast-path PDU and appends the regions it changed to `dirty`.
    /// The processor's own responses (frame acknowledgements) are dropped: the relay owns them.
    pub fn feed(&mut self, pdu: &[u8], dirty: &mut Vec<Rect>) -> Result<(), DecodeError> {
        let mut discard = WriteBuf::new();
        let updates = self
            .processor
            .process(&mut self.image, pdu, &mut discard, &mut None)
            .map_err(|e| DecodeError::Rdp(e.to_string()))?;
        let (w, h) = (self.width(), self.height());
        for u in updates {
            match u {
                UpdateKind::Region(r) => {
                    if r.right < r.left || r.bottom < r.top {
                        continue;
                    }
                    let rect = Rect {
                        x: r.left,
                        y: r.top,
                        w: (r.right - r.left).saturating_add(1),
                        h: (r.bottom - r.top).saturating_add(1),
                    };
                    dirty.extend(rect.clip(w, h));
                }
                UpdateKind::PointerHidden => self.pointer.shape = Some(Shape::Hidden),
                UpdateKind::PointerDefault => self.pointer.shape = Some(Shape::Default),
                UpdateKind::PointerBitmap(p) => self.pointer.shape = Some(Shape::Bitmap(p)),
                UpdateKind::PointerPosition { x, y } => self.pointer.position = Some((x, y)),
                UpdateKind::None | UpdateKind::Orders(_) => {}
            }
        }
        Ok(())
    }

    /// Decodes a `DesktopSnapshot` / keyframe: zlib-compressed, concatenated fast-path PDUs.
    /// Returns how many PDUs it held. A bad PDU inside is skipped (later tiles still draw).
    pub fn feed_snapshot(
        &mut self,
        zlib: &[u8],
        dirty: &mut Vec<Rect>,
    ) -> Result<usize, DecodeError> {
        let raw = inflate(zlib)?;
        let pdus = split_pdus(&raw)?;
        let mut first_error = None;
        for pdu in &pdus {
            if let Err(e) = self.feed(pdu, dirty) {
                first_error.get_or_insert(e);
            }
        }
        match first_error {
            Some(e) if pdus.len() == 1 => Err(e),
            _ => Ok(pdus.len()),
        }
    }
}

pub fn inflate(zlib: &[u8]) -> Result<Vec<u8>, DecodeError> {
    miniz_oxide::inflate::decompress_to_vec_zlib(zlib).map_err(|_| DecodeError::Inflate)
}

/// Splits concatenated PDUs with `ironrdp_pdu::find_size`.
pub fn split_pdus(buf: &[u8]) -> Result<Vec<&[u8]>, DecodeError> {
    let mut out = Vec::new();
    let mut pos = 0;
    while pos < buf.len() {
        let rest = &buf[pos..];
        let len = match ironrdp_pdu::find_size(rest) {
            Ok(Some(info)) if info.length > 0 && info.length <= rest.len() => info.length,
            _ => return Err(DecodeError::Split(pos)),
        };
        out.push(&rest[..len]);
        pos += len;
    }
    Ok(out)
}

/// Appends `rect` of an RGBA image `width` pixels wide to `out`, alpha 0xFF. Rows outside
/// the image are filled opaque black, so the output is always `4 × w × h` bytes.
pub fn append_opaque(rgba: &[u8], width: u16, rect: Rect, out: &mut Vec<u8>) {
    let begin = out.len();
    let stride = usize::from(width) * 4;
    let (x, w) = (usize::from(rect.x) * 4, usize::from(rect.w) * 4);
    out.reserve(w * usize::from(rect.h));
    for row in 0..usize::from(rect.h) {
        let start = (usize::from(rect.y) + row) * stride + x;
        match rgba.get(start..start + w) {
            Some(src) => out.extend_from_slice(src),
            None => out.resize(out.len() + w, 0),
        }
    }
    for px in out[begin..].chunks_exact_mut(4) {
        px[3] = 0xff;
    }
}

/// Merges dirty rectangles for drawing: one `put_image_data` per rectangle costs a call
/// and a copy, so many small ones that cover most of their bounding box become that box.
pub fn coalesce(rects: &mut Vec<Rect>) {
    if rects.len() < 2 {
        return;
    }
    let area: u64 = rects.iter().map(|r| u64::from(r.w) * u64::from(r.h)).sum();
    let Some(bounds) = rects.iter().copied().reduce(Rect::union) else {
        return;
    };
    let bounds_area = u64::from(bounds.w) * u64::from(bounds.h);
    // Covering at most twice the pixels to save the calls is a good trade.
    if rects.len() > 16 || bounds_area <= area * 2 {
        rects.clear();
        rects.push(bounds);
    }
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;

    pub(crate) fn params(w: u16, h: u16) -> DesktopParams {
        DesktopParams {
            io_channel_id: 1003,
            user_channel_id: 1007,
            share_id: 0x0001_03ea,
            width: w,
            height: h,
        }
    }

    #[test]
    fn rect_union_and_clip() {
        let a = Rect {
            x: 10,
            y: 10,
            w: 5,
            h: 5,
        };
        let b = Rect {
            x: 0,
            y: 12,
            w: 2,
            h: 10,
        };
        assert_eq!(
            a.union(b),
            Rect {
                x: 0,
                y: 10,
                w: 15,
                h: 12
            }
        );
        assert_eq!(
            a.clip(12, 100),
            Some(Rect {
                x: 10,
                y: 10,
                w: 2,
                h: 5
            })
        );
        assert_eq!(a.clip(10, 100), None);
    }

    #[test]
    fn copy_forces_alpha() {
        // 3×2 image, pixel value = index, alpha 0.
        let mut img = Vec::new();
        for i in 0..6u8 {
            img.extend([i, i, i, 0]);
        }
        let mut out = vec![9];
        append_opaque(
            &img,
            3,
            Rect {
                x: 1,
                y: 0,
                w: 2,
                h: 2,
            },
            &mut out,
        );
        assert_eq!(
            out,
            [9, 1, 1, 1, 255, 2, 2, 2, 255, 4, 4, 4, 255, 5, 5, 5, 255]
        );
    }

    #[test]
    fn coalesce_small_rects() {
        let mut v: Vec<Rect> = (0..4)
            .map(|i| Rect {
                x: i * 64,
                y: 0,
                w: 64,
                h: 64,
            })
            .collect();
        coalesce(&mut v);
        assert_eq!(
            v,
            [Rect {
                x: 0,
                y: 0,
                w: 256,
                h: 64
            }]
        );
        let mut sparse = vec![
            Rect {
                x: 0,
                y: 0,
                w: 4,
                h: 4,
            },
            Rect {
                x: 500,
                y: 500,
                w: 4,
                h: 4,
            },
        ];
        coalesce(&mut sparse);
        assert_eq!(sparse.len(), 2);
    }

    #[test]
    fn garbage_is_an_error_not_a_panic() {
        let mut d = Decoder::new(&params(64, 64));
        let mut dirty = Vec::new();
        assert!(d.feed(&[0, 1, 2], &mut dirty).is_err());
        assert_eq!(
            d.feed_snapshot(b"not zlib", &mut dirty),
            Err(DecodeError::Inflate)
        );
        let junk = miniz_oxide::deflate::compress_to_vec_zlib(&[0xff; 10], 6);
        assert!(d.feed_snapshot(&junk, &mut dirty).is_err());
    }
}
