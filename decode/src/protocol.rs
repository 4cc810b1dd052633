//! The messages between a page and its decode worker, as bytes: each message is one
//! `ArrayBuffer`, transferred (not copied) by `postMessage`.
//!
//! Page → worker ([`ToWorker`]): a tag byte, then little-endian fields.
//! Worker → page: an [`Update`] header, then the RGBA pixels of its rectangles back to back,
//! so the page can hand views of the buffer to `ImageData` without copying them into wasm.

use vigil_wire::desktop::DesktopParams;

use crate::decoder::Rect;

#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum ProtocolError {
    #[error("empty decode-worker message")]
    Empty,
    #[error("unknown decode-worker message tag {0:#04x}")]
    Tag(u8),
    #[error("truncated decode-worker message")]
    Truncated,
}

/// What the page asks of its worker. Borrowed from the message buffer.
#[derive(Debug, Clone, PartialEq)]
pub enum ToWorker<'a> {
    /// A (re)activated desktop: a new decoder and a blank picture of that size.
    Activate(DesktopParams),
    /// One fast-path PDU; `frame` is the frame it ends, echoed back once it is drawn.
    Graphics { frame: Option<u32>, pdu: &'a [u8] },
    /// A snapshot or keyframe: zlib-compressed, concatenated fast-path PDUs.
    Snapshot(&'a [u8]),
    /// While quiet, decoding sends no pixels; leaving quiet sends the whole picture.
    Quiet(bool),
    /// Echoed back in order, after everything sent before it is drawn.
    Fence(u32),
    /// Send the whole picture (a canvas was attached).
    Redraw,
}

const T_ACTIVATE: u8 = 1;
const T_GRAPHICS: u8 = 2;
const T_SNAPSHOT: u8 = 3;
const T_QUIET: u8 = 4;
const T_FENCE: u8 = 5;
const T_REDRAW: u8 = 6;

/// Reads little-endian fields off the front of a slice.
struct Cursor<'a>(&'a [u8]);

impl<'a> Cursor<'a> {
    fn take(&mut self, n: usize) -> Result<&'a [u8], ProtocolError> {
        if self.0.len() < n {
            return Err(ProtocolError::Truncated);
        }
        let (head, rest) = self.0.split_at(n);
        self.0 = rest;
        Ok(head)
    }
    fn array<const N: usize>(&mut self) -> Result<[u8; N], ProtocolError> {
        let mut out = [0; N];
        out.copy_from_slice(self.take(N)?);
        Ok(out)
    }
    fn u8(&mut self) -> Result<u8, ProtocolError> {
        Ok(self.array::<1>()?[0])
    }
    fn u16(&mut self) -> Result<u16, ProtocolError> {
        Ok(u16::from_le_bytes(self.array()?))
    }
    fn u32(&mut self) -> Result<u32, ProtocolError> {
        Ok(u32::from_le_bytes(self.array()?))
    }
    fn u64(&mut self) -> Result<u64, ProtocolError> {
        Ok(u64::from_le_bytes(self.array()?))
    }
    fn f64(&mut self) -> Result<f64, ProtocolError> {
        Ok(f64::from_le_bytes(self.array()?))
    }
    fn opt_u32(&mut self) -> Result<Option<u32>, ProtocolError> {
        let present = self.u8()? != 0;
        let v = self.u32()?;
        Ok(present.then_some(v))
    }
}

fn put_opt_u32(out: &mut Vec<u8>, v: Option<u32>) {
    out.push(u8::from(v.is_some()));
    out.extend(v.unwrap_or(0).to_le_bytes());
}

