//! A `/chorus/replicate/1.0.0` stream from a peer: a request or a response decoded through
//! the protocol's codec (with its size bound), and every log entry in it verified.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    chorus_node::fuzz_api::replication_message(data);
});
