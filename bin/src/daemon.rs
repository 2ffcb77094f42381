//! `chorus daemon`: the node's main job. Opens the repo, serves the RPC API, the gateway and
//! the metrics listener, and shuts down cleanly on SIGINT/SIGTERM.
//!
//! Start-up order matters to clients: every listener is bound before `<repo>/api` is written
//! and `Daemon is ready` printed, so a client that sees either can connect at once. On
//! shutdown the listeners stop accepting, in-flight requests get [`SHUTDOWN_GRACE`] to finish,
//! the store is flushed, and `<repo>/api` is removed.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use anyhow::{Context, Result, bail};
use chorus_node::auto_gc::AutoGc;
use chorus_node::core::CoreBuilder;
use chorus_node::network::{
    AutonatConfig, KadMode, Network, NetworkConfig, NetworkMetrics, ReprovideConfig, reprovide,
};
use chorus_node::{
    HttpLimits, HttpServer, ListenAddr, NodeContext, NodeIdentity, NodeMetrics, SwarmInfo,
    check_api_bind, gateway, metrics_router, rpc,
};
use chorus_storage::Blockstore;
use chorus_transcoder::PoolMetrics;
use libp2p::Multiaddr;
use prometheus_client::registry::Registry;
use tokio::sync::watch;

use crate::cli::DaemonArgs;
use crate::config::Config;
use crate::config_edit::ConfigFile;
use crate::repo::RepoPaths;
use crate::track::{DaemonTracks, TrackPipeline};
use chorus_chain::PrivateKeySigner;
use chorus_node::onchain::OnChain;
use chorus_node::replication::{Replication, ReplicationConfig, ReplicationMetrics};

/// How long in-flight requests may run after a shutdown signal before they are cut.
const SHUTDOWN_GRACE: Duration = Duration::from_secs(10);
/// Directory under the repo for `track/add` uploads and transcodes in progress; emptied at
/// start-up (leftovers of a killed daemon), on the repo's file system so large uploads do not
/// fill a small `/tmp`.
const TRACK_WORK_DIR: &str = "tmp";

/// Listen addresses after flags override the config.
struct Addrs {
    api: ListenAddr,
    gateway: ListenAddr,
    metrics: Option<ListenAddr>,
}

fn parse_addr(value: &str, what: &str) -> Result<ListenAddr> {
    value
        .parse()
        .with_context(|| format!("invalid {what} address {value:?}"))
}

fn addrs(config: &Config, args: &DaemonArgs) -> Result<Addrs> {
    let api = parse_addr(
        args.api_addr.as_deref().unwrap_or(&config.api.address),
        "API",
    )?;
    let gateway = parse_addr(
        args.gateway_addr
            .as_deref()
            .unwrap_or(&config.gateway.address),
        "gateway",
    )?;
    let metrics_value = args
        .metrics_addr
        .as_deref()
        .unwrap_or(&config.metrics.address);
    let metrics = if metrics_value.is_empty() {
        None
    } else {
        Some(parse_addr(metrics_value, "metrics")?)
    };
    Ok(Addrs {
        api,
        gateway,
        metrics,
    })
}

