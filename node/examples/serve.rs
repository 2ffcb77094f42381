//! A minimal node without the CLI: opens (or creates) a sled repo, serves the RPC API, the
//! gateway and metrics on loopback ports chosen by the OS, prints their multiaddrs, and runs
//! until stdin closes. Handy for poking the HTTP faces with real clients:
//!
//! ```text
//! cargo run -p chorus-node --example serve -- /tmp/chorus-example-repo 0.7.0
//! ```

use std::sync::Arc;

use chorus_node::gateway::{self, GatewayConfig};
use chorus_node::rpc::{self, ApiConfig};
use chorus_node::{
    HttpServer, NodeContext, NodeIdentity, NodeMetrics, metrics_router, socket_to_multiaddr,
};
use chorus_storage::{Blockstore, SledStore};
use prometheus_client::registry::Registry;
use tokio::io::AsyncReadExt;
use tokio::sync::watch;

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let mut args = std::env::args().skip(1);
    let repo_dir = args
        .next()
        .ok_or("usage: serve <repo-dir> [reported-version]")?;
    let version = args.next();

    let repo = SledStore::open(&repo_dir)?;
    let mut registry = Registry::default();
    let metrics = NodeMetrics::register(&mut registry);
    let key = libp2p::identity::Keypair::generate_ed25519();
    let mut identity = NodeIdentity::new(key.public(), repo_dir.into());
    if let Some(v) = version {
        identity = identity.with_reported_version(v);
    }
    let ctx = NodeContext::new(repo.clone(), identity, metrics, Arc::new(registry))?;

    let loopback = "127.0.0.1:0".parse()?;
    let servers = [
        (
            "api",
            HttpServer::bind(loopback, rpc::router(ctx.clone(), ApiConfig::default())).await?,
        ),
        (
            "gateway",
            HttpServer::bind(
                loopback,
                gateway::router(ctx.clone(), GatewayConfig::default()),
            )
            .await?,
        ),
        (
            "metrics",
            HttpServer::bind(loopback, metrics_router(ctx.clone())).await?,
        ),
    ];
    let (stop_tx, stop_rx) = watch::channel(false);
    let mut tasks = Vec::new();
    for (name, server) in servers {
        println!("{name} {}", socket_to_multiaddr(server.local_addr()));
        let mut rx = stop_rx.clone();
        tasks.push(tokio::spawn(server.serve(async move {
            let _ = rx.wait_for(|stop| *stop).await;
        })));
    }
    ctx.set_ready(true);
    println!("ready");

    // Run until stdin reaches EOF (the driving process exits or closes the pipe).
    let mut sink = Vec::new();
    tokio::io::stdin().read_to_end(&mut sink).await?;
    ctx.set_ready(false);
    let _ = stop_tx.send(true);
    for t in tasks {
        t.await??;
    }
    repo.flush()?;
    Ok(())
}
