//! Pinning: `pin add` (walk the DAG, fetching what is missing when online, then commit the
//! pins durably) and `pin ls` (direct, recursive and indirect pins), for the RPC and the CLI.

use std::collections::{BTreeMap, HashSet};
use std::sync::atomic::{AtomicU64, Ordering};

use chorus_storage::{Cid, PinMode};
use thiserror::Error;

use super::error::{CoreError, blocking};
use super::walk::{local_descendants, walk_counted};
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

    fn takes(self, mode: PinMode) -> bool {
        matches!(
            (self, mode),
            (PinFilter::All, _)
                | (PinFilter::Direct, PinMode::Direct)
                | (PinFilter::Recursive, PinMode::Recursive)
        )
    }

    fn takes_indirect(self) -> bool {
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
    /// (`indirect through <root>` for indirect ones), failing on the first not pinned.
    pub async fn pins(
        &self,
        filter: PinFilter,
        wanted: Vec<(String, Cid)>,
    ) -> Result<Vec<(Cid, String)>, PinLsError> {
        let core = self.clone();
        blocking("listing pins", move || list(&core, filter, wanted)).await
    }
}

fn list(
    core: &Core,
    filter: PinFilter,
    wanted: Vec<(String, Cid)>,
) -> Result<Vec<(Cid, String)>, PinLsError> {
    let mut pins: Vec<(Cid, PinMode)> = Vec::new();
    for item in core.repo().pins().ls(None) {
        pins.push(item.map_err(CoreError::from)?);
    }
    let store = core.store();
    let mut indirect: BTreeMap<Cid, Cid> = BTreeMap::new();
    if !wanted.is_empty() || filter.takes_indirect() {
        for (root, mode) in &pins {
            if *mode == PinMode::Recursive {
                let mut below = HashSet::new();
                local_descendants(&*store, root, &mut below);
                for c in below {
                    indirect.entry(c).or_insert(*root);
                }
            }
        }
    }
    let direct_or_rec: BTreeMap<Cid, PinMode> = pins.iter().copied().collect();
    let mut out: Vec<(Cid, String)> = Vec::new();
    if !wanted.is_empty() {
        for (arg, cid) in wanted {
            let found = match direct_or_rec.get(&cid) {
                Some(mode) if filter.takes(*mode) => Some(mode.name().to_owned()),
                _ => match indirect.get(&cid) {
                    Some(root) if filter.takes_indirect() => {
                        Some(format!("indirect through {root}"))
                    }
                    _ => None,
                },
            };
            out.push((cid, found.ok_or(PinLsError::NotPinned(arg))?));
        }
        return Ok(out);
    }
    for (cid, mode) in &pins {
        if filter.takes(*mode) {
            out.push((*cid, mode.name().to_owned()));
        }
    }
    if filter.takes_indirect() {
        for c in indirect.keys() {
            if !direct_or_rec.contains_key(c) {
                out.push((*c, "indirect".to_owned()));
            }
        }
    }
    Ok(out)
}
