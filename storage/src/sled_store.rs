//! `SledStore`: the on-disk blockstore (sled index + append-only pack files).
//!
//! # Layout
//! ```text
//! <dir>/repo.lock                       exclusive flock + holder pid (RepoLock)
//! <dir>/index/                          sled: block index, counters, pins
//! <dir>/packs/<id>.pack                 records of blocks larger than Config::inline_max
//! ```
//! Blocks of at most [`Config::inline_max`] bytes (64 by default) live inside the index;
//! larger ones are appended to pack files (see the `pack` module), which keeps the disk
//! footprint of blocks near their size (sled alone measured 2.4x for 256 KiB values, 2.06x for
//! values of a few hundred bytes) and costs no inode per block. GC reclaims the space of removed blocks by
//! compacting sparse packs.
//!
//! # Durability
//! * `put`/`put_many` return once the block is visible to every reader of this store (and, for
//!   pack records, in the OS page cache: a crash of the *process* right after loses nothing).
//! * `flush` makes every `put`, `put_many`, `delete` and pin change that completed before it was
//!   called durable against a crash of the machine: it fsyncs the packs written since the last
//!   flush (and the directory if a pack was created), then flushes sled. `add` calls `flush`
//!   before it reports success.
//! * A record is appended before the index entry that names it, so a process crash leaves at
//!   most dead records (reclaimed by GC's compaction). After a machine crash sled may have
//!   persisted an entry whose record was not yet on disk. Every `flush` records a durable
//!   mark (the active pack and its size when the fsync began); on open, the records past it
//!   are checked, header and hash, and entries naming torn ones are dropped (see the
//!   `recover` module). `get`/`has`/`size` also treat an entry as absent when its pack is
//!   missing or too short or the record's header names another block, so a later `put` of the
//!   block repairs it. A clean close syncs the packs before it records its counters.
//! * Compaction fsyncs the copies it makes before it points any entry at them. Bytes are verified against their multihash on every read unless
//!   [`Config::with_verify_reads`] is off, so wrong bytes are never returned by default.

use std::collections::HashSet;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::time::{Duration, Instant};

use bytes::Bytes;
use cid::Cid;

use crate::Multihash;
use crate::block::Block;
use crate::codec;
use crate::guard::{Guard, SessionId};
use crate::index::{self, Entry, STAT_KEY};
use crate::lock::RepoLock;
use crate::migrate;
use crate::pack::{Location, PackDir};
use crate::pins::Pins;
use crate::recover;
use crate::session::Session;
use crate::store::{Blockstore, PutReport, StoreError, StoreStat};

/// Largest block kept inline in the index, in bytes: 64. Inline, a block of D bytes costs
/// about twice (35 + D) on disk (sled's space amplification, measured ~2x); in a pack,
/// D + 43 (the record header) plus twice the 55-byte index entry, so packing wins above about
/// 83 bytes. Measured with a million blocks of 200..1,000 bytes (`examples/small_blocks.rs`):
/// inline (the earlier limit, iroh-blobs' 16 KiB) took 2.06x the block bytes on disk and put
/// 29.5k blocks/s and read 50k blocks/s in random order; packed, 1.42x, 68.7k blocks/s and
/// 190k reads/s, with a faster open and listing. Packs
/// hold no file per block either way, so nothing favours inlining small blocks but the few
/// bytes of the tiniest (empty directories, short strings).
pub const DEFAULT_INLINE_MAX: usize = 64;
/// A pack is sealed, and the next one started, once it holds this many bytes. Compaction
/// rewrites at most half a pack's worth of live data at a time, and a 1 TiB store is 8,192
/// files.
pub const DEFAULT_PACK_TARGET: u64 = 128 * 1024 * 1024;
/// sled page cache size. sled's default (1 GiB) is sized for sled holding everything; here it
/// holds the index, pins and small blocks only.
pub const DEFAULT_CACHE_CAPACITY: u64 = 128 * 1024 * 1024;
/// On-disk format written by this build (bumped on incompatible layout changes). Format 1
/// kept one payload file per block; format 2 appends them to pack files.
pub const FORMAT_VERSION: u32 = 2;

