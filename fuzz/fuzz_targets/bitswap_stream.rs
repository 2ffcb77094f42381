//! A Bitswap stream from a peer: length-prefixed framing, then each frame decoded.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    chorus_protocol::fuzz_api::bitswap_stream(data);
});
