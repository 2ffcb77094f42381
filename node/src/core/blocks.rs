//! Raw blocks: `block put` (with kubo's codec and hash names) and `block rm`, for the RPC and
//! the CLI. Reads go through the core's fetcher like every other read.

use bytes::Bytes;
use chorus_storage::{Block, Blockstore, Cid, HashAlg, PinMode, codec};
use thiserror::Error;

use super::error::{CoreError, blocking};
use super::walk::links;
use super::{Commit, Consent, Core};
use chorus_chain::relay::Registration;

/// Largest block `block put` accepts: kubo's 1 MiB soft limit plus headroom for its 2 MiB hard
/// limit (Bitswap peers refuse larger blocks).
pub const MAX_BLOCK_SIZE: usize = 2 * 1024 * 1024;

/// dag-json (0x0129).
const DAG_JSON: u64 = 0x0129;
/// json (0x0200).
const JSON: u64 = 0x0200;

/// How `block put` builds a block's CID.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct BlockFormat {
    /// The CID's codec.
    pub codec: u64,
    /// CIDv0 (dag-pb with sha2-256 only).
    pub v0: bool,
    /// The hash function.
    pub hash: HashAlg,
}

/// A `block put` option chorus does not know.
#[derive(Debug, Error, PartialEq, Eq)]
#[non_exhaustive]
pub enum BlockFormatError {
    /// An unknown `cid-codec` (or legacy `format`).
    #[error("unsupported codec {0:?} (supported: raw, dag-pb, dag-cbor, dag-json, json)")]
    Codec(String),
    /// An unknown `mhtype`.
    #[error("unsupported hash {0:?} (supported: sha2-256, blake3, identity)")]
    Hash(String),
}

impl BlockFormat {
    /// kubo's names: `codec` as `cid-codec` (or the legacy `format`: `v0`/`protobuf` mean a
    /// CIDv0 dag-pb block), `hash` as `mhtype`, and `version` 0 asking for CIDv0 dag-pb.
    pub fn parse(
        codec: Option<&str>,
        hash: Option<&str>,
        version: Option<u8>,
    ) -> Result<Self, BlockFormatError> {
        let hash = match hash {
            None | Some("") => HashAlg::Sha2_256,
            Some(name) => {
                HashAlg::from_name(name).ok_or_else(|| BlockFormatError::Hash(name.to_owned()))?
            }
        };
        let (codec, v0) = match codec {
            None | Some("") | Some("raw") => (codec::RAW, false),
            Some("v0") | Some("protobuf") => (codec::DAG_PB, hash == HashAlg::Sha2_256),
            Some("dag-pb") => (codec::DAG_PB, false),
            Some("dag-cbor") | Some("cbor") => (codec::DAG_CBOR, false),
            Some("dag-json") => (DAG_JSON, false),
            Some("json") => (JSON, false),
            Some(other) => return Err(BlockFormatError::Codec(other.to_owned())),
        };
        let v0 = v0 || (codec == codec::DAG_PB && version == Some(0));
        Ok(BlockFormat { codec, v0, hash })
    }

    /// The block of `data` in this format.
    pub fn block(&self, data: Bytes) -> Result<Block, CoreError> {
        let block = if self.v0 {
            Block::from_data_v0(data)
        } else {
            Block::from_data(self.codec, self.hash, data)
        };
        block.map_err(|source| CoreError::Block { source })
    }
}

/// Why one block of [`Core::remove_blocks`] was not removed.
#[derive(Debug, Error)]
#[non_exhaustive]
pub enum RemoveError {
    /// The block is pinned with this mode (under any CID of its multihash).
    #[error("pinned: {}", .0.name())]
    Pinned(PinMode),
    /// The block is part of the DAG of this recursive pin.
    #[error("pinned: indirect through {0}")]
    PinnedIndirectly(Cid),
    /// The store failed.
    #[error(transparent)]
    Store(chorus_storage::StoreError),
}

