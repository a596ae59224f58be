//! The process-wide Prometheus registry with CoreDNS's metric names, labels
//! and buckets, and per-(server, zone) handle sets resolved once.
//!
//! Why handle sets: looking a labelled child up per query costs 30–145 ns
//! and takes a lock; a resolved handle costs 5 ns.
//! Children are created lazily on first use so the exposition shows the same
//! series CoreDNS would.

use std::sync::{Arc, LazyLock, OnceLock};

use hickory_proto::op::ResponseCode;
use hickory_proto::rr::RecordType;
use prometheus::{
    Histogram, HistogramOpts, HistogramVec, IntCounter, IntCounterVec, IntGaugeVec, Opts, Registry,
};

use crate::dns::{HitObserver, MemoHit, Proto};

const DURATION_BUCKETS: [f64; 16] = [
    0.00025, 0.0005, 0.001, 0.002, 0.004, 0.008, 0.016, 0.032, 0.064, 0.128, 0.256, 0.512, 1.024,
    2.048, 4.096, 8.192,
];
const SIZE_BUCKETS: [f64; 14] = [
    0.0, 100.0, 200.0, 300.0, 400.0, 511.0, 1023.0, 2047.0, 4095.0, 8291.0, 16000.0, 32000.0,
    48000.0, 64000.0,
];

/// Query types with their own `type` label value; everything else is `other`.
const MONITORED_TYPES: [RecordType; 19] = [
    RecordType::A,
    RecordType::AAAA,
    RecordType::CNAME,
    RecordType::DNSKEY,
    RecordType::DS,
    RecordType::MX,
    RecordType::NSEC3,
    RecordType::NSEC,
    RecordType::NS,
    RecordType::PTR,
    RecordType::RRSIG,
    RecordType::SOA,
    RecordType::SRV,
    RecordType::TXT,
    RecordType::HTTPS,
    RecordType::SVCB,
    RecordType::IXFR,
    RecordType::AXFR,
    RecordType::ANY,
];
const TYPE_SLOTS: usize = MONITORED_TYPES.len() + 1;
/// Rcodes 0..=23 by number, plus one slot for anything larger.
const RCODE_SLOTS: usize = 25;

/// Every metric vector the server exports.
pub(crate) struct Metrics {
    pub registry: Registry,
    requests: IntCounterVec,
    request_duration: HistogramVec,
    request_size: HistogramVec,
    response_size: HistogramVec,
    do_requests: IntCounterVec,
    responses: IntCounterVec,
    pub plugin_enabled: IntGaugeVec,
    pub panics: IntCounter,
    pub build_info: IntGaugeVec,
}

/// The process-wide metrics.
pub(crate) fn global() -> &'static Metrics {
    static METRICS: LazyLock<Metrics> = LazyLock::new(Metrics::new);
    &METRICS
}

impl Metrics {
    fn new() -> Self {
        let registry = Registry::new();
        let counter = |name: &str, help: &str, labels: &[&str]| {
            let vec = IntCounterVec::new(Opts::new(name, help), labels).expect("valid metric");
            registry
                .register(Box::new(vec.clone()))
                .expect("unique metric");
            vec
        };
        let histogram = |name: &str, help: &str, labels: &[&str], buckets: &[f64]| {
            let opts = HistogramOpts::new(name, help).buckets(buckets.to_vec());
            let vec = HistogramVec::new(opts, labels).expect("valid metric");
            registry
                .register(Box::new(vec.clone()))
                .expect("unique metric");
            vec
        };
        let zone_labels = ["server", "zone", "view"];
        let sized_labels = ["server", "zone", "view", "proto"];
        let metrics = Metrics {
            requests: counter(
                "coredns_dns_requests_total",
                "Counter of DNS requests made per zone, protocol and family.",
                &["server", "zone", "view", "proto", "family", "type"],
            ),
            request_duration: histogram(
                "coredns_dns_request_duration_seconds",
                "Histogram of the time (in seconds) each request took per zone.",
                &zone_labels,
                &DURATION_BUCKETS,
            ),
            request_size: histogram(
                "coredns_dns_request_size_bytes",
                "Size of the EDNS0 UDP buffer in bytes (64K for TCP) per zone and protocol.",
                &sized_labels,
                &SIZE_BUCKETS,
            ),
            response_size: histogram(
                "coredns_dns_response_size_bytes",
                "Size of the returned response in bytes.",
                &sized_labels,
                &SIZE_BUCKETS,
            ),
            do_requests: counter(
                "coredns_dns_do_requests_total",
                "Counter of DNS requests with DO bit set per zone.",
                &zone_labels,
            ),
            responses: counter(
                "coredns_dns_responses_total",
                "Counter of response status codes.",
                &["server", "zone", "view", "rcode", "plugin"],
            ),
            plugin_enabled: {
                let vec = IntGaugeVec::new(
                    Opts::new("coredns_plugin_enabled", "A metric that indicates whether a plugin is enabled on per server and zone basis."),
                    &["server", "zone", "view", "name"],
                )
                .expect("valid metric");
                registry
                    .register(Box::new(vec.clone()))
                    .expect("unique metric");
                vec
            },
            panics: {
                let c = IntCounter::new(
                    "coredns_panics_total",
                    "A metrics that counts the number of panics.",
                )
                .expect("valid metric");
                registry
                    .register(Box::new(c.clone()))
                    .expect("unique metric");
                c
            },
            build_info: {
                let vec = IntGaugeVec::new(
                    Opts::new("coredns_build_info", "A metric with a constant '1' value labeled by version, revision, and goversion from which CoreDNS was built."),
                    &["version", "revision", "goversion"],
                )
                .expect("valid metric");
                registry
                    .register(Box::new(vec.clone()))
                    .expect("unique metric");
                vec
            },
            registry,
        };
        metrics
            .build_info
            .with_label_values(&[
                env!("CARGO_PKG_VERSION"),
                option_env!("CLUSTERDNS_REVISION").unwrap_or(""),
                "rust",
            ])
            .set(1);
        #[cfg(target_os = "linux")]
        {
            let process = crate::process_metrics::ProcessMetrics::for_self();
            let _ = metrics.registry.register(Box::new(process));
        }
        metrics
    }