/// Directory of the sled database inside the store directory.
const INDEX_DIR: &str = "index";
/// Directory of pack files inside the store directory.
const PACKS_DIR: &str = "packs";
/// Key of the format marker in sled's default tree.
const FORMAT_KEY: &[u8] = b"chorus-storage-format";

/// Tuning of a [`SledStore`].
#[derive(Debug, Clone)]
pub struct Config {
    inline_max: usize,
    pack_target: u64,
    cache_capacity: u64,
    early_writeback: bool,
    verify_reads: bool,
}

impl Default for Config {
    fn default() -> Self {
        Config {
            inline_max: DEFAULT_INLINE_MAX,
            pack_target: DEFAULT_PACK_TARGET,
            cache_capacity: DEFAULT_CACHE_CAPACITY,
            early_writeback: true,
            verify_reads: true,
        }
    }
}

impl Config {
    /// Blocks up to this many bytes are stored inside the index.
    pub fn with_inline_max(mut self, bytes: usize) -> Self {
        self.inline_max = bytes;
        self
    }

    /// See [`DEFAULT_PACK_TARGET`] (smaller packs make compaction finer-grained).
    pub fn with_pack_target(mut self, bytes: u64) -> Self {
        self.pack_target = bytes;
        self
    }

    /// Whether writeback of appended records starts as they are written, per 8 MiB (default
    /// on): the disk then works while the importer hashes, and `flush` has less to wait for.
    pub fn with_early_writeback(mut self, on: bool) -> Self {
        self.early_writeback = on;
        self
    }

    /// Whether reads re-hash every block (on by default; kubo's `Datastore.HashOnRead`, off in
    /// kubo). Off, a read trusts the bytes that were verified when they were written, with
    /// their length checked against the index; disk corruption is then found by
    /// [`SledStore::verify`] instead of by every read. Re-hashing costs more than the rest of a
    /// read (about 3× for `cat` and the gateway).
    pub fn with_verify_reads(mut self, on: bool) -> Self {
        self.verify_reads = on;
        self
    }

    /// sled's page cache in bytes.
    pub fn with_cache_capacity(mut self, bytes: u64) -> Self {
        self.cache_capacity = bytes;
        self
    }
}

/// The on-disk blockstore: a cheap, cloneable handle (`Send + Sync`) on one open store
/// directory. The directory is closed (and its lock released) when the last handle and the
/// last [`Session`] drop. See the module docs for the layout and the durability contract.
#[derive(Debug, Clone)]
pub struct SledStore {
    pub(crate) inner: Arc<Inner>,
}

#[derive(Debug)]
pub(crate) struct Inner {
    pub(crate) dir: PathBuf,
    pub(crate) db: sled::Db,
    pub(crate) index: sled::Tree,
    pub(crate) pins: Pins,
    pub(crate) packs: PackDir,
    pub(crate) guard: Arc<Guard>,
    /// The live counters, updated by every writer right after its index change (the record
    /// on disk is written only on a clean close, see the `index` module).
    pub(crate) stat: Mutex<StoreStat>,
    /// One GC at a time.
    pub(crate) gc_running: Mutex<()>,
    inline_max: usize,
    verify_reads: bool,
    // Declared last: dropped after the database is closed.
    _lock: RepoLock,
}

impl Inner {
    /// Fsyncs the packs written since the last sync, then records the durable mark taken
    /// before it (persisted by the sled flush that follows; see the `recover` module).
    fn sync_packs(&self) -> Result<(), StoreError> {
        let mark = self.packs.durable_mark();
        self.packs
            .sync()
            .map_err(|e| StoreError::io("syncing pack files", e))?;
        if let Some(mark) = mark {
            self.db
                .insert(recover::SYNC_MARK_KEY, &recover::encode_mark(mark)[..])?;
        }
        Ok(())
    }
}

