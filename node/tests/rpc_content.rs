//! Content commands of the RPC API against a real server and a sled repo: add, cat, block/*,
//! pin/*, repo/*, dag/*, ls, refs, files/stat.

mod common;

use chorus_node::rpc::{self, ApiConfig};
use common::{Part, context, ndjson, pattern, post_json, post_multipart, serve};

/// `echo hello | ipfs add` (kubo defaults: CIDv0, 256 KiB chunks, dag-pb leaf).
const HELLO_V0: &str = "QmZULkCELmmk5XNfCgTnCyFgAVxBRBXyDHGGMVoLFLiXEN";
/// `echo hello | ipfs add --cid-version 1` (raw leaf).
const HELLO_V1: &str = "bafkreicysg23kiwv34eg2d7qweipxwosdo2py4ldv42nbauguluen5v6am";

fn file<'a>(name: &'a str, data: &'a [u8]) -> Part<'a> {
    Part {
        filename: name,
        content_type: "application/octet-stream",
        data,
    }
}

fn dir(name: &str) -> Part<'_> {
    Part {
        filename: name,
        content_type: "application/x-directory",
        data: b"",
    }
}

#[tokio::test]
async fn add_single_file_like_ipfshttpclient() {
    let ctx = context();
    let api = serve(rpc::router(ctx.node(), ApiConfig::default())).await;
    let resp = post_multipart(
        &api.url("/api/v0/add?stream-channels=true&pin=True&wrap-with-directory=False"),
        &[file("hello.txt", b"hello\n")],
        true,
    )
    .await;
    assert_eq!(resp.status().as_u16(), 200);
    let lines = ndjson(resp).await;
    assert_eq!(lines.len(), 1);
    assert_eq!(lines[0]["Name"], "hello.txt");
    assert_eq!(lines[0]["Hash"], HELLO_V0);
    assert_eq!(lines[0]["Size"], "14");

    let (status, pins) = post_json(&api.url("/api/v0/pin/ls?type=recursive")).await;
    assert_eq!(status, 200);
    assert_eq!(pins["Keys"][HELLO_V0]["Type"], "recursive");

    let resp = post_multipart(
        &api.url("/api/v0/add?cid-version=1&pin=false"),
        &[file("", b"hello\n")],
        false,
    )
    .await;
    let lines = ndjson(resp).await;
    assert_eq!(lines[0]["Hash"], HELLO_V1);
    assert_eq!(
        lines[0]["Name"], HELLO_V1,
        "an unnamed part is named by its CID"
    );
}

