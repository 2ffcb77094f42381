//! Append-only pack files for blocks too large to live inline in the index.
//!
//! Layout: `packs/<id>.pack`, `<id>` eight lowercase hex digits. A pack is a sequence of
//! records, each `"CP" | mh_len: u8 | multihash | data_len: u32 LE | data`, appended by one
//! writer at a time to the *active* pack; when it reaches the target size a new one becomes
//! active and the old one is sealed (never written again). The index names each block's
//! record by [`Location`]; the header makes a pack self-describing, so compaction can walk it
//! and a read can check that the record it was sent to is the block it asked for.
//!
//! Why packs and not one file per block: creating a file costs an inode allocation and a
//! directory entry, which measured 35–55 % of a receiving node's CPU at 256 KiB per block on
//! ext4; appending to an open file costs the copy into the page cache only. Dead records (of
//! deleted blocks, or of puts a crash interrupted before their index entry) are reclaimed by
//! compaction during GC, which rewrites a sealed pack's live records into the active pack.
//!
//! A pack that is being written is tracked by an in-flight count per pack: a put's records
//! count until its index entries are written, and compaction only touches sealed packs with
//! no put in flight, so it never misses a record whose entry is about to appear.

use std::collections::{BTreeSet, HashMap};
use std::fs::{self, File, OpenOptions};
use std::io;
use std::os::fd::AsRawFd;
use std::os::unix::fs::FileExt;
use std::path::PathBuf;
use std::sync::{Arc, Mutex, MutexGuard, PoisonError, RwLock};

use crate::Multihash;

/// Magic bytes at the start of every record.
const MAGIC: &[u8; 2] = b"CP";
/// Suffix of pack files.
const PACK_SUFFIX: &str = ".pack";
/// Early writeback is started per this many bytes appended: often enough that the disk works
/// while the importer hashes, rarely enough that the syscall (3-4 % of a receiving node's CPU
/// when made per 256 KiB record) stays out of the profile.
const WRITEBACK_CHUNK: u64 = 8 * 1024 * 1024;
/// Pack files kept open for reads. Bounded so that a large store does not use up the
/// daemon's descriptors (a soft limit of 1,024 is common, and connections need them too); 256
/// packs of 128 MiB cover 32 GiB of hot data.
const MAX_OPEN_PACKS: usize = 256;
/// Largest multihash encoding (64-byte digest plus two varint codes of at most 5 bytes).
const MAX_MH_LEN: usize = 74;
/// Largest record header: magic, mh length, multihash, data length.
const MAX_HEADER_LEN: usize = 2 + 1 + MAX_MH_LEN + 4;

/// Where a block's bytes are: the data of a record, after its header.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub(crate) struct Location {
    /// Pack id.
    pub(crate) pack: u32,
    /// Offset of the data (not the header) in the pack.
    pub(crate) offset: u64,
    /// Data length.
    pub(crate) len: u64,
}

impl Location {
    /// Bytes the record takes in its pack, header included.
    pub(crate) fn record_len(&self, mh: &Multihash) -> u64 {
        header_len(mh) as u64 + self.len
    }
}

/// Length of the record header for `mh`.
fn header_len(mh: &Multihash) -> usize {
    2 + 1 + mh.encoded_len() + 4
}

/// The record header for `mh` and `len` bytes of data.
fn encode_header(mh: &Multihash, len: u32) -> Vec<u8> {
    let mh_bytes = mh.to_bytes();
    let mut h = Vec::with_capacity(2 + 1 + mh_bytes.len() + 4);
    h.extend_from_slice(MAGIC);
    // A multihash of `Multihash<64>` encodes in at most MAX_MH_LEN (< 256) bytes.
    h.push(mh_bytes.len() as u8);
    h.extend_from_slice(&mh_bytes);
    h.extend_from_slice(&len.to_le_bytes());
    h
}

/// The pack being appended to.
#[derive(Debug)]
struct Active {
    id: u32,
    file: Arc<File>,
    /// Bytes written so far.
    size: u64,
    /// Where the range not yet handed to early writeback starts.
    writeback_from: u64,
}

/// The active pack and the in-flight counts.
#[derive(Debug)]
struct Writer {
    /// Id the next pack will get.
    next_id: u32,
    /// The pack being appended to (`None` until the first write after open).
    active: Option<Active>,
    /// Records appended per pack whose puts have not yet finished.
    inflight: HashMap<u32, usize>,
}

