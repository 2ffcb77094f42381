//! [`Writer`]: one write to the node (an add, an import, a pin of fetched content), from its
//! first block to the moment it may be acknowledged.
//!
//! Every block goes through a GC session, so a concurrent `repo gc` never takes half of an
//! import; [`Writer::commit`] pins the roots through the same session, then makes everything
//! durable (pack files fsynced, then the index with its pins) and only then returns. That is
//! the one durability point of the node: a front end answers (an RPC response, a CLI line, a
//! replication acknowledgement) only after `commit` returned. A writer dropped without a commit
//! pins nothing; its blocks are unprotected again and the next `repo gc` takes them.

use std::sync::Arc;

use chorus_storage::{Block, Blockstore, Cid, IdStore, PinMode, PutReport, Session};

use chorus_chain::relay::{Registration, RelayJob};
use chorus_chain::{Admission, UploadProof};

use super::Core;
use super::error::{CoreError, blocking};
use crate::metered_store::MeteredBlockstore;

/// An upload's consent as it arrived with the upload: the artist's signed proof (or none)
/// and the description registered with it on chain.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Consent {
    /// `owner`, `timestamp`, `nonce` and `signature`, parsed; `None` for an unsigned upload.
    pub proof: Option<UploadProof>,
    /// The registration's `meta` (e.g. the file name).
    pub meta: String,
}

/// What a [`Writer::commit`] pins and announces.
#[derive(Debug, Clone, Default)]
pub struct Commit {
    /// Roots to pin, each with its mode (recursive pins need their whole DAG present).
    pub pins: Vec<(Cid, PinMode)>,
    /// Roots to announce to the DHT once durable (empty: announce nothing).
    pub announce: Vec<Cid>,
    /// For an upload (as opposed to a pin of fetched content): its consent and what it would
    /// register. The chain's gate decides before anything is pinned.
    pub upload: Option<(Consent, Registration)>,
}

impl Commit {
    /// Pins `roots` recursively and announces them: what an add or an import commits.
    pub fn pin_and_announce(roots: &[Cid]) -> Self {
        Commit {
            pins: roots.iter().map(|c| (*c, PinMode::Recursive)).collect(),
            announce: roots.to_vec(),
            upload: None,
        }
    }

    /// Announces `roots` without pinning them (`--pin=false`).
    pub fn announce_only(roots: &[Cid]) -> Self {
        Commit {
            pins: Vec::new(),
            announce: roots.to_vec(),
            upload: None,
        }
    }

    /// Marks this commit as an upload: `consent` is checked for `registration`'s signed CID
    /// before anything is pinned, and a signed upload is queued for registration once durable.
    pub fn upload(mut self, consent: Consent, registration: Registration) -> Self {
        self.upload = Some((consent, registration));
        self
    }
}

/// One write in progress: blocks through a GC session until [`Writer::commit`] pins them and
/// makes them durable (the node's single durability point).
pub struct Writer {
    core: Core,
    session: Arc<Session>,
    store: Arc<dyn Blockstore>,
}

impl Writer {
    pub(super) fn new(core: Core) -> Self {
        let session = Arc::new(core.repo().session());
        let store: Arc<dyn Blockstore> = Arc::new(MeteredBlockstore::without_refresh(
            Arc::new(IdStore::new(session.clone())),
            core.metrics().blockstore.clone(),
        ));
        Writer {
            core,
            session,
            store,
        }
    }

    /// The metered store writing (and reading) through this writer's GC session: a block
    /// read or written here stays protected until the writer is committed or dropped.
    pub fn store(&self) -> &Arc<dyn Blockstore> {
        &self.store
    }

    /// Stores `blocks` in one batched write (not yet durable: see [`Writer::commit`]).
    pub async fn put_many(&self, blocks: Vec<Block>) -> Result<PutReport, CoreError> {
        if blocks.is_empty() {
            return Ok(PutReport::default());
        }
        let store = self.store.clone();
        blocking("storing blocks", move || {
            store.put_many(&blocks).map_err(|source| CoreError::Store {
                context: "storing blocks".to_owned(),
                source,
            })
        })
        .await
    }

    /// The block for `cid`: from the store (protecting it), else from the network, stored
    /// through this writer. One store read per call, whatever the fetcher does after it.
    pub async fn get_or_fetch(&self, cid: Cid) -> Result<Block, CoreError> {
        let store = self.store.clone();
        let local = blocking("reading a block", move || {
            store
                .get(&cid)
                .map_err(|e| CoreError::store("reading", &cid, e))
        })
        .await?;
        if let Some(block) = local {
            return Ok(block);
        }
        // The store was just read: straight to the network (one store check per miss).
        let block = self.core.fetcher().fetch_missing(cid).await?;
        let store = self.store.clone();
        let stored = block.clone();
        blocking("storing a fetched block", move || {
            store
                .put(&stored)
                .map_err(|e| CoreError::store("storing", &cid, e))
        })
        .await?;
        Ok(block)
    }

    /// Pins `commit.pins` while the session still protects every block, makes the write
    /// durable, then announces `commit.announce`. Returns only when the blocks, pins and index
    /// entries are on disk: the caller may acknowledge from here on.
    pub async fn commit(self, commit: Commit) -> Result<(), CoreError> {
        let Writer {
            core,
            session,
            store: _,
        } = self;
        // The upload's admission, before anything is pinned: a refused upload pins nothing
        // (its blocks go with the next GC) and is never relayed or announced.
        let admitted = match (commit.upload, core.chain()) {
            (None, _) => None,
            (Some((consent, registration)), Some(chain)) => {
                let admission = chain.admit(consent.proof.as_ref(), registration.signed_cid())?;
                Some((chain.clone(), admission, consent.meta, registration))
            }
            (Some((consent, _)), None) => {
                core.precheck_upload(consent.proof.as_ref())?;
                None
            }
        };
        // A signed upload's registration, queued (and flushed) right after the write is
        // durable, in the same blocking step: both are on disk before the caller acknowledges.
        let relay = admitted
            .as_ref()
            .and_then(|(chain, admission, meta, registration)| match admission {
                Admission::Signed(proof) => Some((
                    chain.clone(),
                    RelayJob::new(proof, registration.clone(), meta.clone()),
                )),
                Admission::Unsigned => None,
            });
        let pinning = core.clone();
        let pins = commit.pins;
        let written = blocking("committing a write", move || {
            for (cid, mode) in &pins {
                pinning.pin_now(cid, *mode)?;
            }
            pinning.make_durable()?;
            // Only now may GC see these blocks as unprotected: they are pinned and durable.
            drop(session);
            if let Some((chain, job)) = relay {
                chain.enqueue(&job)?;
            }
            Ok::<_, CoreError>(())
        })
        .await;
        if let (Err(_), Some((chain, admission, ..))) = (&written, &admitted) {
            chain.release(admission);
        }
        written?;
        core.announce(commit.announce).await;
        Ok(())
    }
}