#[tokio::test]
async fn add_directory_with_wrap_progress_and_options() {
    let ctx = context();
    let api = serve(rpc::router(ctx.node(), ApiConfig::default())).await;
    let big = pattern(300_000, 9);
    let resp = post_multipart(
        &api.url("/api/v0/add?wrap-with-directory=true&progress=true&cid-version=1"),
        &[
            dir("album"),
            file("album%2Ftrack+1.mp3", &big),
            file("album%2Fcover.txt", b"cover"),
            file("notes.txt", b"n"),
        ],
        false,
    )
    .await;
    assert_eq!(resp.status().as_u16(), 200);
    let lines = ndjson(resp).await;
    let entries: Vec<_> = lines.iter().filter(|l| l.get("Hash").is_some()).collect();
    let names: Vec<_> = entries
        .iter()
        .map(|l| l["Name"].as_str().unwrap())
        .collect();
    assert_eq!(
        names,
        [
            "album/track 1.mp3",
            "album/cover.txt",
            "notes.txt",
            "album",
            ""
        ]
    );
    assert!(
        lines
            .iter()
            .any(|l| l["Name"] == "album/track 1.mp3" && l["Bytes"] == 300_000)
    );
    let root = entries.last().unwrap()["Hash"].as_str().unwrap().to_owned();

    // The wrapper is pinned, and the tree is readable through cat and ls.
    let (_, pins) = post_json(&api.url(&format!("/api/v0/pin/ls?arg={root}"))).await;
    assert_eq!(pins["Keys"][&root]["Type"], "recursive");
    let resp = reqwest::Client::new()
        .post(api.url(&format!("/api/v0/cat?arg=/ipfs/{root}/album/track%201.mp3")))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.bytes().await.unwrap(), big);
    let (status, listing) = post_json(&api.url(&format!("/api/v0/ls?arg={root}"))).await;
    assert_eq!(status, 200);
    let links = listing["Objects"][0]["Links"].as_array().unwrap();
    assert_eq!(links.len(), 2);
    assert_eq!(links[0]["Name"], "album");
    assert_eq!(links[0]["Type"], 1);
    assert_eq!(links[1]["Name"], "notes.txt");
    assert_eq!(links[1]["Type"], 2);
    assert_eq!(links[1]["Size"], 1);

    // --quieter prints only the root; --only-hash stores nothing.
    let resp = post_multipart(
        &api.url("/api/v0/add?quieter=true&only-hash=true&cid-version=1"),
        &[file("x.bin", b"only hashed")],
        false,
    )
    .await;
    let lines = ndjson(resp).await;
    assert_eq!(lines.len(), 1);
    let hashed = lines[0]["Hash"].as_str().unwrap().to_owned();
    let (status, err) = post_json(&api.url(&format!("/api/v0/block/stat?arg={hashed}"))).await;
    assert_eq!(status, 500);
    assert_eq!(err["Type"], "error");

    // Bad options are 400, never 500.
    let resp = post_multipart(
        &api.url("/api/v0/add?chunker=rabin-nonsense"),
        &[file("a", b"a")],
        false,
    )
    .await;
    assert_eq!(resp.status().as_u16(), 400);
    let resp = reqwest::Client::new()
        .post(api.url("/api/v0/add"))
        .body("not multipart")
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status().as_u16(), 400);
}

#[tokio::test]
async fn cat_offsets_and_errors() {
    let ctx = context();
    let api = serve(rpc::router(ctx.node(), ApiConfig::default())).await;
    let data = pattern(700_000, 3);
    let lines =
        ndjson(post_multipart(&api.url("/api/v0/add"), &[file("f", &data)], false).await).await;
    let cid = lines[0]["Hash"].as_str().unwrap().to_owned();
    let c = reqwest::Client::new();
    let cat = |q: String| c.post(api.url(&format!("/api/v0/cat?{q}"))).send();

    let r = cat(format!("arg={cid}&offset=262000&length=1000"))
        .await
        .unwrap();
    assert_eq!(r.status().as_u16(), 200);
    assert_eq!(r.bytes().await.unwrap(), &data[262_000..263_000]);
    let r = cat(format!("arg=/ipfs/{cid}&offset=699990")).await.unwrap();
    assert_eq!(r.bytes().await.unwrap(), &data[699_990..]);
    let r = cat(format!("arg={cid}&offset=800000")).await.unwrap();
    assert_eq!(r.status().as_u16(), 200);
    assert!(r.bytes().await.unwrap().is_empty());

    let r = cat(String::new()).await.unwrap();
    assert_eq!(r.status().as_u16(), 400);
    let r = cat("arg=garbage".into()).await.unwrap();
    assert_eq!(r.status().as_u16(), 400);
    let r = cat(format!("arg={cid}&offset=-1")).await.unwrap();
    assert_eq!(r.status().as_u16(), 400);

    let lines = ndjson(
        post_multipart(
            &api.url("/api/v0/add?wrap-with-directory=true"),
            &[file("a.txt", b"a")],
            false,
        )
        .await,
    )
    .await;
    let dir = lines.last().unwrap()["Hash"].as_str().unwrap().to_owned();
    let r = cat(format!("arg={dir}")).await.unwrap();
    assert_eq!(r.status().as_u16(), 500);
    let body: serde_json::Value = r.json().await.unwrap();
    assert_eq!(body["Message"], "this dag node is a directory");
}

