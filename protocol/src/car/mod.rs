//! CAR (Content Addressable aRchive): v1 export in DAG order, v1/v2 import with every block
//! verified before anyone sees it.
//!
//! Readers are bounded ([`DEFAULT_MAX_SECTION`] per section) and streaming: a hostile or
//! truncated input yields a typed [`CarError`], never an unverified block.

mod error;
mod header;
mod import;
mod reader;
mod writer;

pub use error::CarError;
pub use header::{CarHeader, MAX_ROOTS, decode_header, encode_header};
pub use import::{CarImport, import_car, import_car_stream};
pub use reader::{CarDecoder, CarItem, CarReader, DEFAULT_MAX_SECTION, read_car_stream};
pub use writer::{CarWriter, block_links, block_section_prefix, export_car, header_section};
