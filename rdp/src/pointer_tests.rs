use ironrdp_core::WriteBuf;
use ironrdp_pdu::pointer::{
    CachedPointerAttribute, ColorPointerAttribute, LargePointerAttribute, Point16, PointerAttribute,
};
use ironrdp_session::fast_path::UpdateKind;

use super::*;
use crate::screen::decoder;
use crate::SessionParams;

pub(crate) fn params() -> SessionParams {
    SessionParams {
        io_channel_id: 1003,
        user_channel_id: 1002,
        share_id: 0x103ea,
        width: 128,
        height: 96,
        input_flags: 0,
    }
}

/// Mask bytes that differ per pointer (`seed`) and per byte, so a wrong slot shows.
fn mask(len: usize, seed: u8) -> Vec<u8> {
    (0..len)
        .map(|i| {
            let b = i.to_le_bytes()[0];
            b.wrapping_mul(31).wrapping_add(seed)
        })
        .collect()
}

/// Scanlines are padded to 16 bits.
fn stride(bits: usize) -> usize {
    bits.div_ceil(16) * 2
}

/// A TS_COLORPOINTERATTRIBUTE payload (24 bpp) in `slot`.
pub(crate) fn color(slot: u16, w: u16, h: u16, seed: u8) -> Vec<u8> {
    let (wu, hu) = (usize::from(w), usize::from(h));
    let xor = mask(stride(wu * 24) * hu, seed);
    let and = mask(stride(wu) * hu, seed ^ 0x55);
    ironrdp_core::encode_vec(&ColorPointerAttribute {
        cache_index: slot,
        hot_spot: Point16 { x: 1, y: 2 },
        width: w,
        height: h,
        xor_mask: &xor,
        and_mask: &and,
    })
    .expect("color pointer")
}

/// A TS_POINTERATTRIBUTE payload (32 bpp) in `slot`.
pub(crate) fn new_pointer(slot: u16, w: u16, h: u16, seed: u8) -> Vec<u8> {
    let (wu, hu) = (usize::from(w), usize::from(h));
    let xor = mask(stride(wu * 32) * hu, seed);
    let and = mask(stride(wu) * hu, seed ^ 0x55);
    ironrdp_core::encode_vec(&PointerAttribute {
        xor_bpp: 32,
        color_pointer: ColorPointerAttribute {
            cache_index: slot,
            hot_spot: Point16 { x: 3, y: 4 },
            width: w,
            height: h,
            xor_mask: &xor,
            and_mask: &and,
        },
    })
    .expect("new pointer")
}

/// A TS_FP_LARGEPOINTERATTRIBUTE payload (32 bpp) in `slot`; 96×96 is ~38 KB, more than one
/// fast-path PDU holds.
pub(crate) fn large(slot: u16, w: u16, h: u16, seed: u8) -> Vec<u8> {
    let (wu, hu) = (usize::from(w), usize::from(h));
    let xor = mask(stride(wu * 32) * hu, seed);
    let and = mask(stride(wu) * hu, seed ^ 0x55);
    ironrdp_core::encode_vec(&LargePointerAttribute {
        xor_bpp: 32,
        cache_index: slot,
        hot_spot: Point16 { x: 40, y: 41 },
        width: w,
        height: h,
        xor_mask: &xor,
        and_mask: &and,
    })
    .expect("large pointer")
}

pub(crate) fn cached(slot: u16) -> Vec<u8> {
    ironrdp_core::encode_vec(&CachedPointerAttribute { cache_index: slot }).expect("cached")
}

/// Fast-path PDUs for one update (fragmented when large).
pub(crate) fn pdus(code: UpdateCode, payload: &[u8]) -> Vec<Vec<u8>> {
    fastpath::wrap(code, payload).expect("wrap")
}

/// What a browser shows as its pointer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Shown {
    Hidden,
    Default,
    Bitmap {
        width: u16,
        height: u16,
        hotspot: (u16, u16),
        rgba: Vec<u8>,
    },
}

/// A browser-equivalent decoder that remembers the pointer it was last told to show.
pub(crate) struct PointerBrowser {
    processor: ironrdp_session::fast_path::Processor,
    image: ironrdp_session::image::DecodedImage,
    pub shown: Option<Shown>,
    pub position: Option<(u16, u16)>,
    pub bitmaps: usize,
    pub positions: Vec<(u16, u16)>,
}

