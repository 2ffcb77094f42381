//! The cycle's work list as one file of entries sorted by keyspace point, built by an external
//! sort, so building it costs sequential I/O and one sort run of memory whatever the key count.
//!
//! Why a file and not a sled tree: at 5 million keys, random inserts into a sled tree ordered
//! by keyspace point took 461 s and raised the daemon's RSS by ~700 MB (README, "reprovide
//! sweep"). Here the store's listing (318k keys/s at 5M) is sorted externally: runs of
//! [`RUN_ENTRIES`] sorted in memory and written out, then merged (at most [`MERGE_FAN_IN`]
//! at once) into `work-list`, with duplicates dropped (the `pinned` walk may reach a block
//! twice).
//!
//! Why hand-written: the external-sort crates on crates.io bring far more than a merge. The
//! maintained one, `extsort` 0.5, runs `skeptic` as a build script (cargo_metadata,
//! pulldown-cmark, error-chain) to turn its README into doc tests on every build of ours, and
//! needs rayon. The sort here is a `sort_unstable` per run and a binary-heap merge.
//!
//! Layout of `work-list`: entries back to back, each `point (32 B) | length (1 B) | multihash`.
//! It is written to `work-list.tmp`, fsynced and renamed, so the file is whole or absent; the
//! cycle's phase (in sled) says whether it is the current one.
//!
//! Reading: [`WorkList::batch_after`] keeps its reader between calls, so a sweep reads the file
//! once, in order; a cursor it did not hand out (after a restart) is found by reading from the
//! start, which at 5M keys is a few hundred MB of sequential reading, once per restart.

use std::cmp::Reverse;
use std::collections::BinaryHeap;
use std::fs::{self, File};
use std::io::{self, BufReader, BufWriter, Read, Write};
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, PoisonError};

use super::keyspace::KadKey;

/// Entries sorted in memory per run: 131,072 entries of ~110 bytes (point, multihash and its
/// allocation) is ~14 MB, and 5 million keys make 38 runs, merged in one pass. Our own number:
/// memory stays a few tens of MB while the merge keeps few enough files open.
pub const RUN_ENTRIES: usize = 1 << 17;

/// Runs merged at once: 128 open files with 64 KiB buffers (8 MB). More runs (beyond ~16
/// million keys) are merged in passes, so file descriptors stay bounded. Our own number.
pub const MERGE_FAN_IN: usize = 128;

/// Read and write buffer per file.
const IO_BUFFER: usize = 1 << 16;

/// Longest multihash kept: its length is one byte in the file. The store's multihashes hold at
/// most 64 digest bytes plus two varints, far below.
pub const MAX_MULTIHASH: usize = u8::MAX as usize;

const FILE: &str = "work-list";
const TMP_FILE: &str = "work-list.tmp";
const RUNS_DIR: &str = "runs";

/// One entry: a key's keyspace point and its multihash. Ordered by point, then multihash.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
struct Entry {
    point: KadKey,
    multihash: Vec<u8>,
}

/// The next entry of `reader`; `None` at the end.
fn next_entry<R: Read>(reader: &mut R) -> io::Result<Option<Entry>> {
    match read_entry(reader) {
        Ok((point, multihash)) => Ok(Some(Entry { point, multihash })),
        Err(e) if e.kind() == io::ErrorKind::UnexpectedEof => Ok(None),
        Err(e) => Err(e),
    }
}

fn write_entry<W: Write>(writer: &mut W, point: &KadKey, multihash: &[u8]) -> io::Result<()> {
    let len = u8::try_from(multihash.len())
        .map_err(|_| io::Error::new(io::ErrorKind::InvalidInput, "multihash too long"))?;
    writer.write_all(point)?;
    writer.write_all(&[len])?;
    writer.write_all(multihash)
}

/// Reads one entry; `UnexpectedEof` at the end of the file (a clean end or a cut entry).
fn read_entry<R: Read>(reader: &mut R) -> io::Result<(KadKey, Vec<u8>)> {
    let mut point = [0u8; 32];
    reader.read_exact(&mut point)?;
    let mut len = [0u8; 1];
    reader.read_exact(&mut len)?;
    let mut multihash = vec![0u8; usize::from(len[0])];
    reader.read_exact(&mut multihash)?;
    Ok((point, multihash))
}

