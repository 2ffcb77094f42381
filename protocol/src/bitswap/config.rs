//! Configuration of the Bitswap behaviour and the documented defaults of its bounds.

use libp2p::StreamProtocol;

use super::protocol::{MAX_MESSAGE_SIZE, all_protocols};

/// Wantlist entries kept per remote peer: boxo's `MaxQueuedWantlistEntriesPerPeer` (1024).
/// Entries beyond it are ignored, as kubo does.
pub const DEFAULT_MAX_WANTLIST_ENTRIES_PER_PEER: usize = 1024;

/// Concurrent inbound streams per connection: Helia's bitswap `maxInboundStreams` (32).
/// Helia opens a stream per message, so a lower bound would cut off its bursts; kubo keeps
/// one per peer. Past the bound the oldest idle stream is dropped. Worst case memory is 32
/// partly read frames of at most 4 MiB per connection, bounded further by connection limits.
pub const DEFAULT_MAX_INBOUND_STREAMS: usize = 32;

/// Messages queued per connection before the peer is deemed stuck and the connection closed.
/// Our own bound: the behaviour batches everything between two polls into one message per
/// peer and stops handing out server work past [`DEFAULT_MAX_OUTSTANDING_BYTES`], so a
/// healthy peer never gets near it.
pub const DEFAULT_SEND_QUEUE_CAPACITY: usize = 128;

/// Block bytes handed to a connection but not yet written, beyond which that peer gets no new
/// server work: one maximum-size message ([`MAX_MESSAGE_SIZE`]) in flight.
pub const DEFAULT_MAX_OUTSTANDING_BYTES: usize = MAX_MESSAGE_SIZE;

/// Bytes each peer may be served per round of the fair queue: one kubo default chunk
/// (256 KiB), so each waiting peer gets about one full block per round.
pub const DEFAULT_ROUND_QUANTUM: usize = 256 * 1024;

/// Cost charged for a task before its size is known: one kubo default chunk (256 KiB).
pub const DEFAULT_TASK_COST_ESTIMATE: usize = 256 * 1024;

/// Misbehaviour score at which a peer is disconnected and refused. Our own number: ten
/// unrequested or corrupt blocks, or four malformed frames.
pub const DEFAULT_BAN_THRESHOLD: u32 = 100;

/// Configuration of [`Behaviour`](super::Behaviour).
#[derive(Debug, Clone)]
#[non_exhaustive]
pub struct Config {
    /// Protocol names offered, preferred first (default: 1.2.0, 1.1.0, 1.0.0, unversioned).
    pub protocols: Vec<StreamProtocol>,
    /// See [`DEFAULT_MAX_WANTLIST_ENTRIES_PER_PEER`].
    pub max_wantlist_entries_per_peer: usize,
    /// See [`DEFAULT_MAX_INBOUND_STREAMS`].
    pub max_inbound_streams: usize,
    /// See [`DEFAULT_SEND_QUEUE_CAPACITY`].
    pub send_queue_capacity: usize,
    /// See [`DEFAULT_MAX_OUTSTANDING_BYTES`].
    pub max_outstanding_bytes: usize,
    /// See [`DEFAULT_ROUND_QUANTUM`].
    pub round_quantum: usize,
    /// See [`DEFAULT_TASK_COST_ESTIMATE`].
    pub task_cost_estimate: usize,
    /// See [`DEFAULT_BAN_THRESHOLD`].
    pub ban_threshold: u32,
    /// Send our whole wantlist (as WANT_HAVE) to every newly connected peer, as go-bitswap
    /// does with its broadcast wants (default: on).
    pub send_wantlist_to_new_peers: bool,
}

impl Default for Config {
    fn default() -> Self {
        Config {
            protocols: all_protocols(),
            max_wantlist_entries_per_peer: DEFAULT_MAX_WANTLIST_ENTRIES_PER_PEER,
            max_inbound_streams: DEFAULT_MAX_INBOUND_STREAMS,
            send_queue_capacity: DEFAULT_SEND_QUEUE_CAPACITY,
            max_outstanding_bytes: DEFAULT_MAX_OUTSTANDING_BYTES,
            round_quantum: DEFAULT_ROUND_QUANTUM,
            task_cost_estimate: DEFAULT_TASK_COST_ESTIMATE,
            ban_threshold: DEFAULT_BAN_THRESHOLD,
            send_wantlist_to_new_peers: true,
        }
    }
}

impl Config {
    /// Offers only `protocols` (e.g. to act as an old peer in tests).
    pub fn with_protocols(mut self, protocols: Vec<StreamProtocol>) -> Self {
        self.protocols = protocols;
        self
    }

    /// Sets the wantlist bound per remote peer.
    pub fn with_max_wantlist_entries_per_peer(mut self, n: usize) -> Self {
        self.max_wantlist_entries_per_peer = n;
        self
    }

    /// Sets the inbound stream bound per connection.
    pub fn with_max_inbound_streams(mut self, n: usize) -> Self {
        self.max_inbound_streams = n;
        self
    }

    /// Sets the send queue bound per connection.
    pub fn with_send_queue_capacity(mut self, n: usize) -> Self {
        self.send_queue_capacity = n;
        self
    }

    /// Sets the outstanding block bytes per peer before it gets no new server work.
    pub fn with_max_outstanding_bytes(mut self, n: usize) -> Self {
        self.max_outstanding_bytes = n;
        self
    }

    /// Sets the fair queue's per-round quantum and per-task estimate.
    pub fn with_fair_queue(mut self, round_quantum: usize, task_cost_estimate: usize) -> Self {
        self.round_quantum = round_quantum;
        self.task_cost_estimate = task_cost_estimate;
        self
    }

    /// Sets the misbehaviour score that gets a peer disconnected.
    pub fn with_ban_threshold(mut self, score: u32) -> Self {
        self.ban_threshold = score;
        self
    }

    /// Whether to send our wantlist to newly connected peers.
    pub fn with_send_wantlist_to_new_peers(mut self, on: bool) -> Self {
        self.send_wantlist_to_new_peers = on;
        self
    }
}
