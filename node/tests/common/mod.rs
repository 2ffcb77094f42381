//! Shared test harness: a node context over an in-memory repo, and servers on 127.0.0.1:0.

#![allow(dead_code, clippy::result_large_err)]

use std::net::SocketAddr;
use std::sync::Arc;

use chorus_node::core::CoreBuilder;
use chorus_node::{BlockFetcher, HttpServer, NodeContext, NodeIdentity, NodeMetrics, SwarmInfo};
use chorus_storage::{Block, MemoryRepo, Repo};
use prometheus_client::registry::Registry;
use tokio::sync::oneshot;

/// A node context and the temporary directory behind its identity, removed on drop.
pub struct TestNode {
    pub ctx: NodeContext,
    _dir: tempfile::TempDir,
}

impl std::ops::Deref for TestNode {
    type Target = NodeContext;
    fn deref(&self) -> &NodeContext {
        &self.ctx
    }
}

impl TestNode {
    /// A clone of the context for a router.
    pub fn node(&self) -> NodeContext {
        self.ctx.clone()
    }
}

/// A fresh node.
pub fn context() -> TestNode {
    context_with_version(None)
}

/// A fresh node whose `/api/v0/version` reports `version` when given.
pub fn context_with_version(version: Option<&str>) -> TestNode {
    build_context(version, None)
}

/// A fresh node whose blocks come from `fetcher` (a stand-in for the network).
pub fn context_with_fetcher(fetcher: Arc<dyn BlockFetcher>) -> TestNode {
    build_context(None, Some(fetcher))
}

/// The HTTP faces run on the memory repo: the core is the same over either repo, and the
/// core's conformance tests (`core_conformance.rs`) hold both to one contract.
fn build_context(version: Option<&str>, fetcher: Option<Arc<dyn BlockFetcher>>) -> TestNode {
    let dir = tempfile::tempdir().unwrap();
    build_context_over(dir, MemoryRepo::new(), version, fetcher)
}

fn build_context_over(
    dir: tempfile::TempDir,
    repo: impl Repo,
    version: Option<&str>,
    fetcher: Option<Arc<dyn BlockFetcher>>,
) -> TestNode {
    let mut registry = Registry::default();
    let metrics = NodeMetrics::register(&mut registry);
    let key = libp2p::identity::Keypair::generate_ed25519();
    let mut identity = NodeIdentity::new(key.public(), dir.path().join("repo"));
    if let Some(v) = version {
        identity = identity.with_reported_version(v);
    }
    let mut core = CoreBuilder::new(repo, metrics).unwrap();
    if let Some(fetcher) = fetcher {
        core = core.fetcher(fetcher);
    }
    let ctx = NodeContext::from_core(
        core.build(),
        identity,
        Arc::new(registry),
        SwarmInfo::default(),
    );
    TestNode { ctx, _dir: dir }
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

/// One part of a hand-built multipart body.
pub struct Part<'a> {
    pub filename: &'a str,
    pub content_type: &'a str,
    pub data: &'a [u8],
}

/// A multipart/form-data body the way kubo clients build it; returns (content type, body).
/// `quoted` puts the boundary in quotes as ipfshttpclient does.
pub fn multipart_body(parts: &[Part<'_>], quoted: bool) -> (String, Vec<u8>) {
    let boundary = "chorus-test-boundary-7MA4YWxk";
    let mut body = Vec::new();
    for p in parts {
        body.extend_from_slice(format!("--{boundary}\r\n").as_bytes());
        body.extend_from_slice(
            format!(
                "Content-Disposition: form-data; name=\"file\"; filename=\"{}\"\r\n",
                p.filename
            )
            .as_bytes(),
        );
        body.extend_from_slice(format!("Content-Type: {}\r\n\r\n", p.content_type).as_bytes());
        body.extend_from_slice(p.data);
        body.extend_from_slice(b"\r\n");
    }
    body.extend_from_slice(format!("--{boundary}--\r\n").as_bytes());
    let ct = if quoted {
        format!("multipart/form-data; boundary=\"{boundary}\"")
    } else {
        format!("multipart/form-data; boundary={boundary}")
    };
    (ct, body)
}

/// POSTs a multipart body in small chunks (chunked transfer encoding, as Python clients send).
pub async fn post_multipart(url: &str, parts: &[Part<'_>], quoted: bool) -> reqwest::Response {
    let (ct, body) = multipart_body(parts, quoted);
    let chunks: Vec<Result<Vec<u8>, std::io::Error>> =
        body.chunks(7).map(|c| Ok(c.to_vec())).collect();
    reqwest::Client::new()
        .post(url)
        .header("content-type", ct)
        .body(reqwest::Body::wrap_stream(futures::stream::iter(chunks)))
        .send()
        .await
        .unwrap()
}

/// Parses an NDJSON body.
pub async fn ndjson(resp: reqwest::Response) -> Vec<serde_json::Value> {
    let text = resp.text().await.unwrap();
    text.lines()
        .filter(|l| !l.trim().is_empty())
        .map(|l| serde_json::from_str(l).unwrap())
        .collect()
}