/// The sweep's position in the file: the reader and the last point it handed out.
struct Position {
    reader: BufReader<File>,
    last: Option<KadKey>,
}

/// The work list in `dir` (created on demand).
#[derive(Clone)]
pub struct WorkList {
    dir: PathBuf,
    position: Arc<Mutex<Option<Position>>>,
}

impl WorkList {
    /// The work list kept in `dir`.
    pub fn new(dir: impl Into<PathBuf>) -> Self {
        WorkList {
            dir: dir.into(),
            position: Arc::new(Mutex::new(None)),
        }
    }

    fn path(&self) -> PathBuf {
        self.dir.join(FILE)
    }

    fn forget_position(&self) {
        *self.position.lock().unwrap_or_else(PoisonError::into_inner) = None;
    }

    /// Removes the list and whatever an interrupted build left.
    pub fn clear(&self) -> io::Result<()> {
        self.forget_position();
        for name in [FILE, TMP_FILE] {
            match fs::remove_file(self.dir.join(name)) {
                Err(e) if e.kind() != io::ErrorKind::NotFound => return Err(e),
                _ => {}
            }
        }
        remove_dir_if_present(&self.dir.join(RUNS_DIR))
    }

    /// Starts building a new list (replacing the present one when the build finishes).
    pub fn builder(&self) -> io::Result<WorkListBuilder> {
        self.forget_position();
        let runs_dir = self.dir.join(RUNS_DIR);
        remove_dir_if_present(&runs_dir)?;
        fs::create_dir_all(&runs_dir)?;
        Ok(WorkListBuilder {
            list: self.clone(),
            runs_dir,
            runs: Vec::new(),
            next_run: 0,
            buffer: Vec::new(),
        })
    }

    /// Up to `n` entries after `cursor` (from the start when `None`), in keyspace order; empty
    /// when there are no more or no list.
    pub fn batch_after(
        &self,
        cursor: Option<&KadKey>,
        n: usize,
    ) -> io::Result<Vec<(KadKey, Vec<u8>)>> {
        let mut guard = self.position.lock().unwrap_or_else(PoisonError::into_inner);
        let resumes = guard
            .as_ref()
            .is_some_and(|p| p.last.as_ref() == cursor && cursor.is_some());
        if !resumes {
            *guard = None;
            let file = match File::open(self.path()) {
                Ok(f) => f,
                Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(Vec::new()),
                Err(e) => return Err(e),
            };
            *guard = Some(Position {
                reader: BufReader::with_capacity(IO_BUFFER, file),
                last: None,
            });
        }
        let Some(position) = guard.as_mut() else {
            return Ok(Vec::new());
        };
        let mut out = Vec::with_capacity(n.min(4096));
        while out.len() < n {
            let (point, multihash) = match read_entry(&mut position.reader) {
                Ok(entry) => entry,
                Err(e) if e.kind() == io::ErrorKind::UnexpectedEof => break,
                Err(e) => return Err(e),
            };
            // Skipping up to a cursor handed out by an earlier process.
            if !resumes && cursor.is_some_and(|c| point <= *c) {
                continue;
            }
            position.last = Some(point);
            out.push((point, multihash));
        }
        Ok(out)
    }

    /// Entries in the list (reads it whole: for tests and checks).
    pub fn len(&self) -> io::Result<u64> {
        let file = match File::open(self.path()) {
            Ok(f) => f,
            Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(0),
            Err(e) => return Err(e),
        };
        let mut reader = BufReader::new(file);
        let mut n = 0;
        loop {
            match read_entry(&mut reader) {
                Ok(_) => n += 1,
                Err(e) if e.kind() == io::ErrorKind::UnexpectedEof => return Ok(n),
                Err(e) => return Err(e),
            }
        }
    }

    /// Whether the list has no entries (or does not exist).
    pub fn is_empty(&self) -> io::Result<bool> {
        Ok(self.len()? == 0)
    }
}

fn remove_dir_if_present(dir: &Path) -> io::Result<()> {
    match fs::remove_dir_all(dir) {
        Err(e) if e.kind() != io::ErrorKind::NotFound => Err(e),
        _ => Ok(()),
    }
}

