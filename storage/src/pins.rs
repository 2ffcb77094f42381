//! Pins: the roots garbage collection keeps, stored in a sled tree next to the block index
//! (or in memory, for a [`crate::MemoryRepo`]).

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex, PoisonError, RwLock};

use cid::Cid;
use thiserror::Error;

use crate::guard::Guard;
use crate::index::hex_key;

/// How a pin protects content.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum PinMode {
    /// Only the block itself (kubo's `--recursive=false`).
    Direct,
    /// The block and every block reachable through its dag-pb links (kubo's default).
    Recursive,
}

impl PinMode {
    /// kubo's name for the type (`direct`, `recursive`), as printed by `pin ls`.
    pub const fn name(self) -> &'static str {
        match self {
            PinMode::Direct => "direct",
            PinMode::Recursive => "recursive",
        }
    }

    /// Parses kubo's `--type` value.
    pub fn from_name(name: &str) -> Option<Self> {
        match name {
            "direct" => Some(PinMode::Direct),
            "recursive" => Some(PinMode::Recursive),
            _ => None,
        }
    }

    const fn tag(self) -> u8 {
        match self {
            PinMode::Direct => 1,
            PinMode::Recursive => 2,
        }
    }

    fn from_tag(tag: &[u8]) -> Option<Self> {
        match tag {
            [1] => Some(PinMode::Direct),
            [2] => Some(PinMode::Recursive),
            _ => None,
        }
    }
}

/// Errors of pin operations.
#[derive(Debug, Error)]
#[non_exhaustive]
pub enum PinError {
    /// A direct pin was asked for a CID that is pinned recursively (kubo refuses this too).
    #[error("{cid} is already pinned recursively")]
    AlreadyPinnedRecursively {
        /// The CID.
        cid: Cid,
    },
    /// The pin database failed.
    #[error("pin database error: {0}")]
    Db(String),
    /// A stored pin could not be decoded.
    #[error("undecodable pin entry {key}")]
    CorruptEntry {
        /// The raw key, hex-encoded.
        key: String,
    },
}

impl From<sled::Error> for PinError {
    fn from(e: sled::Error) -> Self {
        PinError::Db(e.to_string())
    }
}

/// A stored pin as bytes: the CID's and the mode's tag.
type RawPin = (Vec<u8>, Vec<u8>);

/// Where the pins live: the repo's sled tree, or a map for a repo held in memory.
#[derive(Debug, Clone)]
enum PinTable {
    Sled(sled::Tree),
    Memory(Arc<RwLock<BTreeMap<Vec<u8>, u8>>>),
}

impl PinTable {
    fn get(&self, key: &[u8]) -> Result<Option<Vec<u8>>, PinError> {
        Ok(match self {
            PinTable::Sled(tree) => tree.get(key)?.map(|v| v.to_vec()),
            PinTable::Memory(map) => read(map).get(key).map(|tag| vec![*tag]),
        })
    }

    fn insert(&self, key: Vec<u8>, tag: u8) -> Result<(), PinError> {
        match self {
            PinTable::Sled(tree) => {
                tree.insert(key, &[tag])?;
            }
            PinTable::Memory(map) => {
                map.write()
                    .unwrap_or_else(PoisonError::into_inner)
                    .insert(key, tag);
            }
        }
        Ok(())
    }

    fn remove(&self, key: &[u8]) -> Result<(), PinError> {
        match self {
            PinTable::Sled(tree) => {
                tree.remove(key)?;
            }
            PinTable::Memory(map) => {
                map.write()
                    .unwrap_or_else(PoisonError::into_inner)
                    .remove(key);
            }
        }
        Ok(())
    }

    /// Every entry in key order; the memory table is copied first, so the caller iterates
    /// without holding its lock.
    fn entries(&self) -> Box<dyn Iterator<Item = Result<RawPin, PinError>> + Send> {
        match self {
            PinTable::Sled(tree) => Box::new(tree.iter().map(|item| {
                item.map(|(k, v)| (k.to_vec(), v.to_vec()))
                    .map_err(Into::into)
            })),
            PinTable::Memory(map) => {
                let copy: Vec<_> = read(map)
                    .iter()
                    .map(|(k, tag)| Ok((k.clone(), vec![*tag])))
                    .collect();
                Box::new(copy.into_iter())
            }
        }
    }

    fn len(&self) -> usize {
        match self {
            PinTable::Sled(tree) => tree.len(),
            PinTable::Memory(map) => read(map).len(),
        }
    }
}

fn read(
    map: &RwLock<BTreeMap<Vec<u8>, u8>>,
) -> std::sync::RwLockReadGuard<'_, BTreeMap<Vec<u8>, u8>> {
    map.read().unwrap_or_else(PoisonError::into_inner)
}

