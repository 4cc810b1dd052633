//! The terminal key splitter on arbitrary input: never panics, and the keys' raw bytes are
//! non-empty and cover the input exactly, in order.
#![no_main]

use libfuzzer_sys::fuzz_target;
use vigil_wire::keys::{hex, split_terminal_input};

fuzz_target!(|data: &[u8]| {
    let keys = split_terminal_input(data);
    assert!(keys.iter().all(|k| !k.raw.is_empty() && !k.name.is_empty()));
    let joined: Vec<u8> = keys.iter().flat_map(|k| k.raw.iter().copied()).collect();
    assert_eq!(joined, data);
    assert_eq!(hex(data).len(), (data.len() * 3).saturating_sub(1));
});
