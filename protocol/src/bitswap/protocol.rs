//! Protocol names, stream framing and the size limits of Bitswap.
//!
//! A Bitswap stream carries any number of messages, each an unsigned-varint length followed by
//! a protobuf [`pb::Message`](super::pb::Message). Streams are one-way in practice: a peer
//! writes on the stream it opened and answers arrive on the other side's own stream.

use std::{fmt, future, io};

use libp2p::{
    StreamProtocol,
    core::{UpgradeInfo, upgrade::InboundUpgrade, upgrade::OutboundUpgrade},
    swarm::Stream,
};

/// Largest message read or written: go-libp2p's `network.MessageSizeMax` (4 MiB), which kubo's
/// Bitswap uses as its msgio limit, and Helia's `maxIncomingMessageSize`.
pub const MAX_MESSAGE_SIZE: usize = 4 * 1024 * 1024;

/// Largest block accepted or sent: the Bitswap spec's 2 MiB block limit (kubo refuses larger).
pub const MAX_BLOCK_SIZE: usize = 2 * 1024 * 1024;

/// Longest CID accepted in a wantlist entry or presence: boxo's `MaxCidSize` (168 bytes:
/// four varints plus a 128-byte digest).
pub const MAX_CID_SIZE: usize = 168;

/// Blocks up to this size are sent in place of a HAVE: boxo's
/// `maxBlockSizeReplaceHasWithBlock` (1 KiB); Helia does the same.
pub const MAX_BLOCK_SIZE_REPLACE_HAVE: usize = 1024;

/// `/ipfs/bitswap/1.2.0`: adds WANT_HAVE, HAVE / DONT_HAVE and `sendDontHave`.
pub const PROTOCOL_1_2_0: StreamProtocol = StreamProtocol::new("/ipfs/bitswap/1.2.0");
/// `/ipfs/bitswap/1.1.0`: blocks carry a CID prefix, so any CID version works.
pub const PROTOCOL_1_1_0: StreamProtocol = StreamProtocol::new("/ipfs/bitswap/1.1.0");
/// `/ipfs/bitswap/1.0.0`: raw blocks, CIDv0 only.
pub const PROTOCOL_1_0_0: StreamProtocol = StreamProtocol::new("/ipfs/bitswap/1.0.0");
/// `/ipfs/bitswap`: the unversioned name of the oldest peers, spoken as 1.0.0.
pub const PROTOCOL_LEGACY: StreamProtocol = StreamProtocol::new("/ipfs/bitswap");

/// A negotiated Bitswap version; ordered oldest first.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Version {
    /// 1.0.0 (also the unversioned `/ipfs/bitswap`).
    V1_0_0,
    /// 1.1.0.
    V1_1_0,
    /// 1.2.0.
    V1_2_0,
}

impl Version {
    /// The version a protocol name stands for, if it is a Bitswap name.
    pub fn from_protocol(protocol: &str) -> Option<Self> {
        match protocol {
            p if p == PROTOCOL_1_2_0.as_ref() => Some(Version::V1_2_0),
            p if p == PROTOCOL_1_1_0.as_ref() => Some(Version::V1_1_0),
            p if p == PROTOCOL_1_0_0.as_ref() || p == PROTOCOL_LEGACY.as_ref() => {
                Some(Version::V1_0_0)
            }
            _ => None,
        }
    }

    /// The protocol name of this version.
    pub fn protocol(self) -> StreamProtocol {
        match self {
            Version::V1_2_0 => PROTOCOL_1_2_0,
            Version::V1_1_0 => PROTOCOL_1_1_0,
            Version::V1_0_0 => PROTOCOL_1_0_0,
        }
    }

    /// Whether WANT_HAVE, HAVE / DONT_HAVE and `sendDontHave` exist in this version.
    pub fn supports_have(self) -> bool {
        self >= Version::V1_2_0
    }

    /// Whether blocks carry a CID prefix (and so CIDs other than v0 can be exchanged).
    pub fn supports_cid_v1(self) -> bool {
        self >= Version::V1_1_0
    }
}

impl fmt::Display for Version {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.protocol().as_ref())
    }
}

/// All protocol names chorus can speak, preferred first.
pub fn all_protocols() -> Vec<StreamProtocol> {
    vec![
        PROTOCOL_1_2_0,
        PROTOCOL_1_1_0,
        PROTOCOL_1_0_0,
        PROTOCOL_LEGACY,
    ]
}

/// The stream upgrade: negotiates one of the configured names and hands back the raw stream
/// with the version agreed on. No bytes are exchanged beyond multistream-select.
#[derive(Debug, Clone)]
pub struct Upgrade {
    protocols: Vec<StreamProtocol>,
}

impl Upgrade {
    /// An upgrade offering `protocols` in order of preference.
    pub fn new(protocols: Vec<StreamProtocol>) -> Self {
        Upgrade { protocols }
    }
}

impl UpgradeInfo for Upgrade {
    type Info = StreamProtocol;
    type InfoIter = Vec<StreamProtocol>;

    fn protocol_info(&self) -> Self::InfoIter {
        self.protocols.clone()
    }
}

/// Maps a negotiated name to its version; names come from our own list, so the fallback is
/// never reached in practice and reads as an I/O error rather than a panic.
fn negotiated(info: &StreamProtocol) -> Result<Version, io::Error> {
    Version::from_protocol(info.as_ref()).ok_or_else(|| {
        io::Error::new(
            io::ErrorKind::InvalidData,
            format!("not a bitswap protocol: {info}"),
        )
    })
}

impl InboundUpgrade<Stream> for Upgrade {
    type Output = (Stream, Version);
    type Error = io::Error;
    type Future = future::Ready<Result<Self::Output, Self::Error>>;

    fn upgrade_inbound(self, socket: Stream, info: Self::Info) -> Self::Future {
        future::ready(negotiated(&info).map(|v| (socket, v)))
    }
}

impl OutboundUpgrade<Stream> for Upgrade {
    type Output = (Stream, Version);
    type Error = io::Error;
    type Future = future::Ready<Result<Self::Output, Self::Error>>;

    fn upgrade_outbound(self, socket: Stream, info: Self::Info) -> Self::Future {
        future::ready(negotiated(&info).map(|v| (socket, v)))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn protocol_names_map_to_versions() {
        assert_eq!(
            Version::from_protocol("/ipfs/bitswap/1.2.0"),
            Some(Version::V1_2_0)
        );
        assert_eq!(
            Version::from_protocol("/ipfs/bitswap/1.1.0"),
            Some(Version::V1_1_0)
        );
        assert_eq!(
            Version::from_protocol("/ipfs/bitswap/1.0.0"),
            Some(Version::V1_0_0)
        );
        assert_eq!(
            Version::from_protocol("/ipfs/bitswap"),
            Some(Version::V1_0_0)
        );
        assert_eq!(Version::from_protocol("/ipfs/kad/1.0.0"), None);
        assert!(Version::V1_2_0.supports_have());
        assert!(!Version::V1_1_0.supports_have());
        assert!(Version::V1_1_0.supports_cid_v1());
        assert!(!Version::V1_0_0.supports_cid_v1());
    }
}
