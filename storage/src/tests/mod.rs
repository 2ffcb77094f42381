//! Store-level tests: the conformance body run against both stores, the model test, GC,
//! space amplification and corruption.

mod conformance;
mod corruption;
mod crash;
mod dagpb;
mod format;
mod full_disk;
mod gc;
mod model;
mod space;
mod torn;
pub(crate) mod util;
