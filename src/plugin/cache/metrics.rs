//! cache's metrics (`coredns_cache_*`), resolved once per cache.

use std::sync::LazyLock;

use prometheus::{IntCounter, IntCounterVec, IntGauge, IntGaugeVec, Opts};

use crate::metrics::global;

struct Vectors {
    entries: IntGaugeVec,
    requests: IntCounterVec,
    hits: IntCounterVec,
    misses: IntCounterVec,
    prefetch: IntCounterVec,
    drops: IntCounterVec,
    served_stale: IntCounterVec,
    evictions: IntCounterVec,
}

fn vectors() -> &'static Vectors {
    static VECTORS: LazyLock<Vectors> = LazyLock::new(|| {
        let counter = |name: &str, help: &str, labels: &[&str]| {
            let vec = IntCounterVec::new(Opts::new(name, help), labels).expect("valid metric");
            global().register(&vec);
            vec
        };
        let entries = IntGaugeVec::new(
            Opts::new(
                "coredns_cache_entries",
                "The number of elements in the cache.",
            ),
            &["server", "type", "zones", "view"],
        )
        .expect("valid metric");
        global().register(&entries);
        let base = ["server", "zones", "view"];
        let typed = ["server", "type", "zones", "view"];
        Vectors {
            entries,
            requests: counter(
                "coredns_cache_requests_total",
                "The count of cache requests.",
                &base,
            ),
            hits: counter(
                "coredns_cache_hits_total",
                "The count of cache hits.",
                &typed,
            ),
            misses: counter(
                "coredns_cache_misses_total",
                "The count of cache misses. Deprecated, derive misses from cache hits/requests counters.",
                &base,
            ),
            prefetch: counter(
                "coredns_cache_prefetch_total",
                "The number of times the cache has prefetched a cached item.",
                &base,
            ),
            drops: counter(
                "coredns_cache_drops_total",
                "The number responses that are not cached, because the reply is malformed.",
                &base,
            ),
            served_stale: counter(
                "coredns_cache_served_stale_total",
                "The number of requests served from stale cache entries.",
                &base,
            ),
            evictions: counter(
                "coredns_cache_evictions_total",
                "The count of cache evictions.",
                &typed,
            ),
        }
    });
    &VECTORS
}

pub(super) struct CacheMetrics {
    pub requests: IntCounter,
    pub success_hits: IntCounter,
    pub denial_hits: IntCounter,
    pub misses: IntCounter,
    pub prefetches: IntCounter,
    pub drops: IntCounter,
    pub served_stale: IntCounter,
    success_evictions: IntCounter,
    denial_evictions: IntCounter,
    success_entries: IntGauge,
    denial_entries: IntGauge,
}

impl CacheMetrics {
    pub(super) fn new(server: &str, zones: &str) -> CacheMetrics {
        let v = vectors();
        let base = [server, zones, ""];
        CacheMetrics {
            requests: v.requests.with_label_values(&base),
            success_hits: v.hits.with_label_values(&typed(server, "success", zones)),
            denial_hits: v.hits.with_label_values(&typed(server, "denial", zones)),
            misses: v.misses.with_label_values(&base),
            prefetches: v.prefetch.with_label_values(&base),
            drops: v.drops.with_label_values(&base),
            served_stale: v.served_stale.with_label_values(&base),
            success_evictions: v
                .evictions
                .with_label_values(&typed(server, "success", zones)),
            denial_evictions: v
                .evictions
                .with_label_values(&typed(server, "denial", zones)),
            success_entries: v
                .entries
                .with_label_values(&typed(server, "success", zones)),
            denial_entries: v.entries.with_label_values(&typed(server, "denial", zones)),
        }
    }

    pub(super) fn eviction(&self, positive: bool) {
        if positive {
            self.success_evictions.inc()
        } else {
            self.denial_evictions.inc()
        }
    }

    pub(super) fn entries(&self, positive: bool, count: usize) {
        if positive {
            self.success_entries.set(count as i64)
        } else {
            self.denial_entries.set(count as i64)
        }
    }
}

fn typed<'a>(server: &'a str, kind: &'a str, zones: &'a str) -> [&'a str; 4] {
    [server, kind, zones, ""]
}
