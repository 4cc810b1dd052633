//! Fast-path helpers shared by the stream splitter and the screen: a cheap structural peek into
//! fast-path output PDUs (no pixel decoding) and the encoders for PDUs the relay synthesises.

use ironrdp_core::{decode_cursor, Decode as _, Encode as _, ReadCursor, WriteCursor};
use ironrdp_pdu::codecs::rfx;
use ironrdp_pdu::fast_path::{
    EncryptionFlags, FastPathHeader, FastPathUpdate, FastPathUpdatePdu, Fragmentation, UpdateCode,
};
use ironrdp_pdu::geometry::ExclusiveRectangle;
use ironrdp_pdu::surface_commands::{
    ExtendedBitmapDataPdu, FrameAction, SurfaceBitsPdu, SurfaceCommand,
};

use crate::pointer::PointerState;

/// A fast-path PDU's length field has 15 bits; keep the payload of each fragment well below.
pub(crate) const MAX_FRAGMENT: usize = 32_000;

/// Bound on one reassembled (First…Last) fast-path update, in bytes: the 8 MiB
/// `MaxRequestSize` the client advertises in its Multifragment Update capability (IronRDP's
/// connector sends `8 * 1024 * 1024`), the buffer a server must fit every update into. A
/// fixed bound rather than one derived from the desktop size (5120×2880×4 is 59 MB, more than
/// the relay should hold per update). The stream refuses the PDU that would cross it, so no
/// copy (this peek's, the screen's, IronRDP's reassembler in the screen and in browsers) ever
/// holds more; each copy costs the relay about the bound while the update lasts.
pub(crate) const MAX_REASSEMBLED: usize = 8 * 1024 * 1024;

/// Bound on the fragments of one update (empty `Next` fragments grow nothing, but an endless
/// run of them is a flood all the same). Real servers send 16 KB fragments: an 8 MB update
/// is about 520 of them.
pub(crate) const MAX_FRAGMENTS: usize = 4096;

/// How much a reassembly buffer holding `len` bytes in `capacity` reserves for `add` more:
/// nothing while they fit, else doubling, capped at [`MAX_REASSEMBLED`]. Doubling keeps the
/// copies of a growing update to about twice its size in all (growing by each fragment's
/// size would copy it once per fragment: 8 MiB in 32 KB fragments is a gigabyte of copying,
/// and an allocator that keeps freed blocks for a while holds much of it); the cap keeps the
/// buffer within the bound the stream enforces.
fn reassembly_growth(capacity: usize, len: usize, add: usize) -> usize {
    let need = len.saturating_add(add);
    if need <= capacity {
        return 0;
    }
    let target = need
        .max(capacity.saturating_mul(2))
        .min(MAX_REASSEMBLED.max(need));
    target - len
}

/// RemoteFX's codec id as negotiated by IronRDP's client capabilities.
const CODEC_ID_REMOTEFX: u8 = 3;

/// What one fast-path PDU told the peek.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub(crate) struct PeekResult {
    /// Frame ids of the End frame markers completed by this PDU.
    pub frame_ends: Vec<u32>,
    /// The PDU carried bulk-compressed data, which this relay never negotiates.
    pub compressed: bool,
    /// The PDU could not be parsed.
    pub malformed: bool,
    /// Pointer updates completed by this PDU.
    pub pointer_updates: u64,
    /// A fragmented update crossed [`MAX_REASSEMBLED`] or [`MAX_FRAGMENTS`]: the reassembly
    /// was dropped and the session must end (see [`crate::StreamError::UpdateTooLarge`]).
    pub too_large: bool,
}

/// An update being reassembled from fragments.
struct Fragmented {
    code: UpdateCode,
    data: Vec<u8>,
    fragments: usize,
}

/// Structural state of the fast-path stream: reassembly of fragmented updates (to see frame
/// markers and RFX headers inside them), the cached RemoteFX header blocks and, when asked
/// for, the pointer state.
///
/// Both servers we test send TS_RFX_SYNC/CodecVersions/Channels/Context only in the first RFX
/// message, so a decoder started later needs them replayed (see [`Peek::rfx_prelude`]).
#[derive(Default)]
pub(crate) struct Peek {
    frag: Option<Fragmented>,
    rfx_context: Option<rfx::ContextPdu>,
    rfx_channels: Option<rfx::ChannelsPdu>,
    /// Only the screen keeps it (snapshots replay it); the stream splitter has no use for it.
    pointer: Option<PointerState>,
}

impl Peek {
    /// A peek that also follows the pointer (see [`Peek::pointer`]).
    pub fn tracking_pointer() -> Self {
        Self {
            pointer: Some(PointerState::default()),
            ..Self::default()
        }
    }