    /// Registers a metric defined elsewhere (plugins' own metrics).
    pub(crate) fn register<C: prometheus::core::Collector + Clone + 'static>(&self, collector: &C) {
        let _ = self.registry.register(Box::new(collector.clone()));
    }

    /// A plugin's counter vector, registered.
    pub(crate) fn counter_vec(
        &self,
        name: &str,
        help: &str,
        labels: &[&str],
    ) -> prometheus::IntCounterVec {
        let vector = prometheus::IntCounterVec::new(prometheus::Opts::new(name, help), labels)
            .expect("valid metric");
        self.register(&vector);
        vector
    }

    /// Renders the text exposition.
    pub(crate) fn render(&self) -> String {
        let families = self.registry.gather();
        prometheus::TextEncoder::new()
            .encode_to_string(&families)
            .unwrap_or_default()
    }
}

/// The handles for one `server`/`zone` pair, created once and filled lazily.
pub struct ZoneMetrics {
    labels: [String; 2],
    requests: [[[OnceLock<IntCounter>; TYPE_SLOTS]; 2]; 2],
    duration: Histogram,
    request_size: [OnceLock<Histogram>; 2],
    response_size: [OnceLock<Histogram>; 2],
    do_requests: OnceLock<IntCounter>,
    response_handles: Box<[[OnceLock<IntCounter>; RCODE_SLOTS]]>,
    plugin_names: Arc<[&'static str]>,
}

/// What is reported for one finished query.
pub struct Observation<'a> {
    pub proto: Proto,
    pub ipv6: bool,
    pub qtype: RecordType,
    pub do_bit: bool,
    pub request_size: usize,
    pub response_size: usize,
    pub rcode: ResponseCode,
    pub plugin: &'a str,
    pub seconds: f64,
}

/// What a plugin records again for each reply sent from memory.
pub enum Replay {
    /// The server metrics of one query (prometheus).
    Query(QueryReplay),
    /// Counters bumped once per reply (e.g. the cache's request and hit
    /// counters).
    Count(Box<[IntCounter]>),
    /// Anything else a plugin does per reply (e.g. log's line).
    Plugin(Box<dyn HitObserver>),
}

impl Replay {
    pub fn observe(&self, hit: &MemoHit) {
        match self {
            Replay::Query(query) => {
                query.observe(Proto::Udp, hit.src.is_ipv6(), hit.request_size, hit.seconds)
            }
            Replay::Count(counters) => counters.iter().for_each(IntCounter::inc),
            Replay::Plugin(observer) => observer.observe(hit),
        }
    }
}

/// A query's observation without what changes per query (transport,
/// family, size, duration): the same for every identical query.
#[derive(Debug, Clone, Copy)]
pub struct Outcome {
    pub qtype: RecordType,
    pub do_bit: bool,
    pub response_size: usize,
    pub rcode: ResponseCode,
    pub plugin: &'static str,
}

/// An outcome and the zone metrics it is recorded in.
pub struct QueryReplay {
    pub zone: Arc<ZoneMetrics>,
    pub outcome: Outcome,
}

impl QueryReplay {
    pub fn observe(&self, proto: Proto, ipv6: bool, request_size: usize, seconds: f64) {
        self.zone
            .observe_outcome(&self.outcome, proto, ipv6, request_size, seconds);
    }
}

