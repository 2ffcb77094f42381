//! The node's core API: the one implementation of reading, writing, pinning and announcing
//! content, under every front end (RPC, gateway, CLI, network).
//!
//! Modelled on kubo's CoreAPI over boxo's blockservice: a front end parses a request, calls
//! the core, and formats what it returns. The core owns
//! - the metered blockstore (every write counted on `/metrics`);
//! - the block source: local store first, then Bitswap when the node is online
//!   ([`Core::fetcher`]);
//! - writes: a [`Writer`] per add, import or pin, and its [`Writer::commit`], the single
//!   durability point (nothing is acknowledged before its blocks, pins and index entries are
//!   on disk);
//! - the pin set with its gauges kept step by step ([`Core::unpin`], [`Writer::commit`]);
//! - announcing new roots to the DHT once they are durable.
//!
//! It is built complete, once, at start-up ([`CoreBuilder`]): the network, when there is one,
//! is started on the builder's store first and handed in; nothing is filled in later.

mod add;
mod blocks;
mod car_import;
mod error;
mod get_tar;
mod pin_counts;
mod pin_list;
mod pins;
mod repo_stat;
pub(crate) mod walk;
mod writer;

use std::sync::Arc;
use std::time::Instant;

use chorus_protocol::unixfs::ListLimits;
use chorus_storage::{Blockstore, Cid, GcReport, IdStore, PinMode, Repo, StoreError};

pub use add::{AddError, AddOutcome, Added, Adder, FileAdd};
pub use blocks::{BlockFormat, BlockFormatError, MAX_BLOCK_SIZE, RemoveError};
pub use car_import::{CarImport, CarImporter, ImportedRoot};
pub use error::CoreError;
pub(crate) use error::blocking;
pub use get_tar::{tar_name, tar_stream};
pub use pin_list::PinList;
pub use pins::{PinFilter, PinLsError};
pub use repo_stat::{REPO_VERSION, RepoStat};
pub use writer::{Commit, Consent, Writer};

use crate::config_service::ConfigService;
use crate::fetch::{BlockFetcher, LocalFetcher};
use crate::metered_store::MeteredBlockstore;
use crate::metrics::NodeMetrics;
use crate::network::NetworkHandle;
use crate::onchain::OnChain;
use crate::replication::{Replicas, ReplicateError, Replication};
use crate::track::TrackService;
use chorus_chain::{Refusal, UploadProof};
use pin_counts::PinCounts;

/// The core of a running node; cheap to clone (one shared state).
#[derive(Clone)]
pub struct Core {
    inner: Arc<Inner>,
}

struct Inner {
    repo: Arc<dyn Repo>,
    store: Arc<MeteredBlockstore>,
    fetcher: Arc<dyn BlockFetcher>,
    network: Option<NetworkHandle>,
    track: Option<Arc<dyn TrackService>>,
    config: Option<Arc<dyn ConfigService>>,
    replication: Option<Replication>,
    chain: Option<OnChain>,
    metrics: NodeMetrics,
    pin_counts: PinCounts,
    list_limits: ListLimits,
}

/// Assembles a [`Core`]: the store first (the network needs it to serve and store blocks),
/// then the parts that run on it.
pub struct CoreBuilder {
    repo: Arc<dyn Repo>,
    store: Arc<MeteredBlockstore>,
    metrics: NodeMetrics,
    fetcher: Option<Arc<dyn BlockFetcher>>,
    network: Option<NetworkHandle>,
    track: Option<Arc<dyn TrackService>>,
    config: Option<Arc<dyn ConfigService>>,
    replication: Option<Replication>,
    chain: Option<OnChain>,
    list_limits: ListLimits,
}

impl CoreBuilder {
    /// Starts from the opened repo (the sled repo on disk, or a
    /// [`chorus_storage::MemoryRepo`]); the block gauges are read from it once.
    pub fn new(repo: impl Repo, metrics: NodeMetrics) -> Result<Self, StoreError> {
        let repo: Arc<dyn Repo> = Arc::new(repo);
        // Identity CIDs are answered by the wrapper, once, for every reader and writer above.
        let store = Arc::new(MeteredBlockstore::new(
            Arc::new(IdStore::new(repo.clone())),
            metrics.blockstore.clone(),
        )?);
        Ok(CoreBuilder {
            repo,
            store,
            metrics,
            fetcher: None,
            network: None,
            track: None,
            config: None,
            replication: None,
            chain: None,
            list_limits: ListLimits::default(),
        })
    }

    /// The metered store the core will use, for the network to serve from and store into.
    pub fn store(&self) -> Arc<dyn Blockstore> {
        self.store.clone()
    }

    /// The running network: its Bitswap-backed fetcher and its command handle.
    pub fn network(mut self, fetcher: Arc<dyn BlockFetcher>, handle: NetworkHandle) -> Self {
        self.fetcher = Some(fetcher);
        self.network = Some(handle);
        self
    }

