//! The gateway against a real server: files, ranges, caching headers, directories, content
//! types, trustless raw/CAR responses and error statuses.

mod common;

use std::collections::HashSet;

use chorus_node::gateway::{self, GatewayConfig};
use chorus_node::metrics_router;
use chorus_storage::{Block, HashAlg, codec};
use common::{add_dir, add_file, context, context_with_fetcher, parse_car, pattern, serve};
use reqwest::header;

fn client() -> reqwest::Client {
    reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap()
}

#[tokio::test]
async fn serves_files_with_caching_headers() {
    let ctx = context();
    let data = pattern(10_000, 1);
    let (cid, _) = add_file(&ctx, &data, 1024);
    let gw = serve(gateway::router(ctx.node(), GatewayConfig::default())).await;
    let url = gw.url(&format!("/ipfs/{cid}"));

    let resp = client().get(&url).send().await.unwrap();
    assert_eq!(resp.status().as_u16(), 200);
    let h = resp.headers().clone();
    assert_eq!(h[header::ETAG], format!("\"{cid}\""));
    assert_eq!(
        h[header::CACHE_CONTROL],
        "public, max-age=29030400, immutable"
    );
    assert_eq!(h[header::CONTENT_LENGTH], "10000");
    assert_eq!(h[header::ACCEPT_RANGES], "bytes");
    assert_eq!(h["x-ipfs-path"], format!("/ipfs/{cid}"));
    assert_eq!(h["x-ipfs-roots"], cid.to_string());
    assert_eq!(h[header::CONTENT_TYPE], "application/octet-stream");
    assert_eq!(resp.bytes().await.unwrap(), data);

    let cached = client()
        .get(&url)
        .header(header::IF_NONE_MATCH, format!("\"{cid}\""))
        .send()
        .await
        .unwrap();
    assert_eq!(cached.status().as_u16(), 304);
    assert_eq!(cached.headers()[header::ETAG], format!("\"{cid}\""));
    assert!(cached.bytes().await.unwrap().is_empty());

    let named = client()
        .get(format!("{url}?filename=track.mp3"))
        .send()
        .await
        .unwrap();
    assert_eq!(named.headers()[header::CONTENT_TYPE], "audio/mpeg");
    assert_eq!(
        named.headers()[header::CONTENT_DISPOSITION],
        "inline; filename=\"track.mp3\"; filename*=UTF-8''track%2Emp3"
    );
    let download = client()
        .get(format!("{url}?filename=track.mp3&download=true"))
        .send()
        .await
        .unwrap();
    assert!(
        download.headers()[header::CONTENT_DISPOSITION]
            .to_str()
            .unwrap()
            .starts_with("attachment; ")
    );

    let head = client().head(&url).send().await.unwrap();
    assert_eq!(head.status().as_u16(), 200);
    assert_eq!(head.headers()[header::CONTENT_LENGTH], "10000");
    assert!(head.bytes().await.unwrap().is_empty());
}

#[tokio::test]
async fn ranges() {
    let ctx = context();
    let data = pattern(10_000, 2);
    let (cid, _) = add_file(&ctx, &data, 1000);
    let gw = serve(gateway::router(ctx.node(), GatewayConfig::default())).await;
    let url = gw.url(&format!("/ipfs/{cid}"));
    let get = |range: &'static str| client().get(&url).header(header::RANGE, range).send();

    let r = get("bytes=990-2010").await.unwrap();
    assert_eq!(r.status().as_u16(), 206);
    assert_eq!(r.headers()[header::CONTENT_RANGE], "bytes 990-2010/10000");
    assert_eq!(r.headers()[header::CONTENT_LENGTH], "1021");
    assert_eq!(r.bytes().await.unwrap(), &data[990..=2010]);

    let r = get("bytes=-100").await.unwrap();
    assert_eq!(r.status().as_u16(), 206);
    assert_eq!(r.headers()[header::CONTENT_RANGE], "bytes 9900-9999/10000");
    assert_eq!(r.bytes().await.unwrap(), &data[9900..]);

    let r = get("bytes=9000-").await.unwrap();
    assert_eq!(r.status().as_u16(), 206);
    assert_eq!(r.bytes().await.unwrap(), &data[9000..]);

    let r = get("bytes=10000-").await.unwrap();
    assert_eq!(r.status().as_u16(), 416);
    assert_eq!(r.headers()[header::CONTENT_RANGE], "bytes */10000");

    // Multiple ranges are ignored: the whole body with 200.
    let r = get("bytes=0-1,5-6").await.unwrap();
    assert_eq!(r.status().as_u16(), 200);
    assert_eq!(r.bytes().await.unwrap().len(), 10_000);
}

