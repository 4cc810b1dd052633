//! Pointer updates (fast-path attribute or slow-path TS_POINTER_PDU) into the relay's pointer
//! state, whose replay for a late joiner must reproduce itself.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    vigil_rdp::fuzzing::pointer_update(data);
});
