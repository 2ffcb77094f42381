//! `config.toml` as an operator (or `config replace` through the RPC) may hand it over: any
//! text either fails to load with an error or loads into a config whose commented file (what
//! `chorus init` writes) loads back into the same config.
#![no_main]
#![allow(dead_code)]

#[path = "../../bin/src/config.rs"]
mod config;

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    let Ok(parsed) = toml::from_str::<config::Config>(text) else {
        return;
    };
    let written = parsed.to_commented_toml();
    let back: config::Config = toml::from_str(&written)
        .unwrap_or_else(|e| panic!("the written config does not load: {e}\n{written}"));
    assert_eq!(
        back, parsed,
        "the written config loads differently:\n{written}"
    );
});