/// The directory of pack files.
#[derive(Debug)]
pub(crate) struct PackDir {
    root: PathBuf,
    /// Open handle on `root`, to make new pack names durable.
    root_handle: File,
    writer: Mutex<Writer>,
    /// Open packs, for reads (at most [`MAX_OPEN_PACKS`]). A removed pack's handle stays valid
    /// for readers holding it.
    handles: RwLock<HashMap<u32, Arc<File>>>,
    /// Packs written since the last sync, and whether a pack was created since then.
    unsynced: Mutex<(BTreeSet<u32>, bool)>,
    /// Held for a whole `sync`, so a concurrent `sync` waits for the packs it needs.
    syncing: Mutex<()>,
    /// A pack is sealed once it holds at least this many bytes.
    target_size: u64,
    /// Start writeback of every [`WRITEBACK_CHUNK`] written (see [`start_writeback`]).
    early_writeback: bool,
}

/// What [`PackDir::records_from`] found.
#[derive(Debug, Default)]
pub(crate) struct RecordWalk {
    /// The whole records, in file order.
    pub(crate) records: Vec<(Multihash, Location)>,
    /// Where the walk stopped (`size` unless the rest does not parse).
    pub(crate) end: u64,
    /// The file's length.
    pub(crate) size: u64,
}

/// Records appended by one put: their packs count as in flight until this drops, which the put
/// does after writing (or failing to write) their index entries.
#[derive(Debug)]
pub(crate) struct Appended<'a> {
    dir: &'a PackDir,
    packs: Vec<u32>,
}

impl Drop for Appended<'_> {
    fn drop(&mut self) {
        let mut w = self.dir.lock_writer();
        for p in self.packs.drain(..) {
            if let Some(n) = w.inflight.get_mut(&p) {
                *n -= 1;
                if *n == 0 {
                    w.inflight.remove(&p);
                }
            }
        }
    }
}

impl PackDir {
    /// Opens (creating if needed) the pack directory. Only call this while holding the repo
    /// lock. New records go to a new pack: the last pack's tail may be torn by a crash.
    pub(crate) fn open(root: PathBuf, target_size: u64, early_writeback: bool) -> io::Result<Self> {
        fs::create_dir_all(&root)?;
        let root_handle = File::open(&root)?;
        let next_id = list_ids(&root)?
            .iter()
            .max()
            .map_or(0, |m| m.saturating_add(1));
        Ok(PackDir {
            root,
            root_handle,
            writer: Mutex::new(Writer {
                next_id,
                active: None,
                inflight: HashMap::new(),
            }),
            handles: RwLock::new(HashMap::new()),
            unsynced: Mutex::new((BTreeSet::new(), false)),
            syncing: Mutex::new(()),
            target_size,
            early_writeback,
        })
    }