    /// A block source other than the local store, without a network handle (tests that stand
    /// in for an unreachable network).
    pub fn fetcher(mut self, fetcher: Arc<dyn BlockFetcher>) -> Self {
        self.fetcher = Some(fetcher);
        self
    }

    /// The transcoder behind `/api/v0/track/add`.
    pub fn track_service(mut self, service: Arc<dyn TrackService>) -> Self {
        self.track = Some(service);
        self
    }

    /// The node's config file, for the RPC `config` commands.
    pub fn config_service(mut self, service: Arc<dyn ConfigService>) -> Self {
        self.config = Some(service);
        self
    }

    /// The chain service: every upload's commit runs its gate; admitted signed uploads are
    /// relayed; delistings are acted on.
    pub fn chain(mut self, chain: OnChain) -> Self {
        self.chain = Some(chain);
        self
    }

    /// Community replication: uploads acknowledged through [`Core::replicate`] wait for W
    /// copies.
    pub fn replication(mut self, replication: Replication) -> Self {
        self.replication = Some(replication);
        self
    }

    /// Bounds on every directory listing read through the core (gateway, `ls`, `get`, CAR
    /// export); [`ListLimits::default`] unless set.
    pub fn list_limits(mut self, limits: ListLimits) -> Self {
        self.list_limits = limits;
        self
    }

    /// The finished core: offline (the local store only) unless a network or fetcher was
    /// given. Counts the pins once for their gauges.
    pub fn build(self) -> Core {
        let fetcher = self
            .fetcher
            .unwrap_or_else(|| Arc::new(LocalFetcher::new(self.store.clone())));
        let pin_counts = PinCounts::scan(self.repo.pins(), self.metrics.pins.clone());
        Core {
            inner: Arc::new(Inner {
                repo: self.repo,
                store: self.store,
                fetcher,
                network: self.network,
                track: self.track,
                config: self.config,
                replication: self.replication,
                chain: self.chain,
                metrics: self.metrics,
                pin_counts,
                list_limits: self.list_limits,
            }),
        }
    }
}

impl Core {
    /// The repository (pins, GC, sessions).
    pub fn repo(&self) -> &dyn Repo {
        &*self.inner.repo
    }

    /// The metered store, for reads and for writes that need no GC protection.
    pub fn store(&self) -> Arc<dyn Blockstore> {
        self.inner.store.clone()
    }

    /// The block source: the local store, then the network when online.
    pub fn fetcher(&self) -> Arc<dyn BlockFetcher> {
        self.inner.fetcher.clone()
    }

    /// Whether blocks can come from other peers.
    pub fn is_online(&self) -> bool {
        self.inner.fetcher.is_online()
    }

    /// The libp2p network's command handle (`None` offline).
    pub fn network(&self) -> Option<&NetworkHandle> {
        self.inner.network.as_ref()
    }

    /// The transcoder behind `track/add`, if the binary provided one.
    pub fn track_service(&self) -> Option<Arc<dyn TrackService>> {
        self.inner.track.clone()
    }

    /// The node's config file, if the binary provided it.
    pub fn config_service(&self) -> Option<Arc<dyn ConfigService>> {
        self.inner.config.clone()
    }

    /// The chain service, when the node has one.
    pub fn chain(&self) -> Option<&OnChain> {
        self.inner.chain.as_ref()
    }

    /// What an upload carrying `proof` (or none) can be refused for before its bytes are read.
    /// Without a chain service an unsigned upload passes and a signed one is refused.
    pub fn precheck_upload(&self, proof: Option<&UploadProof>) -> Result<(), CoreError> {
        match (self.chain(), proof) {
            (Some(chain), _) => chain.precheck(proof),
            (None, None) => Ok(()),
            (None, Some(_)) => Err(CoreError::Refused(Refusal::NotConfigured(
                "this node has no [chain] settings".into(),
            ))),
        }
    }

    /// Community replication, when enabled.
    pub fn replication(&self) -> Option<&Replication> {
        self.inner.replication.as_ref()
    }

    /// The upload's last step with replication on: `root` (durable here already, `size`
    /// bytes) is offered to its holders and this returns once W of them hold it durably.
    /// `None` when replication is off: the local write was the acknowledgement.
    pub async fn replicate(
        &self,
        root: Cid,
        size: u64,
    ) -> Result<Option<Replicas>, ReplicateError> {
        match &self.inner.replication {
            Some(r) => r.replicate(self, root, size).await.map(Some),
            None => Ok(None),
        }
    }

    /// Metric families.
    pub fn metrics(&self) -> &NodeMetrics {
        &self.inner.metrics
    }

    /// Bounds on directory listings.
    pub fn list_limits(&self) -> ListLimits {
        self.inner.list_limits
    }

    /// Starts a write; see [`Writer`].
    pub fn writer(&self) -> Writer {
        Writer::new(self.clone())
    }