#[tokio::test]
async fn parallel_ranges_return_the_right_bytes() {
    let ctx = context();
    let data = pattern(300_000, 3);
    let (cid, _) = add_file(&ctx, &data, 4096);
    let gw = serve(gateway::router(ctx.node(), GatewayConfig::default())).await;
    let url = gw.url(&format!("/ipfs/{cid}"));
    let c = client();
    let mut tasks = Vec::new();
    for i in 0..200u64 {
        let start = (i * 7919) % 290_000;
        let end = start + (i * 131) % 9000;
        let (c, url) = (c.clone(), url.clone());
        tasks.push(tokio::spawn(async move {
            let r = c
                .get(&url)
                .header(header::RANGE, format!("bytes={start}-{end}"))
                .send()
                .await
                .unwrap();
            assert_eq!(r.status().as_u16(), 206);
            (start, end, r.bytes().await.unwrap())
        }));
    }
    for t in tasks {
        let (start, end, body) = t.await.unwrap();
        assert_eq!(body, &data[start as usize..=end as usize]);
    }
}

#[tokio::test]
async fn directories_listing_index_and_content_types() {
    let ctx = context();
    let m3u8 = b"#EXTM3U\n#EXT-X-TARGETDURATION:6\n".as_slice();
    let (dir, _) = add_dir(
        &ctx,
        &[
            ("track/playlist.m3u8", m3u8),
            ("track/seg00000.ts", &[0x47; 400]),
            ("track/song.mp3", b"ID3...."),
            ("track/meta.json", b"{}"),
            ("track/notes", b"plain words\n"),
            ("track/<odd> name.txt", b"x"),
            ("site/index.html", b"<!DOCTYPE html><p>hi</p>"),
        ],
    );
    let gw = serve(gateway::router(ctx.node(), GatewayConfig::default())).await;
    let c = client();

    let r = c
        .get(gw.url(&format!("/ipfs/{dir}/track")))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status().as_u16(), 301);
    assert_eq!(r.headers()[header::LOCATION], format!("/ipfs/{dir}/track/"));

    let r = c
        .get(gw.url(&format!("/ipfs/{dir}/track/")))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status().as_u16(), 200);
    assert_eq!(
        r.headers()[header::CONTENT_TYPE],
        "text/html; charset=utf-8"
    );
    let roots = r.headers()["x-ipfs-roots"].to_str().unwrap().to_owned();
    assert_eq!(roots.split(',').count(), 2);
    assert!(roots.starts_with(&dir.to_string()));
    let html = r.text().await.unwrap();
    for name in [
        "playlist.m3u8",
        "seg00000.ts",
        "song.mp3",
        "&lt;odd&gt; name.txt",
    ] {
        assert!(html.contains(name), "{name} missing from {html}");
    }
    assert!(html.contains("href=\"./%3Codd%3E%20name.txt\""));

    let r = c
        .get(gw.url(&format!("/ipfs/{dir}/site/")))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status().as_u16(), 200);
    assert_eq!(
        r.headers()[header::CONTENT_TYPE],
        "text/html; charset=utf-8"
    );
    assert_eq!(r.text().await.unwrap(), "<!DOCTYPE html><p>hi</p>");

    for (name, ct) in [
        ("playlist.m3u8", "application/vnd.apple.mpegurl"),
        ("seg00000.ts", "video/mp2t"),
        ("song.mp3", "audio/mpeg"),
        ("meta.json", "application/json"),
        ("notes", "text/plain; charset=utf-8"),
        ("%3Codd%3E%20name.txt", "text/plain; charset=utf-8"),
    ] {
        let r = c
            .get(gw.url(&format!("/ipfs/{dir}/track/{name}")))
            .send()
            .await
            .unwrap();
        assert_eq!(r.status().as_u16(), 200, "{name}");
        assert_eq!(r.headers()[header::CONTENT_TYPE], ct, "{name}");
        assert_eq!(
            r.headers()["x-ipfs-roots"]
                .to_str()
                .unwrap()
                .split(',')
                .count(),
            3
        );
    }
}