impl Drop for Inner {
    fn drop(&mut self) {
        // Best effort: a clean close persists the index and then the counters; durability
        // proper is `flush`'s job. The counters go in only after every entry is durable, so a
        // record found on open never counts entries that were lost.
        // The packs first: the counters claim a clean close, which the next open trusts.
        if let Err(e) = self.sync_packs() {
            tracing::warn!(error = %e, "syncing pack files on close failed");
            let _ = self.db.flush();
            return;
        }
        let stat = *self.stat.lock().unwrap_or_else(PoisonError::into_inner);
        let closed = self
            .db
            .flush()
            .and_then(|_| self.index.insert(STAT_KEY, &index::encode_stat(stat)[..]))
            .and_then(|_| self.db.flush());
        match closed {
            Ok(_) => tracing::debug!(blocks = stat.blocks, "store closed cleanly"),
            Err(e) => tracing::warn!(error = %e, "flushing the index on close failed"),
        }
    }
}

impl SledStore {
    /// Opens (creating if needed) the store in `dir` with default tuning.
    pub fn open(dir: impl AsRef<Path>) -> Result<Self, StoreError> {
        Self::open_with(dir, Config::default())
    }

    /// Opens (creating if needed) the store in `dir`.
    ///
    /// Takes the repo lock first ([`StoreError::Locked`] if another handle or process holds
    /// it). A store of format 1 (one file per block) is upgraded to pack files first; a store
    /// of an unknown format is refused ([`StoreError::IncompatibleFormat`]).
    pub fn open_with(dir: impl AsRef<Path>, config: Config) -> Result<Self, StoreError> {
        let dir = dir.as_ref().to_path_buf();
        let lock = RepoLock::acquire(&dir)?;
        let db = open_sled(&dir.join(INDEX_DIR), config.cache_capacity)?;
        let found = db.get(FORMAT_KEY)?;
        let upgrade = match found.as_deref() {
            Some(v) if v == FORMAT_VERSION.to_string().as_bytes() => false,
            Some(v) if v == migrate::FROM_FORMAT => true,
            Some(v) => {
                return Err(StoreError::IncompatibleFormat {
                    path: dir,
                    found: String::from_utf8_lossy(v).into_owned(),
                    expected: FORMAT_VERSION,
                });
            }
            None => {
                db.insert(FORMAT_KEY, FORMAT_VERSION.to_string().as_bytes())?;
                false
            }
        };
        let index = db.open_tree("blocks")?;
        let guard = Arc::new(Guard::default());
        let pins = Pins::new(db.open_tree("pins")?, guard.clone());
        let packs_dir = dir.join(PACKS_DIR);
        let packs = PackDir::open(
            packs_dir.clone(),
            config.pack_target,
            config.early_writeback,
        )
        .map_err(|e| StoreError::io(format!("opening {}", packs_dir.display()), e))?;
        if upgrade {
            let done = migrate::upgrade_v1(&dir, &db, &index, &packs)?;
            db.insert(FORMAT_KEY, FORMAT_VERSION.to_string().as_bytes())?;
            db.flush()?;
            tracing::info!(
                moved = done.moved,
                dropped = done.dropped,
                "store upgraded to format {FORMAT_VERSION} (pack files)"
            );
        }
        // Records past the last durable mark may have been torn by a machine crash.
        let mark = db
            .get(recover::SYNC_MARK_KEY)?
            .as_deref()
            .and_then(recover::decode_mark);
        let torn = recover::find_torn(&packs, mark).map_err(|e| {
            StoreError::io("checking the pack records written since the last sync", e)
        })?;
        // The record is the counters of a clean close; it is removed, durably, before any
        // write, so that if this process dies the next open finds none and recounts.
        let mut recorded = index.remove(STAT_KEY)?;
        if !torn.is_empty() {
            let dropped = recover::drop_torn_entries(&index, &torn)?;
            tracing::warn!(
                packs = torn.len(),
                entries = dropped,
                "pack records torn by a machine crash (written after the last sync, never \
                 acknowledged); their index entries were dropped"
            );
            recorded = None;
        }
        let stat = match recorded.as_deref().and_then(index::decode_stat) {
            Some(s) => s,
            None => {
                let s = recount(&index)?;
                if !upgrade && found.is_some() {
                    tracing::info!(
                        blocks = s.blocks,
                        "store was not closed cleanly; its counters were recounted"
                    );
                }
                s
            }
        };
        db.flush()?;
        Ok(SledStore {
            inner: Arc::new(Inner {
                dir,
                db,
                index,
                pins,
                packs,
                guard,
                stat: Mutex::new(stat),
                gc_running: Mutex::new(()),
                inline_max: config.inline_max,
                verify_reads: config.verify_reads,
                _lock: lock,
            }),
        })
    }