impl PointerBrowser {
    pub fn new(params: &SessionParams) -> Self {
        let (processor, image) = decoder(params);
        Self {
            processor,
            image,
            shown: None,
            position: None,
            bitmaps: 0,
            positions: Vec::new(),
        }
    }

    pub fn feed(&mut self, pdu: &[u8]) {
        let mut out = WriteBuf::new();
        let updates = self
            .processor
            .process(&mut self.image, pdu, &mut out, &mut None)
            .expect("decodes");
        for update in updates {
            match update {
                UpdateKind::PointerHidden => self.shown = Some(Shown::Hidden),
                UpdateKind::PointerDefault => self.shown = Some(Shown::Default),
                UpdateKind::PointerPosition { x, y } => {
                    self.position = Some((x, y));
                    self.positions.push((x, y));
                }
                UpdateKind::PointerBitmap(p) => {
                    self.bitmaps += 1;
                    self.shown = Some(Shown::Bitmap {
                        width: p.width,
                        height: p.height,
                        hotspot: (p.hotspot_x, p.hotspot_y),
                        rgba: p.bitmap_data.clone(),
                    });
                }
                _ => {}
            }
        }
    }

    pub fn feed_all<'a>(&mut self, pdus: impl IntoIterator<Item = &'a Vec<u8>>) {
        for pdu in pdus {
            self.feed(pdu);
        }
    }

    /// Select `slot` from the cache: what it holds, or `None` on a miss.
    pub fn probe_slot(&mut self, slot: u16) -> Option<Shown> {
        let before = self.bitmaps;
        let saved = (self.shown.clone(), self.position);
        self.feed_all(&pdus(UpdateCode::CachedPointer, &cached(slot)));
        let got = (self.bitmaps > before)
            .then(|| self.shown.clone())
            .flatten();
        (self.shown, self.position) = saved;
        got
    }
}

fn replayed(state: &PointerState) -> PointerBrowser {
    let mut b = PointerBrowser::new(&params());
    b.feed_all(&state.replay().expect("replay"));
    b
}

#[test]
fn nothing_seen_replays_nothing() {
    assert!(PointerState::default().replay().expect("replay").is_empty());
}

#[test]
fn replay_ends_with_the_current_pointer_and_position() {
    let mut live = PointerBrowser::new(&params());
    let mut state = PointerState::default();
    let stream = [
        (UpdateCode::ColorPointer, color(0, 32, 32, 1)),
        (UpdateCode::NewPointer, new_pointer(1, 32, 32, 2)),
        (UpdateCode::LargePointer, large(2, 96, 96, 3)),
        (UpdateCode::PositionPointer, vec![10, 0, 20, 0]),
        (UpdateCode::CachedPointer, cached(1)),
        // Slot 0 redefined: the newer definition is the one to replay.
        (UpdateCode::ColorPointer, color(0, 16, 16, 4)),
        (UpdateCode::CachedPointer, cached(2)),
    ];
    for (code, payload) in &stream {
        live.feed_all(&pdus(*code, payload));
        state.update(*code, payload);
    }
    let mut joiner = replayed(&state);
    assert!(matches!(
        joiner.shown,
        Some(Shown::Bitmap { width: 96, .. })
    ));
    assert_eq!(joiner.shown, live.shown);
    assert_eq!(joiner.position, Some((10, 20)));
    for slot in 0..4 {
        assert_eq!(
            joiner.probe_slot(slot),
            live.probe_slot(slot),
            "slot {slot}"
        );
    }
    assert_eq!(joiner.probe_slot(3), None);
}

#[test]
fn hidden_and_default_are_replayed_after_the_slots() {
    for (code, want) in [
        (UpdateCode::HiddenPointer, Shown::Hidden),
        (UpdateCode::DefaultPointer, Shown::Default),
    ] {
        let mut state = PointerState::default();
        state.update(UpdateCode::ColorPointer, &color(5, 32, 32, 9));
        state.update(code, &[]);
        let mut joiner = replayed(&state);
        assert_eq!(joiner.shown, Some(want));
        assert!(joiner.probe_slot(5).is_some(), "the slot is still cached");
        assert_eq!(joiner.position, None);
    }
}

