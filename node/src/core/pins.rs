//! Pinning: `pin add` (walk the DAG, fetching what is missing when online, then commit the
//! pins durably) and `pin ls` (direct, recursive and indirect pins), for the RPC and the CLI.

use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};

use chorus_storage::{Cid, PinMode};
use thiserror::Error;

use super::error::{CoreError, blocking};
use super::pin_list::PinList;
use super::walk::walk_counted;
use super::{Commit, Core};

/// Which pins `pin ls` lists (kubo's `--type`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PinFilter {
    /// Every kind.
    All,
    /// Direct pins only.
    Direct,
    /// Recursive pins only.
    Recursive,
    /// Blocks below recursive pins only.
    Indirect,
}

impl PinFilter {
    /// kubo's name of `--type`'s value: `all`, `direct`, `recursive`, `indirect`.
    pub fn from_name(name: &str) -> Option<Self> {
        Some(match name {
            "all" => PinFilter::All,
            "direct" => PinFilter::Direct,
            "recursive" => PinFilter::Recursive,
            "indirect" => PinFilter::Indirect,
            _ => return None,
        })
    }

    pub(crate) fn takes(self, mode: PinMode) -> bool {
        matches!(
            (self, mode),
            (PinFilter::All, _)
                | (PinFilter::Direct, PinMode::Direct)
                | (PinFilter::Recursive, PinMode::Recursive)
        )
    }

    pub(crate) fn takes_indirect(self) -> bool {
        matches!(self, PinFilter::All | PinFilter::Indirect)
    }
}

/// Why `pin ls` failed.
#[derive(Debug, Error)]
#[non_exhaustive]
pub enum PinLsError {
    /// A CID asked about is not pinned (of the kind asked for); the path as given.
    #[error("path '{0}' is not pinned")]
    NotPinned(String),
    /// The pin set or store failed.
    #[error(transparent)]
    Core(Box<CoreError>),
}

impl From<CoreError> for PinLsError {
    fn from(e: CoreError) -> Self {
        PinLsError::Core(Box::new(e))
    }
}

impl Core {
    /// Pins `cids`: recursively (the whole DAG must be present; missing blocks are fetched
    /// when online) or directly (the block itself). Counts each block reached into `visited`.
    /// Durable and announced when it returns.
    pub async fn pin(
        &self,
        cids: &[Cid],
        recursive: bool,
        visited: &AtomicU64,
    ) -> Result<(), CoreError> {
        let writer = self.writer();
        let store = writer.store().clone();
        let fetcher = self.fetcher();
        for cid in cids {
            if recursive {
                walk_counted(&store, &fetcher, *cid, visited).await?;
            } else {
                writer.get_or_fetch(*cid).await?;
                visited.fetch_add(1, Ordering::Relaxed);
            }
        }
        let mode = if recursive {
            PinMode::Recursive
        } else {
            PinMode::Direct
        };
        writer
            .commit(Commit {
                pins: cids.iter().map(|c| (*c, mode)).collect(),
                announce: cids.to_vec(),
                upload: None,
            })
            .await
    }

    /// `pin ls`: every pin of `filter`'s kind with its type (`recursive`, `direct`,
    /// `indirect`); or, for the `(path as given, CID)` pairs of `wanted`, the type of each
    /// (`indirect through <root>` for indirect ones), failing on the first not pinned. The
    /// whole listing as one vector: for the CLI; a daemon streams [`Core::pin_list`] instead.
    pub async fn pins(
        &self,
        filter: PinFilter,
        wanted: Vec<(String, Cid)>,
    ) -> Result<Vec<(Cid, String)>, PinLsError> {
        let core = self.clone();
        blocking("listing pins", move || {
            if wanted.is_empty() {
                core.pin_list(filter)?
                    .map(|row| row.map(|(cid, kind)| (cid, kind.to_owned())))
                    .collect()
            } else {
                pin_types(&core, filter, wanted)
            }
        })
        .await
    }

    /// Every pin of `filter`'s kind as a blocking iterator (see [`PinList`]): direct and
    /// recursive pins, then the indirect ones, each once, in memory that does not grow with
    /// the rows. Drive it on the blocking pool.
    pub fn pin_list(&self, filter: PinFilter) -> Result<PinList, PinLsError> {
        let mut pins = Vec::new();
        for item in self.repo().pins().ls(None) {
            pins.push(item.map_err(CoreError::from)?);
        }
        Ok(PinList::new(self.store(), pins, filter))
    }
}

/// The pin type of each of `wanted`, failing on the first not pinned (of `filter`'s kind).
/// An indirect one is looked for below each recursive pin in turn, stopping where found, with
/// one fingerprint per block walked (see [`PinList`]).
fn pin_types(
    core: &Core,
    filter: PinFilter,
    wanted: Vec<(String, Cid)>,
) -> Result<Vec<(Cid, String)>, PinLsError> {
    let mut pins: HashMap<Cid, PinMode> = HashMap::new();
    let mut recursive = Vec::new();
    for item in core.repo().pins().ls(None) {
        let (cid, mode) = item.map_err(CoreError::from)?;
        pins.insert(cid, mode);
        if mode == PinMode::Recursive {
            recursive.push(cid);
        }
    }
    let mut out = Vec::with_capacity(wanted.len());
    for (arg, cid) in wanted {
        let found = match pins.get(&cid) {
            Some(mode) if filter.takes(*mode) => Some(mode.name().to_owned()),
            _ if filter.takes_indirect() => indirect_root(core, &recursive, &cid)?
                .map(|root| format!("indirect through {root}")),
            _ => None,
        };
        out.push((cid, found.ok_or(PinLsError::NotPinned(arg))?));
    }
    Ok(out)
}

/// The first of the recursive pins `roots` (in the pin set's order) whose stored DAG holds
/// `cid` below it.
fn indirect_root(core: &Core, roots: &[Cid], cid: &Cid) -> Result<Option<Cid>, PinLsError> {
    for root in roots {
        let below = PinList::new(
            core.store(),
            vec![(*root, PinMode::Recursive)],
            PinFilter::Indirect,
        );
        for row in below {
            if row?.0.hash() == cid.hash() {
                return Ok(Some(*root));
            }
        }
    }
    Ok(None)
}
