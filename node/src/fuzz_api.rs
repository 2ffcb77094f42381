//! Entry points for the fuzz targets in `fuzz/` into code that is otherwise private: compiled
//! only under `cfg(fuzzing)` (set by `cargo fuzz`), never part of the public API.

use bytes::Bytes;
use futures::executor::block_on;

use crate::rpc::UploadLimits;
use crate::rpc::upload_guard::PartScanner;

/// Reads `body`, cut into `chunk`-byte pieces, as a multipart upload with `boundary` the way
/// the RPC does: through the part scanner, then multer, every field read to its end.
pub fn multipart_upload(boundary: &str, body: &[u8], chunk: usize, limits: UploadLimits) {
    let mut scanner = PartScanner::new(boundary, limits);
    let mut pieces: Vec<Result<Bytes, std::io::Error>> = Vec::new();
    for piece in body.chunks(chunk.max(1)) {
        if let Err(e) = scanner.feed(piece) {
            pieces.push(Err(std::io::Error::other(e)));
            break;
        }
        pieces.push(Ok(Bytes::copy_from_slice(piece)));
    }
    let mut parts = multer::Multipart::new(futures::stream::iter(pieces), boundary);
    block_on(async {
        while let Ok(Some(mut field)) = parts.next_field().await {
            let _ = field.file_name();
            let _ = field.content_type();
            while let Ok(Some(_)) = field.chunk().await {}
        }
    });
}

/// A replication protocol stream: the first byte picks a request (even) or a response (odd),
/// the rest is decoded as the protocol reads it; every log entry found is verified.
pub fn replication_message(data: &[u8]) {
    use crate::replication::wire::{Request, Response, decode_request, decode_response};
    let Some((&kind, bytes)) = data.split_first() else {
        return;
    };
    if kind % 2 == 0 {
        if let Ok(Request::Offer { entry }) = decode_request(bytes) {
            let _ = entry.verify();
        }
    } else if let Ok(Response::Entries { entries, .. }) = decode_response(bytes) {
        for entry in entries {
            let _ = entry.verify();
        }
    }
}

/// An HLS playlist the gateway serves, parsed as its look-ahead parses it (any bytes: the
/// look-ahead reads playlists as lossy UTF-8).
pub fn hls_playlist(data: &[u8]) {
    crate::gateway::fuzz_hls_playlist(&String::from_utf8_lossy(data));
}
