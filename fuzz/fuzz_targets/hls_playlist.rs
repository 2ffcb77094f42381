//! An HLS playlist served through the gateway, parsed as the look-ahead parses it (master or
//! media playlist, relative entries only, bounded entry count).
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    chorus_node::fuzz_api::hls_playlist(data);
});