    /// The pointer state, if this peek tracks it.
    pub fn pointer(&self) -> Option<&PointerState> {
        self.pointer.as_ref()
    }

    /// Bytes held for the update being reassembled (for tests and fuzzing of the bound).
    pub fn reassembly_len(&self) -> usize {
        self.frag.as_ref().map_or(0, |f| f.data.len())
    }

    /// Inside a First…Last fragment sequence: a fresh decoder must not start here.
    pub fn in_fragment(&self) -> bool {
        self.frag.is_some()
    }

    /// Forget everything (after a reactivation the server starts a new RFX stream, and
    /// browsers start with an empty pointer cache).
    pub fn reset(&mut self) {
        let pointer = self.pointer.is_some();
        *self = Self::default();
        if pointer {
            self.pointer = Some(PointerState::default());
        }
    }

    pub fn inspect(&mut self, pdu: &[u8]) -> PeekResult {
        let mut result = PeekResult::default();
        let mut cur = ReadCursor::new(pdu);
        if decode_cursor::<FastPathHeader>(&mut cur).is_err() {
            result.malformed = true;
            return result;
        }
        while !cur.is_empty() {
            let Ok(update) = decode_cursor::<FastPathUpdatePdu<'_>>(&mut cur) else {
                result.malformed = true;
                return result;
            };
            if update.compression_flags.is_some_and(|f| !f.is_empty()) {
                result.compressed = true;
            }
            match update.fragmentation {
                Fragmentation::Single => {
                    self.frag = None;
                    self.update(update.update_code, update.data, &mut result);
                }
                Fragmentation::First => {
                    self.frag = None;
                    if update.data.len() > MAX_REASSEMBLED {
                        result.too_large = true;
                        return result;
                    }
                    self.frag = Some(Fragmented {
                        code: update.update_code,
                        data: update.data.to_vec(),
                        fragments: 1,
                    });
                }
                Fragmentation::Next | Fragmentation::Last => {
                    let Some(frag) = self.frag.as_mut() else {
                        result.malformed = true;
                        continue;
                    };
                    // Checked before the copy grows: past the bound nothing is kept.
                    frag.fragments += 1;
                    if frag.fragments > MAX_FRAGMENTS
                        || frag.data.len().saturating_add(update.data.len()) > MAX_REASSEMBLED
                    {
                        self.frag = None;
                        result.too_large = true;
                        return result;
                    }
                    frag.data.reserve_exact(reassembly_growth(
                        frag.data.capacity(),
                        frag.data.len(),
                        update.data.len(),
                    ));
                    frag.data.extend_from_slice(update.data);
                    if update.fragmentation == Fragmentation::Last {
                        if let Some(Fragmented { code, data, .. }) = self.frag.take() {
                            self.update(code, &data, &mut result);
                        }
                    }
                }
            }
        }
        result
    }

    fn update(&mut self, code: UpdateCode, data: &[u8], result: &mut PeekResult) {
        if crate::pointer::is_pointer(code) {
            result.pointer_updates += 1;
            if let Some(pointer) = self.pointer.as_mut() {
                pointer.update(code, data);
            }
        }
        // Otherwise only surface commands matter here; bitmaps and palettes carry no state a
        // joiner's decoder could miss (bitmap caches and orders are negotiated off).
        if code != UpdateCode::SurfaceCommands {
            return;
        }
        let Ok(FastPathUpdate::SurfaceCommands(commands)) =
            FastPathUpdate::decode_with_code(data, code)
        else {
            result.malformed = true;
            return;
        };
        for command in commands {
            match command {
                SurfaceCommand::SetSurfaceBits(bits) | SurfaceCommand::StreamSurfaceBits(bits) => {
                    if bits.extended_bitmap_data.codec_id == CODEC_ID_REMOTEFX {
                        self.peek_rfx(bits.extended_bitmap_data.data);
                    }
                }
                SurfaceCommand::FrameMarker(marker) => {
                    if marker.frame_action == FrameAction::End {
                        result.frame_ends.push(marker.frame_id.unwrap_or(0));
                    }
                }
            }
        }
    }

    fn peek_rfx(&mut self, data: &[u8]) {
        let mut cur = ReadCursor::new(data);
        while !cur.is_empty() {
            let Ok(block) = rfx::Block::decode(&mut cur) else {
                break;
            };
            match block {
                rfx::Block::Channels(channels) => self.rfx_channels = Some(channels),
                rfx::Block::CodecChannel(rfx::CodecChannel::Context(context)) => {
                    self.rfx_context = Some(context)
                }
                // Headers come first in a message; once a frame starts there are none left.
                rfx::Block::CodecChannel(rfx::CodecChannel::FrameBegin(_)) => break,
                _ => {}
            }
        }
    }

    /// A one-PDU "prelude" for a fresh decoder: one SurfaceBits command carrying the cached RFX
    /// Sync, CodecVersions, Channels and Context blocks plus an empty frame (no tiles). The
    /// decoder stores the context and paints nothing. `None` when the stream is not RemoteFX.
    pub fn rfx_prelude(&self) -> Option<Vec<u8>> {
        let context = self.rfx_context.clone()?;
        let channels = self.rfx_channels.clone()?;
        let entropy_algorithm = context.entropy_algorithm;
        let blocks = [
            rfx::Block::Sync(rfx::SyncPdu),
            rfx::Block::CodecVersions(rfx::CodecVersionsPdu),
            rfx::Block::Channels(channels),
            rfx::Block::CodecChannel(rfx::CodecChannel::Context(context)),
            rfx::Block::CodecChannel(rfx::CodecChannel::FrameBegin(rfx::FrameBeginPdu {
                index: 0,
                number_of_regions: 1,
            })),
            rfx::Block::CodecChannel(rfx::CodecChannel::Region(rfx::RegionPdu {
                rectangles: vec![rfx::RfxRectangle {
                    x: 0,
                    y: 0,
                    width: 1,
                    height: 1,
                }],
            })),
            rfx::Block::CodecChannel(rfx::CodecChannel::TileSet(rfx::TileSetPdu {
                entropy_algorithm,
                quants: vec![rfx::Quant::default()],
                tiles: vec![],
            })),
            rfx::Block::CodecChannel(rfx::CodecChannel::FrameEnd(rfx::FrameEndPdu)),
        ];
        let mut rfx_data = Vec::new();
        for block in &blocks {
            rfx_data.extend(ironrdp_core::encode_vec(block).ok()?);
        }
        let command = SurfaceCommand::SetSurfaceBits(SurfaceBitsPdu {
            destination: ExclusiveRectangle {
                left: 0,
                top: 0,
                right: 1,
                bottom: 1,
            },
            extended_bitmap_data: ExtendedBitmapDataPdu {
                bpp: 32,
                codec_id: CODEC_ID_REMOTEFX,
                width: 1,
                height: 1,
                header: None,
                data: &rfx_data,
            },
        });
        let payload = ironrdp_core::encode_vec(&command).ok()?;
        wrap(UpdateCode::SurfaceCommands, &payload)
            .ok()?
            .into_iter()
            .next()
    }
}