/// Collects keys in any order; [`finish`](Self::finish) writes the sorted, de-duplicated list.
pub struct WorkListBuilder {
    list: WorkList,
    runs_dir: PathBuf,
    /// Sorted runs on disk, oldest first.
    runs: Vec<PathBuf>,
    next_run: u64,
    buffer: Vec<Entry>,
}

impl WorkListBuilder {
    /// Adds a key (a key added twice is listed once).
    pub fn push(&mut self, point: KadKey, multihash: Vec<u8>) -> io::Result<()> {
        if multihash.len() > MAX_MULTIHASH {
            return Err(io::Error::new(
                io::ErrorKind::InvalidInput,
                "multihash too long",
            ));
        }
        self.buffer.push(Entry { point, multihash });
        if self.buffer.len() >= RUN_ENTRIES {
            self.write_run()?;
        }
        Ok(())
    }

    /// Sorts the buffer and writes it out as a run.
    fn write_run(&mut self) -> io::Result<()> {
        self.buffer.sort_unstable();
        self.buffer.dedup();
        let path = self.new_run_path();
        let mut out = BufWriter::with_capacity(IO_BUFFER, File::create(&path)?);
        for entry in self.buffer.drain(..) {
            write_entry(&mut out, &entry.point, &entry.multihash)?;
        }
        out.flush()?;
        self.runs.push(path);
        Ok(())
    }

    fn new_run_path(&mut self) -> PathBuf {
        self.next_run += 1;
        self.runs_dir.join(self.next_run.to_string())
    }

    /// Merges the runs into the list file (durably) and returns how many distinct keys it
    /// holds.
    pub fn finish(mut self) -> io::Result<u64> {
        if !self.buffer.is_empty() || self.runs.is_empty() {
            self.write_run()?;
        }
        // Passes over the oldest runs until one merge can take them all.
        while self.runs.len() > MERGE_FAN_IN {
            let group: Vec<PathBuf> = self.runs.drain(..MERGE_FAN_IN).collect();
            let path = self.new_run_path();
            let mut out = BufWriter::with_capacity(IO_BUFFER, File::create(&path)?);
            merge(&group, &mut out)?;
            out.flush()?;
            for run in group {
                fs::remove_file(run)?;
            }
            self.runs.push(path);
        }
        let tmp = self.list.dir.join(TMP_FILE);
        let mut out = BufWriter::with_capacity(IO_BUFFER, File::create(&tmp)?);
        let keys = merge(&self.runs, &mut out)?;
        let file = out.into_inner().map_err(io::IntoInnerError::into_error)?;
        file.sync_all()?;
        drop(file);
        self.list.forget_position();
        fs::rename(&tmp, self.list.path())?;
        File::open(&self.list.dir)?.sync_all()?;
        remove_dir_if_present(&self.runs_dir)?;
        Ok(keys)
    }
}