impl<'a> ToWorker<'a> {
    pub fn encode(&self) -> Vec<u8> {
        let mut out = Vec::new();
        match self {
            ToWorker::Activate(p) => {
                out.push(T_ACTIVATE);
                out.extend(p.io_channel_id.to_le_bytes());
                out.extend(p.user_channel_id.to_le_bytes());
                out.extend(p.share_id.to_le_bytes());
                out.extend(p.width.to_le_bytes());
                out.extend(p.height.to_le_bytes());
            }
            ToWorker::Graphics { frame, pdu } => {
                out.reserve(6 + pdu.len());
                out.push(T_GRAPHICS);
                put_opt_u32(&mut out, *frame);
                out.extend_from_slice(pdu);
            }
            ToWorker::Snapshot(zlib) => {
                out.reserve(1 + zlib.len());
                out.push(T_SNAPSHOT);
                out.extend_from_slice(zlib);
            }
            ToWorker::Quiet(q) => out.extend([T_QUIET, u8::from(*q)]),
            ToWorker::Fence(token) => {
                out.push(T_FENCE);
                out.extend(token.to_le_bytes());
            }
            ToWorker::Redraw => out.push(T_REDRAW),
        }
        out
    }

    pub fn decode(buf: &'a [u8]) -> Result<ToWorker<'a>, ProtocolError> {
        let (&tag, rest) = buf.split_first().ok_or(ProtocolError::Empty)?;
        let mut c = Cursor(rest);
        Ok(match tag {
            T_ACTIVATE => ToWorker::Activate(DesktopParams {
                io_channel_id: c.u16()?,
                user_channel_id: c.u16()?,
                share_id: c.u32()?,
                width: c.u16()?,
                height: c.u16()?,
            }),
            T_GRAPHICS => ToWorker::Graphics {
                frame: c.opt_u32()?,
                pdu: c.0,
            },
            T_SNAPSHOT => ToWorker::Snapshot(rest),
            T_QUIET => ToWorker::Quiet(c.u8()? != 0),
            T_FENCE => ToWorker::Fence(c.u32()?),
            T_REDRAW => ToWorker::Redraw,
            other => return Err(ProtocolError::Tag(other)),
        })
    }
}

/// Decode timings, kept by the worker (its clock) and sent with every update.
#[derive(Debug, Default, Clone, Copy, PartialEq)]
pub struct DecodeStats {
    /// Graphics PDUs decoded (snapshots and keyframes are counted apart).
    pub pdus: u64,
    /// Graphics PDUs that ended a frame.
    pub frames: u64,
    /// Decode time of those PDUs, including copying out their pixels.
    pub total_ms: f64,
    pub max_ms: f64,
    pub snapshots: u64,
    pub snapshot_total_ms: f64,
    pub snapshot_max_ms: f64,
    pub errors: u64,
}

/// The worker's answer to a message that drew something, ended a frame or was a fence.
/// The encoded form is followed by the pixels of `rects`, in order, 4 bytes per pixel.
#[derive(Debug, Clone, PartialEq)]
pub struct Update {
    /// The desktop's size (the page resizes its canvas when it changes).
    pub width: u16,
    pub height: u16,
    pub frame: Option<u32>,
    pub fence: Option<u32>,
    pub stats: DecodeStats,
    pub rects: Vec<Rect>,
    /// A new pointer look, if it changed.
    pub pointer: Option<PointerShape>,
    /// A new pointer position (desktop pixels), if it moved.
    pub pointer_at: Option<(u16, u16)>,
}

/// The server pointer's look, as the page needs it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PointerShape {
    Hidden,
    /// The system's default arrow.
    Default,
    Bitmap {
        width: u16,
        height: u16,
        hot_x: u16,
        hot_y: u16,
        /// `4 × width × height` bytes, RGBA, not premultiplied.
        rgba: Vec<u8>,
    },
}

const P_NONE: u8 = 0;
const P_HIDDEN: u8 = 1;
const P_DEFAULT: u8 = 2;
const P_BITMAP: u8 = 3;

impl Update {
    /// Bytes the page reads first: the header's length, little-endian.
    pub const LEN_PREFIX: usize = 4;

