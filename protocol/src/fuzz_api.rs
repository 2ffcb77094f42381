//! Entry points for the fuzz targets in `fuzz/` into code that is otherwise private: compiled
//! only under `cfg(fuzzing)` (set by `cargo fuzz`), never part of the public API.

use bytes::Bytes;
use futures::StreamExt;
use futures::executor::block_on;
use futures::io::Cursor;

use crate::bitswap::Message;
use crate::bitswap::framing::FrameReader;

/// Reads `wire` as a Bitswap stream: every frame it holds, each decoded as a message.
pub fn bitswap_stream(wire: &[u8]) {
    let mut frames = FrameReader::new(Cursor::new(wire.to_vec()));
    while let Some(Ok(frame)) = block_on(frames.next()) {
        let _ = Message::decode(Bytes::from(frame));
    }
}
