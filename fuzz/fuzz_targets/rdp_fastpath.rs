//! The relay's structural peek into server fast-path output (fragment reassembly, surface
//! commands, RemoteFX headers, pointer state), fed arbitrary bytes split into PDUs the way
//! the stream splitter splits them.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    vigil_rdp::fuzzing::fastpath_peek(data);
});