    /// The store directory.
    pub fn path(&self) -> &Path {
        &self.inner.dir
    }

    /// The pin set.
    pub fn pins(&self) -> &Pins {
        &self.inner.pins
    }

    /// Opens a session: every block put or read through it is protected from GC until it
    /// drops. Use one around an import, and pin the root before dropping it.
    pub fn session(&self) -> Session {
        crate::Repo::session(self)
    }

    pub(crate) fn lock_stat(&self) -> MutexGuard<'_, StoreStat> {
        self.inner
            .stat
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
    }

    /// Looks `mh` up and applies `in_pack` to a pack location (`inline` to inline bytes). When
    /// `in_pack` finds nothing but the entry changed meanwhile (compaction moved the record,
    /// and may have removed the old pack), it looks again.
    fn lookup<T>(
        &self,
        mh: &Multihash,
        inline: impl Fn(&[u8]) -> T,
        in_pack: impl Fn(&Location) -> std::io::Result<Option<T>>,
    ) -> Result<Option<T>, StoreError> {
        let key = mh.to_bytes();
        let Some(mut value) = self.inner.index.get(&key)? else {
            return Ok(None);
        };
        loop {
            let loc = match index::decode(&key, &value)? {
                Entry::Inline(data) => return Ok(Some(inline(data))),
                Entry::Pack(loc) => loc,
            };
            let found = in_pack(&loc)
                .map_err(|e| StoreError::io(format!("reading block {}", raw_cid(mh)), e))?;
            if found.is_some() {
                return Ok(found);
            }
            match self.inner.index.get(&key)? {
                Some(now) if now != value => value = now,
                _ => return Ok(None),
            }
        }
    }

    /// Reads the bytes under `mh` without verifying them; `None` if absent, or if its record
    /// is missing, short or not the record of `mh`.
    pub(crate) fn read_unverified(&self, mh: &Multihash) -> Result<Option<Bytes>, StoreError> {
        self.lookup(mh, Bytes::copy_from_slice, |loc| {
            self.inner.packs.read(mh, loc)
        })
    }

    /// Length of the block under `mh` if it is present and, for pack records, whole on disk.
    fn present_len(&self, mh: &Multihash) -> Result<Option<u64>, StoreError> {
        self.lookup(
            mh,
            |data| data.len() as u64,
            |loc| Ok(self.inner.packs.contains(mh, loc)?.then_some(loc.len)),
        )
    }

    /// Stores `blocks`, protecting them for `session`; returns how many were new.
    pub(crate) fn write_blocks(
        &self,
        session: Option<SessionId>,
        blocks: &[Block],
    ) -> Result<PutReport, StoreError> {
        let mut seen = HashSet::with_capacity(blocks.len());
        let todo: Vec<&Block> = blocks
            .iter()
            .filter(|b| seen.insert(*b.cid().hash()))
            .collect();
        if todo.is_empty() {
            return Ok(PutReport::default());
        }
        let mhs: Vec<&Multihash> = todo.iter().map(|b| b.cid().hash()).collect();
        self.inner.guard.begin_puts(session, mhs.iter().copied());
        let result = self.write_registered(&todo);
        self.inner.guard.end_puts(mhs.iter().copied());
        result
    }

    /// The body of [`SledStore::write_blocks`], run while the puts are registered in-flight.
    fn write_registered(&self, blocks: &[&Block]) -> Result<PutReport, StoreError> {
        // Dropped after the entries are inserted (or the put fails): until then the packs written
        // count as in flight, so compaction leaves them alone.
        let mut appended = self.inner.packs.begin();
        // Every record first, then the entries: a put that fails writing (a full disk) leaves
        // only dead records, and none of its blocks visible.
        let mut entries = Vec::with_capacity(blocks.len());
        for block in blocks {
            let mh = block.cid().hash();
            if self.present_len(mh)?.is_some() {
                continue;
            }
            let key = mh.to_bytes();
            let data = block.data();
            let value = if data.len() <= self.inner.inline_max {
                index::encode_inline(data)
            } else {
                let loc = self
                    .inner
                    .packs
                    .append(&mut appended, mh, data)
                    .map_err(|e| StoreError::io(format!("writing block {}", block.cid()), e))?;
                index::encode_pack(&loc).to_vec()
            };
            entries.push((key, value, data.len() as u64));
        }
        let mut new = PutReport::default();
        for (key, value, len) in entries {
            // One atomic insert per entry, no batch (see the `index` module for why).
            let old = self.inner.index.insert(key.as_slice(), value)?;
            // A rewrite of a counted entry (one whose record was lost) repairs it and is not
            // new; a damaged entry was never counted (see `recount`), so replacing it counts.
            let counted = old.is_some_and(|v| index::decode(&key, &v).is_ok());
            if !counted {
                let mut stat = self.lock_stat();
                stat.blocks += 1;
                stat.bytes += len;
                new.new_blocks += 1;
                new.new_bytes += len;
            }
        }
        Ok(new)
    }

    /// Removes the index entry of `mh` (its pack record becomes dead space, reclaimed by GC's
    /// compaction). The caller holds the guard lock, so no put of `mh` runs concurrently.
    /// Returns the entry's payload length.
    pub(crate) fn remove_entry_locked(&self, mh: &Multihash) -> Result<Option<u64>, StoreError> {
        let key = mh.to_bytes();
        let Some(value) = self.inner.index.remove(&key)? else {
            return Ok(None);
        };
        // A damaged entry (never counted, see `recount`) is removed too.
        let len = match index::decode(&key, &value) {
            Ok(e) => {
                let mut stat = self.lock_stat();
                stat.blocks = stat.blocks.saturating_sub(1);
                stat.bytes = stat.bytes.saturating_sub(e.len());
                e.len()
            }
            Err(_) => 0,
        };
        Ok(Some(len))
    }
}