#[tokio::test]
async fn blocks() {
    let ctx = context();
    let api = serve(rpc::router(ctx.node(), ApiConfig::default())).await;
    let r = post_multipart(
        &api.url("/api/v0/block/put"),
        &[file("b", b"hello\n")],
        true,
    )
    .await;
    assert_eq!(r.status().as_u16(), 200);
    let put: serde_json::Value = r.json().await.unwrap();
    assert_eq!(put["Key"], HELLO_V1);
    assert_eq!(put["Size"], 6);

    let (status, stat) = post_json(&api.url(&format!("/api/v0/block/stat?arg={HELLO_V1}"))).await;
    assert_eq!(status, 200);
    assert_eq!(stat["Key"], HELLO_V1);
    assert_eq!(stat["Size"], 6);

    let got = reqwest::Client::new()
        .post(api.url(&format!("/api/v0/block/get?arg={HELLO_V1}")))
        .send()
        .await
        .unwrap()
        .bytes()
        .await
        .unwrap();
    assert_eq!(got, "hello\n");

    // Legacy format=v0 gives a CIDv0 dag-pb block (bytes must be dag-pb for it to be useful,
    // but the CID is what is checked here).
    let r = post_multipart(
        &api.url("/api/v0/block/put?format=v0&pin=true"),
        &[file("b", b"\x0a\x02\x08\x01")],
        false,
    )
    .await;
    let v0: serde_json::Value = r.json().await.unwrap();
    let v0 = v0["Key"].as_str().unwrap().to_owned();
    assert!(v0.starts_with("Qm"), "{v0}");

    let lines = ndjson(
        reqwest::Client::new()
            .post(api.url(&format!("/api/v0/block/rm?arg={HELLO_V1}&arg={v0}")))
            .send()
            .await
            .unwrap(),
    )
    .await;
    assert_eq!(lines[0]["Hash"], HELLO_V1);
    assert!(lines[0].get("Error").is_none());
    assert_eq!(lines[1]["Error"], "pinned: recursive");
    let (status, _) = post_json(&api.url(&format!("/api/v0/block/stat?arg={HELLO_V1}"))).await;
    assert_eq!(status, 500);

    let (status, err) = post_json(&api.url("/api/v0/block/put?cid-codec=nope")).await;
    assert_eq!(status, 400, "{err}");
}

