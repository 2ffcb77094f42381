//! Pins: the roots garbage collection keeps, stored in a sled tree next to the block index.

use std::sync::{Arc, Mutex, PoisonError};

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

/// The pin set of a [`crate::SledStore`], keyed by CID (as kubo lists pins).
///
/// A pin is recorded at once and is durable after the store's `flush`. GC honours a pin from
/// the moment `add` returns (it re-marks when the pin set changes under it), but a pin protects
/// only blocks still present at that moment: content being written must be protected by a
/// [`crate::Session`] until it is pinned. Each CID has at most one mode; recursive wins.
#[derive(Debug, Clone)]
pub struct Pins {
    tree: sled::Tree,
    guard: Arc<Guard>,
    /// Serialises read-modify-write of one pin against another.
    write: Arc<Mutex<()>>,
}

impl Pins {
    pub(crate) fn new(tree: sled::Tree, guard: Arc<Guard>) -> Self {
        Pins {
            tree,
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
                self.tree.insert(key, &[mode.tag()])?;
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
            self.tree.remove(key)?;
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
        self.tree.iter().filter_map(move |item| {
            let decoded = item.map_err(PinError::from).and_then(|(k, v)| {
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
        self.tree.len()
    }

    /// True when nothing is pinned.
    pub fn is_empty(&self) -> bool {
        self.tree.is_empty()
    }

    /// Current pin generation (GC compares it to see whether its mark is stale).
    pub(crate) fn generation(&self) -> u64 {
        self.guard.lock().pin_generation()
    }

    fn get_raw(&self, key: &[u8]) -> Result<Option<PinMode>, PinError> {
        match self.tree.get(key)? {
            None => Ok(None),
            Some(v) => PinMode::from_tag(&v)
                .map(Some)
                .ok_or_else(|| PinError::CorruptEntry { key: hex_key(key) }),
        }
    }
}