/// How long `open` waits for sled's own file lock once the repo lock is held.
const SLED_LOCK_WAIT: Duration = Duration::from_secs(5);
/// Pause between attempts to take sled's lock.
const SLED_LOCK_RETRY: Duration = Duration::from_millis(10);

/// Opens a sled database inside a repo: the index, or the node's own small databases (the
/// provide queue, the replication log). The repo lock is already held, so if sled's own lock
/// on its files is taken it can only be by this process's previous handle on the same
/// database: sled's I/O threads may outlive the handle's drop by a moment (seen when a
/// database is reopened at once in the same process). That is waited out, briefly; sled
/// offers no event to await.
pub fn open_sled(path: &Path, cache_capacity: u64) -> Result<sled::Db, StoreError> {
    let deadline = Instant::now() + SLED_LOCK_WAIT;
    loop {
        match sled::Config::new()
            .path(path)
            .cache_capacity(cache_capacity)
            .open()
        {
            Err(sled::Error::Io(e))
                if e.to_string().contains("could not acquire lock")
                    && Instant::now() < deadline =>
            {
                std::thread::sleep(SLED_LOCK_RETRY);
            }
            other => return Ok(other?),
        }
    }
}

/// Recomputes the counters by scanning the index (only when the record is missing/damaged).
fn recount(index: &sled::Tree) -> Result<StoreStat, StoreError> {
    let mut stat = StoreStat::default();
    for item in index.iter() {
        let (k, v) = item?;
        if k.as_ref() == STAT_KEY {
            continue;
        }
        if let Ok(e) = index::decode(&k, &v) {
            stat.blocks += 1;
            stat.bytes += e.len();
        }
    }
    Ok(stat)
}