    fn lock_writer(&self) -> MutexGuard<'_, Writer> {
        self.writer.lock().unwrap_or_else(PoisonError::into_inner)
    }

    fn path(&self, pack: u32) -> PathBuf {
        self.root.join(format!("{pack:08x}{PACK_SUFFIX}"))
    }

    /// Starts recording the packs of one put.
    pub(crate) fn begin(&self) -> Appended<'_> {
        Appended {
            dir: self,
            packs: Vec::new(),
        }
    }

    /// Appends `data` as the record of `mh` to the active pack; the pack counts as in flight
    /// until `put` drops. Visible to readers (page cache) on return, durable after
    /// [`PackDir::sync`].
    pub(crate) fn append(
        &self,
        put: &mut Appended<'_>,
        mh: &Multihash,
        data: &[u8],
    ) -> io::Result<Location> {
        let len = u32::try_from(data.len())
            .map_err(|_| io::Error::new(io::ErrorKind::InvalidInput, "block too large"))?;
        let header = encode_header(mh, len);
        let mut guard = self.lock_writer();
        let w: &mut Writer = &mut guard;
        let a = match w.active.take() {
            Some(a) if a.size < self.target_size => w.active.insert(a),
            _ => {
                let id = w.next_id;
                w.next_id = id
                    .checked_add(1)
                    .ok_or_else(|| io::Error::other("pack ids exhausted"))?;
                let file = Arc::new(
                    OpenOptions::new()
                        .read(true)
                        .write(true)
                        .create_new(true)
                        .open(self.path(id))?,
                );
                self.cache_handle(id, file.clone());
                self.unsynced
                    .lock()
                    .unwrap_or_else(PoisonError::into_inner)
                    .1 = true;
                w.active.insert(Active {
                    id,
                    file,
                    size: 0,
                    writeback_from: 0,
                })
            }
        };
        let start = a.size;
        let written = a
            .file
            .write_all_at(&header, start)
            .and_then(|()| a.file.write_all_at(data, start + header.len() as u64));
        if let Err(e) = written {
            // Give the space back; a failed truncate only leaves a dead tail.
            let _ = a.file.set_len(start);
            return Err(e);
        }
        a.size += header.len() as u64 + data.len() as u64;
        if self.early_writeback && a.size - a.writeback_from >= WRITEBACK_CHUNK {
            start_writeback(&a.file, a.writeback_from, a.size - a.writeback_from);
            a.writeback_from = a.size;
        }
        let pack = a.id;
        *w.inflight.entry(pack).or_insert(0) += 1;
        // Registered for the next sync before the writer lock goes: a sync that sees this
        // record in the active pack's size (its durable mark) also fsyncs its pack.
        self.unsynced
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .0
            .insert(pack);
        drop(guard);
        put.packs.push(pack);
        Ok(Location {
            pack,
            offset: start + header.len() as u64,
            len: data.len() as u64,
        })
    }

    /// The open handle of `pack`, or `None` if it does not exist.
    fn handle(&self, pack: u32) -> io::Result<Option<Arc<File>>> {
        if let Some(f) = self
            .handles
            .read()
            .unwrap_or_else(PoisonError::into_inner)
            .get(&pack)
        {
            return Ok(Some(f.clone()));
        }
        let file = match File::open(self.path(pack)) {
            Ok(f) => Arc::new(f),
            Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(None),
            Err(e) => return Err(e),
        };
        Ok(Some(self.cache_handle(pack, file)))
    }

    /// Keeps `file` open as the handle of `pack` (or returns the one another thread cached
    /// first), evicting another if [`MAX_OPEN_PACKS`] are open.
    fn cache_handle(&self, pack: u32, file: Arc<File>) -> Arc<File> {
        let mut handles = self.handles.write().unwrap_or_else(PoisonError::into_inner);
        if handles.len() >= MAX_OPEN_PACKS && !handles.contains_key(&pack) {
            // Any one will do: a reader holding the evicted handle keeps it until it is done,
            // and the next reader of that pack opens it again.
            if let Some(&evict) = handles.keys().next() {
                handles.remove(&evict);
            }
        }
        handles.entry(pack).or_insert(file).clone()
    }

    /// Whether the record of `mh` at `loc` is whole on disk: its pack is long enough and the
    /// header there names `mh` (a record torn by a machine crash reads as absent, so a later
    /// put of the block writes it again).
    pub(crate) fn contains(&self, mh: &Multihash, loc: &Location) -> io::Result<bool> {
        let Some(f) = self.handle(loc.pack)? else {
            return Ok(false);
        };
        if f.metadata()?.len() < loc.offset + loc.len {
            return Ok(false);
        }
        let (Some(start), Ok(data_len)) = (
            loc.offset.checked_sub(header_len(mh) as u64),
            u32::try_from(loc.len),
        ) else {
            return Ok(false);
        };
        let expected = encode_header(mh, data_len);
        let mut found = vec![0u8; expected.len()];
        f.read_exact_at(&mut found, start)?;
        Ok(found == expected)
    }

    /// Whether the pack of `loc` exists and is long enough to hold the record (whatever it
    /// holds there): `repo verify` tells a missing record from a damaged one by this.
    pub(crate) fn reaches(&self, loc: &Location) -> io::Result<bool> {
        match self.handle(loc.pack)? {
            Some(f) => Ok(f.metadata()?.len() >= loc.offset + loc.len),
            None => Ok(false),
        }
    }

    /// The active pack and its size: every record below that point is covered by the next
    /// [`PackDir::sync`] that starts after this call. `None` before the first append.
    pub(crate) fn durable_mark(&self) -> Option<(u32, u64)> {
        self.lock_writer().active.as_ref().map(|a| (a.id, a.size))
    }

    /// Ids of every pack present, ascending.
    pub(crate) fn ids(&self) -> io::Result<Vec<u32>> {
        let mut ids = list_ids(&self.root)?;
        ids.sort_unstable();
        Ok(ids)
    }

    /// Reads the data of `mh`'s record at `loc`. `None` when the pack is missing or too short,
    /// or the header there does not name `mh` (a torn or damaged record: treated as absent).
    pub(crate) fn read(&self, mh: &Multihash, loc: &Location) -> io::Result<Option<bytes::Bytes>> {
        let Some(file) = self.handle(loc.pack)? else {
            return Ok(None);
        };
        let hlen = header_len(mh) as u64;
        let Some(start) = loc.offset.checked_sub(hlen) else {
            return Ok(None);
        };
        // An entry is data from disk: its length is checked against the file before anything
        // is allocated for it (a damaged index entry must not ask for gigabytes).
        if file.metadata()?.len() < start.saturating_add(hlen).saturating_add(loc.len) {
            return Ok(None);
        }
        let total =
            usize::try_from(hlen + loc.len).map_err(|_| io::Error::other("record too large"))?;
        let Some(buf) = read_at_uninit(&file, total, start)? else {
            return Ok(None);
        };
        let Ok(data_len) = u32::try_from(loc.len) else {
            return Ok(None);
        };
        if buf[..hlen as usize] != encode_header(mh, data_len)[..] {
            tracing::warn!(
                pack = loc.pack,
                offset = loc.offset,
                "pack record header mismatch"
            );
            return Ok(None);
        }
        Ok(Some(bytes::Bytes::from(buf).slice(hlen as usize..)))
    }

    /// Makes every record appended before this call durable, with the names of new packs.
    pub(crate) fn sync(&self) -> io::Result<()> {
        let _one = self.syncing.lock().unwrap_or_else(PoisonError::into_inner);
        let (packs, created) =
            std::mem::take(&mut *self.unsynced.lock().unwrap_or_else(PoisonError::into_inner));
        let result = (|| {
            for &p in &packs {
                if let Some(f) = self.handle(p)? {
                    f.sync_data()?;
                }
            }
            if created {
                self.root_handle.sync_all()?;
            }
            Ok(())
        })();
        if result.is_err() {
            // Nothing may be assumed durable: the next sync covers these again.
            let mut u = self.unsynced.lock().unwrap_or_else(PoisonError::into_inner);
            u.0.extend(packs);
            u.1 |= created;
        }
        result
    }

    /// Sealed packs that no put is writing, with their sizes: what compaction may touch.
    pub(crate) fn idle_sealed(&self) -> io::Result<Vec<(u32, u64)>> {
        let ids = list_ids(&self.root)?;
        let w = self.lock_writer();
        let active = w.active.as_ref().map(|a| a.id);
        let mut out = Vec::new();
        for id in ids {
            if Some(id) == active || w.inflight.contains_key(&id) {
                continue;
            }
            match fs::metadata(self.path(id)) {
                Ok(m) => out.push((id, m.len())),
                Err(e) if e.kind() == io::ErrorKind::NotFound => {}
                Err(e) => return Err(e),
            }
        }
        Ok(out)
    }

    /// Every well-formed record of `pack`, in order, as (multihash, location). Stops at the
    /// first malformed or torn record (the tail a crash may leave).
    pub(crate) fn records(&self, pack: u32) -> io::Result<Vec<(Multihash, Location)>> {
        Ok(self.records_from(pack, 0)?.records)
    }

    /// The records of `pack` from offset `start` (a record boundary) on, and where the walk
    /// stopped: the file's end, or a header that does not parse or a record cut short.
    pub(crate) fn records_from(&self, pack: u32, start: u64) -> io::Result<RecordWalk> {
        let Some(file) = self.handle(pack)? else {
            return Ok(RecordWalk::default());
        };
        let size = file.metadata()?.len();
        let mut out = Vec::new();
        let mut pos = start;
        let mut buf = [0u8; MAX_HEADER_LEN];
        while pos < size {
            let n = usize::try_from((size - pos).min(MAX_HEADER_LEN as u64)).unwrap_or(0);
            file.read_exact_at(&mut buf[..n], pos)?;
            let Some((mh, hlen, len)) = parse_header(&buf[..n]) else {
                tracing::warn!(pack, offset = pos, "pack ends in a malformed record");
                break;
            };
            let offset = pos + hlen as u64;
            if offset + len > size {
                break;
            }
            out.push((mh, Location { pack, offset, len }));
            pos = offset + len;
        }
        Ok(RecordWalk {
            records: out,
            end: pos,
            size,
        })
    }

    /// Removes `pack` (readers holding its handle keep reading it).
    pub(crate) fn remove(&self, pack: u32) -> io::Result<()> {
        self.handles
            .write()
            .unwrap_or_else(PoisonError::into_inner)
            .remove(&pack);
        match fs::remove_file(self.path(pack)) {
            Ok(()) => Ok(()),
            Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(()),
            Err(e) => Err(e),
        }
    }

    /// Ids of every pack present.
    #[cfg(test)]
    pub(crate) fn list(&self) -> io::Result<Vec<u32>> {
        list_ids(&self.root)
    }

    /// Length of the file of `pack`, if it exists.
    #[cfg(test)]
    pub(crate) fn file_len(&self, pack: u32) -> io::Result<Option<u64>> {
        match fs::metadata(self.path(pack)) {
            Ok(m) => Ok(Some(m.len())),
            Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(None),
            Err(e) => Err(e),
        }
    }

    /// Path of the file of `pack` (for tests that damage records).
    #[cfg(test)]
    pub(crate) fn file_path(&self, pack: u32) -> PathBuf {
        self.path(pack)
    }
}