/// Writes the union of the sorted `runs` to `out`, in order and without duplicates; returns
/// the entries written. Memory: one entry and one buffer per run.
fn merge<W: Write>(runs: &[PathBuf], out: &mut W) -> io::Result<u64> {
    let mut readers = Vec::with_capacity(runs.len());
    for run in runs {
        readers.push(BufReader::with_capacity(IO_BUFFER, File::open(run)?));
    }
    let mut heads = BinaryHeap::with_capacity(readers.len());
    for (i, reader) in readers.iter_mut().enumerate() {
        if let Some(entry) = next_entry(reader)? {
            heads.push(Reverse((entry, i)));
        }
    }
    let mut previous: Option<Entry> = None;
    let mut written = 0u64;
    while let Some(Reverse((entry, i))) = heads.pop() {
        if let Some(next) = next_entry(&mut readers[i])? {
            heads.push(Reverse((next, i)));
        }
        if previous.as_ref() == Some(&entry) {
            continue;
        }
        write_entry(out, &entry.point, &entry.multihash)?;
        written += 1;
        previous = Some(entry);
    }
    Ok(written)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn point(n: u32) -> KadKey {
        let mut k = [0u8; 32];
        // Scrambled so insertion order is not keyspace order.
        k[..4].copy_from_slice(&n.wrapping_mul(2_654_435_761).to_be_bytes());
        k
    }

    #[test]
    fn a_list_larger_than_a_run_comes_back_sorted_and_distinct() {
        let dir = tempfile::tempdir().unwrap();
        let list = WorkList::new(dir.path());
        let mut builder = list.builder().unwrap();
        let n = u32::try_from(RUN_ENTRIES * 2 + 10).unwrap();
        for i in 0..n {
            builder.push(point(i), vec![0x12, 1, i as u8]).unwrap();
        }
        // Repeats, across runs.
        for i in 0..100 {
            builder.push(point(i), vec![0x12, 1, i as u8]).unwrap();
        }
        assert_eq!(builder.finish().unwrap(), u64::from(n));
        assert!(!dir.path().join(RUNS_DIR).exists());
        assert_eq!(list.len().unwrap(), u64::from(n));
        let mut all = Vec::new();
        let mut cursor = None;
        loop {
            let batch = list.batch_after(cursor.as_ref(), 4096).unwrap();
            let Some((last, _)) = batch.last() else { break };
            cursor = Some(*last);
            all.extend(batch.into_iter().map(|(k, _)| k));
        }
        let mut expected: Vec<KadKey> = (0..n).map(point).collect();
        expected.sort();
        assert_eq!(all, expected);
    }

    #[test]
    fn a_cursor_from_another_process_is_found_by_reading_from_the_start() {
        let dir = tempfile::tempdir().unwrap();
        let list = WorkList::new(dir.path());
        let mut builder = list.builder().unwrap();
        for i in 0..1000 {
            builder.push(point(i), vec![i as u8]).unwrap();
        }
        builder.finish().unwrap();
        let first = list.batch_after(None, 10).unwrap();
        // A fresh handle (a restarted process) resumes after the same cursor.
        let again = WorkList::new(dir.path());
        let cursor = first.last().unwrap().0;
        let next = again.batch_after(Some(&cursor), 5).unwrap();
        assert_eq!(next, list.batch_after(Some(&cursor), 5).unwrap());
        assert!(next.iter().all(|(k, _)| *k > cursor));
        // Going back to an earlier cursor re-reads too.
        let earlier = list.batch_after(Some(&first[2].0), 3).unwrap();
        assert_eq!(earlier[0], first[3]);
    }

    #[test]
    fn more_runs_than_one_merge_takes_are_merged_in_passes() {
        let dir = tempfile::tempdir().unwrap();
        let list = WorkList::new(dir.path());
        let mut builder = list.builder().unwrap();
        // Tiny runs, written directly, to need two passes without millions of keys.
        let runs = MERGE_FAN_IN * 2 + 3;
        for r in 0..runs {
            for i in 0..3u32 {
                let n = u32::try_from(r).unwrap() * 3 + i;
                builder.buffer.push(Entry {
                    point: point(n),
                    multihash: vec![1],
                });
            }
            // Every run also holds key 0: duplicates across runs and passes.
            builder.buffer.push(Entry {
                point: point(0),
                multihash: vec![1],
            });
            builder.write_run().unwrap();
        }
        let n = u32::try_from(runs * 3).unwrap();
        assert_eq!(builder.finish().unwrap(), u64::from(n));
        let all: Vec<KadKey> = list
            .batch_after(None, usize::MAX)
            .unwrap()
            .into_iter()
            .map(|(k, _)| k)
            .collect();
        let mut expected: Vec<KadKey> = (0..n).map(point).collect();
        expected.sort();
        assert_eq!(all, expected);
    }

    #[test]
    fn an_interrupted_build_leaves_nothing_behind_a_clear() {
        let dir = tempfile::tempdir().unwrap();
        let list = WorkList::new(dir.path());
        let mut builder = list.builder().unwrap();
        for i in 0..u32::try_from(RUN_ENTRIES + 1).unwrap() {
            builder.push(point(i), vec![1]).unwrap();
        }
        // The process dies here: runs on disk, no list.
        std::mem::forget(builder);
        assert!(dir.path().join(RUNS_DIR).exists());
        assert_eq!(list.batch_after(None, 10).unwrap(), Vec::new());
        list.clear().unwrap();
        assert!(!dir.path().join(RUNS_DIR).exists());
        assert!(list.is_empty().unwrap());
    }
}
