//! An upload's signed consent as it arrives in the query options of `add`, `dag/import` and
//! `track/add` (`owner`, `timestamp`, `nonce`, `signature`, one per line here, then the CID the
//! node computed): parsed, then verified, never a panic.
#![no_main]

use std::time::Duration;

use chorus_chain::typed_data::{Purpose, domain};
use chorus_chain::{Address, UploadProof};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let text = String::from_utf8_lossy(data);
    let mut lines = text.split('\n');
    let mut next = || lines.next().filter(|l| !l.is_empty());
    let (owner, timestamp, nonce, signature, cid) = (next(), next(), next(), next(), next());
    if let Ok(Some(proof)) = UploadProof::parse(owner, timestamp, nonce, signature) {
        let d = domain(31337, Address::repeat_byte(1));
        let _ = proof.verify(
            Purpose::Upload,
            cid.unwrap_or_default(),
            &d,
            1_700_000_000,
            Duration::from_secs(48 * 3600),
        );
    }
});
