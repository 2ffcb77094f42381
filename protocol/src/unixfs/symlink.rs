//! Symlink nodes, as `ipfs add` stores a symbolic link it meets (not followed).

use chorus_storage::Block;

use super::file::ImportError;
use super::node::dag_pb_block;
use super::options::ImportOptions;
use super::pb::{self, DataType};

/// Builds the UnixFS `Symlink` node for `target` with the CID version and hash of `opts`.
///
/// Like boxo's `SymlinkData`, the node carries only the type and the target (no `filesize`).
/// Its parent directory links it with `Tsize` = the block's length.
pub fn symlink_block(opts: &ImportOptions, target: &str) -> Result<Block, ImportError> {
    let opts = opts.resolve()?;
    let mut data = vec![0x08, DataType::Symlink as u8, 0x12];
    pb::put_varint(&mut data, target.len() as u64);
    data.extend_from_slice(target.as_bytes());
    Ok(dag_pb_block(&opts, pb::encode_node(&[], &data))?)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::unixfs::decode::{Decoded, decode};

    #[test]
    fn symlink_roundtrips() {
        let b = symlink_block(&ImportOptions::default(), "../target").unwrap();
        assert_eq!(&b.data()[..], b"\x0a\x0d\x08\x04\x12\x09../target");
        match decode(&b).unwrap() {
            Decoded::Symlink { target } => assert_eq!(&target[..], b"../target"),
            other => panic!("{other:?}"),
        }
    }
}