/// Reads exactly `len` bytes at `offset` into a fresh buffer; `None` at end of file. The
/// buffer is not zeroed first: zeroing 256 KiB blocks showed as 4-5 % of a serving node's
/// CPU, and `pread` overwrites every byte anyway.
fn read_at_uninit(file: &File, len: usize, offset: u64) -> io::Result<Option<Vec<u8>>> {
    let mut buf: Vec<u8> = Vec::with_capacity(len);
    while buf.len() < len {
        let filled = buf.len();
        let at = libc::off_t::try_from(offset + filled as u64)
            .map_err(|_| io::Error::other("offset out of range"))?;
        let spare = &mut buf.spare_capacity_mut()[..len - filled];
        // SAFETY: `spare` is writable memory of `spare.len()` bytes owned by `buf`; pread
        // writes at most that many bytes into it and reports how many it wrote.
        let n =
            unsafe { libc::pread(file.as_raw_fd(), spare.as_mut_ptr().cast(), spare.len(), at) };
        match usize::try_from(n) {
            Ok(0) => return Ok(None),
            Ok(n) => {
                // SAFETY: the first `n` spare bytes were just initialised by pread, and
                // `n <= spare.len()`, so the new length stays within the capacity.
                unsafe { buf.set_len(filled + n) };
            }
            Err(_) => {
                let e = io::Error::last_os_error();
                if e.kind() != io::ErrorKind::Interrupted {
                    return Err(e);
                }
            }
        }
    }
    Ok(Some(buf))
}

