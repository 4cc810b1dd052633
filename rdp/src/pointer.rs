//! Server pointer (cursor shape) state for late joiners.
//!
//! Pointer updates pass through to browsers untouched, but a decoder that starts late has an
//! empty pointer cache and no current pointer. [`PointerState`] follows the stream and keeps
//! the update that last defined each cache slot, the one that made the current pointer
//! current, and the last position; [`PointerState::replay`] turns them back into fast-path
//! PDUs that leave a fresh decoder in the same pointer state.
//!
//! Also here: the slow-path `TS_POINTER_PDU` → fast-path mapping ([`slow_path_to_fast_path`])
//! and the PTR_POSITION PDU the hub shows observers where the user points with
//! ([`position_pdu`]).

use std::collections::BTreeMap;

use ironrdp_pdu::fast_path::{FastPathUpdate, UpdateCode};
use ironrdp_pdu::pointer::{PointerPositionAttribute, PointerUpdateData};
use tracing::debug;

use crate::error::StreamError;
use crate::fastpath;

/// Cache slots tracked: the connector advertises 32 in the Pointer capability set, and a
/// server must not use an index beyond what the client advertised.
const CACHE_SLOTS: u16 = 32;

/// The largest pointer update kept: a 384×384 32 bpp large pointer with its AND mask, plus
/// the fixed fields. Bigger ones are out of spec, and a server must not make the relay hold
/// arbitrary amounts per session.
const MAX_POINTER_UPDATE: usize = 384 * 384 * 4 + 384 * 384 / 8 + 64;

/// Slow-path pointer message types (MS-RDPBCGR 2.2.9.1.1.4).
const PTRMSGTYPE_SYSTEM: u16 = 0x0001;
const PTRMSGTYPE_POSITION: u16 = 0x0003;
const PTRMSGTYPE_COLOR: u16 = 0x0006;
const PTRMSGTYPE_CACHED: u16 = 0x0007;
const PTRMSGTYPE_POINTER: u16 = 0x0008;
const PTRMSGTYPE_LARGE: u16 = 0x0009;
/// System pointer types (MS-RDPBCGR 2.2.9.1.1.4.3).
const SYSPTR_NULL: u32 = 0x0000_0000;
const SYSPTR_DEFAULT: u32 = 0x0000_7F00;

/// The fast-path equivalent of a slow-path `TS_POINTER_PDU`: the update code and its payload.
/// Every pointer attribute is byte-identical on both paths; only the system pointer message
/// becomes an empty PTR_NULL or PTR_DEFAULT update. `None` for an unknown or short message.
pub(crate) fn slow_path_to_fast_path(pdu: &[u8]) -> Option<(UpdateCode, &[u8])> {
    // messageType (2 bytes), pad2Octets (2 bytes), pointerAttributeData.
    let message_type = u16::from_le_bytes([*pdu.first()?, *pdu.get(1)?]);
    let attribute = pdu.get(4..)?;
    let code = match message_type {
        PTRMSGTYPE_SYSTEM => {
            let kind = u32::from_le_bytes(attribute.get(..4)?.try_into().ok()?);
            return match kind {
                SYSPTR_NULL => Some((UpdateCode::HiddenPointer, &[])),
                SYSPTR_DEFAULT => Some((UpdateCode::DefaultPointer, &[])),
                _ => None,
            };
        }
        PTRMSGTYPE_POSITION => UpdateCode::PositionPointer,
        PTRMSGTYPE_COLOR => UpdateCode::ColorPointer,
        PTRMSGTYPE_CACHED => UpdateCode::CachedPointer,
        PTRMSGTYPE_POINTER => UpdateCode::NewPointer,
        PTRMSGTYPE_LARGE => UpdateCode::LargePointer,
        _ => return None,
    };
    Some((code, attribute))
}

/// A PTR_POSITION fast-path PDU: for the positions the relay learns from the user's input,
/// which servers rarely send themselves.
pub fn position_pdu(x: u16, y: u16) -> Result<Vec<u8>, StreamError> {
    encode_position(x, y).map_err(|e| StreamError::Encode(e.to_string()))
}

fn encode_position(x: u16, y: u16) -> Result<Vec<u8>, ironrdp_core::EncodeError> {
    let payload = ironrdp_core::encode_vec(&PointerPositionAttribute { x, y })?;
    let mut pdus = fastpath::wrap(UpdateCode::PositionPointer, &payload)?;
    // Four bytes of payload always make exactly one PDU.
    Ok(pdus.swap_remove(0))
}

