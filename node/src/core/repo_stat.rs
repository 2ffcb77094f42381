//! `repo stat`: kubo's figures, the one source for RPC `repo/stat` and the CLI with or
//! without a daemon.

use std::path::Path;

use serde::{Deserialize, Serialize};

use super::Core;
use super::error::{CoreError, blocking};

/// The repo format chorus reports as `Version` (kubo prints `fs-repo@<n>`).
pub const REPO_VERSION: &str = "fs-repo@chorus-1";

/// kubo's `repo stat` fields, in its JSON names.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct RepoStat {
    /// Blocks stored.
    pub num_objects: u64,
    /// Bytes of the blocks stored (what kubo's flatfs counts), not the repo's disk usage.
    pub repo_size: u64,
    /// The storage bound the node reports (kubo's `Datastore.StorageMax`).
    pub storage_max: u64,
    /// The repo directory.
    pub repo_path: String,
    /// The repo format.
    pub version: String,
}

impl Core {
    /// The repo's figures (O(1): counters the store keeps), for the repo at `repo_path`
    /// reporting `storage_max`.
    pub async fn repo_stat(
        &self,
        repo_path: &Path,
        storage_max: u64,
    ) -> Result<RepoStat, CoreError> {
        let store = self.store();
        let stat = blocking("reading store statistics", move || {
            store.stat().map_err(|source| CoreError::Store {
                context: "repo stat".to_owned(),
                source,
            })
        })
        .await?;
        Ok(RepoStat {
            num_objects: stat.blocks,
            repo_size: stat.bytes,
            storage_max,
            repo_path: repo_path.display().to_string(),
            version: REPO_VERSION.to_owned(),
        })
    }
}
