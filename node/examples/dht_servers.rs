//! A local Kademlia DHT for benchmarking the reprovide sweep: N rust-libp2p kad servers
//! (`/ipfs/kad/1.0.0`, identify, TCP + noise + yamux) in one process on 127.0.0.1, each with
//! every other in its routing table. They count the ADD_PROVIDER records they receive instead
//! of storing them (five million keys to twenty servers would be a hundred million records),
//! and remember a 1-in-4,096 sample of keys (those whose multihash ends in a zero byte after a
//! byte below 16), so a driver can check that the sampled keys reached every server.
//!
//! ```text
//! cargo run --release -p chorus-node --example dht_servers -- 20
//! ```
//!
//! Prints `addr <multiaddr>/p2p/<id>` per server, then `ready`. Each line on stdin is a
//! command: `stats` prints one JSON object (`records`, per-server `min`/`max`, and `sampled`:
//! each sampled key in hex with the number of servers that got it); end of input stops.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use futures::StreamExt;
use libp2p::swarm::{NetworkBehaviour, SwarmEvent};
use libp2p::{Multiaddr, PeerId, Swarm, identify, kad, noise, tcp, yamux};
use tokio::io::{AsyncBufReadExt, BufReader};

/// The public DHT's protocol: the one chorus's public routing table admits loopback peers on.
const KAD_PROTOCOL: libp2p::StreamProtocol = libp2p::StreamProtocol::new("/ipfs/kad/1.0.0");

/// Connections are kept for the whole run (a sweep reuses them batch after batch).
const IDLE_TIMEOUT: Duration = Duration::from_secs(3600);

#[derive(NetworkBehaviour)]
struct Server {
    kad: kad::Behaviour<kad::store::MemoryStore>,
    identify: identify::Behaviour,
}

/// What the servers received, shared by their tasks.
#[derive(Default)]
struct Tally {
    /// ADD_PROVIDER records per server.
    records: Vec<u64>,
    /// Sampled key → servers that received it (a bit per server).
    sampled: HashMap<Vec<u8>, u64>,
}

fn sampled(key: &[u8]) -> bool {
    matches!(key, [.., a, 0] if *a < 16)
}

fn server() -> Result<Swarm<Server>, Box<dyn std::error::Error>> {
    Ok(libp2p::SwarmBuilder::with_new_identity()
        .with_tokio()
        .with_tcp(
            tcp::Config::default().nodelay(true),
            noise::Config::new,
            yamux::Config::default,
        )?
        .with_behaviour(|key| {
            let local = key.public().to_peer_id();
            let mut config = kad::Config::new(KAD_PROTOCOL);
            // Records come to us as events; the store holds nothing.
            config.set_record_filtering(kad::StoreInserts::FilterBoth);
            let mut kad =
                kad::Behaviour::with_config(local, kad::store::MemoryStore::new(local), config);
            kad.set_mode(Some(kad::Mode::Server));
            let identify = identify::Behaviour::new(identify::Config::new(
                "/ipfs/id/1.0.0".into(),
                key.public(),
            ));
            Server { kad, identify }
        })?
        .with_swarm_config(|c| c.with_idle_connection_timeout(IDLE_TIMEOUT))
        .build())
}

async fn listen(swarm: &mut Swarm<Server>) -> Result<Multiaddr, Box<dyn std::error::Error>> {
    swarm.listen_on("/ip4/127.0.0.1/tcp/0".parse()?)?;
    loop {
        if let SwarmEvent::NewListenAddr { address, .. } = swarm.select_next_some().await {
            return Ok(address);
        }
    }
}

async fn run(mut swarm: Swarm<Server>, index: usize, tally: Arc<Mutex<Tally>>) {
    loop {
        let event = swarm.select_next_some().await;
        if let SwarmEvent::Behaviour(ServerEvent::Kad(kad::Event::InboundRequest {
            request:
                kad::InboundRequest::AddProvider {
                    record: Some(record),
                },
        })) = event
        {
            let mut t = tally.lock().unwrap_or_else(|e| e.into_inner());
            t.records[index] += 1;
            if sampled(record.key.as_ref()) {
                *t.sampled.entry(record.key.to_vec()).or_default() |= 1 << index;
            }
        }
    }
}

fn stats(tally: &Tally) -> String {
    let sampled: Vec<String> = tally
        .sampled
        .iter()
        .map(|(k, bits)| {
            let hex: String = k.iter().map(|b| format!("{b:02x}")).collect();
            format!("[\"{hex}\",{}]", bits.count_ones())
        })
        .collect();
    format!(
        "{{\"records\":{},\"min\":{},\"max\":{},\"sampled\":[{}]}}",
        tally.records.iter().sum::<u64>(),
        tally.records.iter().min().unwrap_or(&0),
        tally.records.iter().max().unwrap_or(&0),
        sampled.join(",")
    )
}

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let n: usize = std::env::args()
        .nth(1)
        .map(|s| s.parse())
        .transpose()?
        .unwrap_or(20);
    if !(1..=64).contains(&n) {
        return Err("between 1 and 64 servers".into());
    }
    let mut swarms = Vec::with_capacity(n);
    let mut addrs: Vec<(PeerId, Multiaddr)> = Vec::with_capacity(n);
    for _ in 0..n {
        let mut swarm = server()?;
        let addr = listen(&mut swarm).await?;
        addrs.push((*swarm.local_peer_id(), addr));
        swarms.push(swarm);
    }
    for swarm in &mut swarms {
        for (peer, addr) in &addrs {
            if peer != swarm.local_peer_id() {
                swarm.behaviour_mut().kad.add_address(peer, addr.clone());
            }
        }
    }
    let tally = Arc::new(Mutex::new(Tally {
        records: vec![0; n],
        sampled: HashMap::new(),
    }));
    for (index, swarm) in swarms.into_iter().enumerate() {
        tokio::spawn(run(swarm, index, tally.clone()));
    }
    for (peer, addr) in &addrs {
        println!("addr {addr}/p2p/{peer}");
    }
    println!("ready");
    let mut lines = BufReader::new(tokio::io::stdin()).lines();
    while let Some(line) = lines.next_line().await? {
        if line.trim() == "stats" {
            let out = stats(&tally.lock().unwrap_or_else(|e| e.into_inner()));
            println!("{out}");
        }
    }
    Ok(())
}
