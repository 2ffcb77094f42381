//! An RPC upload body (`add`, `block/put`, `dag/import`): the part scanner that bounds parts
//! and part headers, then multer, at a chunking the input chooses.
#![no_main]

use chorus_node::rpc::UploadLimits;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Some((&chunk, body)) = data.split_first() else {
        return;
    };
    let limits = UploadLimits {
        max_parts: 64,
        max_part_header_bytes: 512,
    };
    chorus_node::fuzz_api::multipart_upload("XyZ", body, usize::from(chunk) + 1, limits);
});
