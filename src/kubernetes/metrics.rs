//! `coredns_kubernetes_dns_programming_duration_seconds`: how long a change
//! took from the EndpointSlice controller's trigger time to this server,
//! labelled `headless_with_selector` for headless Services and `cluster_ip`
//! for the others, as CoreDNS 1.14.6 and later record it.

use std::sync::LazyLock;

use k8s_openapi::api::discovery::v1::EndpointSlice;
use prometheus::{HistogramOpts, HistogramVec};

use super::model::ServiceKind;
use super::source::Shared;

const TRIGGER_ANNOTATION: &str = "endpoints.kubernetes.io/last-change-trigger-time";
const SERVICE_NAME_LABEL: &str = "kubernetes.io/service-name";

fn histogram() -> &'static HistogramVec {
    static HISTOGRAM: LazyLock<HistogramVec> = LazyLock::new(|| {
        let buckets = prometheus::exponential_buckets(0.001, 2.0, 20).expect("valid buckets");
        let opts = HistogramOpts::new(
            "coredns_kubernetes_dns_programming_duration_seconds",
            "Histogram of the time (in seconds) it took to program a dns instance.",
        )
        .buckets(buckets);
        let vec = HistogramVec::new(opts, &["service_kind"]).expect("valid metric");
        crate::metrics::global().register(&vec);
        vec
    });
    &HISTOGRAM
}

/// Makes the metric exist once a kubernetes plugin watches slices.
pub(crate) fn register() {
    let _ = histogram();
}

/// Records the latency of a slice event when its Service is known and the
/// controller set the trigger-time annotation (CoreDNS's rule).
pub(crate) fn record_slice(slice: &EndpointSlice, shared: &Shared) {
    let Some(trigger) = slice
        .metadata
        .annotations
        .as_ref()
        .and_then(|a| a.get(TRIGGER_ANNOTATION))
    else {
        return;
    };
    let Ok(when) = trigger.parse::<jiff::Timestamp>() else {
        return;
    };
    let Some(service) = slice
        .metadata
        .labels
        .as_ref()
        .and_then(|l| l.get(SERVICE_NAME_LABEL))
    else {
        return;
    };
    let namespace = slice.metadata.namespace.as_deref().unwrap_or("default");
    let index = shared.index.load();
    let label = match index.service(namespace, service).map(|s| &s.kind) {
        None => return,
        Some(ServiceKind::Headless) => "headless_with_selector",
        Some(_) => "cluster_ip",
    };
    let seconds = (jiff::Timestamp::now() - when)
        .total(jiff::Unit::Second)
        .unwrap_or(0.0)
        .max(0.0);
    histogram().with_label_values(&[label]).observe(seconds);
}
