//! The snapshot loader: any text gives objects or an error, never a panic,
//! and whatever loads can be indexed.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    let _ = clusterdns::internals::index_snapshot(text);
});
