//! What a gateway request carries: the content path after `/ipfs/` (CID and percent-encoded
//! segments), `Range`, `entity-bytes`, and format negotiation from query and `Accept`; and the
//! RPC's `/ipfs/<cid>/path` arguments.
#![no_main]

use chorus_node::gateway::{ContentPath, EntityBytes, negotiate, parse_range};
use chorus_protocol::unixfs::parse_ipfs_path;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    let mut fields = text.split('\n');
    let path = fields.next().unwrap_or_default();
    let range = fields.next().unwrap_or_default();
    let query = fields.next().unwrap_or_default();
    let accept = fields.next().unwrap_or_default();
    let _ = ContentPath::parse(path);
    let _ = parse_ipfs_path(path);
    for size in [0u64, 1, 1000, u64::MAX] {
        let _ = parse_range(Some(range), size);
        if let Ok(e) = EntityBytes::parse(range) {
            let _ = e.resolve(size);
        }
    }
    let mut headers = http::HeaderMap::new();
    if let Ok(v) = http::HeaderValue::from_str(accept) {
        headers.insert(http::header::ACCEPT, v);
    }
    let _ = negotiate(Some(query), &headers);
});
