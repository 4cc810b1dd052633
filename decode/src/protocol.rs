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
}

const FIXED_HEADER: usize = 2 + 2 + 5 + 5 + 8 * 8 + 2;

impl Update {
    /// The encoded header; the caller appends the pixels.
    pub fn encode_header(&self, out: &mut Vec<u8>) {
        out.extend(self.width.to_le_bytes());
        out.extend(self.height.to_le_bytes());
        put_opt_u32(out, self.frame);
        put_opt_u32(out, self.fence);
        let s = &self.stats;
        out.extend(s.pdus.to_le_bytes());
        out.extend(s.frames.to_le_bytes());
        out.extend(s.total_ms.to_le_bytes());
        out.extend(s.max_ms.to_le_bytes());
        out.extend(s.snapshots.to_le_bytes());
        out.extend(s.snapshot_total_ms.to_le_bytes());
        out.extend(s.snapshot_max_ms.to_le_bytes());
        out.extend(s.errors.to_le_bytes());
        let n = u16::try_from(self.rects.len()).unwrap_or(u16::MAX);
        out.extend(n.to_le_bytes());
        for r in self.rects.iter().take(usize::from(n)) {
            for v in [r.x, r.y, r.w, r.h] {
                out.extend(v.to_le_bytes());
            }
        }
    }

    /// How many leading bytes the page must read to decode the header: the fixed part,
    /// then (once it knows the rectangle count) [`Update::header_len`].
    pub const FIXED_HEADER_LEN: usize = FIXED_HEADER;

    /// The whole header's length, from its fixed part.
    pub fn header_len(fixed: &[u8]) -> Result<usize, ProtocolError> {
        let n = fixed
            .get(FIXED_HEADER - 2..FIXED_HEADER)
            .ok_or(ProtocolError::Truncated)?;
        Ok(FIXED_HEADER + 8 * usize::from(u16::from_le_bytes([n[0], n[1]])))
    }

    pub fn decode_header(buf: &[u8]) -> Result<Update, ProtocolError> {
        let mut c = Cursor(buf);
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
        Ok(Update {
            width,
            height,
            frame,
            fence,
            stats,
            rects,
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
        assert_eq!(Update::header_len(&[0; 4]), Err(ProtocolError::Truncated));
        assert_eq!(
            Update::decode_header(&[0; FIXED_HEADER - 1]),
            Err(ProtocolError::Truncated)
        );
    }

    #[test]
    fn update_header_round_trips() {
        let u = Update {
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
        };
        let mut buf = Vec::new();
        u.encode_header(&mut buf);
        assert_eq!(Update::header_len(&buf[..FIXED_HEADER]), Ok(buf.len()));
        assert_eq!(Update::decode_header(&buf), Ok(u.clone()));
        assert_eq!(u.pixel_lens().collect::<Vec<_>>(), [48, 64 * 64 * 4]);
    }
}