#[tokio::test]
async fn pins_repo_and_gc() {
    let ctx = context();
    let api = serve(rpc::router(ctx.node(), ApiConfig::default())).await;
    let data = pattern(600_000, 5);
    let lines = ndjson(
        post_multipart(
            &api.url("/api/v0/add?pin=false&chunker=size-100000"),
            &[file("f", &data)],
            false,
        )
        .await,
    )
    .await;
    let cid = lines[0]["Hash"].as_str().unwrap().to_owned();

    let (status, err) = post_json(&api.url(&format!("/api/v0/pin/ls?arg={cid}"))).await;
    assert_eq!(status, 500);
    assert_eq!(err["Message"], format!("path '{cid}' is not pinned"));

    let (status, added) = post_json(&api.url(&format!("/api/v0/pin/add?arg={cid}"))).await;
    assert_eq!(status, 200);
    assert_eq!(added["Pins"][0], cid);
    let (_, all) = post_json(&api.url("/api/v0/pin/ls")).await;
    let keys = all["Keys"].as_object().unwrap();
    assert_eq!(keys[&cid]["Type"], "recursive");
    assert_eq!(keys.len(), 1 + 6, "root plus six indirect leaves");
    assert!(keys.values().filter(|v| v["Type"] == "indirect").count() == 6);
    let streamed = ndjson(
        reqwest::Client::new()
            .post(api.url("/api/v0/pin/ls?type=recursive&stream=true"))
            .send()
            .await
            .unwrap(),
    )
    .await;
    assert_eq!(streamed.len(), 1);
    assert_eq!(streamed[0]["Cid"], cid);

    let (status, stat) = post_json(&api.url("/api/v0/repo/stat")).await;
    assert_eq!(status, 200);
    assert_eq!(stat["NumObjects"], 7);
    assert!(stat["RepoSize"].as_u64().unwrap() >= 600_000);
    assert_eq!(stat["StorageMax"], 10_000_000_000u64);
    assert!(stat["RepoPath"].is_string() && stat["Version"].is_string());

    // An unpinned block is collected; the pinned DAG stays.
    let r = post_multipart(
        &api.url("/api/v0/block/put"),
        &[file("b", b"garbage")],
        false,
    )
    .await;
    let junk: serde_json::Value = r.json().await.unwrap();
    let lines = ndjson(
        reqwest::Client::new()
            .post(api.url("/api/v0/repo/gc"))
            .send()
            .await
            .unwrap(),
    )
    .await;
    assert_eq!(lines.len(), 1);
    assert_eq!(lines[0]["Key"]["/"], junk["Key"]);
    let r = reqwest::Client::new()
        .post(api.url(&format!("/api/v0/cat?arg={cid}")))
        .send()
        .await
        .unwrap();
    assert_eq!(r.bytes().await.unwrap(), data);

    let (status, err) =
        post_json(&api.url(&format!("/api/v0/pin/rm?arg={cid}&recursive=false"))).await;
    assert_eq!(status, 500, "{err}");
    let (status, removed) = post_json(&api.url(&format!("/api/v0/pin/rm?arg={cid}"))).await;
    assert_eq!(status, 200);
    assert_eq!(removed["Pins"][0], cid);
    let (status, _) = post_json(&api.url(&format!("/api/v0/pin/rm?arg={cid}"))).await;
    assert_eq!(status, 500);
    let lines = ndjson(
        reqwest::Client::new()
            .post(api.url("/api/v0/repo/gc?quiet=true"))
            .send()
            .await
            .unwrap(),
    )
    .await;
    assert!(lines.is_empty());
    let (_, stat) = post_json(&api.url("/api/v0/repo/stat?size-only=true")).await;
    assert_eq!(stat["RepoSize"], 0);
    assert!(stat.get("NumObjects").is_none());

    let m = serve(chorus_node::metrics_router(ctx.node())).await;
    let text = reqwest::get(m.url("/metrics"))
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(text.contains("chorus_gc_runs_total 2"), "{text}");
    assert!(text.contains("chorus_blockstore_blocks 0"), "{text}");
    assert!(text.contains("chorus_pins{type=\"recursive\"} 0"), "{text}");
}

