//! Putting the verified blocks of a CAR into a [`Blockstore`].

use std::io::Read;

use bytes::Bytes;
use chorus_storage::{Block, Blockstore};
use cid::Cid;
use futures::{Stream, StreamExt};

use super::error::CarError;
use super::reader::{CarItem, CarReader, read_car_stream};

/// Blocks buffered before one `put_many` (bounded: at most this many × the section limit).
const PUT_BATCH: usize = 64;

/// Outcome of a CAR import.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CarImport {
    /// The header's roots (to pin).
    pub roots: Vec<Cid>,
    /// Blocks read (and stored).
    pub blocks: u64,
    /// Payload bytes of those blocks.
    pub bytes: u64,
}

#[derive(Default)]
struct Importer {
    roots: Vec<Cid>,
    batch: Vec<Block>,
    blocks: u64,
    bytes: u64,
}

impl Importer {
    fn item<S: Blockstore + ?Sized>(&mut self, store: &S, item: CarItem) -> Result<(), CarError> {
        match item {
            CarItem::Header(h) => self.roots = h.roots,
            CarItem::Block(b) => {
                self.blocks += 1;
                self.bytes += b.len() as u64;
                self.batch.push(b);
                if self.batch.len() >= PUT_BATCH {
                    store.put_many(&self.batch)?;
                    self.batch.clear();
                }
            }
        }
        Ok(())
    }

    fn finish<S: Blockstore + ?Sized>(self, store: &S) -> Result<CarImport, CarError> {
        store.put_many(&self.batch)?;
        Ok(CarImport {
            roots: self.roots,
            blocks: self.blocks,
            bytes: self.bytes,
        })
    }
}

/// Imports a CAR (v1 or v2) from a blocking reader.
///
/// Every block is verified before it is stored. On error, blocks already verified and stored
/// stay in the store (they are valid content; unpinned, so GC reclaims them) and nothing that
/// failed verification is ever stored. Durability is the store's: call `flush` afterwards.
pub fn import_car<S, R>(store: &S, input: R) -> Result<CarImport, CarError>
where
    S: Blockstore + ?Sized,
    R: Read,
{
    let mut imp = Importer::default();
    for item in CarReader::new(input) {
        imp.item(store, item?)?;
    }
    imp.finish(store)
}

/// Async form of [`import_car`] over a stream of byte chunks (an HTTP upload).
///
/// Store calls block the task briefly per batch of blocks.
pub async fn import_car_stream<S, St, E>(store: &S, input: St) -> Result<CarImport, CarError>
where
    S: Blockstore + ?Sized,
    St: Stream<Item = Result<Bytes, E>> + Send + Unpin,
    E: std::error::Error + Send + Sync + 'static,
{
    let mut imp = Importer::default();
    let mut items = std::pin::pin!(read_car_stream(input));
    while let Some(item) = items.next().await {
        imp.item(store, item?)?;
    }
    imp.finish(store)
}
