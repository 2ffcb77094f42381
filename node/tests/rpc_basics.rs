//! The RPC framework against a real server: methods, errors, auth, id/version, health, metrics.

mod common;

use base64::Engine as _;
use chorus_node::metrics_router;
use chorus_node::rpc::{self, ApiConfig, OFFLINE_MESSAGE};
use common::{context, context_with_version, post_json, serve};

#[tokio::test]
async fn version_is_configurable_and_post_only() {
    let ctx = context_with_version(Some("0.7.0"));
    let api = serve(rpc::router(ctx.node(), ApiConfig::default())).await;
    let (status, body) = post_json(&api.url("/api/v0/version")).await;
    assert_eq!(status, 200);
    assert_eq!(body["Version"], "0.7.0");
    for field in ["Commit", "Repo", "System", "Golang"] {
        assert!(body[field].is_string(), "{field} missing in {body}");
    }

    let resp = reqwest::get(api.url("/api/v0/version")).await.unwrap();
    assert_eq!(resp.status().as_u16(), 405);
    assert_eq!(resp.headers()["allow"], "POST");
    let body: serde_json::Value = resp.json().await.unwrap();
    assert_eq!(body["Type"], "error");
    assert!(body["Message"].as_str().unwrap().contains("GET"));
}

#[tokio::test]
async fn get_allowed_when_configured() {
    let ctx = context();
    let api = serve(rpc::router(
        ctx.node(),
        ApiConfig::default().with_allow_get(true),
    ))
    .await;
    let resp = reqwest::get(api.url("/api/v0/version?stream=true"))
        .await
        .unwrap();
    assert_eq!(resp.status().as_u16(), 200);
    let put = reqwest::Client::new()
        .put(api.url("/api/v0/version"))
        .send()
        .await
        .unwrap();
    assert_eq!(put.status().as_u16(), 405);
}

#[tokio::test]
async fn error_shapes_and_statuses() {
    let ctx = context();
    let api = serve(rpc::router(ctx.node(), ApiConfig::default())).await;

    let (status, body) = post_json(&api.url("/api/v0/no/such/command")).await;
    assert_eq!(status, 404);
    assert_eq!(body["Type"], "error");
    assert_eq!(body["Code"], 3);

    let (status, body) = post_json(&api.url("/api/v0/swarm/connect")).await;
    assert_eq!(status, 400);
    assert_eq!(body["Code"], 1);
    assert_eq!(body["Message"], "argument \"address\" is required");

    let (status, body) = post_json(&api.url("/api/v0/swarm/connect?arg=not-a-multiaddr")).await;
    assert_eq!(status, 400);
    assert_eq!(body["Code"], 1);

    for path in [
        "/api/v0/swarm/peers",
        "/api/v0/swarm/connect?arg=/ip4/127.0.0.1/tcp/4001",
        "/api/v0/routing/findprovs?arg=bafkreicysg23kiwv34eg2d7qweipxwosdo2py4ldv42nbauguluen5v6am",
        "/api/v0/routing/provide?arg=bafkreicysg23kiwv34eg2d7qweipxwosdo2py4ldv42nbauguluen5v6am",
    ] {
        let (status, body) = post_json(&api.url(path)).await;
        assert_eq!(status, 500, "{path}");
        assert_eq!(body["Message"], OFFLINE_MESSAGE, "{path}");
        assert_eq!(body["Code"], 0);
        assert_eq!(body["Type"], "error");
    }

    let (status, _) = post_json(&api.url("/api/v0/routing/findprovs?arg=nonsense")).await;
    assert_eq!(status, 400);
}

#[tokio::test]
async fn id_matches_kubo_shape() {
    let ctx = context();
    let peer = ctx.identity().peer_id();
    let api = serve(rpc::router(ctx.node(), ApiConfig::default())).await;
    let (status, body) = post_json(&api.url("/api/v0/id")).await;
    assert_eq!(status, 200);
    assert_eq!(body["ID"], peer.to_string());
    assert_eq!(body["ProtocolVersion"], "ipfs/0.1.0");
    assert!(
        body["AgentVersion"]
            .as_str()
            .unwrap()
            .starts_with("chorus/")
    );
    assert!(body["Addresses"].is_array());
    assert!(body["Protocols"].is_array());
    let key = base64::engine::general_purpose::STANDARD
        .decode(body["PublicKey"].as_str().unwrap())
        .unwrap();
    let key = libp2p::identity::PublicKey::try_decode_protobuf(&key).unwrap();
    assert_eq!(key.to_peer_id(), peer);

    // Our own id as argument is answered locally; another peer needs the network.
    let (status, _) = post_json(&api.url(&format!("/api/v0/id?arg={peer}"))).await;
    assert_eq!(status, 200);
    let other = libp2p::PeerId::random();
    let (status, body) = post_json(&api.url(&format!("/api/v0/id?arg={other}"))).await;
    assert_eq!(status, 500);
    assert_eq!(body["Message"], OFFLINE_MESSAGE);
}