#[tokio::test]
async fn dag_export_import_refs_and_files_stat() {
    let a = context();
    let api_a = serve(rpc::router(a.node(), ApiConfig::default())).await;
    let lines = ndjson(
        post_multipart(
            &api_a.url("/api/v0/add?wrap-with-directory=true&chunker=size-1000"),
            &[file("x.bin", &pattern(5000, 1)), file("y.txt", b"y")],
            false,
        )
        .await,
    )
    .await;
    let root = lines.last().unwrap()["Hash"].as_str().unwrap().to_owned();
    let x_tsize: u64 = lines[0]["Size"].as_str().unwrap().parse().unwrap();
    let car = reqwest::Client::new()
        .post(api_a.url(&format!("/api/v0/dag/export?arg={root}")))
        .send()
        .await
        .unwrap()
        .bytes()
        .await
        .unwrap();
    let (roots, blocks) = common::parse_car(&car);
    assert_eq!(roots[0].to_string(), root);
    assert_eq!(blocks.len(), 1 + 1 + 5 + 1);

    let refs = ndjson(
        reqwest::Client::new()
            .post(api_a.url(&format!("/api/v0/refs?arg={root}&recursive=true")))
            .send()
            .await
            .unwrap(),
    )
    .await;
    assert_eq!(refs.len(), 7);
    let direct = ndjson(
        reqwest::Client::new()
            .post(api_a.url(&format!("/api/v0/refs?arg={root}&edges=true")))
            .send()
            .await
            .unwrap(),
    )
    .await;
    assert_eq!(direct.len(), 2);
    assert!(
        direct[0]["Ref"]
            .as_str()
            .unwrap()
            .starts_with(&format!("{root} -> "))
    );

    let (status, st) =
        post_json(&api_a.url(&format!("/api/v0/files/stat?arg=/ipfs/{root}/x.bin"))).await;
    assert_eq!(status, 200);
    assert_eq!(st["Type"], "file");
    assert_eq!(st["Size"], 5000);
    assert_eq!(st["Blocks"], 5);
    assert_eq!(
        st["CumulativeSize"], x_tsize,
        "files/stat agrees with add's Tsize"
    );

    // Raw leaves are sized from the index; the total still matches add's Tsize.
    let raw = ndjson(
        post_multipart(
            &api_a.url("/api/v0/add?cid-version=1&chunker=size-1000"),
            &[file("r.bin", &pattern(4500, 2))],
            false,
        )
        .await,
    )
    .await;
    let raw_cid = raw[0]["Hash"].as_str().unwrap();
    let (_, st) = post_json(&api_a.url(&format!("/api/v0/files/stat?arg=/ipfs/{raw_cid}"))).await;
    assert_eq!(
        st["CumulativeSize"].to_string(),
        raw[0]["Size"].as_str().unwrap()
    );
    assert_eq!(st["Blocks"], 5);
    let (status, _) = post_json(&api_a.url("/api/v0/files/stat?arg=/mfs/path")).await;
    assert_eq!(status, 400);

    let b = context();
    let api_b = serve(rpc::router(b.node(), ApiConfig::default())).await;
    let r = post_multipart(
        &api_b.url("/api/v0/dag/import?stats=true"),
        &[Part {
            filename: "x.car",
            content_type: "application/vnd.ipld.car",
            data: &car,
        }],
        true,
    )
    .await;
    assert_eq!(r.status().as_u16(), 200);
    let lines = ndjson(r).await;
    assert_eq!(lines[0]["Root"]["Cid"]["/"], root);
    assert_eq!(lines[0]["Root"]["PinErrorMsg"], "");
    assert_eq!(lines[1]["Stats"]["BlockCount"], 8);
    let (_, pins) = post_json(&api_b.url(&format!("/api/v0/pin/ls?arg={root}"))).await;
    assert_eq!(pins["Keys"][&root]["Type"], "recursive");

    let bad = post_multipart(
        &api_b.url("/api/v0/dag/import"),
        &[file("x.car", b"not a car")],
        false,
    )
    .await;
    assert_eq!(bad.status().as_u16(), 500);
}