pub fn run(paths: &RepoPaths, args: DaemonArgs) -> Result<()> {
    paths.ensure_initialized()?;
    let config = paths.load_config()?;
    let key = paths.load_identity()?;
    let addrs = addrs(&config, &args)?;
    check_api_bind(
        addrs.api.socket_addr(),
        !config.api.auth_token.is_empty(),
        config.api.allow_unauthenticated_remote,
    )?;
    let store = crate::store::open(paths)?;

    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .thread_name("chorus")
        .build()
        .context("cannot start the async runtime")?;
    // Parse the network and replication settings before anything binds, so a typo fails fast.
    let chain = chain_service(paths, &config)?;
    let mut replication = config.replication.to_config()?;
    if replication.is_some()
        && (config.replication.content_from_chain || config.replication.nodes_from_chain)
        && !chain.0.config().follows()
    {
        bail!(
            "replication.content_from_chain and nodes_from_chain need a chain to follow: set chain.rpc_url, chain.chain_id and chain.content_registry"
        );
    }
    if let Some(r) = replication.as_mut()
        && config.replication.nodes_from_chain
    {
        let registered = runtime
            .block_on(chain.0.registered_nodes())
            .map_err(anyhow::Error::msg)
            .context("replication.nodes_from_chain: cannot read the NodeRegistry")?;
        add_registered_nodes(r, &registered)?;
    }
    if replication.is_some() && args.offline {
        bail!("replication.enabled needs the network: drop --offline or turn replication off");
    }
    let local = key.public().to_peer_id();
    let network = if args.offline {
        None
    } else {
        Some(Online {
            network: network_config(&config, &args.swarm_addrs, local, replication.as_ref())?,
            replication,
        })
    };
    let auto_gc = auto_gc(&config, args.enable_gc)?;
    let services = Services {
        online: network,
        auto_gc,
        chain,
    };
    let result = runtime.block_on(serve(paths, &config, key, store.clone(), addrs, services));
    // Whatever happened, leave the store durable and the api file gone.
    let flushed = store.flush().context("cannot flush the store on shutdown");
    let _ = std::fs::remove_file(paths.api_file());
    runtime.shutdown_timeout(SHUTDOWN_GRACE);
    result.and(flushed)
}

/// The chain service: `[chain]`, the chain database in the repo and the operator wallet
/// (none yet: signed uploads are verified and queued, not relayed).
fn chain_service(
    paths: &RepoPaths,
    config: &Config,
) -> Result<(OnChain, Option<PrivateKeySigner>)> {
    let settings = config.chain.to_config()?;
    let chain = OnChain::open(paths.root(), settings).context("cannot open the chain database")?;
    let operator = match chorus_chain::wallet::load(paths.root()) {
        Ok(key) => Some(key),
        Err(chorus_chain::wallet::WalletError::Missing(_)) => None,
        Err(e) => return Err(e).context("cannot read the operator wallet"),
    };
    Ok((chain, operator))
}

/// Adds the NodeRegistry's members to the community (each address completed with
/// `/p2p/<peer id>`; a node listed in both places keeps every address).
fn add_registered_nodes(
    config: &mut ReplicationConfig,
    registered: &[chorus_chain::nodes::RegisteredNode],
) -> Result<()> {
    for node in registered {
        let addrs: Vec<String> = if node.multiaddrs.is_empty() {
            vec![format!("/p2p/{}", node.peer_id)]
        } else {
            node.multiaddrs
                .iter()
                .map(|a| chorus_chain::nodes::with_peer(a, &node.peer_id))
                .collect()
        };
        for addr in addrs {
            let (peer, dials) = chorus_node::replication::config::parse_node(&addr)
                .with_context(|| format!("NodeRegistry entry of operator {}", node.operator))?;
            match config.nodes.iter_mut().find(|(p, _)| *p == peer) {
                Some((_, known)) => {
                    for d in dials {
                        if !known.contains(&d) {
                            known.push(d);
                        }
                    }
                }
                None => config.nodes.push((peer, dials)),
            }
        }
    }
    Ok(())
}

/// What the daemon runs besides its store and listeners, parsed before anything binds.
struct Services {
    /// The network (and replication on it), unless `--offline`.
    online: Option<Online>,
    /// Automatic GC, when enabled.
    auto_gc: Option<AutoGc>,
    /// The chain service and the operator wallet it relays with.
    chain: (OnChain, Option<PrivateKeySigner>),
}

/// What runs when the daemon is online: the network, and replication on it when enabled.
struct Online {
    network: NetworkConfig,
    replication: Option<ReplicationConfig>,
}