    /// Encodes `[header length u32][header]`; the caller appends the pixels.
    pub fn encode_header(&self, out: &mut Vec<u8>) {
        let start = out.len();
        out.extend([0; Self::LEN_PREFIX]);
        out.extend(self.width.to_le_bytes());
        out.extend(self.height.to_le_bytes());
        put_opt_u32(out, self.frame);
        put_opt_u32(out, self.fence);
        let s = &self.stats;
        for v in [s.pdus, s.frames] {
            out.extend(v.to_le_bytes());
        }
        for v in [s.total_ms, s.max_ms] {
            out.extend(v.to_le_bytes());
        }
        out.extend(s.snapshots.to_le_bytes());
        for v in [s.snapshot_total_ms, s.snapshot_max_ms] {
            out.extend(v.to_le_bytes());
        }
        out.extend(s.errors.to_le_bytes());
        let n = u16::try_from(self.rects.len()).unwrap_or(u16::MAX);
        out.extend(n.to_le_bytes());
        for r in self.rects.iter().take(usize::from(n)) {
            for v in [r.x, r.y, r.w, r.h] {
                out.extend(v.to_le_bytes());
            }
        }
        match &self.pointer {
            None => out.push(P_NONE),
            Some(PointerShape::Hidden) => out.push(P_HIDDEN),
            Some(PointerShape::Default) => out.push(P_DEFAULT),
            Some(PointerShape::Bitmap {
                width,
                height,
                hot_x,
                hot_y,
                rgba,
            }) => {
                out.push(P_BITMAP);
                for v in [width, height, hot_x, hot_y] {
                    out.extend(v.to_le_bytes());
                }
                let len = usize::from(*width) * usize::from(*height) * 4;
                out.extend(rgba.iter().copied().chain(std::iter::repeat(0)).take(len));
            }
        }
        put_opt_u32(
            out,
            self.pointer_at
                .map(|(x, y)| u32::from(x) << 16 | u32::from(y)),
        );
        let len = u32::try_from(out.len() - start).unwrap_or(u32::MAX);
        out[start..start + Self::LEN_PREFIX].copy_from_slice(&len.to_le_bytes());
    }

    /// The header's length (prefix included), from the first [`Update::LEN_PREFIX`] bytes.
    pub fn header_len(prefix: &[u8]) -> Result<usize, ProtocolError> {
        let b = prefix
            .get(..Self::LEN_PREFIX)
            .ok_or(ProtocolError::Truncated)?;
        let len = usize::try_from(u32::from_le_bytes([b[0], b[1], b[2], b[3]]))
            .map_err(|_| ProtocolError::Truncated)?;
        if len < Self::LEN_PREFIX {
            return Err(ProtocolError::Truncated);
        }
        Ok(len)
    }

    /// Decodes a header (prefix included) of [`Update::header_len`] bytes.
    pub fn decode_header(buf: &[u8]) -> Result<Update, ProtocolError> {
        let mut c = Cursor(buf);
        c.take(Self::LEN_PREFIX)?;
        let width = c.u16()?;
        let height = c.u16()?;
        let frame = c.opt_u32()?;
        let fence = c.opt_u32()?;
        let stats = DecodeStats {
            pdus: c.u64()?,
            frames: c.u64()?,
            total_ms: c.f64()?,
            max_ms: c.f64()?,
            snapshots: c.u64()?,
            snapshot_total_ms: c.f64()?,
            snapshot_max_ms: c.f64()?,
            errors: c.u64()?,
        };
        let n = c.u16()?;
        let rects = (0..n)
            .map(|_| {
                Ok(Rect {
                    x: c.u16()?,
                    y: c.u16()?,
                    w: c.u16()?,
                    h: c.u16()?,
                })
            })
            .collect::<Result<_, ProtocolError>>()?;
        let pointer = match c.u8()? {
            P_NONE => None,
            P_HIDDEN => Some(PointerShape::Hidden),
            P_DEFAULT => Some(PointerShape::Default),
            P_BITMAP => {
                let (width, height, hot_x, hot_y) = (c.u16()?, c.u16()?, c.u16()?, c.u16()?);
                let rgba = c
                    .take(usize::from(width) * usize::from(height) * 4)?
                    .to_vec();
                Some(PointerShape::Bitmap {
                    width,
                    height,
                    hot_x,
                    hot_y,
                    rgba,
                })
            }
            other => return Err(ProtocolError::Tag(other)),
        };
        let pointer_at = c.opt_u32()?.map(|v| {
            let [a, b, c, d] = v.to_be_bytes();
            (u16::from_be_bytes([a, b]), u16::from_be_bytes([c, d]))
        });
        Ok(Update {
            width,
            height,
            frame,
            fence,
            stats,
            rects,
            pointer,
            pointer_at,
        })
    }