#[tokio::test]
async fn error_statuses() {
    let ctx = context();
    let (dir, _) = add_dir(&ctx, &[("a.txt", b"a")]);
    let absent = Block::from_data(codec::RAW, HashAlg::Sha2_256, &b"never stored"[..]).unwrap();
    let cbor = Block::from_data(codec::DAG_CBOR, HashAlg::Sha2_256, &b"\xa0"[..]).unwrap();
    ctx.store().put(&cbor).unwrap();
    let gw = serve(gateway::router(ctx.node(), GatewayConfig::default())).await;
    let c = client();
    let status = |path: String| {
        let c = c.clone();
        let url = gw.url(&path);
        async move { c.get(url).send().await.unwrap().status().as_u16() }
    };
    assert_eq!(status("/ipfs/not-a-cid".into()).await, 400);
    assert_eq!(status("/ipfs/".into()).await, 400);
    assert_eq!(status(format!("/ipfs/{dir}/%ff")).await, 400);
    assert_eq!(status(format!("/ipfs/{dir}?format=zip")).await, 400);
    assert_eq!(status(format!("/ipfs/{dir}/missing.txt")).await, 404);
    assert_eq!(status(format!("/ipfs/{dir}/a.txt/deeper")).await, 404);
    let r = c
        .get(gw.url(&format!("/ipfs/{}", absent.cid())))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status().as_u16(), 404);
    assert!(r.text().await.unwrap().contains("offline"));
    assert_eq!(status(format!("/ipfs/{}", cbor.cid())).await, 501);
    assert_eq!(
        status(format!("/ipfs/{}?format=raw", cbor.cid())).await,
        200
    );
    assert_eq!(status("/elsewhere".into()).await, 404);
}

#[tokio::test]
async fn trustless_raw_blocks() {
    let ctx = context();
    let data = pattern(5000, 4);
    let (cid, blocks) = add_file(&ctx, &data, 1024);
    let root = blocks.iter().find(|b| *b.cid() == cid).unwrap().clone();
    let gw = serve(gateway::router(ctx.node(), GatewayConfig::default())).await;
    let c = client();
    for req in [
        c.get(gw.url(&format!("/ipfs/{cid}?format=raw"))),
        c.get(gw.url(&format!("/ipfs/{cid}")))
            .header(header::ACCEPT, "application/vnd.ipld.raw"),
    ] {
        let r = req.send().await.unwrap();
        assert_eq!(r.status().as_u16(), 200);
        assert_eq!(
            r.headers()[header::CONTENT_TYPE],
            "application/vnd.ipld.raw"
        );
        assert_eq!(
            r.headers()[header::CONTENT_DISPOSITION],
            format!("attachment; filename=\"{cid}.bin\"")
        );
        assert_eq!(r.headers()[header::ETAG], format!("\"{cid}.raw\""));
        let body = r.bytes().await.unwrap();
        assert_eq!(body, root.data());
        assert!(Block::new(cid, body).is_ok());
    }
}