async fn serve(
    paths: &RepoPaths,
    config: &Config,
    key: libp2p::identity::Keypair,
    store: chorus_storage::SledStore,
    addrs: Addrs,
    services: Services,
) -> Result<()> {
    let Services {
        online,
        auto_gc,
        chain: (chain, operator),
    } = services;
    let mut registry = Registry::default();
    let metrics = NodeMetrics::register(&mut registry);
    chain.metrics().register(&mut registry);
    let (network_config, replication) = match online {
        Some(online) => (Some(online.network), online.replication),
        None => (None, None),
    };
    // Replication's families, and the channel its requests arrive on, before the network.
    let replication = replication.map(|c| {
        let (wire, inbound) = chorus_node::replication::wire(&c);
        (
            c,
            wire,
            inbound,
            ReplicationMetrics::register(&mut registry),
        )
    });
    // Every family (ours and the network's) is registered before the registry is shared.
    // Queued provider records survive a restart in the repo.
    let network_config = network_config.map(|c| {
        let c = c
            .with_metrics(NetworkMetrics::register(&mut registry))
            .with_provide_queue_dir(paths.root().join("provide-queue"))
            .with_reprovide_pins(store.pins().clone());
        match &replication {
            Some((_, wire, _, _)) => c.with_replication(wire.clone()),
            None => c,
        }
    });
    let track_work = paths.root().join(TRACK_WORK_DIR);
    if let Err(e) = std::fs::remove_dir_all(&track_work)
        && e.kind() != std::io::ErrorKind::NotFound
    {
        tracing::warn!(dir = %track_work.display(), error = %e, "cannot clear old track uploads");
    }
    let tracks = TrackPipeline::new(
        config.transcode.clone(),
        config.import.clone(),
        // Under `chorus_` like every family of the node's.
        PoolMetrics::register(registry.sub_registry_with_prefix(chorus_node::METRIC_PREFIX)),
        track_work.clone(),
    )?;
    chorus_node::register_runtime_metrics(
        &mut registry,
        paths.root().to_path_buf(),
        env!("CARGO_PKG_VERSION"),
        env!("CHORUS_COMMIT"),
    );
    let registry = Arc::new(registry);
    let identity = NodeIdentity::new(key.public(), paths.root().to_path_buf())
        .with_storage_max(config.datastore.storage_max_bytes)
        .with_reported_version(config.api.reported_version.clone());
    // The core is built complete: the network starts on its store first, then both are
    // handed to it together with the transcoder.
    let core = CoreBuilder::new(store, metrics)
        .context("cannot read the store's statistics")?
        .list_limits(config.limits.list())
        .track_service(Arc::new(DaemonTracks::new(tracks, track_work)))
        .config_service(Arc::new(ConfigFile::new(paths.config())))
        .chain(chain.clone());
    let mut replicating = None;
    let (core, network, swarm) = if let Some(net_config) = network_config {
        let network = Network::start(key.clone(), core.store(), net_config)
            .await
            .context("cannot start the libp2p network")?;
        let info = network
            .handle()
            .swarm_info()
            .await
            .context("the network did not report its addresses")?;
        for addr in &info.addresses {
            println!("Swarm listening on {addr}");
        }
        let mut core = core.network(Arc::new(network.fetcher()), network.handle());
        if let Some((config, _, inbound, metrics)) = replication {
            let r = Replication::open(
                config,
                key.clone(),
                &paths.root().join("replication"),
                network.handle(),
                metrics,
            )
            .context("cannot start replication")?;
            core = core.replication(r.clone());
            replicating = Some((r, inbound));
        }
        (core, Some(network), info)
    } else {
        (core, None, SwarmInfo::default())
    };
    let ctx = NodeContext::from_core(core.build(), identity, registry, swarm);
    chain
        .start(ctx.core().clone(), operator)
        .map_err(anyhow::Error::msg)
        .context("cannot start the chain service")?;
    // The replication worker lives as long as this function.
    let _replication_worker =
        replicating.map(|(r, inbound)| AbortOnDrop(r.spawn_worker(ctx.core().clone(), inbound)));

    let mut api_config = rpc::ApiConfig::default()
        .with_allow_get(config.api.allow_get)
        .with_allow_unauthenticated_public(config.api.allow_unauthenticated_remote)
        .with_upload_limits(config.limits.upload());
    if !config.api.auth_token.is_empty() {
        api_config = api_config.with_bearer_token(config.api.auth_token.clone());
    }
    let http_limits = config.limits.http();
    let api = bind(
        addrs.api.socket_addr(),
        rpc::router(ctx.clone(), api_config),
        http_limits,
        "API",
    )
    .await?;
    let gw = bind(
        addrs.gateway.socket_addr(),
        gateway::router(
            ctx.clone(),
            gateway::GatewayConfig::default()
                .with_max_concurrent_requests(config.gateway.max_concurrent_requests)
                .with_hls_segments_ahead(config.gateway.hls_segments_ahead)
                .with_rate_limit(gateway_rate_limit(&config.gateway)),
        ),
        http_limits,
        "gateway",
    )
    .await?;
    let metrics_server = match addrs.metrics {
        Some(a) => Some(
            bind(
                a.socket_addr(),
                metrics_router(ctx.clone()),
                http_limits,
                "metrics",
            )
            .await?,
        ),
        None => None,
    };

    let api_ma = chorus_node::socket_to_multiaddr(api.local_addr());
    write_api_file(paths, &api_ma.to_string())?;
    println!("API server listening on {api_ma}");
    println!(
        "Gateway server listening on {}",
        chorus_node::socket_to_multiaddr(gw.local_addr())
    );
    if let Some(m) = &metrics_server {
        println!(
            "Metrics server listening on {}",
            chorus_node::socket_to_multiaddr(m.local_addr())
        );
    }

    let (stop_tx, stop_rx) = watch::channel(false);
    let mut tasks = tokio::task::JoinSet::new();
    for server in [Some(api), Some(gw), metrics_server].into_iter().flatten() {
        let mut rx = stop_rx.clone();
        tasks.spawn(server.serve(async move {
            let _ = rx.wait_for(|stop| *stop).await;
        }));
    }
    // Automatic GC lives as long as this function: dropped (aborted) on the way out.
    let _auto_gc = auto_gc.map(|config| {
        AbortOnDrop(tokio::spawn(chorus_node::auto_gc::run(
            ctx.core().clone(),
            config,
        )))
    });
    ctx.set_ready(true);
    println!("Daemon is ready");
    use std::io::Write;
    let _ = std::io::stdout().flush();

    // Run until a signal, or until a listener fails.
    let first_failure = tokio::select! {
        signal = shutdown_signal() => {
            signal?;
            None
        }
        Some(done) = tasks.join_next() => Some(done),
    };
    ctx.set_ready(false);
    eprintln!("Received interrupt signal, shutting down...");
    let _ = stop_tx.send(true);
    let drain = async {
        let mut errors = Vec::new();
        if let Some(done) = first_failure {
            errors.push(done);
        }
        while let Some(done) = tasks.join_next().await {
            errors.push(done);
        }
        errors
    };
    match tokio::time::timeout(SHUTDOWN_GRACE, drain).await {
        Ok(results) => {
            for r in results {
                r.context("a listener task panicked")?
                    .context("a listener failed")?;
            }
        }
        Err(_) => {
            tracing::warn!(
                "in-flight requests did not finish within {SHUTDOWN_GRACE:?}; aborting them"
            );
        }
    }
    if let Some(network) = network {
        network.shutdown().await;
    }
    Ok(())
}

