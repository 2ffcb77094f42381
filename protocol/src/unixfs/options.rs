//! Import options mirroring `ipfs add`'s flags, with kubo's defaults and limits.

use chorus_storage::HashAlg;
use thiserror::Error;

/// kubo's default chunk size (`size-262144`).
pub const DEFAULT_CHUNK_SIZE: usize = 256 * 1024;
/// Largest chunk boxo's chunker accepts (`chunker.ChunkSizeLimit`, 1 MiB): bigger blocks would
/// exceed what Bitswap peers accept.
pub const MAX_CHUNK_SIZE: usize = 1024 * 1024;
/// kubo's links per file node (`helpers.DefaultLinksPerBlock`, 174, from go-ipfs 0.4).
pub const DEFAULT_MAX_LINKS: usize = 174;
/// Subtrees per depth in a trickle DAG (boxo `trickle.depthRepeat`).
pub const TRICKLE_DEPTH_REPEAT: usize = 4;

/// How file chunks are arranged into a tree.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Layout {
    /// kubo's default: a balanced tree of `max_links`-wide nodes (good for random access).
    #[default]
    Balanced,
    /// `--trickle`: leaves reachable early, suited to sequential streaming.
    Trickle,
}

/// Invalid import options or chunker string.
#[derive(Debug, Error, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum OptionsError {
    /// Chunk size outside `1..=MAX_CHUNK_SIZE`.
    #[error("chunk size {0} is out of range (1..={MAX_CHUNK_SIZE})")]
    ChunkSize(usize),
    /// A chunker string other than `size-N` / `default`.
    #[error("unsupported chunker {0:?} (only size-N)")]
    Chunker(String),
    /// CIDv0 was requested explicitly with a hash other than sha2-256.
    #[error("CIDv0 only supports sha2-256, not {0}")]
    CidV0Hash(&'static str),
    /// CID version other than 0 or 1.
    #[error("unsupported CID version {0}")]
    CidVersion(u8),
    /// The identity hash cannot address file chunks.
    #[error("hash function {0} cannot be used for import")]
    Hash(&'static str),
    /// Fewer than two links per node cannot form a tree.
    #[error("max links {0} must be at least 2")]
    MaxLinks(usize),
}

/// Options of `add`, named and defaulted as in kubo.
///
/// `Default` is kubo's default profile: CIDv0, 256 KiB chunks, dag-pb leaves, balanced layout,
/// 174 links per node, sha2-256.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ImportOptions {
    /// `--cid-version`; `None` means 0, or 1 when the hash is not sha2-256 (as kubo does).
    pub cid_version: Option<u8>,
    /// `--raw-leaves`; `None` means "on for CIDv1", as kubo does.
    pub raw_leaves: Option<bool>,
    /// `--chunker size-N`.
    pub chunk_size: usize,
    /// `--trickle` selects [`Layout::Trickle`].
    pub layout: Layout,
    /// `--hash`.
    pub hash: HashAlg,
    /// Links per file node.
    pub max_links: usize,
}

impl Default for ImportOptions {
    fn default() -> Self {
        ImportOptions {
            cid_version: None,
            raw_leaves: None,
            chunk_size: DEFAULT_CHUNK_SIZE,
            layout: Layout::Balanced,
            hash: HashAlg::Sha2_256,
            max_links: DEFAULT_MAX_LINKS,
        }
    }
}

/// Options after kubo's implications are applied and limits checked.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ResolvedOptions {
    /// 0 or 1.
    pub cid_version: u8,
    /// Whether leaves are raw (0x55) blocks.
    pub raw_leaves: bool,
    /// Bytes per chunk.
    pub chunk_size: usize,
    /// Tree layout.
    pub layout: Layout,
    /// Hash function.
    pub hash: HashAlg,
    /// Links per file node.
    pub max_links: usize,
}

impl ImportOptions {
    /// Sets the CID version.
    pub fn with_cid_version(mut self, v: u8) -> Self {
        self.cid_version = Some(v);
        self
    }

    /// Sets raw leaves explicitly.
    pub fn with_raw_leaves(mut self, raw: bool) -> Self {
        self.raw_leaves = Some(raw);
        self
    }

    /// Sets the chunk size in bytes.
    pub fn with_chunk_size(mut self, size: usize) -> Self {
        self.chunk_size = size;
        self
    }

