//! The snapshot loader: any text gives objects or an error, never a panic,
//! and whatever loads can be indexed.
#![no_main]

use clusterdns::kubernetes::index::Index;
use clusterdns::kubernetes::snapshot;
use clusterdns::kubernetes::store::Store;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    if let Ok(objects) = snapshot::parse(text) {
        let mut store = Store::new(true, true);
        snapshot::load_into(&mut store, objects);
        let _ = Index::build(&store);
    }
});
