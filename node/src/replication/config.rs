//! Replication settings, each default named with its origin and its worst case. The binary
//! fills them from `[replication]` of `config.toml`.

use std::time::Duration;

use libp2p::{Multiaddr, PeerId};

/// R: copies of every root. Audius's mediorum replicates to 3 nodes in development and 4 in
/// production; 3 survives the loss of any two nodes.
pub const DEFAULT_FACTOR: usize = 3;

/// W: durable copies before an upload is acknowledged. A majority of R (mediorum waits for
/// the uploader plus one): one node may die right after the acknowledgement with no loss.
pub const DEFAULT_WRITE_QUORUM: usize = 2;

/// How long an upload waits for W copies before failing (copying goes on afterwards). A
/// holder fetches the whole DAG before it confirms: 60 s covers a 100 MB track at ~2 MB/s.
pub const DEFAULT_ACK_TIMEOUT: Duration = Duration::from_secs(60);

/// Between two repair passes (anti-entropy pull, fetch of what this node now holds, cleanup):
/// mediorum's hourly repair loop.
pub const DEFAULT_REPAIR_INTERVAL: Duration = Duration::from_secs(3600);

/// How long a node must be unreachable before the others take over its share: long enough to
/// ride out a restart or an upgrade (mediorum marks a host down after a few minutes).
pub const DEFAULT_DOWN_AFTER: Duration = Duration::from_secs(300);

/// How long an extra copy (held, no longer assigned) is kept before cleanup: mediorum's week.
pub const DEFAULT_CLEANUP_GRACE: Duration = Duration::from_secs(7 * 24 * 3600);

/// Bytes per second one node fetches for repair (0: unlimited). 20 MB/s leaves most of a
/// 1 Gbit/s link to listeners while a dead node's share (hundreds of GB) moves within a day.
pub const DEFAULT_REPAIR_BYTES_PER_SEC: u64 = 20_000_000;

/// Offers one node fetches at once for other nodes' uploads; more wait in line. Each is a DAG
/// walk through Bitswap; 8 keep a node's link busy without starving its own reads.
pub const DEFAULT_MAX_CONCURRENT_OFFERS: usize = 8;

/// Offers that may wait for a slot before new ones are refused as busy (the uploader retries
/// through repair): 256 × a few hundred bytes of state.
pub const DEFAULT_OFFER_QUEUE: usize = 256;

/// Log entries one anti-entropy response carries (each a few hundred bytes; the wire limit is
/// 1 MiB per response).
pub const DEFAULT_LOG_BATCH: usize = 1000;

/// Replication of one node's community.
#[derive(Debug, Clone)]
pub struct ReplicationConfig {
    /// The community: each node's peer id and addresses. The local node may be listed or not;
    /// it always takes part.
    pub nodes: Vec<(PeerId, Vec<Multiaddr>)>,
    /// R.
    pub factor: usize,
    /// W (at most R).
    pub write_quorum: usize,
    /// See [`DEFAULT_ACK_TIMEOUT`].
    pub ack_timeout: Duration,
    /// See [`DEFAULT_REPAIR_INTERVAL`].
    pub repair_interval: Duration,
    /// See [`DEFAULT_DOWN_AFTER`].
    pub down_after: Duration,
    /// See [`DEFAULT_CLEANUP_GRACE`].
    pub cleanup_grace: Duration,
    /// See [`DEFAULT_REPAIR_BYTES_PER_SEC`]; 0 is unlimited.
    pub repair_bytes_per_sec: u64,
    /// See [`DEFAULT_MAX_CONCURRENT_OFFERS`].
    pub max_concurrent_offers: usize,
    /// See [`DEFAULT_OFFER_QUEUE`].
    pub offer_queue: usize,
    /// See [`DEFAULT_LOG_BATCH`].
    pub log_batch: usize,
    /// Roots registered on chain join the content set (the node must follow the chain).
    pub content_from_chain: bool,
}

