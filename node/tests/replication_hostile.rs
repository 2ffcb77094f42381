//! The replication protocol against peers that misbehave: a node outside the community, a
//! member offering forged or tampered log entries, oversize requests. Each is refused and
//! nothing is applied; the node keeps answering. And a well-formed offer from a member is
//! fetched over Bitswap, pinned, and only then confirmed.

#![allow(clippy::result_large_err)]

use std::sync::Arc;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use chorus_node::NodeMetrics;
use chorus_node::core::{Core, CoreBuilder};
use chorus_node::network::replication_wire::RequestError;
use chorus_node::network::{Network, NetworkConfig};
use chorus_node::replication::wire::{Request, Response};
use chorus_node::replication::{
    ContentLog, LogEntry, Replication, ReplicationConfig, ReplicationMetrics,
};
use chorus_protocol::unixfs::{ImportOptions, import_bytes};
use chorus_storage::{Blockstore, Cid, MemoryRepo, MemoryStore, PinMode};
use libp2p::identity::Keypair;
use libp2p::{Multiaddr, PeerId};
use prometheus_client::registry::Registry;

/// Bounds any one exchange so a broken test fails instead of hanging.
const HANG_GUARD: Duration = Duration::from_secs(60);

/// A community node: core on a memory repo, network, replication and its worker.
struct Member {
    core: Core,
    net: Network,
    replication: Replication,
}

impl Member {
    async fn start(key: Keypair, community: Vec<PeerId>) -> Member {
        let config = ReplicationConfig {
            nodes: community.into_iter().map(|p| (p, Vec::new())).collect(),
            factor: 2,
            write_quorum: 1,
            ack_timeout: Duration::from_secs(20),
            ..ReplicationConfig::default()
        };
        let metrics = NodeMetrics::register(&mut Registry::default());
        let builder = CoreBuilder::new(MemoryRepo::new(), metrics).unwrap();
        let (wire, inbound) = chorus_node::replication::wire(&config);
        let net = Network::start(
            key.clone(),
            builder.store(),
            NetworkConfig::loopback().with_replication(wire),
        )
        .await
        .unwrap();
        let replication = Replication::with_log(
            config,
            key,
            ContentLog::temporary().unwrap(),
            net.handle(),
            ReplicationMetrics::unregistered(),
        );
        let core = builder
            .network(Arc::new(net.fetcher()), net.handle())
            .replication(replication.clone())
            .build();
        replication.spawn_worker(core.clone(), inbound);
        Member {
            core,
            net,
            replication,
        }
    }

    async fn addr(&self) -> Multiaddr {
        self.net
            .dial_addrs()
            .await
            .unwrap()
            .into_iter()
            .find(|a| a.to_string().contains("/tcp/"))
            .unwrap()
    }
}

/// A raw peer speaking the protocol (its own inbound requests are dropped), with a store.
struct Raw {
    net: Network,
    store: Arc<dyn Blockstore>,
    _inbound: chorus_node::replication::Inbound,
}

impl Raw {
    async fn start(key: Keypair) -> Raw {
        let (wire, inbound) = chorus_node::replication::wire(&ReplicationConfig::default());
        let store: Arc<dyn Blockstore> = Arc::new(MemoryStore::new());
        let net = Network::start(
            key,
            store.clone(),
            NetworkConfig::loopback().with_replication(wire),
        )
        .await
        .unwrap();
        Raw {
            net,
            store,
            _inbound: inbound,
        }
    }

    async fn ask(&self, to: PeerId, request: Request) -> Result<Response, RequestError> {
        tokio::time::timeout(
            HANG_GUARD,
            self.net.handle().replication_request(to, request),
        )
        .await
        .expect("no answer within the hang guard")
    }
}

fn now() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_secs()
}

/// A file's blocks in `store`; its root.
fn import(store: &dyn Blockstore, len: usize) -> Cid {
    let data: Vec<u8> = (0..len).map(|i| (i * 31 % 251) as u8).collect();
    let (summary, blocks) = import_bytes(&ImportOptions::default(), &data).unwrap();
    for block in &blocks {
        store.put(block).unwrap();
    }
    summary.root
}