    /// The byte length of each rectangle's pixels, in order.
    pub fn pixel_lens(&self) -> impl Iterator<Item = usize> + '_ {
        self.rects
            .iter()
            .map(|r| usize::from(r.w) * usize::from(r.h) * 4)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn to_worker_round_trips() {
        let p = DesktopParams {
            io_channel_id: 1003,
            user_channel_id: 1007,
            share_id: 0x0001_03ea,
            width: 1920,
            height: 1080,
        };
        let pdu = [0x00u8, 0x05, 1, 2, 3];
        let msgs = [
            ToWorker::Activate(p),
            ToWorker::Graphics {
                frame: Some(7),
                pdu: &pdu,
            },
            ToWorker::Graphics {
                frame: None,
                pdu: &pdu,
            },
            ToWorker::Snapshot(&pdu),
            ToWorker::Quiet(true),
            ToWorker::Quiet(false),
            ToWorker::Fence(u32::MAX),
            ToWorker::Redraw,
        ];
        for m in msgs {
            let bytes = m.encode();
            assert_eq!(ToWorker::decode(&bytes), Ok(m));
        }
    }

    #[test]
    fn bad_messages_are_errors() {
        assert_eq!(ToWorker::decode(&[]), Err(ProtocolError::Empty));
        assert_eq!(ToWorker::decode(&[0x7f]), Err(ProtocolError::Tag(0x7f)));
        assert_eq!(
            ToWorker::decode(&[T_ACTIVATE, 1, 2]),
            Err(ProtocolError::Truncated)
        );
        assert_eq!(
            ToWorker::decode(&[T_FENCE, 1]),
            Err(ProtocolError::Truncated)
        );
        assert_eq!(Update::header_len(&[9, 0]), Err(ProtocolError::Truncated));
        assert_eq!(
            Update::header_len(&[2, 0, 0, 0]),
            Err(ProtocolError::Truncated)
        );
        let mut buf = Vec::new();
        sample().encode_header(&mut buf);
        for cut in [5, buf.len() / 2, buf.len() - 1] {
            assert_eq!(
                Update::decode_header(&buf[..cut]),
                Err(ProtocolError::Truncated)
            );
        }
    }

    fn sample() -> Update {
        Update {
            width: 1024,
            height: 768,
            frame: Some(3),
            fence: None,
            stats: DecodeStats {
                pdus: 10,
                frames: 2,
                total_ms: 12.5,
                max_ms: 4.25,
                snapshots: 1,
                snapshot_total_ms: 30.0,
                snapshot_max_ms: 30.0,
                errors: 0,
            },
            rects: vec![
                Rect {
                    x: 1,
                    y: 2,
                    w: 3,
                    h: 4,
                },
                Rect {
                    x: 64,
                    y: 0,
                    w: 64,
                    h: 64,
                },
            ],
            pointer: Some(PointerShape::Bitmap {
                width: 2,
                height: 1,
                hot_x: 1,
                hot_y: 0,
                rgba: vec![1, 2, 3, 4, 5, 6, 7, 8],
            }),
            pointer_at: Some((1023, 767)),
        }
    }

    #[test]
    fn update_header_round_trips() {
        for u in [
            sample(),
            Update {
                pointer: Some(PointerShape::Hidden),
                pointer_at: None,
                ..sample()
            },
            Update {
                pointer: None,
                rects: Vec::new(),
                ..sample()
            },
        ] {
            let mut buf = vec![0xaa];
            u.encode_header(&mut buf);
            let header = &buf[1..];
            assert_eq!(Update::header_len(header), Ok(header.len()));
            assert_eq!(Update::decode_header(header), Ok(u.clone()));
        }
        assert_eq!(sample().pixel_lens().collect::<Vec<_>>(), [48, 64 * 64 * 4]);
    }
}