#[tokio::test]
async fn trustless_car_scopes() {
    let ctx = context();
    let data = pattern(20_000, 5);
    let (dir, _) = add_dir(&ctx, &[("music/song.mp3", &data), ("other.txt", b"x")]);
    let gw = serve(gateway::router(ctx.node(), GatewayConfig::default())).await;
    let c = client();
    let car = |q: String| {
        let c = c.clone();
        let url = gw.url(&q);
        async move {
            let r = c.get(url).send().await.unwrap();
            assert_eq!(r.status().as_u16(), 200, "{q}");
            assert_eq!(
                r.headers()[header::CONTENT_TYPE],
                "application/vnd.ipld.car; version=1; order=dfs; dups=n"
            );
            assert!(
                r.headers()[header::CONTENT_DISPOSITION]
                    .to_str()
                    .unwrap()
                    .ends_with(".car\"")
            );
            parse_car(&r.bytes().await.unwrap())
        }
    };

    // The whole directory DAG.
    let (roots, blocks) = car(format!("/ipfs/{dir}?format=car")).await;
    assert_eq!(roots, vec![dir]);
    assert_eq!(blocks[0].cid(), &dir);
    let cids: HashSet<_> = blocks.iter().map(|b| *b.cid()).collect();
    assert_eq!(cids.len(), blocks.len(), "no duplicates");
    // 20 leaves of 1 KiB + file root + 2 files... every stored block of the DAG.
    let stored = ctx.store().stat().unwrap().blocks as usize;
    assert_eq!(blocks.len(), stored);

    // Path + block scope: the two directories on the path, then the file root.
    let (_, blocks) = car(format!(
        "/ipfs/{dir}/music/song.mp3?format=car&dag-scope=block"
    ))
    .await;
    assert_eq!(blocks.len(), 3);
    assert_eq!(blocks[0].cid(), &dir);

    // Entity: the whole file after the path.
    let (_, blocks) = car(format!(
        "/ipfs/{dir}/music/song.mp3?format=car&dag-scope=entity"
    ))
    .await;
    assert_eq!(blocks.len(), 3 + 20);

    // entity-bytes: only the leaves overlapping bytes 1500..=2600 (leaves 1 and 2).
    let (_, blocks) = car(format!(
        "/ipfs/{dir}/music/song.mp3?format=car&entity-bytes=1500:2600"
    ))
    .await;
    assert_eq!(blocks.len(), 3 + 2);
    let leaf_bytes: Vec<u8> = blocks[3..].iter().flat_map(|b| b.data().to_vec()).collect();
    assert_eq!(leaf_bytes, &data[1024..3072]);

    // Range entirely outside: equivalent to dag-scope=block.
    let (_, blocks) = car(format!(
        "/ipfs/{dir}/music/song.mp3?format=car&entity-bytes=50000:*"
    ))
    .await;
    assert_eq!(blocks.len(), 3);

    // Accept header instead of ?format, and a missing path is still a 404 before streaming.
    let r = c
        .get(gw.url(&format!("/ipfs/{dir}/nope")))
        .header(header::ACCEPT, "application/vnd.ipld.car")
        .send()
        .await
        .unwrap();
    assert_eq!(r.status().as_u16(), 404);
}

/// A file wider than one node (400 leaves under kubo's 174 links): the reader behind
/// `dag-scope=entity` fetches the next subtree's root ahead of its turn, and the CAR must still
/// be depth-first pre-order, as its `order=dfs` says (verifying clients reject anything else).
#[tokio::test]
async fn entity_car_of_a_wide_file_is_in_dag_order() {
    let ctx = context();
    let data = pattern(40_000, 9);
    let (file, _) = add_file(&ctx, &data, 100);
    let gw = serve(gateway::router(ctx.node(), GatewayConfig::default())).await;
    let c = client();
    let blocks_of = |q: String| {
        let c = c.clone();
        let url = gw.url(&q);
        async move {
            let r = c.get(url).send().await.unwrap();
            assert_eq!(r.status().as_u16(), 200, "{q}");
            let (_, blocks) = parse_car(&r.bytes().await.unwrap());
            blocks.iter().map(|b| *b.cid()).collect::<Vec<_>>()
        }
    };
    // For a whole file, the entity is the whole DAG, whose walk is the reference order.
    let all = blocks_of(format!("/ipfs/{file}?format=car&dag-scope=all")).await;
    assert_eq!(all.len(), 1 + 3 + 400);
    let entity = blocks_of(format!("/ipfs/{file}?format=car&dag-scope=entity")).await;
    assert_eq!(entity, all);
    // A range across the first subtree boundary: the same order, restricted to the range.
    let ranged = blocks_of(format!("/ipfs/{file}?format=car&entity-bytes=17000:17799")).await;
    // Pre-order positions: root 0, first node 1, its leaves 0..174 at 2..176, second node
    // 176, its leaves from 177. Bytes 17000..17800 are leaves 170..178.
    let expected: Vec<_> = [0, 1, 172, 173, 174, 175, 176, 177, 178, 179, 180]
        .iter()
        .map(|&i| all[i])
        .collect();
    assert_eq!(ranged, expected);
}

