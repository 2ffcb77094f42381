//! The dag-pb decoder against `ipld-dagpb` (an independent implementation), and on garbage.

use proptest::prelude::*;

use super::util::{dag_pb_node, raw_block};
use crate::dagpb::{self, LinksError, PbNode};
use crate::{Block, Cid, HashAlg, codec};

#[test]
fn links_match_an_independent_decoder() {
    let children: Vec<Cid> = (0..50).map(|i| *raw_block(i, 10).cid()).collect();
    let node = dag_pb_node(&children, b"tag");
    assert_eq!(dagpb::links(&node).unwrap(), children);
    let theirs = ipld_dagpb::PbNode::from_bytes(node.data().clone()).unwrap();
    let ours = PbNode::decode(node.data()).unwrap();
    assert_eq!(ours.data.as_deref(), theirs.data.as_deref());
    assert_eq!(ours.links.len(), theirs.links.len());
    assert!(dagpb::links(&raw_block(1, 10)).unwrap().is_empty());
    let cbor = Block::from_data(codec::DAG_CBOR, HashAlg::Sha2_256, &b"\xa0"[..]).unwrap();
    assert!(matches!(
        dagpb::links(&cbor),
        Err(LinksError::UnsupportedCodec { .. })
    ));
}

proptest! {
    /// Any bytes as a dag-pb node: an answer or an error, never a panic; and whatever both
    /// decoders accept, they read the same links from.
    #[test]
    fn garbage_is_an_error_not_a_panic(bytes in proptest::collection::vec(any::<u8>(), 0..512)) {
        let bytes = bytes::Bytes::from(bytes);
        if let (Ok(ours), Ok(theirs)) = (
            PbNode::decode(&bytes),
            ipld_dagpb::PbNode::from_bytes(bytes.clone()),
        ) {
            let ours: Vec<Cid> = ours.links.iter().map(|l| l.cid).collect();
            let theirs: Vec<Cid> = theirs.links.iter().map(|l| l.cid).collect();
            prop_assert_eq!(ours, theirs);
        }
    }
}
