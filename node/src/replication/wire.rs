//! The replication protocol on the node's libp2p swarm: `/chorus/replicate/1.0.0`, one
//! request and one response per stream (libp2p's request-response with its CBOR codec), with
//! the sizes bounded by the codec before anything is decoded.
//!
//! The network actor carries these messages and nothing else of replication: it hands inbound
//! requests to the replication worker and sends what the worker answers.

use libp2p::StreamProtocol;
use serde::{Deserialize, Serialize};

use super::entry::LogEntry;

/// The protocol name.
pub const PROTOCOL: StreamProtocol = StreamProtocol::new("/chorus/replicate/1.0.0");

/// Largest request: an offer carries one log entry (under 2 KiB with an RSA key); a holdings
/// query carries at most [`MAX_HOLDS_QUERY`] CIDs. 64 KiB leaves room and refuses anything
/// larger before it is read.
pub const MAX_REQUEST_BYTES: u64 = 64 * 1024;

/// Largest response: a page of log entries (1,000 × about 300 bytes with an Ed25519 key).
pub const MAX_RESPONSE_BYTES: u64 = 1024 * 1024;

/// Roots one holdings query may ask about.
pub const MAX_HOLDS_QUERY: usize = 256;

/// Longest refusal reason sent back.
pub const MAX_REASON_BYTES: usize = 256;

/// What one node asks another.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub enum Request {
    /// "Hold this root": fetch its DAG, pin it durably, then answer [`Response::Held`]. The
    /// entry is the accepting node's signed log entry for it.
    Offer {
        /// The signed entry.
        entry: LogEntry,
    },
    /// "Which of these roots do you hold durably (pinned recursively)?" (CID bytes).
    Holds {
        /// At most [`MAX_HOLDS_QUERY`].
        roots: Vec<Vec<u8>>,
    },
    /// "Your log from sequence number `since` on" (anti-entropy).
    Log {
        /// The asker's cursor for this peer.
        since: u64,
    },
}

/// The answer.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub enum Response {
    /// The offered root is pinned and durable here.
    Held,
    /// Not done, and why (bounded by [`MAX_REASON_BYTES`]).
    Refused {
        /// A short reason.
        reason: String,
    },
    /// For each root asked about, in order: held or not.
    Holding {
        /// One flag per root.
        held: Vec<bool>,
    },
    /// A page of the log and the cursor after it.
    Entries {
        /// The entries, oldest first.
        entries: Vec<LogEntry>,
        /// The next sequence number to ask for.
        next: u64,
    },
}

impl Response {
    /// A refusal with `reason` cut to [`MAX_REASON_BYTES`].
    pub fn refused(reason: impl Into<String>) -> Self {
        let mut reason = reason.into();
        if reason.len() > MAX_REASON_BYTES {
            let mut end = MAX_REASON_BYTES;
            while !reason.is_char_boundary(end) {
                end -= 1;
            }
            reason.truncate(end);
        }
        Response::Refused { reason }
    }
}

/// The codec with the bounds above.
pub(crate) fn codec() -> libp2p::request_response::cbor::codec::Codec<Request, Response> {
    libp2p::request_response::cbor::codec::Codec::default()
        .set_request_size_maximum(MAX_REQUEST_BYTES)
        .set_response_size_maximum(MAX_RESPONSE_BYTES)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_refusal_reason_is_cut_on_a_character_boundary() {
        let Response::Refused { reason } = Response::refused("é".repeat(300)) else {
            unreachable!()
        };
        assert!(reason.len() <= MAX_REASON_BYTES);
        assert!(reason.chars().all(|c| c == 'é'));
    }
}