/// The network settings: `[swarm]` of the config, `--swarm-addr` replacing its listen list;
/// the community nodes of `[replication]` join the peering peers (kept connected).
fn network_config(
    config: &Config,
    swarm_addrs: &[String],
    local: libp2p::PeerId,
    replication: Option<&ReplicationConfig>,
) -> Result<NetworkConfig> {
    let parse = |list: &[String], what: &str| -> Result<Vec<Multiaddr>> {
        list.iter()
            .map(|a| {
                a.parse::<Multiaddr>()
                    .with_context(|| format!("invalid {what} multiaddr {a:?}"))
            })
            .collect()
    };
    let listen = if swarm_addrs.is_empty() {
        parse(&config.swarm.listen, "swarm.listen")?
    } else {
        parse(swarm_addrs, "--swarm-addr")?
    };
    let kad_mode = match config.swarm.routing.as_str() {
        "auto" | "dht" => KadMode::Auto,
        "dhtclient" => KadMode::Client,
        "dhtserver" => KadMode::Server,
        // kubo's `none`: no DHT at all.
        "none" => KadMode::Disabled,
        other => bail!("invalid swarm.routing {other:?} (auto, dht, dhtclient, dhtserver or none)"),
    };
    let net = NetworkConfig::default()
        .with_listen(listen)
        .with_bootstrap(parse(&config.swarm.bootstrap, "swarm.bootstrap")?)
        .with_peering(
            peering(
                replication,
                local,
                parse(&config.swarm.peering, "swarm.peering")?,
            ),
            chorus_node::network::peering::DEFAULT_PEERING_INITIAL_BACKOFF,
        )
        .with_fetch_timeout(Duration::from_secs(config.swarm.fetch_timeout_secs.max(1)))
        .with_reprovide(ReprovideConfig::new(
            reprovide::parse_interval(&config.swarm.reprovide_interval)
                .context("invalid swarm.reprovide_interval")?,
            config
                .swarm
                .reprovide_strategy
                .parse()
                .context("invalid swarm.reprovide_strategy")?,
        ))
        .with_autonat(AutonatConfig::default().with_enabled(config.swarm.autonat))
        .with_kad_mode(kad_mode);
    Ok(net)
}

