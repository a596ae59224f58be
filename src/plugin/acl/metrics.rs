//! acl's metrics, as CoreDNS names them: `coredns_acl_blocked_requests_total`,
//! `_filtered_`, `_dropped_` (by server and zone) and `_allowed_` (by
//! server). Every handle is resolved at setup.

use std::sync::LazyLock;

use prometheus::{IntCounter, IntCounterVec};

use crate::metrics::global;

struct Vectors {
    blocked: IntCounterVec,
    filtered: IntCounterVec,
    dropped: IntCounterVec,
    allowed: IntCounterVec,
}

fn vectors() -> &'static Vectors {
    static VECTORS: LazyLock<Vectors> = LazyLock::new(|| {
        let vector =
            |name: &str, help: &str, labels: &[&str]| global().counter_vec(name, help, labels);
        let zoned = ["server", "zone", "view"];
        Vectors {
            blocked: vector(
                "coredns_acl_blocked_requests_total",
                "Counter of DNS requests being blocked.",
                &zoned,
            ),
            filtered: vector(
                "coredns_acl_filtered_requests_total",
                "Counter of DNS requests being filtered.",
                &zoned,
            ),
            dropped: vector(
                "coredns_acl_dropped_requests_total",
                "Counter of DNS requests being dropped.",
                &zoned,
            ),
            allowed: vector(
                "coredns_acl_allowed_requests_total",
                "Counter of DNS requests being allowed.",
                &["server", "view"],
            ),
        }
    });
    &VECTORS
}

/// `coredns_acl_allowed_requests_total` of one server.
pub(super) fn allowed(server: &str) -> IntCounter {
    vectors().allowed.with_label_values(&[server, ""])
}

/// The zoned counters of one zone of one rule, resolved at setup.
pub(super) struct ZoneCounters {
    blocked: IntCounter,
    filtered: IntCounter,
    dropped: IntCounter,
}

impl ZoneCounters {
    pub(super) fn new(server: &str, zone: &str) -> ZoneCounters {
        let labels = [server, zone, ""];
        ZoneCounters {
            blocked: vectors().blocked.with_label_values(&labels),
            filtered: vectors().filtered.with_label_values(&labels),
            dropped: vectors().dropped.with_label_values(&labels),
        }
    }

    pub(super) fn count(&self, action: super::Action) {
        match action {
            super::Action::Block => self.blocked.inc(),
            super::Action::Filter => self.filtered.inc(),
            super::Action::Drop => self.dropped.inc(),
            super::Action::Allow => {}
        }
    }
}
