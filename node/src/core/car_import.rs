//! `dag import`: CAR streams into the store through one [`Writer`], every block verified;
//! then each root is pinned if its whole DAG is present (otherwise its pin error is
//! reported, as kubo's `PinErrorMsg`), and everything is made durable before anyone is told.

use bytes::Bytes;
use chorus_protocol::car::{CarError, import_car_stream};
use chorus_storage::{Cid, PinMode};
use futures::Stream;

use super::error::CoreError;
use super::walk::walk;
use super::{Commit, Consent, Core, Writer};
use chorus_chain::Refusal;
use chorus_chain::relay::Registration;

/// One imported root.
#[derive(Debug, Clone)]
pub struct ImportedRoot {
    /// The root named by a CAR's header.
    pub cid: Cid,
    /// Why it was not pinned (its DAG is incomplete), when pinning was asked for.
    pub pin_error: Option<String>,
}

/// What a `dag import` stored.
#[derive(Debug, Clone, Default)]
pub struct CarImport {
    /// Every root of every CAR, in order.
    pub roots: Vec<ImportedRoot>,
    /// Blocks read (stored, or already present).
    pub blocks: u64,
    /// Their bytes.
    pub bytes: u64,
}

/// A `dag import` in progress: feed it CARs with [`CarImporter::car`].
pub struct CarImporter {
    core: Core,
    writer: Writer,
    roots: Vec<Cid>,
    blocks: u64,
    bytes: u64,
}

impl Core {
    /// Starts a `dag import`.
    pub fn car_importer(&self) -> CarImporter {
        CarImporter {
            core: self.clone(),
            writer: self.writer(),
            roots: Vec::new(),
            blocks: 0,
            bytes: 0,
        }
    }
}

impl CarImporter {
    /// Imports one CAR (v1 or v2) from a stream of byte chunks.
    pub async fn car<St, E>(&mut self, input: St) -> Result<(), CarError>
    where
        St: Stream<Item = Result<Bytes, E>> + Send + Unpin,
        E: std::error::Error + Send + Sync + 'static,
    {
        let imported = import_car_stream(&**self.writer.store(), input).await?;
        self.blocks += imported.blocks;
        self.bytes += imported.bytes;
        self.roots.extend(imported.roots);
        Ok(())
    }

    /// Pins each root whose DAG is complete (with `pin_roots`), makes the import durable and
    /// announces the roots.
    pub async fn finish(self, pin_roots: bool) -> Result<CarImport, CoreError> {
        self.finish_upload(pin_roots, None).await
    }

    /// [`CarImporter::finish`] for an upload with `consent` (RPC `dag/import`): the chain's
    /// gate decides on the root before anything is pinned. A signed import has exactly one
    /// root, and its DAG must be complete in what was received.
    pub async fn finish_upload(
        self,
        pin_roots: bool,
        consent: Option<Consent>,
    ) -> Result<CarImport, CoreError> {
        let CarImporter {
            core,
            writer,
            roots,
            blocks,
            bytes,
        } = self;
        let store = writer.store().clone();
        let fetcher = core.fetcher();
        let mut commit = Commit::announce_only(&roots);
        let mut out = Vec::with_capacity(roots.len());
        for cid in roots {
            let mut pin_error = None;
            if pin_roots {
                // Only a complete DAG is pinned; otherwise kubo reports why.
                match walk(&store, &fetcher, cid).await {
                    Ok(_) => commit.pins.push((cid, PinMode::Recursive)),
                    Err(e) => pin_error = Some(e.to_string()),
                }
            }
            out.push(ImportedRoot { cid, pin_error });
        }
        if let Some(consent) = consent {
            if consent.proof.is_some() {
                let complete = out.len() == 1 && out[0].pin_error.is_none() && pin_roots;
                if !complete {
                    return Err(CoreError::Refused(Refusal::Malformed(format!(
                        "a signed import has one root whose whole DAG is in the CAR, pinned; this one has {} root(s){}",
                        out.len(),
                        out.first()
                            .and_then(|r| r.pin_error.as_ref())
                            .map(|e| format!(" ({e})"))
                            .unwrap_or_default()
                    ))));
                }
            }
            if let Some(root) = out.last() {
                let registration = Registration::File {
                    cid: root.cid.to_string(),
                };
                commit = commit.upload(consent, registration);
            }
        }
        // The durability point: blocks and pins are on disk before any root is reported.
        writer.commit(commit).await?;
        Ok(CarImport {
            roots: out,
            blocks,
            bytes,
        })
    }
}