/// `swarm.peering` plus every other community node of `[replication]` when it is on.
fn peering(
    replication: Option<&ReplicationConfig>,
    local: libp2p::PeerId,
    mut peers: Vec<Multiaddr>,
) -> Vec<Multiaddr> {
    let nodes = replication.map_or(&[][..], |r| &r.nodes[..]);
    for (peer, dial) in nodes {
        let Some(dial) = dial.first() else {
            continue;
        };
        let full = dial.clone().with(libp2p::multiaddr::Protocol::P2p(*peer));
        if *peer != local && !peers.contains(&full) {
            peers.push(full);
        }
    }
    peers
}

/// The gateway's per-address rate, when `gateway.rate_limit_per_ip` is not 0.
fn gateway_rate_limit(config: &crate::config::GatewayConfig) -> Option<gateway::RateLimit> {
    let per_second = std::num::NonZeroU32::new(config.rate_limit_per_ip)?;
    let burst = std::num::NonZeroU32::new(config.rate_limit_burst.max(1))?;
    Some(gateway::RateLimit { per_second, burst })
}

/// Automatic GC when `--enable-gc` or `datastore.auto_gc` asks for it.
fn auto_gc(config: &Config, flag: bool) -> Result<Option<AutoGc>> {
    if !(flag || config.datastore.auto_gc) {
        return Ok(None);
    }
    let period =
        chorus_node::go_duration::parse(&config.datastore.gc_period).with_context(|| {
            format!(
                "invalid datastore.gc_period {:?}",
                config.datastore.gc_period
            )
        })?;
    if period.is_zero() {
        bail!("datastore.gc_period must be longer than 0 when automatic GC is on");
    }
    Ok(Some(AutoGc {
        period,
        storage_max: config.datastore.storage_max_bytes,
        watermark_percent: config.datastore.storage_gc_watermark,
    }))
}

/// Aborts its task when dropped.
struct AbortOnDrop(tokio::task::JoinHandle<()>);

impl Drop for AbortOnDrop {
    fn drop(&mut self) {
        self.0.abort();
    }
}

async fn bind(
    addr: SocketAddr,
    router: axum::Router,
    limits: HttpLimits,
    what: &str,
) -> Result<HttpServer> {
    Ok(HttpServer::bind(addr, router)
        .await
        .with_context(|| format!("cannot listen for the {what} on {addr}"))?
        .with_limits(limits))
}

fn write_api_file(paths: &RepoPaths, multiaddr: &str) -> Result<()> {
    let path = paths.api_file();
    let tmp = path.with_extension("tmp");
    std::fs::write(&tmp, multiaddr)
        .and_then(|()| std::fs::rename(&tmp, &path))
        .with_context(|| format!("cannot write {}", path.display()))
}

/// Resolves on SIGINT or SIGTERM.
async fn shutdown_signal() -> Result<()> {
    use tokio::signal::unix::{SignalKind, signal};
    let mut term = signal(SignalKind::terminate()).context("cannot install SIGTERM handler")?;
    let mut int = signal(SignalKind::interrupt()).context("cannot install SIGINT handler")?;
    tokio::select! {
        _ = term.recv() => {}
        _ = int.recv() => {}
    }
    Ok(())
}