    /// Unpins each of `cids` (checked first: a CID not pinned, or pinned recursively when
    /// `recursive` is false, fails the whole call and changes nothing), durably.
    pub async fn unpin(&self, cids: Vec<Cid>, recursive: bool) -> Result<Vec<Cid>, UnpinError> {
        let core = self.clone();
        blocking("unpinning", move || {
            let pins = core.repo().pins();
            for cid in &cids {
                match pins.get(cid).map_err(CoreError::from)? {
                    None => return Err(UnpinError::NotPinned(*cid)),
                    Some(PinMode::Recursive) if !recursive => {
                        return Err(UnpinError::PinnedRecursively(*cid));
                    }
                    Some(_) => {}
                }
            }
            for cid in &cids {
                core.inner
                    .pin_counts
                    .unpin(pins, cid)
                    .map_err(CoreError::from)?;
            }
            core.make_durable()?;
            Ok(cids)
        })
        .await
    }

    /// Announces `cids` to the DHT in the background when online; a no-op offline. Never
    /// fails the caller: a full provide queue or a stopped network is logged, and the
    /// reprovider announces pinned roots again later.
    pub async fn announce(&self, cids: Vec<Cid>) {
        let Some(network) = self.network() else {
            return;
        };
        if cids.is_empty() {
            return;
        }
        let wanted = cids.len();
        match network.provide_later(cids).await {
            Ok(accepted) if accepted < wanted => {
                tracing::warn!(
                    wanted,
                    accepted,
                    "provide queue full; the rest waits for the reprovider"
                )
            }
            Ok(_) => {}
            Err(e) => tracing::warn!(error = %e, "cannot queue provider records"),
        }
    }

    /// Collects every block no pin reaches (see [`Repo::gc`]), makes the removals
    /// durable, records the run on `/metrics` and re-reads the block gauges.
    pub async fn gc(&self) -> Result<GcReport, CoreError> {
        let core = self.clone();
        blocking("garbage collection", move || {
            let started = Instant::now();
            let report = core.repo().gc().inspect_err(|_| {
                core.metrics().gc.failures.inc();
            })?;
            core.make_durable()?;
            core.metrics().gc.record_run(
                report.removed.len() as u64,
                report.freed_bytes,
                started.elapsed(),
            );
            core.refresh_store_metrics()
                .map_err(|source| CoreError::Store {
                    context: "repo/gc".to_owned(),
                    source,
                })?;
            Ok(report)
        })
        .await
    }

    /// `repo verify`: re-hashes every stored block; the report's lines as the CLI prints them
    /// (one per damaged block, then the totals) and whether the repo is intact.
    pub async fn verify(&self) -> Result<(Vec<String>, bool), CoreError> {
        let core = self.clone();
        let report = blocking("verifying the repo", move || {
            core.repo().verify().map_err(|source| CoreError::Store {
                context: "repo verify".to_owned(),
                source,
            })
        })
        .await?;
        let cid = |mh: &chorus_storage::Multihash| Cid::new_v1(chorus_storage::codec::RAW, *mh);
        let mut lines: Vec<String> = Vec::new();
        lines.extend(
            report
                .corrupt
                .iter()
                .map(|mh| format!("corrupt: {}", cid(mh))),
        );
        lines.extend(
            report
                .missing
                .iter()
                .map(|mh| format!("missing: {}", cid(mh))),
        );
        lines.extend(
            report
                .undecodable
                .iter()
                .map(|key| format!("undecodable index entry: {key}")),
        );
        lines.push(format!(
            "verified {} blocks: {} corrupt, {} missing",
            report.checked,
            report.corrupt.len(),
            report.missing.len() + report.undecodable.len()
        ));
        Ok((lines, report.is_ok()))
    }

    /// Re-reads the block gauges from the store (after GC).
    pub fn refresh_store_metrics(&self) -> Result<chorus_storage::StoreStat, StoreError> {
        self.inner.store.refresh_gauges()
    }

    /// Pins on the calling (blocking) thread, keeping the gauges.
    fn pin_now(&self, cid: &Cid, mode: PinMode) -> Result<(), CoreError> {
        self.inner
            .pin_counts
            .pin(self.repo().pins(), cid, mode)
            .map_err(CoreError::from)
    }

    /// The durability point: pack files fsynced, then the index (blocks and pins). Blocking.
    pub(crate) fn make_durable(&self) -> Result<(), CoreError> {
        self.inner.store.flush().map_err(|source| CoreError::Store {
            context: "making the write durable".to_owned(),
            source,
        })
    }
}

/// Why [`Core::unpin`] refused or failed.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum UnpinError {
    /// The CID has no direct or recursive pin.
    #[error("{0} is not pinned or pinned indirectly")]
    NotPinned(Cid),
    /// A direct unpin of a recursive pin.
    #[error("{0} is pinned recursively")]
    PinnedRecursively(Cid),
    /// The store or the pin set failed.
    #[error(transparent)]
    Core(#[from] CoreError),
}