/// A CIDv1 raw naming `mh`, for messages and for verifying bytes by multihash.
pub(crate) fn raw_cid(mh: &Multihash) -> Cid {
    Cid::new_v1(codec::RAW, *mh)
}

/// Verifies that `data` hashes to `mh`.
pub(crate) fn verify_mh(mh: &Multihash, data: Bytes) -> Result<Bytes, StoreError> {
    let cid = raw_cid(mh);
    Block::new(cid, data)
        .map(|b| b.into_parts().1)
        .map_err(|source| StoreError::Corrupt { cid, source })
}

impl Blockstore for SledStore {
    /// Verified unless [`Config::with_verify_reads`] is off: bytes that do not hash to `mh`
    /// are then an error, never returned.
    fn get_data(&self, mh: &Multihash) -> Result<Option<Bytes>, StoreError> {
        match self.read_unverified(mh)? {
            Some(data) if self.inner.verify_reads => verify_mh(mh, data).map(Some),
            other => Ok(other),
        }
    }

    fn get(&self, cid: &Cid) -> Result<Option<Block>, StoreError> {
        let Some(data) = self.read_unverified(cid.hash())? else {
            return Ok(None);
        };
        if !self.inner.verify_reads {
            // Verified when written (only `Block`s are ever stored), length checked on read.
            return Ok(Some(Block::trusted(*cid, data)));
        }
        // Hashes once: `Block::new` is the verification.
        Block::new(*cid, data)
            .map(Some)
            .map_err(|source| StoreError::Corrupt { cid: *cid, source })
    }

    fn has(&self, mh: &Multihash) -> Result<bool, StoreError> {
        Ok(self.present_len(mh)?.is_some())
    }

    fn size(&self, mh: &Multihash) -> Result<Option<u64>, StoreError> {
        self.present_len(mh)
    }

    fn put(&self, block: &Block) -> Result<bool, StoreError> {
        Ok(self
            .write_blocks(None, std::slice::from_ref(block))?
            .new_blocks
            == 1)
    }

    /// All the pack records, then one index insert per block.
    fn put_many(&self, blocks: &[Block]) -> Result<PutReport, StoreError> {
        self.write_blocks(None, blocks)
    }

    /// Waits for puts of the same block in progress, then removes it (even if pinned: pin
    /// policy is the caller's). A pack record's space comes back at the next GC's compaction.
    fn delete(&self, mh: &Multihash) -> Result<bool, StoreError> {
        let _g = self.inner.guard.lock_when_idle(mh);
        Ok(self.remove_entry_locked(mh)?.is_some())
    }

    fn list(&self) -> Box<dyn Iterator<Item = Result<Multihash, StoreError>> + Send + '_> {
        Box::new(self.inner.index.iter().keys().filter_map(|k| match k {
            Err(e) => Some(Err(e.into())),
            Ok(k) if k.as_ref() == STAT_KEY => None,
            Ok(k) => Some(
                Multihash::from_bytes(&k).map_err(|_| StoreError::CorruptEntry {
                    key: index::hex_key(&k),
                    reason: "key is not a multihash",
                }),
            ),
        }))
    }

    fn flush(&self) -> Result<(), StoreError> {
        self.inner.sync_packs()?;
        self.inner.db.flush()?;
        Ok(())
    }

    /// From counters kept in the index: O(1).
    fn stat(&self) -> Result<StoreStat, StoreError> {
        Ok(*self.lock_stat())
    }
}