/// Parses a record header at the start of `buf`: (multihash, header length, data length).
fn parse_header(buf: &[u8]) -> Option<(Multihash, usize, u64)> {
    let rest = buf.strip_prefix(MAGIC)?;
    let (&mh_len, rest) = rest.split_first()?;
    let mh_len = usize::from(mh_len);
    let mh = Multihash::from_bytes(rest.get(..mh_len)?).ok()?;
    let len: [u8; 4] = rest.get(mh_len..mh_len + 4)?.try_into().ok()?;
    Some((mh, 2 + 1 + mh_len + 4, u64::from(u32::from_le_bytes(len))))
}

/// Ids of the pack files in `root`; other names are ignored with a warning.
fn list_ids(root: &std::path::Path) -> io::Result<Vec<u32>> {
    let mut ids = Vec::new();
    for entry in fs::read_dir(root)? {
        let entry = entry?;
        let name = entry.file_name();
        let id = name
            .to_str()
            .and_then(|n| n.strip_suffix(PACK_SUFFIX))
            .filter(|stem| stem.len() == 8)
            .and_then(|stem| u32::from_str_radix(stem, 16).ok());
        match id {
            Some(id) => ids.push(id),
            None => {
                tracing::warn!(path = %entry.path().display(), "unexpected file in packs directory")
            }
        }
    }
    Ok(ids)
}

