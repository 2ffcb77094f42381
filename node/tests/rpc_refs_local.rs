//! `/api/v0/refs/local`: every block of the store, as kubo's `ipfs refs local` prints them
//! (CIDv1 raw of each multihash), streamed in chunks.

mod common;

use std::collections::BTreeSet;

use chorus_node::rpc::{self, ApiConfig};
use chorus_storage::{Cid, codec};
use common::{Part, context, ndjson, parse_car, pattern, post_multipart, serve};

#[tokio::test]
async fn refs_local_lists_every_block_once() {
    let a = context();
    let api = serve(rpc::router(a.node(), ApiConfig::default())).await;
    // 1,500 leaves of 1,000 bytes and their parents: the listing spans several of the
    // response's 64 KiB chunks.
    let data = pattern(1_500_000, 7);
    let part = Part {
        filename: "x.bin",
        content_type: "application/octet-stream",
        data: &data,
    };
    let added = ndjson(
        post_multipart(
            &api.url("/api/v0/add?chunker=size-1000&cid-version=1"),
            &[part],
            false,
        )
        .await,
    )
    .await;
    let root = added.last().unwrap()["Hash"].as_str().unwrap().to_owned();
    let car = reqwest::Client::new()
        .post(api.url(&format!("/api/v0/dag/export?arg={root}")))
        .send()
        .await
        .unwrap()
        .bytes()
        .await
        .unwrap();
    let (_, blocks) = parse_car(&car);
    assert!(blocks.len() > 1_500, "{} blocks", blocks.len());
    let want: BTreeSet<String> = blocks
        .iter()
        .map(|b| Cid::new_v1(codec::RAW, *b.cid().hash()).to_string())
        .collect();

    let response = reqwest::Client::new()
        .post(api.url("/api/v0/refs/local"))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 200);
    assert_eq!(response.headers()["x-chunked-output"], "1");
    let lines = ndjson(response).await;
    let got: BTreeSet<String> = lines
        .iter()
        .map(|l| {
            assert_eq!(l["Err"], "", "{l}");
            l["Ref"].as_str().unwrap().to_owned()
        })
        .collect();
    assert_eq!(lines.len(), got.len(), "a block listed twice");
    assert_eq!(got, want);
}