impl Core {
    /// `block put`: stores `blocks` (a dag-pb block must decode as one) and pins each with
    /// `pin` when given (RPC `block/put?pin=true` pins recursively, as kubo; the CLI's
    /// `--pin` directly, as documented); durable when it returns. Nothing is announced (as
    /// kubo).
    pub async fn put_blocks(
        &self,
        blocks: Vec<Block>,
        pin: Option<PinMode>,
    ) -> Result<(), CoreError> {
        for block in blocks.iter().filter(|b| b.cid().codec() == codec::DAG_PB) {
            links(block)?;
        }
        let pins = match pin {
            Some(mode) => blocks.iter().map(|b| (*b.cid(), mode)).collect(),
            None => Vec::new(),
        };
        // Raw blocks carry no signature: with `chain.require_signatures` they are refused like
        // any unsigned upload (the gate decides on the first block's CID).
        let upload = blocks.first().map(|b| {
            (
                Consent::default(),
                Registration::File {
                    cid: b.cid().to_string(),
                },
            )
        });
        let writer = self.writer();
        writer.put_many(blocks).await?;
        writer
            .commit(Commit {
                pins,
                announce: Vec::new(),
                upload,
            })
            .await
    }

    /// `block rm`: removes the block of each of `cids` unless it is pinned (directly,
    /// recursively or as part of a recursively pinned DAG, under any CID of the same
    /// multihash), durably; one outcome per CID (`Ok(false)`: it was not stored). Finding
    /// indirect pins walks the locally stored DAGs of the recursive pins (stopping once every
    /// asked-for block is accounted for), as kubo checks before removing.
    pub async fn remove_blocks(
        &self,
        cids: Vec<Cid>,
    ) -> Result<Vec<(Cid, Result<bool, RemoveError>)>, CoreError> {
        let core = self.clone();
        blocking("removing blocks", move || {
            let mut pinned = std::collections::HashMap::new();
            let mut recursive = Vec::new();
            for item in core.repo().pins().ls(None) {
                let (cid, mode) = item?;
                pinned.insert(*cid.hash(), mode);
                if mode == PinMode::Recursive {
                    recursive.push(cid);
                }
            }
            let store = core.store();
            let unpinned: std::collections::HashSet<_> = cids
                .iter()
                .map(|c| *c.hash())
                .filter(|mh| !pinned.contains_key(mh))
                .collect();
            let indirect = indirect_roots(&*store, &recursive, unpinned);
            let mut out = Vec::with_capacity(cids.len());
            for cid in cids {
                let outcome = match (pinned.get(cid.hash()), indirect.get(cid.hash())) {
                    (Some(mode), _) => Err(RemoveError::Pinned(*mode)),
                    (None, Some(root)) => Err(RemoveError::PinnedIndirectly(*root)),
                    (None, None) => store.delete(cid.hash()).map_err(RemoveError::Store),
                };
                out.push((cid, outcome));
            }
            core.make_durable()?;
            Ok(out)
        })
        .await
    }
}

/// Which of `wanted` lie inside the locally stored DAG of one of `roots`, each with the first
/// root it was found under; walks iteratively, each block once, and stops when all are found.
fn indirect_roots(
    store: &dyn Blockstore,
    roots: &[Cid],
    mut wanted: std::collections::HashSet<chorus_storage::Multihash>,
) -> std::collections::HashMap<chorus_storage::Multihash, Cid> {
    let mut found = std::collections::HashMap::new();
    let mut seen = std::collections::HashSet::new();
    for root in roots {
        let mut stack = vec![*root];
        while let Some(cid) = stack.pop() {
            if wanted.is_empty() {
                return found;
            }
            if !seen.insert(*cid.hash()) {
                continue;
            }
            if cid != *root && wanted.remove(cid.hash()) {
                found.insert(*cid.hash(), *root);
            }
            if cid.codec() != codec::DAG_PB {
                continue;
            }
            if let Ok(Some(block)) = store.get(&cid) {
                stack.extend(links(&block).unwrap_or_default());
            }
        }
    }
    found
}