#[tokio::test]
async fn trustless_only_mode_and_metrics() {
    let ctx = context();
    let (cid, _) = add_file(&ctx, b"hello", 1024);
    let gw = serve(gateway::router(
        ctx.node(),
        GatewayConfig::default().with_trustless_only(true),
    ))
    .await;
    let c = client();
    let r = c.get(gw.url(&format!("/ipfs/{cid}"))).send().await.unwrap();
    assert_eq!(r.status().as_u16(), 400);
    let error_len = r.bytes().await.unwrap().len();
    let r = c
        .get(gw.url(&format!("/ipfs/{cid}?format=raw")))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status().as_u16(), 200);
    assert_eq!(r.bytes().await.unwrap().len(), 5);

    let m = serve(metrics_router(ctx.node())).await;
    let text = c
        .get(m.url("/metrics"))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(text.contains(
        "chorus_http_requests_total{face=\"gateway\",route=\"/ipfs/{*path}\",method=\"GET\",status=\"200\"} 1"
    ));
    let sent = format!(
        "chorus_http_response_body_bytes_total{{face=\"gateway\",route=\"/ipfs/{{*path}}\"}} {}",
        error_len + 5
    );
    assert!(text.contains(&sent), "{sent} missing in {text}");
}

/// A network that never delivers, or gives up with a timeout.
struct Unreachable {
    gives_up: bool,
}

impl chorus_node::BlockFetcher for Unreachable {
    fn fetch(
        &self,
        cid: chorus_storage::Cid,
    ) -> futures::future::BoxFuture<'static, Result<Block, chorus_node::FetchError>> {
        if self.gives_up {
            Box::pin(async move {
                Err(chorus_node::FetchError::Timeout {
                    cid,
                    timeout: std::time::Duration::from_secs(1),
                })
            })
        } else {
            Box::pin(futures::future::pending())
        }
    }

    fn is_online(&self) -> bool {
        true
    }
}

#[tokio::test]
async fn content_not_found_in_time_is_504() {
    let absent = Block::from_data(codec::RAW, HashAlg::Sha2_256, &b"elsewhere"[..]).unwrap();
    let url = format!("/ipfs/{}", absent.cid());

    let ctx = context_with_fetcher(std::sync::Arc::new(Unreachable { gives_up: false }));
    let gw = serve(gateway::router(
        ctx.node(),
        GatewayConfig::default().with_retrieval_timeout(std::time::Duration::from_millis(50)),
    ))
    .await;
    let r = client().get(gw.url(&url)).send().await.unwrap();
    assert_eq!(r.status().as_u16(), 504);

    let ctx = context_with_fetcher(std::sync::Arc::new(Unreachable { gives_up: true }));
    let gw = serve(gateway::router(
        ctx.node(),
        GatewayConfig::default().with_retrieval_timeout(std::time::Duration::from_millis(50)),
    ))
    .await;
    let r = client()
        .get(gw.url(&format!("{url}?format=car")))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status().as_u16(), 504);
}

/// Identity CIDs are answered by the core's store wrapper, never stored: a raw identity CID
/// and a directory linking one are served and pinned like any other content.
#[tokio::test]
async fn identity_cids_are_served_and_pinned_without_being_stored() {
    use chorus_protocol::unixfs::shapes::directory_node;
    let ctx = context();
    let inline = Block::from_data(codec::RAW, HashAlg::Identity, &b"inline bytes"[..]).unwrap();
    let dir = directory_node(&[("tiny.txt", *inline.cid(), 12)]);
    ctx.store().put(&dir).unwrap();
    let blocks_before = ctx.store().stat().unwrap().blocks;
    let gw = serve(gateway::router(ctx.node(), GatewayConfig::default())).await;

    for path in [
        format!("/ipfs/{}", inline.cid()),
        format!("/ipfs/{}/tiny.txt", dir.cid()),
    ] {
        let resp = client().get(gw.url(&path)).send().await.unwrap();
        assert_eq!(resp.status().as_u16(), 200, "{path}");
        assert_eq!(resp.bytes().await.unwrap(), &b"inline bytes"[..], "{path}");
    }
    ctx.core()
        .pin(&[*dir.cid()], true, &std::sync::atomic::AtomicU64::new(0))
        .await
        .unwrap();
    assert!(
        !ctx.store().put(&inline).unwrap(),
        "identity blocks are never stored"
    );
    assert_eq!(ctx.store().stat().unwrap().blocks, blocks_before);
    let gc = ctx.core().gc().await.unwrap();
    assert_eq!(
        gc.removed_cids().count(),
        0,
        "the pinned DAG with its inline leaf is kept"
    );
}