#[tokio::test]
async fn get_streams_a_tar() {
    let ctx = context();
    let api = serve(rpc::router(ctx.node(), ApiConfig::default())).await;
    let big = pattern(200_000, 11);
    let lines = ndjson(
        post_multipart(
            &api.url("/api/v0/add?wrap-with-directory=true"),
            &[dir("d"), file("d%2Fbig.bin", &big), file("top.txt", b"top")],
            false,
        )
        .await,
    )
    .await;
    let root = lines.last().unwrap()["Hash"].as_str().unwrap().to_owned();
    let r = reqwest::Client::new()
        .post(api.url(&format!("/api/v0/get?arg=/ipfs/{root}&archive=true")))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status().as_u16(), 200);
    let body = r.bytes().await.unwrap();
    let mut archive = tar::Archive::new(std::io::Cursor::new(body.to_vec()));
    let mut seen = Vec::new();
    for entry in archive.entries().unwrap() {
        let mut entry = entry.unwrap();
        let path = entry.path().unwrap().to_string_lossy().into_owned();
        let mut data = Vec::new();
        std::io::Read::read_to_end(&mut entry, &mut data).unwrap();
        if path.ends_with("big.bin") {
            assert_eq!(data, big);
        }
        if path.ends_with("top.txt") {
            assert_eq!(data, b"top");
        }
        seen.push(path.trim_end_matches('/').to_owned());
    }
    assert_eq!(
        seen,
        [
            root.clone(),
            format!("{root}/d"),
            format!("{root}/d/big.bin"),
            format!("{root}/top.txt")
        ]
    );

    // A single file is named after the last path segment.
    let r = reqwest::Client::new()
        .post(api.url(&format!("/api/v0/get?arg=/ipfs/{root}/top.txt")))
        .send()
        .await
        .unwrap();
    let body = r.bytes().await.unwrap();
    let mut archive = tar::Archive::new(std::io::Cursor::new(body.to_vec()));
    let names: Vec<String> = archive
        .entries()
        .unwrap()
        .map(|e| e.unwrap().path().unwrap().to_string_lossy().into_owned())
        .collect();
    assert_eq!(names, ["top.txt"]);

    let (status, _) = post_json(&api.url(&format!("/api/v0/get?arg={root}&compress=true"))).await;
    assert_eq!(status, 400);
}

/// Reads one HTTP/1.1 response with a Content-Length body; returns its head.
async fn read_response(stream: &mut tokio::net::TcpStream) -> String {
    use tokio::io::AsyncReadExt;
    let mut buf = Vec::new();
    let mut byte = [0u8; 1];
    while !buf.ends_with(b"\r\n\r\n") {
        let n = stream.read(&mut byte).await.unwrap();
        assert_eq!(n, 1, "connection closed before a response head");
        buf.push(byte[0]);
    }
    let head = String::from_utf8(buf).unwrap();
    let len: usize = head
        .lines()
        .find_map(|l| {
            let (k, v) = l.split_once(':')?;
            k.eq_ignore_ascii_case("content-length")
                .then(|| v.trim().parse().unwrap())
        })
        .expect("content-length");
    let mut body = vec![0u8; len];
    stream.read_exact(&mut body).await.unwrap();
    head
}

#[tokio::test]
async fn keep_alive_connection_survives_a_chunked_upload() {
    use tokio::io::AsyncWriteExt;
    let ctx = context();
    let api = serve(rpc::router(ctx.node(), ApiConfig::default())).await;
    let (ct, body) = common::multipart_body(&[file("a.txt", b"hello\n")], true);
    let mut stream = tokio::net::TcpStream::connect(api.addr).await.unwrap();
    let mut req = format!(
        "POST /api/v0/add HTTP/1.1\r\nHost: {}\r\nContent-Type: {ct}\r\n\
         Transfer-Encoding: chunked\r\n\r\n",
        api.addr
    )
    .into_bytes();
    for chunk in body.chunks(50) {
        req.extend_from_slice(format!("{:x}\r\n", chunk.len()).as_bytes());
        req.extend_from_slice(chunk);
        req.extend_from_slice(b"\r\n");
    }
    req.extend_from_slice(b"0\r\n\r\n");
    stream.write_all(&req).await.unwrap();
    let head = read_response(&mut stream).await;
    assert!(head.starts_with("HTTP/1.1 200"), "{head}");
    assert!(
        !head.to_ascii_lowercase().contains("connection: close"),
        "{head}"
    );

    // The same connection answers the next request.
    let next = format!(
        "POST /api/v0/version HTTP/1.1\r\nHost: {}\r\nContent-Length: 0\r\n\r\n",
        api.addr
    );
    stream.write_all(next.as_bytes()).await.unwrap();
    let head = read_response(&mut stream).await;
    assert!(head.starts_with("HTTP/1.1 200"), "{head}");
}
