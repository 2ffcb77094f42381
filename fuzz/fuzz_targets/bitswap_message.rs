//! One Bitswap frame from a peer: the protobuf decoder and every block's verification.
#![no_main]

use bytes::Bytes;
use chorus_protocol::bitswap::Message;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let _ = Message::decode(Bytes::copy_from_slice(data));
});
