//! A minimal client for the Kademlia wire's ADD_PROVIDER: kad's own behaviour can only
//! announce a key after its own closest-peers lookup, but the sweep already knows the peers,
//! so it opens a stream on the DHT's protocol (`/ipfs/kad/1.0.0` or `/ipfs/lan/kad/1.0.0`)
//! itself and writes many records on it.
//!
//! Framing (the DHT spec, as go-libp2p-kad-dht and rust-libp2p speak it): each message is an
//! unsigned-varint length followed by a protobuf `Message { type = ADD_PROVIDER (2) (field 1),
//! key (field 2), providerPeers (field 9): [Peer { id (1), addrs (2) }] }`. ADD_PROVIDER has
//! no response, and servers read several messages from one stream (rust-libp2p waits for the
//! next message; go-libp2p-kad-dht loops over the stream).

use std::time::Duration;

use futures::AsyncWriteExt;
use libp2p::{Multiaddr, PeerId, StreamProtocol};
use libp2p_stream::Control;

use crate::network::kad_wire::ADD_PROVIDER;
pub use crate::network::kad_wire::MAX_MESSAGE_BYTES;

/// How long opening a stream (including a dial) and writing one peer's batch may take: the
/// DHT's own request timeout is 10 s (rust-libp2p's `substreams_timeout`); a batch of a few
/// thousand records is larger than one request, so we allow 30 s. Our own number.
pub const DEFAULT_SEND_TIMEOUT: Duration = Duration::from_secs(30);

/// Who provides: our peer id and the addresses to reach us.
#[derive(Debug, Clone)]
pub struct ProviderInfo {
    /// Our peer id (servers drop records whose provider is not the sender).
    pub peer: PeerId,
    /// Our announced addresses (kubo ignores records without them).
    pub addrs: Vec<Multiaddr>,
}

/// Why a batch did not reach a peer.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum SendError {
    /// The peer could not be reached or does not speak the protocol.
    #[error("cannot open {protocol} to {peer}: {reason}")]
    Open {
        /// The peer.
        peer: PeerId,
        /// The DHT protocol.
        protocol: StreamProtocol,
        /// What failed.
        reason: String,
    },
    /// Writing failed part-way.
    #[error("writing to {peer} failed: {reason}")]
    Write {
        /// The peer.
        peer: PeerId,
        /// What failed.
        reason: String,
    },
    /// The whole exchange took longer than allowed.
    #[error("{peer} did not take the batch within {timeout:?}")]
    Timeout {
        /// The peer.
        peer: PeerId,
        /// The bound.
        timeout: Duration,
    },
}

/// Protobuf field keys and lengths, and the message's length prefix: all unsigned varints
/// (one encoding for both; only decoders differ on what else they accept).
fn put_varint(n: u64, out: &mut Vec<u8>) {
    out.extend_from_slice(unsigned_varint::encode::u64(
        n,
        &mut unsigned_varint::encode::u64_buffer(),
    ));
}

fn put_bytes_field(field: u64, bytes: &[u8], out: &mut Vec<u8>) {
    put_varint(field << 3 | 2, out);
    put_varint(bytes.len() as u64, out);
    out.extend_from_slice(bytes);
}

/// The encoded `Peer` of `provider`.
pub fn encode_peer(provider: &ProviderInfo) -> Vec<u8> {
    let mut peer = Vec::new();
    put_bytes_field(1, &provider.peer.to_bytes(), &mut peer);
    for addr in &provider.addrs {
        put_bytes_field(2, &addr.to_vec(), &mut peer);
    }
    peer
}

