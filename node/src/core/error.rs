//! What a core operation can fail with; each front end maps it onto its own error shape.

use chorus_storage::{Cid, GcError, PinError, StoreError};
use thiserror::Error;

use crate::fetch::FetchError;

/// A failure of the core API.
#[derive(Debug, Error)]
#[non_exhaustive]
pub enum CoreError {
    /// The blockstore failed while doing `context`.
    #[error("{context}: {source}")]
    Store {
        /// What was being done (operation and CID).
        context: String,
        /// The store's error.
        #[source]
        source: StoreError,
    },
    /// The pin set refused or failed.
    #[error(transparent)]
    Pin(#[from] PinError),
    /// Garbage collection refused to run or failed.
    #[error(transparent)]
    Gc(#[from] GcError),
    /// A block could not be built (bytes and hash settings that cannot make a CID).
    #[error("{source}")]
    Block {
        /// Why.
        #[source]
        source: chorus_storage::BlockError,
    },
    /// A block's links could not be read (a corrupt dag-pb node, an unsupported codec).
    #[error("reading links of {cid}: {reason}")]
    Links {
        /// The block.
        cid: Cid,
        /// What the decoder said.
        reason: String,
    },
    /// A block could not be obtained.
    #[error(transparent)]
    Fetch(#[from] FetchError),
    /// The upload's signature (or its absence) was refused: nothing was committed.
    #[error(transparent)]
    Refused(#[from] chorus_chain::Refusal),
    /// The chain database failed.
    #[error("chain database: {0}")]
    Chain(String),
    /// A blocking task died before answering (a panic, or the runtime shutting down).
    #[error("internal error while {context}")]
    TaskFailed {
        /// What was being done.
        context: String,
    },
}

impl CoreError {
    /// A store failure while doing `op` on `cid`.
    pub fn store(op: &str, cid: &Cid, source: StoreError) -> Self {
        CoreError::Store {
            context: format!("{op} {cid}"),
            source,
        }
    }
}

/// Runs blocking store work (`what`, for the error) off the async executor; a task that dies
/// (a panic, or the runtime shutting down) is [`CoreError::TaskFailed`] in the caller's error.
pub(crate) async fn blocking<T, E, F>(what: &str, f: F) -> Result<T, E>
where
    T: Send + 'static,
    E: From<CoreError> + Send + 'static,
    F: FnOnce() -> Result<T, E> + Send + 'static,
{
    tokio::task::spawn_blocking(f).await.map_err(|_| {
        E::from(CoreError::TaskFailed {
            context: what.to_owned(),
        })
    })?
}
