//! WebSocket frames from a peer: arbitrary bytes as a binary frame and (lossily) as a text
//! frame, decoded as every message family. Decoding must never panic, and whatever decodes
//! must re-encode to a frame that decodes to the same message.
#![no_main]

use libfuzzer_sys::fuzz_target;
use vigil_wire::codec::Frame;
use vigil_wire::live::{ClientMsg, FeedMsg, ServerMsg};

fn check(frame: &Frame) {
    if let Ok(m) = ClientMsg::decode(frame) {
        assert_eq!(ClientMsg::decode(&m.encode()), Ok(m));
    }
    if let Ok(m) = ServerMsg::decode(frame) {
        assert_eq!(ServerMsg::decode(&m.encode()), Ok(m));
    }
    if let Ok(m) = FeedMsg::decode(frame) {
        assert_eq!(FeedMsg::decode(&m.encode()), Ok(m));
    }
}

fuzz_target!(|data: &[u8]| {
    check(&Frame::Binary(data.to_vec()));
    check(&Frame::Text(String::from_utf8_lossy(data).into_owned()));
});