/// Appends one length-prefixed ADD_PROVIDER message for `key` (multihash bytes) to `out`,
/// with `peer` from [`encode_peer`]. Returns `false` (nothing appended) when the message
/// would exceed [`MAX_MESSAGE_BYTES`].
pub fn encode_add_provider(key: &[u8], peer: &[u8], out: &mut Vec<u8>) -> bool {
    let mut msg = Vec::with_capacity(key.len() + peer.len() + 8);
    put_varint(1 << 3, &mut msg);
    put_varint(ADD_PROVIDER, &mut msg);
    put_bytes_field(2, key, &mut msg);
    put_bytes_field(9, peer, &mut msg);
    if msg.len() > MAX_MESSAGE_BYTES {
        return false;
    }
    put_varint(msg.len() as u64, out);
    out.extend_from_slice(&msg);
    true
}

/// Sends one ADD_PROVIDER per key of `keys` to `peer` on one stream of `protocol`, then
/// closes it. Cancel-safe in the sense that dropping the future drops the stream (the peer
/// keeps the records it read).
pub async fn send_batch(
    control: &mut Control,
    peer: PeerId,
    protocol: StreamProtocol,
    keys: &[Vec<u8>],
    provider_peer: &[u8],
    timeout: Duration,
) -> Result<(), SendError> {
    let mut payload = Vec::with_capacity(keys.len() * (provider_peer.len() + 48));
    for key in keys {
        encode_add_provider(key, provider_peer, &mut payload);
    }
    let exchange = async {
        let mut stream = control
            .open_stream(peer, protocol.clone())
            .await
            .map_err(|e| SendError::Open {
                peer,
                protocol: protocol.clone(),
                reason: e.to_string(),
            })?;
        let write = |e: std::io::Error| SendError::Write {
            peer,
            reason: e.to_string(),
        };
        stream.write_all(&payload).await.map_err(write)?;
        stream.flush().await.map_err(write)?;
        stream.close().await.map_err(write)?;
        Ok(())
    };
    tokio::time::timeout(timeout, exchange)
        .await
        .map_err(|_| SendError::Timeout { peer, timeout })?
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn varints_are_leb128() {
        for (n, bytes) in [
            (0u64, vec![0u8]),
            (1, vec![1]),
            (127, vec![0x7f]),
            (128, vec![0x80, 0x01]),
            (300, vec![0xac, 0x02]),
        ] {
            let mut out = Vec::new();
            put_varint(n, &mut out);
            assert_eq!(out, bytes, "{n}");
        }
    }

    #[test]
    fn add_provider_message_bytes() {
        let peer = PeerId::random();
        let addr: Multiaddr = "/ip4/127.0.0.1/tcp/4001".parse().unwrap();
        let info = ProviderInfo {
            peer,
            addrs: vec![addr.clone()],
        };
        let encoded_peer = encode_peer(&info);
        let key = [0x12u8, 0x20, 1, 2, 3];
        let mut out = Vec::new();
        assert!(encode_add_provider(&key, &encoded_peer, &mut out));

        let id = peer.to_bytes();
        let a = addr.to_vec();
        let mut expected_peer = vec![0x0a, id.len() as u8];
        expected_peer.extend_from_slice(&id);
        expected_peer.extend_from_slice(&[0x12, a.len() as u8]);
        expected_peer.extend_from_slice(&a);
        assert_eq!(encoded_peer, expected_peer);

        let mut msg = vec![0x08, 0x02, 0x12, key.len() as u8];
        msg.extend_from_slice(&key);
        msg.extend_from_slice(&[0x4a, expected_peer.len() as u8]);
        msg.extend_from_slice(&expected_peer);
        let mut expected = vec![msg.len() as u8];
        expected.extend_from_slice(&msg);
        assert_eq!(out, expected);
    }

    #[test]
    fn oversized_records_are_not_framed() {
        let info = ProviderInfo {
            peer: PeerId::random(),
            addrs: vec!["/ip4/127.0.0.1/tcp/1".parse().unwrap(); 2000],
        };
        let mut out = Vec::new();
        assert!(!encode_add_provider(
            &[0x12, 0x20],
            &encode_peer(&info),
            &mut out
        ));
        assert!(out.is_empty());
    }
}
