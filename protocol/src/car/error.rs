//! Errors of CAR reading, writing and importing.

use chorus_storage::{BlockError, StoreError};
use cid::Cid;
use thiserror::Error;

/// Why a CAR could not be read, written or imported.
#[derive(Debug, Error)]
#[non_exhaustive]
pub enum CarError {
    /// The header is not valid dag-cbor `{roots, version}`.
    #[error("invalid CAR header: {0}")]
    Header(&'static str),
    /// A CAR version other than 1 or 2.
    #[error("unsupported CAR version {0}")]
    Version(u64),
    /// The CARv2 fixed header is inconsistent.
    #[error("invalid CARv2 header: {0}")]
    V2Header(&'static str),
    /// A section length prefix exceeds the bound.
    #[error("CAR section of {len} bytes at offset {offset} exceeds the {max}-byte limit")]
    SectionTooLarge {
        /// Declared length.
        len: u64,
        /// Byte offset of the section in the input.
        offset: u64,
        /// The bound in force.
        max: usize,
    },
    /// A section is malformed (bad varint, empty, bad CID).
    #[error("malformed CAR section at offset {offset}: {what}")]
    Section {
        /// Byte offset of the section in the input.
        offset: u64,
        /// What is wrong.
        what: &'static str,
    },
    /// A block's bytes do not match its CID (or use an unverifiable hash); the error names
    /// the CID.
    #[error("CAR block failed verification: {0}")]
    Block(#[source] Box<BlockError>),
    /// The input ended inside the header or a section.
    #[error("CAR input truncated at offset {offset}")]
    Truncated {
        /// Bytes read before the end.
        offset: u64,
    },
    /// Reading the input failed.
    #[error("reading CAR input failed: {0}")]
    Io(#[from] std::io::Error),
    /// The input stream failed.
    #[error("CAR input stream failed: {0}")]
    Input(#[source] Box<dyn std::error::Error + Send + Sync>),
    /// Storing a block failed.
    #[error("storing CAR block failed: {0}")]
    Store(#[source] Box<StoreError>),
    /// Fetching a block to export failed.
    #[error("exporting {cid} failed: {source}")]
    Fetch {
        /// The block.
        cid: Cid,
        /// The source's error.
        #[source]
        source: Box<dyn std::error::Error + Send + Sync>,
    },
    /// A block to export has a codec whose links chorus cannot follow.
    #[error("cannot traverse {cid}: codec 0x{codec:x} is not dag-pb or raw")]
    UnsupportedCodec {
        /// The block.
        cid: Cid,
        /// Its codec.
        codec: u64,
    },
    /// A dag-pb block to export could not be decoded.
    #[error("cannot traverse {cid}: {source}")]
    Decode {
        /// The block.
        cid: Cid,
        /// The decoding error.
        #[source]
        source: crate::unixfs::PbError,
    },
}

impl From<StoreError> for CarError {
    fn from(e: StoreError) -> Self {
        CarError::Store(Box::new(e))
    }
}