#[test]
fn a_cache_miss_keeps_the_current_pointer() {
    let mut state = PointerState::default();
    state.update(UpdateCode::DefaultPointer, &[]);
    state.update(UpdateCode::CachedPointer, &cached(7));
    assert_eq!(replayed(&state).shown, Some(Shown::Default));
}

#[test]
fn out_of_range_slots_are_not_cached_but_still_current() {
    let mut state = PointerState::default();
    state.update(UpdateCode::ColorPointer, &color(1, 32, 32, 1));
    state.update(UpdateCode::ColorPointer, &color(CACHE_SLOTS + 5, 32, 32, 2));
    let mut live = PointerBrowser::new(&params());
    live.feed_all(&pdus(
        UpdateCode::ColorPointer,
        &color(CACHE_SLOTS + 5, 32, 32, 2),
    ));
    let mut joiner = replayed(&state);
    assert_eq!(joiner.shown, live.shown);
    assert!(joiner.probe_slot(1).is_some());
    assert_eq!(state.slots.len(), 1);
}

#[test]
fn garbage_and_oversized_updates_are_ignored() {
    let mut state = PointerState::default();
    state.update(UpdateCode::ColorPointer, &[1, 2, 3]);
    state.update(UpdateCode::LargePointer, &vec![0u8; MAX_POINTER_UPDATE + 1]);
    state.update(UpdateCode::PositionPointer, &[1]);
    state.update(UpdateCode::Bitmap, &[0, 0, 0, 0]);
    assert!(state.replay().expect("replay").is_empty());
}

#[test]
fn large_pointers_replay_fragmented_below_the_length_limit() {
    let mut state = PointerState::default();
    state.update(UpdateCode::LargePointer, &large(0, 96, 96, 1));
    let replay = state.replay().expect("replay");
    assert_eq!(replay.len(), 2, "one update in two fragments");
    assert!(replay.iter().all(|p| p.len() <= 0x7FFF));
    let mut joiner = PointerBrowser::new(&params());
    joiner.feed_all(&replay);
    assert!(matches!(
        joiner.shown,
        Some(Shown::Bitmap {
            width: 96,
            height: 96,
            hotspot: (40, 41),
            ..
        })
    ));
}

/// A slow-path TS_POINTER_PDU body: messageType, pad, attribute.
pub(crate) fn slow_pointer(message_type: u16, attribute: &[u8]) -> Vec<u8> {
    let mut v = message_type.to_le_bytes().to_vec();
    v.extend_from_slice(&[0, 0]);
    v.extend_from_slice(attribute);
    v
}

#[test]
fn slow_path_pointer_messages_map_to_fast_path_updates() {
    let c = color(3, 32, 32, 1);
    let n = new_pointer(4, 32, 32, 2);
    let l = large(5, 96, 96, 3);
    let cases: [(u16, Vec<u8>, UpdateCode, Vec<u8>); 7] = [
        (
            1,
            0u32.to_le_bytes().to_vec(),
            UpdateCode::HiddenPointer,
            vec![],
        ),
        (
            1,
            0x7F00u32.to_le_bytes().to_vec(),
            UpdateCode::DefaultPointer,
            vec![],
        ),
        (
            3,
            vec![1, 0, 2, 0],
            UpdateCode::PositionPointer,
            vec![1, 0, 2, 0],
        ),
        (6, c.clone(), UpdateCode::ColorPointer, c),
        (7, cached(3), UpdateCode::CachedPointer, cached(3)),
        (8, n.clone(), UpdateCode::NewPointer, n),
        (9, l.clone(), UpdateCode::LargePointer, l),
    ];
    for (message_type, attribute, code, payload) in cases {
        let pdu = slow_pointer(message_type, &attribute);
        assert_eq!(
            slow_path_to_fast_path(&pdu),
            Some((code, &payload[..])),
            "message type {message_type}"
        );
    }
    assert_eq!(
        slow_path_to_fast_path(&slow_pointer(1, &[1, 2, 3, 4])),
        None
    );
    assert_eq!(slow_path_to_fast_path(&slow_pointer(2, &[])), None);
    assert_eq!(slow_path_to_fast_path(&[6, 0]), None);
    assert_eq!(slow_path_to_fast_path(&[]), None);
}

#[test]
fn position_pdu_decodes_as_a_pointer_position() {
    let mut b = PointerBrowser::new(&params());
    b.feed(&position_pdu(77, 33).expect("encode"));
    assert_eq!(b.position, Some((77, 33)));
}
