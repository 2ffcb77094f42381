//! A peer that goes away in the middle of a transfer: B reads a multi-MB file while A, one
//! of its sources, shuts down after delivering some blocks (an event, not a timer). With a
//! second source the read completes byte-equal; with none it fails within the fetch timeout
//! with a clear error, and B's store holds only whole, verified blocks of the file.

#![allow(clippy::result_large_err)]

mod network_common;

use std::collections::HashSet;
use std::sync::Arc;
use std::time::Duration;

use chorus_node::network::{NetworkConfig, NetworkEvent};
use chorus_node::{BlockFetcher, FetcherSource};
use chorus_protocol::unixfs::UnixfsFile;
use chorus_storage::{Block, Blockstore, Cid, HashAlg, Multihash, codec};
use futures::TryStreamExt;
use libp2p::PeerId;
use network_common::{HANG_GUARD, TestPeer, add_file, connect, test_bytes, wait_disconnected};
use tokio::sync::broadcast;

/// Size of the file: several MB, so the transfer is well under way when A leaves.
const FILE_LEN: usize = 4 * 1024 * 1024;

/// Blocks A must have delivered before it is shut down.
const BLOCKS_BEFORE_DISCONNECT: usize = 16;

/// Reads the whole file at `root` through `peer`'s fetcher, returning the error as text.
async fn try_read(peer_fetcher: Arc<dyn BlockFetcher>, root: Cid) -> Result<Vec<u8>, String> {
    let source = FetcherSource::new(peer_fetcher);
    let file = UnixfsFile::open(&source, &root)
        .await
        .map_err(|e| e.to_string())?;
    let chunks: Vec<bytes::Bytes> = file
        .read(source, 0, None)
        .try_collect()
        .await
        .map_err(|e| e.to_string())?;
    Ok(chunks.concat())
}

/// Waits until at least `n` blocks arrived from `from`. Events lost to a lagging receiver
/// (the transfer goes on meanwhile) are not counted, so the wait can only be longer.
async fn blocks_from(rx: &mut broadcast::Receiver<NetworkEvent>, from: PeerId, n: usize) {
    tokio::time::timeout(HANG_GUARD, async {
        let mut seen = 0;
        while seen < n {
            match rx.recv().await {
                Ok(NetworkEvent::BlockReceived { peer, .. }) if peer == from => seen += 1,
                Ok(_) | Err(broadcast::error::RecvError::Lagged(_)) => {}
                Err(broadcast::error::RecvError::Closed) => panic!("network stopped"),
            }
        }
    })
    .await
    .expect("hang guard")
}

/// Every block in `store`: its bytes hash to its multihash and it belongs to `allowed`.
fn assert_only_whole_blocks_of(store: &dyn Blockstore, allowed: &HashSet<Multihash>) -> usize {
    let mut n = 0;
    for mh in store.list() {
        let mh = mh.unwrap();
        assert!(
            allowed.contains(&mh),
            "a block that is not part of the file"
        );
        let data = store.get_data(&mh).unwrap().expect("listed block readable");
        let again = Block::from_data(codec::RAW, HashAlg::Sha2_256, data.to_vec()).unwrap();
        assert_eq!(
            *again.cid().hash(),
            mh,
            "a stored block does not match its hash"
        );
        n += 1;
    }
    n
}

fn multihashes(store: &dyn Blockstore) -> HashSet<Multihash> {
    store.list().map(|m| m.unwrap()).collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_fetch_completes_from_the_other_source_when_one_disconnects() {
    let a = TestPeer::new().await;
    let c = TestPeer::new().await;
    let b = TestPeer::new().await;
    let data = test_bytes(FILE_LEN, 11);
    let (root, blocks) = add_file(a.store.as_ref(), &data);
    assert_eq!(add_file(c.store.as_ref(), &data).0, root);
    connect(&b, &a).await;
    connect(&b, &c).await;

    let mut events = b.net.handle().subscribe();
    let fetcher: Arc<dyn BlockFetcher> = Arc::new(b.net.fetcher());
    let read = tokio::spawn(try_read(fetcher, root));
    blocks_from(&mut events, a.id(), BLOCKS_BEFORE_DISCONNECT).await;
    assert!(!read.is_finished(), "A leaves before the transfer ends");
    let a_id = a.id();
    a.net.shutdown().await;
    wait_disconnected(&b.net.handle(), &mut events, a_id).await;

    let got = tokio::time::timeout(HANG_GUARD, read)
        .await
        .expect("hang guard")
        .unwrap()
        .expect("C supplies the rest");
    assert_eq!(got.len(), data.len());
    assert!(got == data, "bytes differ");
    let stored = assert_only_whole_blocks_of(b.store.as_ref(), &multihashes(c.store.as_ref()));
    assert_eq!(stored, blocks);
    b.net.shutdown().await;
    c.net.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn with_the_only_source_gone_the_fetch_fails_within_its_timeout() {
    let timeout = Duration::from_secs(3);
    let a = TestPeer::new().await;
    let b = TestPeer::start(NetworkConfig::loopback().with_fetch_timeout(timeout)).await;
    let data = test_bytes(FILE_LEN, 12);
    let (root, blocks) = add_file(a.store.as_ref(), &data);
    let file_blocks = multihashes(a.store.as_ref());
    connect(&b, &a).await;

    let mut events = b.net.handle().subscribe();
    let fetcher: Arc<dyn BlockFetcher> = Arc::new(b.net.fetcher());
    let read = tokio::spawn(try_read(fetcher, root));
    blocks_from(&mut events, a.id(), BLOCKS_BEFORE_DISCONNECT).await;
    a.net.shutdown().await;

    // The hang guard is far above the fetch timeout: a fetch that hangs fails the test.
    let err = tokio::time::timeout(HANG_GUARD, read)
        .await
        .expect("the fetch hung after its only source left")
        .unwrap()
        .expect_err("nobody has the rest of the file");
    assert!(err.contains("could not be retrieved"), "{err}");
    // Only whole, verified blocks of the file were stored, and not all of them.
    let stored = assert_only_whole_blocks_of(b.store.as_ref(), &file_blocks);
    assert!(
        stored >= BLOCKS_BEFORE_DISCONNECT && stored < blocks,
        "{stored} of {blocks}"
    );
    b.net.shutdown().await;
}