impl Default for ReplicationConfig {
    fn default() -> Self {
        ReplicationConfig {
            nodes: Vec::new(),
            factor: DEFAULT_FACTOR,
            write_quorum: DEFAULT_WRITE_QUORUM,
            ack_timeout: DEFAULT_ACK_TIMEOUT,
            repair_interval: DEFAULT_REPAIR_INTERVAL,
            down_after: DEFAULT_DOWN_AFTER,
            cleanup_grace: DEFAULT_CLEANUP_GRACE,
            repair_bytes_per_sec: DEFAULT_REPAIR_BYTES_PER_SEC,
            max_concurrent_offers: DEFAULT_MAX_CONCURRENT_OFFERS,
            offer_queue: DEFAULT_OFFER_QUEUE,
            log_batch: DEFAULT_LOG_BATCH,
            content_from_chain: false,
        }
    }
}

/// A setting that cannot work.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
#[non_exhaustive]
pub enum ReplicationConfigError {
    /// R is 0.
    #[error("replication.factor must be at least 1")]
    NoCopies,
    /// W is 0 or larger than R.
    #[error(
        "replication.write_quorum must be between 1 and replication.factor ({factor}), not {quorum}"
    )]
    Quorum {
        /// W.
        quorum: usize,
        /// R.
        factor: usize,
    },
}

/// A community node's address that does not parse.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
#[error("invalid community node address {addr:?}: {reason}")]
pub struct NodeAddressError {
    /// The address as given.
    pub addr: String,
    /// What is wrong.
    pub reason: &'static str,
}

/// A community node's address (`/ip4/…/tcp/…/p2p/<peer id>`): its peer id and the address to
/// dial (none if only `/p2p/<peer id>` was given).
pub fn parse_node(addr: &str) -> Result<(PeerId, Vec<Multiaddr>), NodeAddressError> {
    let error = |reason| NodeAddressError {
        addr: addr.to_owned(),
        reason,
    };
    let mut ma: Multiaddr = addr.parse().map_err(|_| error("not a multiaddr"))?;
    let Some(libp2p::multiaddr::Protocol::P2p(peer)) = ma.pop() else {
        return Err(error("it does not end in /p2p/<peer id>"));
    };
    let dial = if ma.is_empty() { Vec::new() } else { vec![ma] };
    Ok((peer, dial))
}

impl ReplicationConfig {
    /// Checks the numbers against each other.
    pub fn validate(&self) -> Result<(), ReplicationConfigError> {
        if self.factor == 0 {
            return Err(ReplicationConfigError::NoCopies);
        }
        if self.write_quorum == 0 || self.write_quorum > self.factor {
            return Err(ReplicationConfigError::Quorum {
                quorum: self.write_quorum,
                factor: self.factor,
            });
        }
        Ok(())
    }

    /// The community's peer ids with `local` among them, sorted, each once.
    pub fn node_ids(&self, local: PeerId) -> Vec<PeerId> {
        let mut ids: Vec<PeerId> = self.nodes.iter().map(|(p, _)| *p).collect();
        ids.push(local);
        ids.sort();
        ids.dedup();
        ids
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_quorum_must_fit_the_factor() {
        let mut c = ReplicationConfig::default();
        assert_eq!(c.validate(), Ok(()));
        c.write_quorum = 4;
        assert!(matches!(
            c.validate(),
            Err(ReplicationConfigError::Quorum { .. })
        ));
        c.write_quorum = 0;
        assert!(c.validate().is_err());
        c.factor = 0;
        assert_eq!(c.validate(), Err(ReplicationConfigError::NoCopies));
    }

    #[test]
    fn the_local_node_is_always_in_the_set_once() {
        let local = PeerId::random();
        let other = PeerId::random();
        let c = ReplicationConfig {
            nodes: vec![(other, vec![]), (local, vec![]), (other, vec![])],
            ..Default::default()
        };
        let ids = c.node_ids(local);
        assert_eq!(ids.len(), 2);
        assert!(ids.contains(&local) && ids.contains(&other));
    }
}