    /// Parses and applies a kubo `--chunker` string.
    pub fn with_chunker(mut self, spec: &str) -> Result<Self, OptionsError> {
        self.chunk_size = parse_chunker(spec)?;
        Ok(self)
    }

    /// Sets the layout.
    pub fn with_layout(mut self, layout: Layout) -> Self {
        self.layout = layout;
        self
    }

    /// Sets the hash function.
    pub fn with_hash(mut self, hash: HashAlg) -> Self {
        self.hash = hash;
        self
    }

    /// Sets the number of links per file node.
    pub fn with_max_links(mut self, n: usize) -> Self {
        self.max_links = n;
        self
    }

    /// Applies kubo's rules (non-sha2 hash implies CIDv1, CIDv1 implies raw leaves unless set)
    /// and checks limits.
    pub fn resolve(&self) -> Result<ResolvedOptions, OptionsError> {
        if !matches!(self.hash, HashAlg::Sha2_256 | HashAlg::Blake3) {
            return Err(OptionsError::Hash(self.hash.name()));
        }
        let cid_version = match self.cid_version {
            Some(0) if self.hash != HashAlg::Sha2_256 => {
                return Err(OptionsError::CidV0Hash(self.hash.name()));
            }
            Some(v @ (0 | 1)) => v,
            Some(v) => return Err(OptionsError::CidVersion(v)),
            None if self.hash != HashAlg::Sha2_256 => 1,
            None => 0,
        };
        if self.chunk_size == 0 || self.chunk_size > MAX_CHUNK_SIZE {
            return Err(OptionsError::ChunkSize(self.chunk_size));
        }
        if self.max_links < 2 {
            return Err(OptionsError::MaxLinks(self.max_links));
        }
        Ok(ResolvedOptions {
            cid_version,
            raw_leaves: self.raw_leaves.unwrap_or(cid_version == 1),
            chunk_size: self.chunk_size,
            layout: self.layout,
            hash: self.hash,
            max_links: self.max_links,
        })
    }
}

/// Parses kubo's `--chunker` value: `size-N` (1 ≤ N ≤ 1 MiB), or `default` / empty for
/// `size-262144`. Rabin and buzhash chunkers are not supported.
pub fn parse_chunker(spec: &str) -> Result<usize, OptionsError> {
    if spec.is_empty() || spec == "default" {
        return Ok(DEFAULT_CHUNK_SIZE);
    }
    let n = spec
        .strip_prefix("size-")
        .ok_or_else(|| OptionsError::Chunker(spec.to_owned()))?;
    let size: usize = n
        .parse()
        .map_err(|_| OptionsError::Chunker(spec.to_owned()))?;
    if size == 0 || size > MAX_CHUNK_SIZE {
        return Err(OptionsError::ChunkSize(size));
    }
    Ok(size)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn kubo_implications() {
        let d = ImportOptions::default().resolve().unwrap();
        assert_eq!(
            (d.cid_version, d.raw_leaves, d.chunk_size),
            (0, false, 262144)
        );
        let v1 = ImportOptions::default()
            .with_cid_version(1)
            .resolve()
            .unwrap();
        assert!(v1.raw_leaves);
        let v1dp = ImportOptions::default()
            .with_cid_version(1)
            .with_raw_leaves(false)
            .resolve()
            .unwrap();
        assert!(!v1dp.raw_leaves);
        let b3 = ImportOptions::default()
            .with_hash(HashAlg::Blake3)
            .resolve()
            .unwrap();
        assert_eq!((b3.cid_version, b3.raw_leaves), (1, true));
        assert!(
            ImportOptions::default()
                .with_hash(HashAlg::Blake3)
                .with_cid_version(0)
                .resolve()
                .is_err()
        );
        assert!(
            ImportOptions::default()
                .with_hash(HashAlg::Identity)
                .resolve()
                .is_err()
        );
    }

    #[test]
    fn chunker_strings() {
        assert_eq!(parse_chunker("size-1").unwrap(), 1);
        assert_eq!(parse_chunker("default").unwrap(), DEFAULT_CHUNK_SIZE);
        assert_eq!(parse_chunker("size-1048576").unwrap(), 1 << 20);
        assert!(parse_chunker("size-1048577").is_err());
        assert!(parse_chunker("size-0").is_err());
        assert!(parse_chunker("size-").is_err());
        assert!(parse_chunker("rabin").is_err());
        assert!(parse_chunker("size--5").is_err());
    }
}