#[derive(Clone, Debug, PartialEq, Eq)]
enum Current {
    Hidden,
    Default,
    /// The pointer last defined in (or selected from) this cache slot.
    Slot(u16),
    /// Defined with a cache index beyond [`CACHE_SLOTS`] (out of spec): kept on its own so a
    /// joiner still sees it.
    Unslotted(UpdateCode, Vec<u8>),
}

/// What a fresh decoder needs to show the pointer the live stream shows.
#[derive(Default)]
pub(crate) struct PointerState {
    /// The reassembled Color/New/Large update that last defined each slot.
    slots: BTreeMap<u16, (UpdateCode, Vec<u8>)>,
    current: Option<Current>,
    position: Option<(u16, u16)>,
}

impl PointerState {
    /// One reassembled fast-path update. Non-pointer updates are ignored, and so are pointer
    /// updates that do not parse (a decoder ignores them too, or fails on them live).
    pub fn update(&mut self, code: UpdateCode, data: &[u8]) {
        if !is_pointer(code) {
            return;
        }
        if data.len() > MAX_POINTER_UPDATE {
            debug!(len = data.len(), "oversized pointer update not kept");
            return;
        }
        let Ok(FastPathUpdate::Pointer(update)) = FastPathUpdate::decode_with_code(data, code)
        else {
            debug!(?code, len = data.len(), "pointer update did not parse");
            return;
        };
        let slot = match update {
            PointerUpdateData::SetHidden => {
                self.current = Some(Current::Hidden);
                return;
            }
            PointerUpdateData::SetDefault => {
                self.current = Some(Current::Default);
                return;
            }
            PointerUpdateData::SetPosition(p) => {
                self.position = Some((p.x, p.y));
                return;
            }
            PointerUpdateData::Cached(cached) => {
                // A decoder ignores a miss too, keeping its current pointer.
                if self.slots.contains_key(&cached.cache_index) {
                    self.current = Some(Current::Slot(cached.cache_index));
                }
                return;
            }
            PointerUpdateData::Color(color) => color.cache_index,
            PointerUpdateData::New(new) => new.color_pointer.cache_index,
            PointerUpdateData::Large(large) => large.cache_index,
        };
        if slot < CACHE_SLOTS {
            self.slots.insert(slot, (code, data.to_vec()));
            self.current = Some(Current::Slot(slot));
        } else {
            debug!(slot, "pointer cache index beyond the advertised cache");
            self.current = Some(Current::Unslotted(code, data.to_vec()));
        }
    }

    /// Fast-path PDUs for a fresh decoder: the definition of every cached slot, then what makes
    /// the current pointer current (a slot's definition goes last instead of being repeated),
    /// then the last position. Large updates are fragmented to fit the fast-path length field.
    pub fn replay(&self) -> Result<Vec<Vec<u8>>, ironrdp_core::EncodeError> {
        let current_slot = match self.current {
            Some(Current::Slot(slot)) => Some(slot),
            _ => None,
        };
        let mut pdus = Vec::new();
        for (slot, (code, data)) in &self.slots {
            if Some(*slot) != current_slot {
                pdus.extend(fastpath::wrap(*code, data)?);
            }
        }
        match &self.current {
            Some(Current::Slot(slot)) => {
                if let Some((code, data)) = self.slots.get(slot) {
                    pdus.extend(fastpath::wrap(*code, data)?);
                }
            }
            Some(Current::Unslotted(code, data)) => pdus.extend(fastpath::wrap(*code, data)?),
            Some(Current::Hidden) => pdus.extend(fastpath::wrap(UpdateCode::HiddenPointer, &[])?),
            Some(Current::Default) => pdus.extend(fastpath::wrap(UpdateCode::DefaultPointer, &[])?),
            None => {}
        }
        if let Some((x, y)) = self.position {
            pdus.push(encode_position(x, y)?);
        }
        Ok(pdus)
    }
}

pub(crate) fn is_pointer(code: UpdateCode) -> bool {
    matches!(
        code,
        UpdateCode::HiddenPointer
            | UpdateCode::DefaultPointer
            | UpdateCode::PositionPointer
            | UpdateCode::ColorPointer
            | UpdateCode::CachedPointer
            | UpdateCode::NewPointer
            | UpdateCode::LargePointer
    )
}

#[cfg(test)]
#[path = "pointer_tests.rs"]
pub(crate) mod tests;
