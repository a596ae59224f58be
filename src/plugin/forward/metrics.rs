//! forward's metrics (CoreDNS ≥ 1.11 names), resolved per upstream once.

use std::sync::{LazyLock, OnceLock};

use hickory_proto::op::ResponseCode;
use prometheus::{Histogram, HistogramOpts, HistogramVec, IntCounter, IntCounterVec, Opts};

use crate::metrics::global;

const DURATION_BUCKETS: [f64; 16] = [
    0.00025, 0.0005, 0.001, 0.002, 0.004, 0.008, 0.016, 0.032, 0.064, 0.128, 0.256, 0.512, 1.024,
    2.048, 4.096, 8.192,
];

struct Vectors {
    duration: HistogramVec,
    healthcheck_failures: IntCounterVec,
    conn_hits: IntCounterVec,
    conn_misses: IntCounterVec,
    healthcheck_broken: IntCounter,
    max_concurrent_rejects: IntCounter,
}

fn vectors() -> &'static Vectors {
    static VECTORS: LazyLock<Vectors> = LazyLock::new(|| {
        let counter_vec = |name: &str, help: &str, labels: &[&str]| {
            let vec = IntCounterVec::new(Opts::new(name, help), labels).expect("valid metric");
            global().register(&vec);
            vec
        };
        let counter = |name: &str, help: &str| {
            let counter = IntCounter::new(name, help).expect("valid metric");
            global().register(&counter);
            counter
        };
        let duration = HistogramVec::new(
            HistogramOpts::new(
                "coredns_proxy_request_duration_seconds",
                "Histogram of the time each request took.",
            )
            .buckets(DURATION_BUCKETS.to_vec()),
            &["proxy_name", "to", "rcode"],
        )
        .expect("valid metric");
        global().register(&duration);
        Vectors {
            duration,
            healthcheck_failures: counter_vec(
                "coredns_proxy_healthcheck_failures_total",
                "Counter of the number of failed healthchecks.",
                &["proxy_name", "to"],
            ),
            conn_hits: counter_vec(
                "coredns_proxy_conn_cache_hits_total",
                "Counter of connection cache hits per upstream and protocol.",
                &["proxy_name", "to", "proto"],
            ),
            conn_misses: counter_vec(
                "coredns_proxy_conn_cache_misses_total",
                "Counter of connection cache misses per upstream and protocol.",
                &["proxy_name", "to", "proto"],
            ),
            healthcheck_broken: counter(
                "coredns_forward_healthcheck_broken_total",
                "Counter of the number of complete failures of the healthchecks.",
            ),
            max_concurrent_rejects: counter(
                "coredns_forward_max_concurrent_rejects_total",
                "Counter of the number of queries rejected because the concurrent queries were at maximum.",
            ),
        }
    });
    &VECTORS
}

/// The handles of one upstream.
pub(super) struct ProxyMetrics {
    label: String,
    pub udp_hit: IntCounter,
    pub udp_miss: IntCounter,
    pub tcp_hit: IntCounter,
    pub tcp_miss: IntCounter,
    pub healthcheck_failures: IntCounter,
    durations: [OnceLock<Histogram>; 24],
}

impl ProxyMetrics {
    /// `stream_proto` labels the stream connections: `tcp` or `tcp-tls`.
    pub(super) fn new(to: &str, stream_proto: &str) -> ProxyMetrics {
        let v = vectors();
        ProxyMetrics {
            label: to.to_string(),
            udp_hit: v.conn_hits.with_label_values(&["forward", to, "udp"]),
            udp_miss: v.conn_misses.with_label_values(&["forward", to, "udp"]),
            tcp_hit: v
                .conn_hits
                .with_label_values(&["forward", to, stream_proto]),
            tcp_miss: v
                .conn_misses
                .with_label_values(&["forward", to, stream_proto]),
            healthcheck_failures: v.healthcheck_failures.with_label_values(&["forward", to]),
            durations: Default::default(),
        }
    }

    pub(super) fn observe(&self, rcode: ResponseCode, seconds: f64) {
        let slot = (u16::from(rcode) as usize).min(23);
        let label = crate::metrics::rcode_label(rcode);
        self.durations[slot]
            .get_or_init(|| {
                vectors()
                    .duration
                    .with_label_values(&["forward", &self.label, &label])
            })
            .observe(seconds);
    }
}

pub(super) fn healthcheck_broken() {
    vectors().healthcheck_broken.inc();
}

pub(super) fn max_concurrent_rejected() {
    vectors().max_concurrent_rejects.inc();
}

/// Makes the forward-wide counters exist (at 0) once forward is configured.
pub(super) fn touch() {
    let _ = vectors();
}
