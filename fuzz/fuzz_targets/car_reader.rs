//! A CAR v1/v2 upload (`dag import`), fed in pieces as a network body arrives: header and
//! section framing, CID and block verification.
#![no_main]

use chorus_protocol::car::{CarDecoder, decode_header};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let _ = decode_header(data);
    let split = data.first().map_or(1, |b| usize::from(*b) + 1);
    let mut decoder = CarDecoder::new().with_max_section(1 << 20);
    for piece in data.chunks(split) {
        decoder.push(piece);
        loop {
            match decoder.next_item() {
                Ok(Some(_)) => continue,
                Ok(None) => break,
                Err(_) => return,
            }
        }
    }
    let _ = decoder.finish();
});