fn refused(answer: Result<Response, RequestError>) -> String {
    match answer {
        Ok(Response::Refused { reason }) => reason,
        other => panic!("expected a refusal, got {other:?}"),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn hostile_requests_are_refused_and_a_member_offer_is_pinned_before_it_is_confirmed() {
    let member_key = Keypair::generate_ed25519();
    let friend_key = Keypair::generate_ed25519();
    let community = vec![
        member_key.public().to_peer_id(),
        friend_key.public().to_peer_id(),
    ];
    let member = Member::start(member_key.clone(), community).await;
    let member_id = member_key.public().to_peer_id();
    let friend = Raw::start(friend_key.clone()).await;
    let stranger_key = Keypair::generate_ed25519();
    let stranger = Raw::start(stranger_key.clone()).await;
    let addr = member.addr().await;
    friend.net.handle().connect(addr.clone()).await.unwrap();
    stranger.net.handle().connect(addr).await.unwrap();

    // A node outside the community gets nothing, not even the log.
    let reason = refused(stranger.ask(member_id, Request::Log { since: 0 }).await);
    assert!(reason.contains("not a community node"), "{reason}");

    // A member relaying an entry signed by a stranger's key: refused, not applied.
    let root = import(&*friend.store, 300_000);
    let forged = LogEntry::sign(&stranger_key, &root, 300_000, now(), false)
        .unwrap()
        .entry;
    let reason = refused(
        friend
            .ask(member_id, Request::Offer { entry: forged })
            .await,
    );
    assert!(reason.contains("not a community node"), "{reason}");
    // An entry of the friend's with its size changed after signing: refused.
    let mut tampered = LogEntry::sign(&friend_key, &root, 300_000, now(), false)
        .unwrap()
        .entry;
    tampered.size = 1;
    let reason = refused(
        friend
            .ask(member_id, Request::Offer { entry: tampered })
            .await,
    );
    assert!(reason.contains("signature"), "{reason}");
    assert_eq!(
        member.replication.overview().log_entries,
        0,
        "nothing applied"
    );
    assert_eq!(member.core.repo().pins().get(&root).unwrap(), None);

    // Too many roots in one holdings query: refused by the worker.
    let many = vec![root.to_bytes(); 300];
    let reason = refused(friend.ask(member_id, Request::Holds { roots: many }).await);
    assert!(reason.contains("too many roots"), "{reason}");
    // A request over the protocol's 64 KiB bound: the codec refuses to read it.
    let huge = vec![vec![0u8; 1024]; 100];
    let answer = friend.ask(member_id, Request::Holds { roots: huge }).await;
    assert!(answer.is_err(), "an oversize request got {answer:?}");

    // The node still answers, and a member's genuine offer is fetched from the member over
    // Bitswap and pinned before the confirmation arrives.
    let entry = LogEntry::sign(&friend_key, &root, 300_000, now(), false)
        .unwrap()
        .entry;
    let answer = friend
        .ask(member_id, Request::Offer { entry })
        .await
        .unwrap();
    assert_eq!(answer, Response::Held);
    assert_eq!(
        member.core.repo().pins().get(&root).unwrap(),
        Some(PinMode::Recursive),
        "confirmed means pinned"
    );
    assert_eq!(member.replication.overview().log_entries, 1);
    let answer = friend
        .ask(
            member_id,
            Request::Holds {
                roots: vec![root.to_bytes(), import(&MemoryStore::new(), 10).to_bytes()],
            },
        )
        .await
        .unwrap();
    assert_eq!(
        answer,
        Response::Holding {
            held: vec![true, false]
        }
    );
    // The log page carries the entry, which verifies.
    let Response::Entries { entries, next } = friend
        .ask(member_id, Request::Log { since: 0 })
        .await
        .unwrap()
    else {
        panic!("no log page");
    };
    assert_eq!((entries.len(), next), (1, 1));
    assert_eq!(entries[0].clone().verify().unwrap().root, root);
}
