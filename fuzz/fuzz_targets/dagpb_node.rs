//! A dag-pb block: the one decoder (`storage::dagpb`) and its link extraction for GC and walks.
#![no_main]

use bytes::Bytes;
use chorus_storage::Block;
use chorus_storage::dagpb::{PbNode, links};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let bytes = Bytes::copy_from_slice(data);
    let _ = PbNode::decode(&bytes);
    if let Ok(block) = Block::from_data_v0(bytes) {
        let _ = links(&block);
    }
});
