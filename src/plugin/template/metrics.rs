//! template's metrics, as CoreDNS names them:
//! `coredns_template_matches_total{server,zone,view,class,type}` and the
//! two failure counters, which add the section and the template text so
//! an operator can find the fragment in the Corefile.
//!
//! The class and type labels are the query's, so a match resolves its
//! handle then; template answers are never remembered replies anyway.

use std::sync::LazyLock;

use prometheus::IntCounterVec;

use super::gotmpl::Data;
use crate::metrics::global;

struct Vectors {
    matches: IntCounterVec,
    template_failures: IntCounterVec,
    rr_failures: IntCounterVec,
}

fn vectors() -> &'static Vectors {
    static VECTORS: LazyLock<Vectors> = LazyLock::new(|| {
        let failure = [
            "server", "zone", "view", "class", "type", "section", "template",
        ];
        let metrics = global();
        Vectors {
            matches: metrics.counter_vec(
                "coredns_template_matches_total",
                "Counter of template regex matches.",
                &["server", "zone", "view", "class", "type"],
            ),
            template_failures: metrics.counter_vec(
                "coredns_template_template_failures_total",
                "Counter of go template failures.",
                &failure,
            ),
            rr_failures: metrics.counter_vec(
                "coredns_template_rr_failures_total",
                "Counter of mis-templated RRs.",
                &failure,
            ),
        }
    });
    &VECTORS
}

pub(super) fn matched(server: &str, data: &Data) {
    vectors()
        .matches
        .with_label_values(&[server, &data.zone, "", &data.class, &data.qtype])
        .inc();
}

/// Which step of making a record failed.
pub(super) enum Failure {
    /// Running the Go template.
    Template,
    /// Reading its output as a record.
    Record,
}

pub(super) fn failed(failure: Failure, server: &str, data: &Data, section: &str, template: &str) {
    let vector = match failure {
        Failure::Template => &vectors().template_failures,
        Failure::Record => &vectors().rr_failures,
    };
    let labels = [
        server,
        &data.zone,
        "",
        &data.class,
        &data.qtype,
        section,
        template,
    ];
    vector.with_label_values(&labels).inc();
}