impl ZoneMetrics {
    /// Handles for `server`/`zone`; `plugin_names` lists every name that can
    /// appear in the `plugin` label (the empty name included).
    pub fn new(server: &str, zone: &str, plugin_names: Arc<[&'static str]>) -> Self {
        let metrics = global();
        let slots = plugin_names.len();
        ZoneMetrics {
            labels: [server.to_string(), zone.to_string()],
            requests: Default::default(),
            duration: metrics
                .request_duration
                .with_label_values(&[server, zone, ""]),
            request_size: Default::default(),
            response_size: Default::default(),
            do_requests: OnceLock::new(),
            response_handles: (0..slots)
                .map(|_| std::array::from_fn(|_| OnceLock::new()))
                .collect(),
            plugin_names,
        }
    }

    /// Records one query.
    /// Records `outcome` with what changes per query.
    pub fn observe_outcome(
        &self,
        outcome: &Outcome,
        proto: Proto,
        ipv6: bool,
        request_size: usize,
        seconds: f64,
    ) {
        self.observe(&Observation {
            proto,
            ipv6,
            qtype: outcome.qtype,
            do_bit: outcome.do_bit,
            request_size,
            response_size: outcome.response_size,
            rcode: outcome.rcode,
            plugin: outcome.plugin,
            seconds,
        });
    }

    pub fn observe(&self, o: &Observation<'_>) {
        let metrics = global();
        let [server, zone] = &self.labels;
        let proto_index = usize::from(o.proto == Proto::Tcp);
        let family_index = usize::from(o.ipv6);
        let type_index = type_slot(o.qtype);
        self.requests[proto_index][family_index][type_index]
            .get_or_init(|| {
                let family = if o.ipv6 { "2" } else { "1" };
                let qtype = type_label(o.qtype);
                metrics.requests.with_label_values(&[
                    server,
                    zone,
                    "",
                    o.proto.as_str(),
                    family,
                    &qtype,
                ])
            })
            .inc();
        if o.do_bit {
            self.do_requests
                .get_or_init(|| metrics.do_requests.with_label_values(&[server, zone, ""]))
                .inc();
        }
        self.duration.observe(o.seconds);
        let sized = |cell: &OnceLock<Histogram>, vec: &HistogramVec| {
            cell.get_or_init(|| vec.with_label_values(&[server, zone, "", o.proto.as_str()]))
                .clone()
        };
        sized(&self.request_size[proto_index], &metrics.request_size)
            .observe(o.request_size as f64);
        sized(&self.response_size[proto_index], &metrics.response_size)
            .observe(o.response_size as f64);
        self.response_counter(o.rcode, o.plugin).inc();
    }

    fn response_counter(&self, rcode: ResponseCode, plugin: &str) -> IntCounter {
        let value = u16::from(rcode) as usize;
        let rcode_slot = value.min(RCODE_SLOTS - 1);
        let plugin_slot = self.plugin_names.iter().position(|p| *p == plugin);
        let build = || {
            let [server, zone] = &self.labels;
            global()
                .responses
                .with_label_values(&[server, zone, "", &rcode_label(rcode), plugin])
        };
        match plugin_slot {
            Some(slot) if value < RCODE_SLOTS - 1 => self.response_handles[slot][rcode_slot]
                .get_or_init(build)
                .clone(),
            _ => build(),
        }
    }
}

fn type_slot(qtype: RecordType) -> usize {
    MONITORED_TYPES
        .iter()
        .position(|t| *t == qtype)
        .unwrap_or(MONITORED_TYPES.len())
}

fn type_label(qtype: RecordType) -> String {
    match MONITORED_TYPES.contains(&qtype) {
        true => qtype.to_string(),
        false => "other".to_string(),
    }
}

/// The rcode mnemonic CoreDNS uses (miekg's `RcodeToString`), or the number.
pub(crate) fn rcode_label(rcode: ResponseCode) -> String {
    match rcode_mnemonic(rcode) {
        Some(text) => text.to_string(),
        None => u16::from(rcode).to_string(),
    }
}

/// The mnemonic of an rcode, `None` for one printed as its number.
pub(crate) fn rcode_mnemonic(rcode: ResponseCode) -> Option<&'static str> {
    Some(match u16::from(rcode) {
        0 => "NOERROR",
        1 => "FORMERR",
        2 => "SERVFAIL",
        3 => "NXDOMAIN",
        4 => "NOTIMP",
        5 => "REFUSED",
        6 => "YXDOMAIN",
        7 => "YXRRSET",
        8 => "NXRRSET",
        9 => "NOTAUTH",
        10 => "NOTZONE",
        16 => "BADSIG",
        17 => "BADKEY",
        18 => "BADTIME",
        19 => "BADMODE",
        20 => "BADNAME",
        21 => "BADALG",
        22 => "BADTRUNC",
        23 => "BADCOOKIE",
        _ => return None,
    })
}

/// A shorthand used by tests and the server for `coredns_plugin_enabled`.
pub(crate) fn set_plugin_enabled(server: &str, zone: &str, name: &str) {
    global()
        .plugin_enabled
        .with_label_values(&[server, zone, "", name])
        .set(1);
}
