//! The listings streamed from a walk of the store: `/api/v0/refs/local` (every block, as
//! kubo's `ipfs refs local` prints them: CIDv1 raw of each multihash) and `/api/v0/pin/ls` of
//! the whole pin set (kubo's `{"Keys":…}` object, or one line per pin with `stream=true`).

mod common;

use std::collections::BTreeSet;

use chorus_node::rpc::{self, ApiConfig};
use chorus_storage::{Cid, codec};
use common::{Part, context, ndjson, parse_car, pattern, post_multipart, serve};

/// Adds 1.5 MB in 1,000-byte leaves (CIDv1) through `api`: the listings span several of the
/// responses' 64 KiB chunks. Returns the root and every block, as the DAG's CAR has them.
async fn add_many_blocks(api: &common::Running) -> (String, Vec<chorus_storage::Block>) {
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
    (root, blocks)
}

#[tokio::test]
async fn refs_local_lists_every_block_once() {
    let a = context();
    let api = serve(rpc::router(a.node(), ApiConfig::default())).await;
    let (_, blocks) = add_many_blocks(&api).await;
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

#[tokio::test]
async fn pin_ls_of_the_whole_pin_set_lists_every_pin_once_in_both_forms() {
    let a = context();
    let api = serve(rpc::router(a.node(), ApiConfig::default())).await;
    let (root, blocks) = add_many_blocks(&api).await;
    let want: BTreeSet<String> = blocks.iter().map(|b| b.cid().to_string()).collect();
    let kind = |cid: &str| if cid == root { "recursive" } else { "indirect" };

    let (status, keys) = common::post_json(&api.url("/api/v0/pin/ls?type=all")).await;
    assert_eq!(status, 200);
    let keys = keys["Keys"].as_object().unwrap();
    assert_eq!(keys.keys().cloned().collect::<BTreeSet<_>>(), want);
    for (cid, v) in keys {
        assert_eq!(v["Type"], kind(cid), "{cid}");
    }

    let lines = ndjson(
        reqwest::Client::new()
            .post(api.url("/api/v0/pin/ls?type=indirect&stream=true"))
            .send()
            .await
            .unwrap(),
    )
    .await;
    assert_eq!(lines.len(), want.len() - 1, "each indirect pin once");
    for l in &lines {
        assert_eq!(l["Type"], "indirect", "{l}");
        assert!(want.contains(l["Cid"].as_str().unwrap()), "{l}");
    }
    assert!(!lines.iter().any(|l| l["Cid"] == root.as_str()));
}