/// Wrap an update payload as fast-path PDUs, fragmenting so each PDU stays below 0x7FFF bytes.
pub(crate) fn wrap(
    code: UpdateCode,
    data: &[u8],
) -> Result<Vec<Vec<u8>>, ironrdp_core::EncodeError> {
    let chunks: Vec<&[u8]> = if data.is_empty() {
        vec![data]
    } else {
        data.chunks(MAX_FRAGMENT).collect()
    };
    let last = chunks.len() - 1;
    chunks
        .into_iter()
        .enumerate()
        .map(|(i, chunk)| {
            let fragmentation = match (last, i) {
                (0, _) => Fragmentation::Single,
                (_, 0) => Fragmentation::First,
                (_, i) if i == last => Fragmentation::Last,
                _ => Fragmentation::Next,
            };
            let update = FastPathUpdatePdu {
                fragmentation,
                update_code: code,
                compression_flags: None,
                compression_type: None,
                data: chunk,
            };
            let update = ironrdp_core::encode_vec(&update)?;
            let header = FastPathHeader::new(EncryptionFlags::empty(), update.len());
            let mut out = vec![0u8; header.size() + update.len()];
            let mut w = WriteCursor::new(&mut out);
            header.encode(&mut w)?;
            w.write_slice(&update);
            Ok(out)
        })
        .collect()
}