#[tokio::test]
async fn bearer_auth() {
    let ctx = context();
    let api = serve(rpc::router(
        ctx.node(),
        ApiConfig::default().with_bearer_token("s3cret"),
    ))
    .await;
    let client = reqwest::Client::new();
    let url = api.url("/api/v0/version");
    let none = client.post(&url).send().await.unwrap();
    assert_eq!(none.status().as_u16(), 403);
    let wrong = client.post(&url).bearer_auth("nope").send().await.unwrap();
    assert_eq!(wrong.status().as_u16(), 403);
    let right = client
        .post(&url)
        .bearer_auth("s3cret")
        .send()
        .await
        .unwrap();
    assert_eq!(right.status().as_u16(), 200);
    let metrics = client.get(api.url("/metrics")).send().await.unwrap();
    assert_eq!(metrics.status().as_u16(), 403);
    // Health stays open for orchestrators (not ready yet: 503 with a body).
    let health = client.get(api.url("/health")).send().await.unwrap();
    assert_eq!(health.status().as_u16(), 503);
}

#[tokio::test]
async fn health_reports_readiness_and_repo() {
    let ctx = context_with_version(Some("0.7.0"));
    let metrics = serve(metrics_router(ctx.node())).await;
    let resp = reqwest::get(metrics.url("/health")).await.unwrap();
    assert_eq!(resp.status().as_u16(), 503);
    let body: serde_json::Value = resp.json().await.unwrap();
    assert_eq!(body["ready"], false);

    ctx.set_ready(true);
    let resp = reqwest::get(metrics.url("/health")).await.unwrap();
    assert_eq!(resp.status().as_u16(), 200);
    let body: serde_json::Value = resp.json().await.unwrap();
    assert_eq!(body["ready"], true);
    assert_eq!(
        body["version"],
        env!("CARGO_PKG_VERSION"),
        "chorus's own version"
    );
    assert_eq!(body["peer_id"], ctx.identity().peer_id().to_string());
    assert_eq!(body["repo_size_bytes"], 0);
    assert_eq!(body["online"], false);
    assert!(body["uptime_seconds"].is_u64());
}

#[tokio::test]
async fn metrics_count_requests_on_both_listeners() {
    let ctx = context();
    let api = serve(rpc::router(ctx.node(), ApiConfig::default())).await;
    let metrics = serve(metrics_router(ctx.node())).await;
    let (status, _) = post_json(&api.url("/api/v0/version")).await;
    assert_eq!(status, 200);
    let (status, _) = post_json(&api.url("/api/v0/nope")).await;
    assert_eq!(status, 404);

    for (base, accept, content_type) in [
        (
            &metrics,
            "application/openmetrics-text; version=1.0.0",
            "application/openmetrics-text",
        ),
        (&api, "text/plain", "text/plain; version=0.0.4"),
    ] {
        let resp = reqwest::Client::new()
            .get(base.url("/metrics"))
            .header("accept", accept)
            .send()
            .await
            .unwrap();
        assert_eq!(resp.status().as_u16(), 200);
        assert!(
            resp.headers()["content-type"]
                .to_str()
                .unwrap()
                .starts_with(content_type)
        );
        let text = resp.text().await.unwrap();
        assert!(
            text.contains(
                "chorus_http_requests_total{face=\"api\",route=\"/api/v0/version\",method=\"POST\",status=\"200\"} 1"
            ),
            "{text}"
        );
        assert!(
            text.contains(
                "chorus_http_requests_total{face=\"api\",route=\"unmatched\",method=\"POST\",status=\"404\"} 1"
            ),
            "{text}"
        );
        assert!(text.contains(
            "chorus_http_response_body_bytes_total{face=\"api\",route=\"/api/v0/version\"}"
        ));
        assert!(text.contains("chorus_blockstore_blocks 0"));
    }
}

#[tokio::test]
async fn foreign_browser_origins_are_refused() {
    let ctx = context();
    let api = serve(rpc::router(
        ctx.node(),
        ApiConfig::default().with_allowed_origin("http://localhost:3000"),
    ))
    .await;
    let c = reqwest::Client::new();
    let url = api.url("/api/v0/version");
    let evil = c
        .post(&url)
        .header("origin", "https://evil.example")
        .send()
        .await
        .unwrap();
    assert_eq!(evil.status().as_u16(), 403);
    let same = c
        .post(&url)
        .header("origin", format!("http://{}", api.addr))
        .send()
        .await
        .unwrap();
    assert_eq!(same.status().as_u16(), 200);
    let listed = c
        .post(&url)
        .header("origin", "http://localhost:3000")
        .send()
        .await
        .unwrap();
    assert_eq!(listed.status().as_u16(), 200);
    let none = c.post(&url).send().await.unwrap();
    assert_eq!(none.status().as_u16(), 200);
}

/// DNS rebinding: a page whose own name was re-pointed at the node sends that name as `Host`
/// and as `Origin`; the origin check alone passes it, the host check refuses it.
#[tokio::test]
async fn rebound_host_names_are_refused() {
    let ctx = context();
    let api = serve(rpc::router(ctx.node(), ApiConfig::default())).await;
    let port = api.addr.port();
    let c = reqwest::Client::new();
    let url = api.url("/api/v0/version");
    let rebound = c
        .post(&url)
        .header("host", format!("evil.example:{port}"))
        .header("origin", format!("http://evil.example:{port}"))
        .send()
        .await
        .unwrap();
    assert_eq!(rebound.status().as_u16(), 403);
    let body: serde_json::Value = rebound.json().await.unwrap();
    assert!(
        body["Message"].as_str().unwrap().contains("evil.example"),
        "{body}"
    );
    for host in [format!("localhost:{port}"), format!("127.0.0.1:{port}")] {
        let ok = c
            .post(&url)
            .header("host", host.clone())
            .send()
            .await
            .unwrap();
        assert_eq!(ok.status().as_u16(), 200, "{host}");
    }
}
