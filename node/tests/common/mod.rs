//! Shared test harness: an in-memory blockstore, a node context and servers on 127.0.0.1:0.

#![allow(dead_code, clippy::result_large_err)]

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};

use bytes::Bytes;
use chorus_node::{
    HttpServer, LocalFetcher, MeteredBlockstore, NodeContext, NodeIdentity, NodeMetrics,
};
use chorus_storage::{Block, Blockstore, Multihash, StoreError, StoreStat};
use prometheus_client::registry::Registry;
use tokio::sync::oneshot;

/// A BTreeMap blockstore for tests of the HTTP layer.
#[derive(Default)]
pub struct MapStore(Mutex<BTreeMap<Vec<u8>, Bytes>>);

impl Blockstore for MapStore {
    fn get_data(&self, mh: &Multihash) -> Result<Option<Bytes>, StoreError> {
        if mh.code() == 0 {
            return Ok(Some(Bytes::copy_from_slice(mh.digest())));
        }
        Ok(self.0.lock().unwrap().get(&mh.to_bytes()).cloned())
    }
    fn has(&self, mh: &Multihash) -> Result<bool, StoreError> {
        Ok(mh.code() == 0 || self.0.lock().unwrap().contains_key(&mh.to_bytes()))
    }
    fn size(&self, mh: &Multihash) -> Result<Option<u64>, StoreError> {
        Ok(self.get_data(mh)?.map(|d| d.len() as u64))
    }
    fn put(&self, block: &Block) -> Result<bool, StoreError> {
        if block.cid().hash().code() == 0 {
            return Ok(false);
        }
        Ok(self
            .0
            .lock()
            .unwrap()
            .insert(block.cid().hash().to_bytes(), block.data().clone())
            .is_none())
    }
    fn delete(&self, mh: &Multihash) -> Result<bool, StoreError> {
        Ok(self.0.lock().unwrap().remove(&mh.to_bytes()).is_some())
    }
    fn list(&self) -> Box<dyn Iterator<Item = Result<Multihash, StoreError>> + Send + '_> {
        let keys: Vec<_> = self.0.lock().unwrap().keys().cloned().collect();
        Box::new(
            keys.into_iter()
                .map(|k| Ok(Multihash::from_bytes(&k).unwrap())),
        )
    }
    fn flush(&self) -> Result<(), StoreError> {
        Ok(())
    }
    fn stat(&self) -> Result<StoreStat, StoreError> {
        let map = self.0.lock().unwrap();
        Ok(StoreStat {
            blocks: map.len() as u64,
            bytes: map.values().map(|v| v.len() as u64).sum(),
        })
    }
}

/// A context over a fresh metered memory store.
pub fn context() -> NodeContext {
    context_with_version(None)
}

/// A context whose `/api/v0/version` reports `version` when given.
pub fn context_with_version(version: Option<&str>) -> NodeContext {
    let mut registry = Registry::default();
    let metrics = NodeMetrics::register(&mut registry);
    let store: Arc<dyn Blockstore> = Arc::new(
        MeteredBlockstore::new(Arc::new(MapStore::default()), metrics.blockstore.clone()).unwrap(),
    );
    let key = libp2p::identity::Keypair::generate_ed25519();
    let mut identity = NodeIdentity::new(key.public(), "/tmp/chorus-test-repo".into());
    if let Some(v) = version {
        identity = identity.with_reported_version(v);
    }
    NodeContext::new(
        store.clone(),
        Arc::new(LocalFetcher::new(store)),
        identity,
        metrics,
        Arc::new(registry),
    )
}

/// A running server; dropping it stops the server.
pub struct Running {
    pub addr: SocketAddr,
    _stop: oneshot::Sender<()>,
}

impl Running {
    pub fn url(&self, path: &str) -> String {
        format!("http://{}{}", self.addr, path)
    }
}

/// Serves `router` on 127.0.0.1:0.
pub async fn serve(router: axum::Router) -> Running {
    let server = HttpServer::bind("127.0.0.1:0".parse().unwrap(), router)
        .await
        .unwrap();
    let addr = server.local_addr();
    let (tx, rx) = oneshot::channel::<()>();
    tokio::spawn(server.serve(async move {
        let _ = rx.await;
    }));
    Running { addr, _stop: tx }
}

/// POSTs to `url` and returns status and JSON body.
pub async fn post_json(url: &str) -> (u16, serde_json::Value) {
    let resp = reqwest::Client::new().post(url).send().await.unwrap();
    let status = resp.status().as_u16();
    let body = resp.json().await.unwrap();
    (status, body)
}

/// Imports `data` as a UnixFS file with `chunk` byte leaves (CIDv1, raw leaves) into the store.
pub fn add_file(ctx: &NodeContext, data: &[u8], chunk: usize) -> (chorus_storage::Cid, Vec<Block>) {
    use chorus_protocol::unixfs::{ImportOptions, import_bytes};
    let opts = ImportOptions::default()
        .with_cid_version(1)
        .with_chunk_size(chunk);
    let (summary, blocks) = import_bytes(&opts, data).unwrap();
    ctx.store().put_many(&blocks).unwrap();
    (summary.root, blocks)
}

/// Builds a directory of `(path, data)` files into the store; returns its CID and all blocks.
pub fn add_dir(ctx: &NodeContext, files: &[(&str, &[u8])]) -> (chorus_storage::Cid, Vec<Block>) {
    use chorus_protocol::unixfs::{ImportOptions, TreeBuilder};
    let opts = ImportOptions::default().with_cid_version(1);
    let mut tree = TreeBuilder::new(&opts).unwrap();
    let mut all = Vec::new();
    for (path, data) in files {
        let (cid, blocks) = add_file(ctx, data, 1024);
        let tsize = blocks.iter().map(|b| b.len() as u64).sum();
        tree.add(path, cid, tsize).unwrap();
        all.extend(blocks);
    }
    let mut out = Vec::new();
    let import = tree.finish(&mut out).unwrap();
    ctx.store().put_many(&out).unwrap();
    all.extend(out);
    (import.root.cid, all)
}

/// Deterministic pseudo-random bytes.
pub fn pattern(len: usize, seed: u64) -> Vec<u8> {
    let mut x = seed
        .wrapping_mul(6364136223846793005)
        .wrapping_add(1442695040888963407);
    (0..len)
        .map(|_| {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            (x >> 24) as u8
        })
        .collect()
}

/// Parses a CAR body into its roots and blocks (verifying every block).
pub fn parse_car(body: &[u8]) -> (Vec<chorus_storage::Cid>, Vec<Block>) {
    use chorus_protocol::car::{CarItem, CarReader};
    let mut roots = Vec::new();
    let mut blocks = Vec::new();
    for item in CarReader::new(std::io::Cursor::new(body.to_vec())) {
        match item.unwrap() {
            CarItem::Header(h) => roots = h.roots,
            CarItem::Block(b) => blocks.push(b),
        }
    }
    (roots, blocks)
}