/// Encode an RGBA image region as uncompressed (codec NONE) 32 bpp SurfaceBits PDUs in 64×64
/// tiles: the format any `fast_path::Processor` decodes without prior state.
pub(crate) fn none_codec_tiles(
    rgba: &[u8],
    width: usize,
    height: usize,
) -> Result<Vec<Vec<u8>>, ironrdp_core::EncodeError> {
    const TILE: usize = 64;
    let mut out = Vec::new();
    let mut px = Vec::with_capacity(TILE * TILE * 4);
    for ty in (0..height).step_by(TILE) {
        for tx in (0..width).step_by(TILE) {
            let tw = TILE.min(width - tx);
            let th = TILE.min(height - ty);
            px.clear();
            // Codec NONE is a bottom-up BGRX DIB.
            for row in (0..th).rev() {
                let off = ((ty + row) * width + tx) * 4;
                for p in rgba[off..off + tw * 4].chunks_exact(4) {
                    px.extend_from_slice(&[p[2], p[1], p[0], 0xff]);
                }
            }
            // Tiles lie inside a u16-sized desktop.
            let u = |v: usize| u16::try_from(v).unwrap_or(u16::MAX);
            let command = SurfaceCommand::SetSurfaceBits(SurfaceBitsPdu {
                destination: ExclusiveRectangle {
                    left: u(tx),
                    top: u(ty),
                    right: u(tx + tw),
                    bottom: u(ty + th),
                },
                extended_bitmap_data: ExtendedBitmapDataPdu {
                    bpp: 32,
                    codec_id: 0,
                    width: u(tw),
                    height: u(th),
                    header: None,
                    data: &px,
                },
            });
            let payload = ironrdp_core::encode_vec(&command)?;
            out.extend(wrap(UpdateCode::SurfaceCommands, &payload)?);
        }
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn wrap_fragments_large_payloads_below_the_fast_path_limit() {
        let data = vec![7u8; 100_000];
        let pdus = wrap(UpdateCode::Bitmap, &data).expect("wrap");
        assert_eq!(pdus.len(), 4);
        let mut peek = Peek::default();
        for (i, pdu) in pdus.iter().enumerate() {
            let info = ironrdp_pdu::find_size(pdu)
                .expect("size")
                .expect("complete");
            assert_eq!(info.length, pdu.len());
            assert!(pdu.len() <= 0x7FFF);
            let r = peek.inspect(pdu);
            assert!(!r.malformed);
            assert_eq!(peek.in_fragment(), i + 1 < pdus.len());
        }
    }

    #[test]
    fn small_payload_is_a_single_pdu() {
        let pdus = wrap(UpdateCode::Bitmap, &[1, 0, 0, 0]).expect("wrap");
        assert_eq!(pdus.len(), 1);
        let mut peek = Peek::default();
        assert!(!peek.inspect(&pdus[0]).malformed);
        assert!(!peek.in_fragment());
    }

    /// The peek (the stream's and the screen's) never holds more than the bound: the fragment
    /// that would cross it is reported and the partial update dropped.
    #[test]
    fn reassembly_is_bounded() {
        let big = vec![0u8; 2 * MAX_REASSEMBLED];
        let pdus = wrap(UpdateCode::Bitmap, &big).expect("wrap");
        let mut peek = Peek::tracking_pointer();
        let mut refused = None;
        for (i, pdu) in pdus.iter().enumerate() {
            let r = peek.inspect(pdu);
            assert!(peek.reassembly_len() <= MAX_REASSEMBLED);
            if r.too_large {
                refused = Some(i);
                break;
            }
        }
        let refused = refused.expect("the bound was crossed");
        assert_eq!(refused, MAX_REASSEMBLED / MAX_FRAGMENT);
        assert_eq!(peek.reassembly_len(), 0);
        assert!(!peek.in_fragment());
        // The next update starts afresh.
        assert!(
            !peek
                .inspect(&wrap(UpdateCode::Bitmap, &[1, 0, 0, 0]).expect("wrap")[0])
                .too_large
        );
    }

    /// A buffer grown fragment by fragment up to the bound is reallocated a handful of times
    /// (each a copy) and never holds more room than the bound.
    #[test]
    fn reassembly_grows_by_doubling_within_the_bound() {
        let (mut capacity, mut len, mut grows) = (0, 0, 0);
        while len + MAX_FRAGMENT <= MAX_REASSEMBLED {
            let extra = reassembly_growth(capacity, len, MAX_FRAGMENT);
            if extra > 0 {
                grows += 1;
                capacity = len + extra;
            }
            len += MAX_FRAGMENT;
            assert!(
                len <= capacity && capacity <= MAX_REASSEMBLED,
                "{len} {capacity}"
            );
        }
        assert!(grows <= 10, "{grows} reallocations");
        // One fragment bigger than the bound still gets exactly its room.
        assert_eq!(
            reassembly_growth(0, 0, MAX_REASSEMBLED + 1),
            MAX_REASSEMBLED + 1
        );
    }

    #[test]
    fn garbage_is_reported_not_panicked_on() {
        let mut peek = Peek::default();
        assert!(peek.inspect(&[0x00]).malformed);
        assert!(peek.inspect(&[0x00, 0x05, 0xff, 0xff, 0xff]).malformed);
    }
}
