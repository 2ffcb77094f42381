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

/// Decodes a request stream's bytes exactly as the protocol reads them (through the codec,
/// with its size bound); for the fuzz target and the seed corpus.
pub fn decode_request(bytes: &[u8]) -> std::io::Result<Request> {
    use libp2p::request_response::Codec as _;
    futures::executor::block_on(
        codec().read_request(&PROTOCOL, &mut futures::io::Cursor::new(bytes)),
    )
}

/// Decodes a response stream's bytes as the protocol reads them.
pub fn decode_response(bytes: &[u8]) -> std::io::Result<Response> {
    use libp2p::request_response::Codec as _;
    futures::executor::block_on(
        codec().read_response(&PROTOCOL, &mut futures::io::Cursor::new(bytes)),
    )
}

/// A request's bytes on the stream.
pub fn encode_request(request: Request) -> std::io::Result<Vec<u8>> {
    use libp2p::request_response::Codec as _;
    let mut out = futures::io::Cursor::new(Vec::new());
    futures::executor::block_on(codec().write_request(&PROTOCOL, &mut out, request))?;
    Ok(out.into_inner())
}

/// A response's bytes on the stream.
pub fn encode_response(response: Response) -> std::io::Result<Vec<u8>> {
    use libp2p::request_response::Codec as _;
    let mut out = futures::io::Cursor::new(Vec::new());
    futures::executor::block_on(codec().write_response(&PROTOCOL, &mut out, response))?;
    Ok(out.into_inner())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::replication::entry::LogEntry;
    use libp2p::identity::Keypair;

    /// One of each message, as the seed corpus of the `replication_message` fuzz target
    /// holds them (`fuzz/corpus/replication_message/`: a first byte of 0 for a request, 1 for
    /// a response, then the stream's bytes). `CHORUS_WRITE_SEEDS=1` rewrites the files.
    fn seeds() -> Vec<(String, Vec<u8>)> {
        let key = Keypair::ed25519_from_bytes([7u8; 32]).unwrap();
        let root: chorus_storage::Cid =
            "bafkreigh2akiscaildcqabsyg3dfr6chu3fgpregiymsck7e7aqa4s52zy"
                .parse()
                .unwrap();
        let entry = LogEntry::sign(&key, &root, 1234, 1_700_000_000, false)
            .unwrap()
            .entry;
        let requests = [
            (
                "offer",
                Request::Offer {
                    entry: entry.clone(),
                },
            ),
            (
                "holds",
                Request::Holds {
                    roots: vec![root.to_bytes()],
                },
            ),
            ("log", Request::Log { since: 42 }),
        ];
        let responses = [
            ("held", Response::Held),
            ("refused", Response::refused("busy")),
            (
                "holding",
                Response::Holding {
                    held: vec![true, false],
                },
            ),
            (
                "entries",
                Response::Entries {
                    entries: vec![entry],
                    next: 1,
                },
            ),
        ];
        let mut out = Vec::new();
        for (name, r) in requests {
            out.push((
                format!("request-{name}"),
                [vec![0], encode_request(r).unwrap()].concat(),
            ));
        }
        for (name, r) in responses {
            out.push((
                format!("response-{name}"),
                [vec![1], encode_response(r).unwrap()].concat(),
            ));
        }
        out
    }

    #[test]
    fn messages_round_trip_and_the_seed_corpus_is_current() {
        let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("../fuzz/corpus/replication_message");
        if std::env::var_os("CHORUS_WRITE_SEEDS").is_some() {
            std::fs::create_dir_all(&dir).unwrap();
            for (name, bytes) in seeds() {
                std::fs::write(dir.join(name), bytes).unwrap();
            }
        }
        for (name, bytes) in seeds() {
            let decoded = if bytes[0] == 0 {
                format!("{:?}", decode_request(&bytes[1..]).unwrap())
            } else {
                format!("{:?}", decode_response(&bytes[1..]).unwrap())
            };
            assert!(!decoded.is_empty());
            let stored = std::fs::read(dir.join(&name)).unwrap_or_default();
            assert_eq!(
                stored, bytes,
                "seed {name} is stale: CHORUS_WRITE_SEEDS=1 rewrites it"
            );
        }
    }

    #[test]
    fn a_request_over_the_bound_does_not_decode() {
        let big = Request::Holds {
            roots: vec![vec![0u8; 1024]; 100],
        };
        let bytes = encode_request(big).unwrap();
        assert!(bytes.len() as u64 > MAX_REQUEST_BYTES);
        assert!(decode_request(&bytes).is_err());
    }

    #[test]
    fn a_refusal_reason_is_cut_on_a_character_boundary() {
        let Response::Refused { reason } = Response::refused("é".repeat(300)) else {
            unreachable!()
        };
        assert!(reason.len() <= MAX_REASON_BYTES);
        assert!(reason.chars().all(|c| c == 'é'));
    }
}