/// The pin set of a [`crate::Repo`], keyed by CID (as kubo lists pins).
///
/// A pin is recorded at once and is durable after the store's `flush`. GC honours a pin from
/// the moment `add` returns (it re-marks when the pin set changes under it), but a pin protects
/// only blocks still present at that moment: content being written must be protected by a
/// [`crate::Session`] until it is pinned. Each CID has at most one mode; recursive wins.
#[derive(Debug, Clone)]
pub struct Pins {
    table: PinTable,
    guard: Arc<Guard>,
    /// Serialises read-modify-write of one pin against another.
    write: Arc<Mutex<()>>,
}

impl Pins {
    pub(crate) fn new(tree: sled::Tree, guard: Arc<Guard>) -> Self {
        Self::with_table(PinTable::Sled(tree), guard)
    }

    /// An empty pin set held in memory (nothing durable).
    pub(crate) fn in_memory(guard: Arc<Guard>) -> Self {
        Self::with_table(PinTable::Memory(Arc::default()), guard)
    }

    fn with_table(table: PinTable, guard: Arc<Guard>) -> Self {
        Pins {
            table,
            guard,
            write: Arc::default(),
        }
    }

    /// Pins `cid`; returns whether the pin set changed. A recursive pin replaces a direct one;
    /// a direct pin on a recursively pinned CID is an error.
    pub fn add(&self, cid: &Cid, mode: PinMode) -> Result<bool, PinError> {
        Ok(self.set(cid, mode)? != Some(mode))
    }

    /// [`Pins::add`], returning the mode `cid` had before (equal to `mode` when nothing
    /// changed), so a caller keeping counts per mode can follow the change exactly.
    pub fn set(&self, cid: &Cid, mode: PinMode) -> Result<Option<PinMode>, PinError> {
        let _w = self.write.lock().unwrap_or_else(PoisonError::into_inner);
        let key = cid.to_bytes();
        let current = self.get_raw(&key)?;
        match (current, mode) {
            (Some(PinMode::Recursive), PinMode::Direct) => {
                return Err(PinError::AlreadyPinnedRecursively { cid: *cid });
            }
            (Some(m), _) if m == mode => {}
            _ => {
                self.table.insert(key, mode.tag())?;
                self.guard.bump_pins();
            }
        }
        Ok(current)
    }

    /// Unpins `cid`; returns the mode it had, or `None` if it was not pinned.
    pub fn rm(&self, cid: &Cid) -> Result<Option<PinMode>, PinError> {
        let _w = self.write.lock().unwrap_or_else(PoisonError::into_inner);
        let key = cid.to_bytes();
        let old = self.get_raw(&key)?;
        if old.is_some() {
            self.table.remove(&key)?;
            self.guard.bump_pins();
        }
        Ok(old)
    }

    /// The mode `cid` is pinned with, if any (direct and recursive pins only; whether a block
    /// is reachable from a recursive pin is GC's question).
    pub fn get(&self, cid: &Cid) -> Result<Option<PinMode>, PinError> {
        self.get_raw(&cid.to_bytes())
    }

    /// Whether `cid` is pinned directly or recursively.
    pub fn is_pinned(&self, cid: &Cid) -> Result<bool, PinError> {
        Ok(self.get(cid)?.is_some())
    }

    /// Every pin, optionally only those of one mode, in CID byte order.
    pub fn ls(
        &self,
        mode: Option<PinMode>,
    ) -> impl Iterator<Item = Result<(Cid, PinMode), PinError>> + Send + 'static {
        self.table.entries().filter_map(move |item| {
            let decoded = item.and_then(|(k, v)| {
                let cid = Cid::try_from(&k[..]).ok();
                match (cid, PinMode::from_tag(&v)) {
                    (Some(cid), Some(m)) => Ok((cid, m)),
                    _ => Err(PinError::CorruptEntry { key: hex_key(&k) }),
                }
            });
            match (decoded, mode) {
                (Ok((_, m)), Some(want)) if m != want => None,
                (other, _) => Some(other),
            }
        })
    }

    /// Number of pins (all modes).
    pub fn len(&self) -> usize {
        self.table.len()
    }

    /// True when nothing is pinned.
    pub fn is_empty(&self) -> bool {
        self.table.len() == 0
    }

    /// Current pin generation (GC compares it to see whether its mark is stale).
    pub(crate) fn generation(&self) -> u64 {
        self.guard.lock().pin_generation()
    }

    fn get_raw(&self, key: &[u8]) -> Result<Option<PinMode>, PinError> {
        match self.table.get(key)? {
            None => Ok(None),
            Some(v) => PinMode::from_tag(&v)
                .map(Some)
                .ok_or_else(|| PinError::CorruptEntry { key: hex_key(key) }),
        }
    }
}