/// A block source that has `.1` and asks a network that never delivers for anything else,
/// saying each time it does.
struct Asked(tokio::sync::mpsc::Sender<()>, Block);

impl chorus_node::BlockFetcher for Asked {
    fn fetch(
        &self,
        cid: chorus_storage::Cid,
    ) -> futures::future::BoxFuture<'static, Result<Block, chorus_node::FetchError>> {
        if cid == *self.1.cid() {
            let block = self.1.clone();
            return Box::pin(async move { Ok(block) });
        }
        let tx = self.0.clone();
        Box::pin(async move {
            let _ = tx.send(()).await;
            futures::future::pending().await
        })
    }

    fn is_online(&self) -> bool {
        true
    }
}

#[tokio::test]
async fn requests_past_the_concurrency_limit_get_429_with_retry_after() {
    let (tx, mut asked) = tokio::sync::mpsc::channel(8);
    let here = Block::from_data(codec::RAW, HashAlg::Sha2_256, &b"here"[..]).unwrap();
    let present = *here.cid();
    let ctx = context_with_fetcher(std::sync::Arc::new(Asked(tx, here)));
    let gw = serve(gateway::router(
        ctx.node(),
        GatewayConfig::default()
            .with_max_concurrent_requests(2)
            .with_retrieval_timeout(std::time::Duration::from_secs(2)),
    ))
    .await;
    // Two requests for content the network never delivers hold both slots.
    let mut held = Vec::new();
    for seed in 0..2u8 {
        let absent = Block::from_data(codec::RAW, HashAlg::Sha2_256, vec![seed; 9]).unwrap();
        let url = gw.url(&format!("/ipfs/{}", absent.cid()));
        held.push(tokio::spawn(async move { client().get(url).send().await }));
        asked.recv().await.unwrap();
    }
    let refused = client()
        .get(gw.url(&format!("/ipfs/{present}")))
        .send()
        .await
        .unwrap();
    assert_eq!(refused.status().as_u16(), 429);
    assert_eq!(refused.headers()[header::RETRY_AFTER], "5");
    // Their slots come back when they end (504 at the retrieval timeout).
    for h in held {
        assert_eq!(h.await.unwrap().unwrap().status().as_u16(), 504);
    }
    let served = client()
        .get(gw.url(&format!("/ipfs/{present}")))
        .send()
        .await
        .unwrap();
    assert_eq!(served.status().as_u16(), 200);
    assert_eq!(served.bytes().await.unwrap(), &b"here"[..]);
}

#[tokio::test]
async fn one_greedy_address_is_rate_limited_while_others_are_served() {
    use std::num::NonZeroU32;
    let ctx = context();
    let (cid, _) = add_file(&ctx, b"tune", 1024);
    let gw = serve(gateway::router(
        ctx.node(),
        GatewayConfig::default().with_rate_limit(Some(gateway::RateLimit {
            per_second: NonZeroU32::new(1).unwrap(),
            burst: NonZeroU32::new(3).unwrap(),
        })),
    ))
    .await;
    let url = gw.url(&format!("/ipfs/{cid}"));
    let from = |ip: [u8; 4]| {
        reqwest::Client::builder()
            .local_address(std::net::IpAddr::from(ip))
            .build()
            .unwrap()
    };
    let greedy = from([127, 0, 0, 1]);
    let mut statuses = Vec::new();
    for _ in 0..5 {
        statuses.push(greedy.get(&url).send().await.unwrap());
    }
    let codes: Vec<u16> = statuses.iter().map(|r| r.status().as_u16()).collect();
    assert_eq!(
        &codes[..3],
        &[200, 200, 200],
        "the burst is served: {codes:?}"
    );
    assert_eq!(codes[4], 429, "{codes:?}");
    let retry: u64 = statuses[4].headers()[header::RETRY_AFTER]
        .to_str()
        .unwrap()
        .parse()
        .unwrap();
    assert!((1..=2).contains(&retry), "Retry-After {retry}");
    // Another address is served meanwhile.
    let other = from([127, 0, 0, 2]).get(&url).send().await.unwrap();
    assert_eq!(other.status().as_u16(), 200);
    assert_eq!(other.bytes().await.unwrap(), &b"tune"[..]);
}
