//! Resource bounds of the HTTP listeners, tried as a hostile client would: connections that
//! never finish their headers, more connections than the cap, endless multipart part
//! headers, uploads of many parts, stalled bodies, and a HAMT built to expand into gigabytes.

mod common;

use std::time::Duration;

use chorus_node::rpc::{self, ApiConfig, UploadLimits};
use chorus_node::{HttpLimits, HttpServer, gateway};
use chorus_protocol::unixfs::shapes::hamt_shard_node;
use chorus_storage::{Block, HashAlg, codec};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio::sync::oneshot;

/// Longest any step here may take before the test fails (never reached when the bound works).
const PATIENCE: Duration = Duration::from_secs(20);

struct Limited {
    addr: std::net::SocketAddr,
    _stop: oneshot::Sender<()>,
}

async fn serve_limited(router: axum::Router, limits: HttpLimits) -> Limited {
    let server = HttpServer::bind("127.0.0.1:0".parse().unwrap(), router)
        .await
        .unwrap()
        .with_limits(limits);
    let addr = server.local_addr();
    let (tx, rx) = oneshot::channel::<()>();
    tokio::spawn(server.serve(async move {
        let _ = rx.await;
    }));
    Limited { addr, _stop: tx }
}

fn tight() -> HttpLimits {
    HttpLimits {
        max_connections: 4,
        header_timeout: Duration::from_millis(500),
        body_idle_timeout: Duration::from_millis(500),
    }
}

/// Everything the server sends until it closes the connection.
async fn read_to_close(stream: &mut TcpStream) -> String {
    let mut out = Vec::new();
    tokio::time::timeout(PATIENCE, stream.read_to_end(&mut out))
        .await
        .expect("the server closed the connection in time")
        .ok();
    String::from_utf8_lossy(&out).into_owned()
}

#[tokio::test]
async fn half_sent_headers_are_cut_off_and_the_cap_answers_429() {
    let node = common::context();
    let server = serve_limited(rpc::router(node.node(), ApiConfig::default()), tight()).await;
    // Fill every slot with a connection that sends half a request head and holds it.
    let mut holders = Vec::new();
    for _ in 0..4 {
        let mut s = TcpStream::connect(server.addr).await.unwrap();
        s.write_all(b"POST /api/v0/version HTTP/1.1\r\nHost: 127.0.0.1\r\n")
            .await
            .unwrap();
        holders.push(s);
    }
    // Connections are counted once accepted: wait until the server has taken all four by
    // watching a fifth get the refusal.
    let mut extra = TcpStream::connect(server.addr).await.unwrap();
    let refused = read_to_close(&mut extra).await;
    assert!(refused.starts_with("HTTP/1.1 429"), "{refused:?}");

    // Each holder is closed once the head timeout passes, without an answer.
    for mut s in holders {
        let _ = read_to_close(&mut s).await;
    }
    // The slots are free again: an honest request goes through.
    let resp = reqwest::Client::new()
        .post(format!("http://{}/api/v0/version", server.addr))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 200);
}

fn multipart_head(addr: std::net::SocketAddr, path: &str) -> String {
    format!(
        "POST {path} HTTP/1.1\r\nHost: {addr}\r\n\
         Content-Type: multipart/form-data; boundary=XyZ\r\nTransfer-Encoding: chunked\r\n\r\n"
    )
}

fn chunk(data: &[u8]) -> Vec<u8> {
    let mut out = format!("{:x}\r\n", data.len()).into_bytes();
    out.extend_from_slice(data);
    out.extend_from_slice(b"\r\n");
    out
}

/// Writes `head` then chunks from `next` until the server answers; returns the answer.
async fn upload_until_answered(
    addr: std::net::SocketAddr,
    head: String,
    mut next: impl FnMut(usize) -> Option<Vec<u8>> + Send + 'static,
) -> String {
    let stream = TcpStream::connect(addr).await.unwrap();
    let (mut rd, mut wr) = stream.into_split();
    wr.write_all(head.as_bytes()).await.unwrap();
    let writer = tokio::spawn(async move {
        let mut i = 0;
        while let Some(data) = next(i) {
            if wr.write_all(&chunk(&data)).await.is_err() {
                return;
            }
            i += 1;
        }
        let _ = wr.write_all(b"0\r\n\r\n").await;
    });
    let mut answer = vec![0u8; 4096];
    let n = tokio::time::timeout(PATIENCE, rd.read(&mut answer))
        .await
        .expect("answered in time")
        .unwrap();
    writer.abort();
    String::from_utf8_lossy(&answer[..n]).into_owned()
}

#[tokio::test]
async fn an_endless_part_header_is_refused_with_413() {
    let node = common::context();
    let limits = UploadLimits {
        max_part_header_bytes: 4096,
        ..UploadLimits::default()
    };
    let server = serve_limited(
        rpc::router(node.node(), ApiConfig::default().with_upload_limits(limits)),
        HttpLimits::default(),
    )
    .await;
    // A part header that goes on for up to 64 MiB: refused long before that.
    let answer = upload_until_answered(
        server.addr,
        multipart_head(server.addr, "/api/v0/add"),
        |i| match i {
            0 => Some(
                b"--XyZ\r\nContent-Disposition: form-data; name=\"file\"; filename=\"".to_vec(),
            ),
            i if i < 1024 => Some(vec![b'a'; 64 * 1024]),
            _ => None,
        },
    )
    .await;
    assert!(answer.starts_with("HTTP/1.1 413"), "{answer}");
    assert!(answer.contains("max_part_header_bytes"), "{answer}");
}