/// Asks the kernel to start writing a just-appended range to disk now, without waiting for it,
/// so the disk works while the importer hashes the next chunks and `flush` has less left to
/// wait for. Advisory: errors are ignored (the later fsync reports real write errors).
fn start_writeback(f: &File, offset: u64, len: u64) {
    #[cfg(target_os = "linux")]
    // SAFETY: `f` is an open descriptor; the call only schedules I/O on it.
    unsafe {
        libc::sync_file_range(
            f.as_raw_fd(),
            offset as libc::off64_t,
            len as libc::off64_t,
            libc::SYNC_FILE_RANGE_WRITE,
        );
    }
    #[cfg(not(target_os = "linux"))]
    let _ = (f, offset, len);
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{HashAlg, hash_data};

    fn mh(data: &[u8]) -> Multihash {
        hash_data(HashAlg::Sha2_256, data).unwrap()
    }

    #[test]
    fn records_round_trip_and_rotate() {
        let dir = tempfile::tempdir().unwrap();
        let p = PackDir::open(dir.path().join("packs"), 100, true).unwrap();
        let mut put = p.begin();
        let a = p.append(&mut put, &mh(b"a"), &[1u8; 80]).unwrap();
        let b = p.append(&mut put, &mh(b"b"), &[2u8; 10]).unwrap();
        assert_ne!(
            a.pack, b.pack,
            "the first record filled the pack past its target"
        );
        assert_eq!(p.read(&mh(b"a"), &a).unwrap().unwrap(), vec![1u8; 80]);
        assert_eq!(p.read(&mh(b"b"), &b).unwrap().unwrap(), vec![2u8; 10]);
        // A location read for another multihash is refused by the header check.
        assert_eq!(p.read(&mh(b"b"), &a).unwrap(), None);
        assert!(p.contains(&mh(b"a"), &a).unwrap());
        assert!(
            !p.contains(&mh(b"b"), &a).unwrap(),
            "another block's record"
        );
        assert_eq!(
            p.records(a.pack).unwrap(),
            vec![(mh(b"a"), a)],
            "a pack walks back to its records"
        );
        // In flight until the put is done; sealed packs only then become idle.
        assert!(p.idle_sealed().unwrap().is_empty());
        drop(put);
        let idle = p.idle_sealed().unwrap();
        assert_eq!(idle, vec![(a.pack, a.record_len(&mh(b"a")))]);
        p.sync().unwrap();
        p.remove(a.pack).unwrap();
        assert_eq!(p.read(&mh(b"a"), &a).unwrap(), None);
        assert!(!p.contains(&mh(b"a"), &a).unwrap());
        assert_eq!(p.list().unwrap(), vec![b.pack]);
    }

    #[test]
    fn open_handles_are_bounded() {
        let dir = tempfile::tempdir().unwrap();
        let root = dir.path().join("packs");
        let p = PackDir::open(root.clone(), 1, false).unwrap();
        let n = MAX_OPEN_PACKS + 10;
        let locs: Vec<_> = (0..n as u32)
            .map(|i| {
                let data = i.to_le_bytes();
                (data, p.append(&mut p.begin(), &mh(&data), &data).unwrap())
            })
            .collect();
        assert_eq!(p.handles.read().unwrap().len(), MAX_OPEN_PACKS);
        drop(p);
        let p = PackDir::open(root, 1, false).unwrap();
        for (data, loc) in &locs {
            assert_eq!(&p.read(&mh(data), loc).unwrap().unwrap()[..], data);
        }
        assert_eq!(p.handles.read().unwrap().len(), MAX_OPEN_PACKS);
    }

    #[test]
    fn a_reopened_dir_writes_a_new_pack_and_walks_past_nothing_torn() {
        let dir = tempfile::tempdir().unwrap();
        let root = dir.path().join("packs");
        let p = PackDir::open(root.clone(), 1 << 20, false).unwrap();
        let a = p.append(&mut p.begin(), &mh(b"a"), b"alpha").unwrap();
        drop(p);
        // A torn record at the tail, as a crash mid-append leaves it.
        let path = root.join(format!("{:08x}.pack", a.pack));
        let mut bytes = fs::read(&path).unwrap();
        bytes.extend_from_slice(&encode_header(&mh(b"b"), 1000));
        bytes.extend_from_slice(b"partial");
        fs::write(&path, bytes).unwrap();

        let p = PackDir::open(root, 1 << 20, false).unwrap();
        assert_eq!(p.records(a.pack).unwrap(), vec![(mh(b"a"), a)]);
        let b = p.append(&mut p.begin(), &mh(b"b"), b"beta").unwrap();
        assert_eq!(b.pack, a.pack + 1);
        assert_eq!(&p.read(&mh(b"a"), &a).unwrap().unwrap()[..], b"alpha");
    }
}
