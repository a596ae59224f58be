//! Which map holds the cache plugin's entries, chosen by measurement:
//! quick_cache (what `src/plugin/cache` uses) against moka, the other
//! bounded concurrent map the project allows. Both get the cache plugin's
//! own key (lower-case name, qtype, qclass, DO, CD) and an `Arc` value,
//! the default capacity of `cache` (9 984), and 2 000 entries (the
//! forwarded names of `bench/run`'s mixes); then one thread looks every
//! entry up in turn, and the median of five passes gives the cost of one
//! hit. A miss costs the same order; hits are what a busy cache serves.
//!
//! Run with `cargo bench --bench cache_map` (also run by `bench/run`); the
//! table goes to `bench/results/cache-map.md`.

#[path = "common/mod.rs"]
mod common;
#[path = "../tests/support/mod.rs"]
mod support;

use std::hint::black_box;
use std::sync::Arc;
use std::time::Instant;

use clusterdns::internals::CacheKey as Key;
use hickory_proto::rr::{DNSClass, RecordType};

const CAPACITY: usize = 9_984;
const ENTRIES: usize = 2_000;
const LOOKUPS_PER_PASS: usize = 2_000_000;
const PASSES: usize = 5;

fn keys() -> Vec<Key> {
    (0..ENTRIES)
        .map(|i| {
            let name = format!("host{i}.example.org.");
            Key::new(&name, RecordType::A, DNSClass::IN, false, false)
        })
        .collect()
}

/// Nanoseconds per hit: the median of [`PASSES`] passes of `get` over
/// every key in turn; panics if a lookup misses (it would not be a hit).
fn ns_per_hit(keys: &[Key], get: impl Fn(&Key) -> Option<Arc<u64>>) -> f64 {
    let mut passes: Vec<f64> = (0..PASSES)
        .map(|_| {
            let started = Instant::now();
            for i in 0..LOOKUPS_PER_PASS {
                let value = get(black_box(&keys[i % keys.len()]));
                assert!(black_box(value).is_some(), "every lookup is a hit");
            }
            started.elapsed().as_nanos() as f64 / LOOKUPS_PER_PASS as f64
        })
        .collect();
    passes.sort_by(f64::total_cmp);
    passes[PASSES / 2]
}

fn main() {
    if !std::env::args().any(|a| a == "--bench") {
        println!("cache_map: run it with cargo bench --bench cache_map");
        return;
    }
    let keys = keys();
    let quick = quick_cache::sync::Cache::<Key, Arc<u64>>::new(CAPACITY);
    let moka = moka::sync::Cache::<Key, Arc<u64>>::new(CAPACITY as u64);
    for (i, key) in keys.iter().enumerate() {
        quick.insert(key.clone(), Arc::new(i as u64));
        moka.insert(key.clone(), Arc::new(i as u64));
    }
    let quick_ns = ns_per_hit(&keys, |key| quick.get(key));
    let moka_ns = ns_per_hit(&keys, |key| moka.get(key));
    let table = format!(
        "# Cache map: one hit\n\n{}\n\n{ENTRIES} entries in maps of capacity {CAPACITY}, the cache plugin's own key, one thread; median of {PASSES} passes of {LOOKUPS_PER_PASS} lookups.\n\n| map | ns per hit |\n|---|---|\n| quick_cache (used) | {quick_ns:.1} |\n| moka | {moka_ns:.1} |\n\nmoka ÷ quick_cache: {:.2}×\n",
        common::provenance("cargo bench --bench cache_map"),
        moka_ns / quick_ns
    );
    print!("{table}");
    let path = concat!(env!("CARGO_MANIFEST_DIR"), "/bench/results/cache-map.md");
    std::fs::write(path, table).expect("write the table");
}
