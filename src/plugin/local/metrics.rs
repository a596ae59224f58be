//! local's metric: `coredns_local_localhost_requests_total`, the queries
//! for names under `localhost.` (and, unless turned off, `localhost.*`).

use std::sync::LazyLock;

use prometheus::IntCounter;

use crate::metrics::global;

/// The counter, registered on first use and resolved once.
pub(super) fn localhost_requests() -> &'static IntCounter {
    static COUNTER: LazyLock<IntCounter> = LazyLock::new(|| {
        let counter = IntCounter::new(
            "coredns_local_localhost_requests_total",
            "Counter of special localhost subdomain requests.",
        )
        .expect("valid metric");
        global().register(&counter);
        counter
    });
    &COUNTER
}