#[tokio::test]
async fn too_many_parts_are_refused_with_413() {
    let node = common::context();
    let limits = UploadLimits {
        max_parts: 50,
        ..UploadLimits::default()
    };
    let server = serve_limited(
        rpc::router(node.node(), ApiConfig::default().with_upload_limits(limits)),
        HttpLimits::default(),
    )
    .await;
    let answer = upload_until_answered(
        server.addr,
        multipart_head(server.addr, "/api/v0/add?wrap-with-directory=true"),
        |i| {
            (i < 10_000).then(|| {
                format!(
                    "--XyZ\r\nContent-Disposition: form-data; name=\"file\"; filename=\"f{i}\"\r\n\
                     Content-Type: application/octet-stream\r\n\r\n{i}\r\n"
                )
                .into_bytes()
            })
        },
    )
    .await;
    assert!(answer.starts_with("HTTP/1.1 413"), "{answer}");
    assert!(answer.contains("max_upload_parts"), "{answer}");
}

#[tokio::test]
async fn a_stalled_body_is_answered_408() {
    let node = common::context();
    let server = serve_limited(rpc::router(node.node(), ApiConfig::default()), tight()).await;
    let mut s = TcpStream::connect(server.addr).await.unwrap();
    s.write_all(multipart_head(server.addr, "/api/v0/add").as_bytes())
        .await
        .unwrap();
    s.write_all(&chunk(
        b"--XyZ\r\nContent-Disposition: form-data; name=\"file\"; filename=\"a\"\r\n\r\nsome",
    ))
    .await
    .unwrap();
    // ... and nothing more.
    let answer = read_to_close(&mut s).await;
    assert!(answer.starts_with("HTTP/1.1 408"), "{answer}");
}

#[tokio::test]
async fn a_hamt_sharing_its_sub_shards_is_refused_not_expanded() {
    let node = common::context();
    // The reported CAR: 256 slots to one sub-shard, 256 slots of that to one leaf shard of
    // 200 entries; expanded naively, 13 million entries and a page of gigabytes.
    let file = Block::from_data(codec::RAW, HashAlg::Sha2_256, b"x".to_vec()).unwrap();
    let names: Vec<String> = (0..200)
        .map(|i| format!("{:02X}entry{i}", i % 256))
        .collect();
    let entries: Vec<_> = names.iter().map(|n| (n.as_str(), *file.cid(), 1)).collect();
    let leaf = hamt_shard_node(&entries);
    let slots: Vec<String> = (0..256).map(|s| format!("{s:02X}")).collect();
    let to_leaf: Vec<_> = slots.iter().map(|s| (s.as_str(), *leaf.cid(), 1)).collect();
    let middle = hamt_shard_node(&to_leaf);
    let to_middle: Vec<_> = slots
        .iter()
        .map(|s| (s.as_str(), *middle.cid(), 1))
        .collect();
    let root = hamt_shard_node(&to_middle);
    let root_cid = *root.cid();
    node.store().put_many(&[file, leaf, middle, root]).unwrap();

    let gw = common::serve(gateway::router(
        node.node(),
        gateway::GatewayConfig::default(),
    ))
    .await;
    let resp = reqwest::get(gw.url(&format!("/ipfs/{root_cid}/")))
        .await
        .unwrap();
    assert_eq!(resp.status(), 502);
    let text = resp.text().await.unwrap();
    assert!(text.contains("more than once"), "{text}");

    let api = common::serve(rpc::router(node.node(), ApiConfig::default())).await;
    for cmd in ["ls", "get"] {
        let resp = reqwest::Client::new()
            .post(api.url(&format!("/api/v0/{cmd}?arg={root_cid}")))
            .send()
            .await
            .unwrap();
        let status = resp.status();
        // `ls` answers 500 with the error; `get` has committed its 200 by the time the walk
        // fails, so the stream is cut short.
        let text = resp.text().await.unwrap_or_default();
        assert!(
            text.len() < 64 * 1024,
            "{cmd}: {status} with {} bytes",
            text.len()
        );
        if cmd == "ls" {
            assert_eq!(status, 500);
            assert!(text.contains("more than once"), "{text}");
        }
    }

    // Block-level readers visit each block once: the CAR holds the four blocks, pinning walks
    // them once, and GC keeps them.
    let car = reqwest::get(gw.url(&format!("/ipfs/{root_cid}?format=car")))
        .await
        .unwrap()
        .bytes()
        .await
        .unwrap();
    assert_eq!(
        common::parse_car(&car).1.len(),
        4,
        "CAR of {} bytes",
        car.len()
    );
    let export = reqwest::Client::new()
        .post(api.url(&format!("/api/v0/dag/export?arg={root_cid}")))
        .send()
        .await
        .unwrap()
        .bytes()
        .await
        .unwrap();
    assert_eq!(common::parse_car(&export).1.len(), 4);
    let pinned = reqwest::Client::new()
        .post(api.url(&format!("/api/v0/pin/add?arg={root_cid}")))
        .send()
        .await
        .unwrap();
    assert_eq!(pinned.status(), 200);
    let gc = node.core().gc().await.unwrap();
    assert_eq!(gc.removed_cids().count(), 0);
}
