//! cache: answers repeated questions from memory.
//!
//! CoreDNS's rules (reference §2.5): two stores (positive; negative and
//! SERVFAIL), key = DO, CD, qtype, qclass and the lower-case name, every TTL
//! flattened to the message minimum clamped to [MINTTL, TTL], AA set on
//! hits, no TC replies stored, prefetch, serve_stale, `disable`, `keepttl`.
//! The stores are bounded `quick_cache` maps: a hit on this key shape costs
//! about a fifth of moka's (`benches/cache_map.rs` measures both).
//!
//! Beyond CoreDNS: an entry under a kubernetes zone remembers the index
//! generation it was built from and is dropped once the watched data
//! changes, so a new Service resolves at once even with `cache 30`.

mod metrics;
pub(crate) mod setup;

use std::sync::atomic::{AtomicBool, AtomicU32, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use hickory_proto::op::{Message, ResponseCode};
use hickory_proto::rr::{DNSClass, Record, RecordType};

use crate::corefile::{CorefileError, Dispenser};
use crate::dns::Request;
use crate::dns::names::{is_subdomain, longest_match};
use crate::dns::typify::{ReplyType, typify};
use crate::dns::{Exchange, Flow, Next, Plugin, Status};
use crate::dns::{MemoTerms, TtlClock};
use crate::metrics::Replay;
use crate::plugin::pkg::cluster::ClusterLink;
use setup::{Options, StaleMode};

const FAIL_SAFE_TTL: Duration = Duration::from_secs(5);

/// What an entry is stored under (public for `benches/cache_map.rs`,
/// which measures the map with this very key).
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Key {
    name: Box<str>,
    qtype: RecordType,
    qclass: DNSClass,
    do_bit: bool,
    cd: bool,
}

impl Key {
    /// `lower_name` is the question name in lower case, fully qualified.
    pub fn new(
        lower_name: &str,
        qtype: RecordType,
        qclass: DNSClass,
        do_bit: bool,
        cd: bool,
    ) -> Key {
        Key {
            name: lower_name.into(),
            qtype,
            qclass,
            do_bit,
            cd,
        }
    }
}

/// The bytes one store (success, or denial) may hold.
///
/// Why 16 MiB: at the default 9 984 entries a typical entry (a few
/// hundred bytes) weighs what an entry of 1.6 KiB would, so the count
/// bound is CoreDNS's; large entries (a 64 KiB answer) count by their
/// size, so 10 000 of them cannot take 640 MiB. Both stores together stay
/// within 32 MiB, a fifth of the 170 MiB limit in `deploy/`.
const STORE_BYTES: u64 = 16 << 20;

/// What an entry weighs: its bytes, at least a store's byte bound divided
/// by its entry bound, so a store full by weight holds no more entries
/// than its capacity either.
#[derive(Clone)]
struct Weight {
    floor: u64,
}

impl quick_cache::Weighter<Key, Arc<Item>> for Weight {
    fn weight(&self, key: &Key, item: &Arc<Item>) -> u64 {
        ((key.name.len() + item.bytes) as u64).max(self.floor)
    }
}

type Store = quick_cache::sync::Cache<Key, Arc<Item>, Weight>;

/// A store of at most `entries` entries and [`STORE_BYTES`] bytes.
fn new_store(entries: usize) -> Store {
    let entries = entries.max(1);
    let floor = STORE_BYTES / entries as u64;
    Store::with_weighter(entries, floor * entries as u64, Weight { floor })
}

/// One stored reply.
struct Item {
    rcode: ResponseCode,
    authentic_data: bool,
    recursion_available: bool,
    answers: Vec<Record>,
    authorities: Vec<Record>,
    additionals: Vec<Record>,
    orig_ttl: u32,
    stored: Instant,
    /// The kubernetes index generation this was answered from (cluster names only).
    generation: Option<u64>,
    hits: AtomicU32,
    last_hit: Mutex<Instant>,
    refreshing: AtomicBool,
    /// What it takes in memory, roughly (its records and itself).
    bytes: usize,
}

impl Item {
    /// Seconds left; negative once expired.
    fn ttl(&self, now: Instant) -> i64 {
        self.clock().left(now)
    }

    fn clock(&self) -> TtlClock {
        TtlClock {
            stored: self.stored,
            ttl: self.orig_ttl,
        }
    }
}

pub(crate) struct Cache {
    inner: Arc<Inner>,
}

struct Inner {
    o: Options,
    success: Store,
    denial: Store,
    cluster: ClusterLink,
    metrics: metrics::CacheMetrics,
}

pub(crate) fn setup(
    d: &mut Dispenser,
    block_zones: &[String],
    servers: &[Arc<str>],
    cluster: ClusterLink,
) -> Result<Cache, CorefileError> {
    let o = setup::parse(d, block_zones)?;
    let success = new_store(setup::effective_capacity(o.success_capacity));
    let denial = new_store(setup::effective_capacity(o.denial_capacity));
    let metrics = metrics::CacheMetrics::new(
        servers.first().map(|s| s.as_ref()).unwrap_or(""),
        &o.zones.join(","),
    );
    Ok(Cache {
        inner: Arc::new(Inner {
            o,
            success,
            denial,
            cluster,
            metrics,
        }),
    })
}

impl Plugin for Cache {
    fn name(&self) -> &'static str {
        "cache"
    }

    fn serve(&self, req: Request, next: Next) -> Flow {
        let inner = &self.inner;
        if longest_match(inner.o.zones.iter().map(String::as_str), &req.qname_lower).is_none() {
            return next.serve(req);
        }
        let key = Key::new(
            &req.qname_lower,
            req.qtype(),
            req.qclass(),
            req.do_bit(),
            req.msg.metadata.checking_disabled,
        );
        let now = Instant::now();
        inner.metrics.requests.inc();
        let Some(item) = inner.lookup(&key, now) else {
            inner.metrics.misses.inc();
            return Inner::refresh(inner.clone(), req, next, key);
        };
        let ttl = item.ttl(now);
        if ttl <= 0 {
            return Inner::serve_stale(inner.clone(), req, next, key, item);
        }
        if inner.should_prefetch(&item, now) {
            Inner::prefetch(inner.clone(), &req, &next, key, &item);
        }
        let ttl = if inner.o.keepttl {
            item.orig_ttl
        } else {
            ttl as u32
        };
        let mut req = req;
        // A hit may be sent again from memory while the item is fresh,
        // unless prefetch must count each hit.
        req.memo = (inner.o.prefetch == 0).then(|| memo_terms(&item, inner.o.keepttl));
        write_item(req, &item, ttl)
    }

    /// A hit sent from memory counts as a request and a hit of its kind.
    fn memo_replay(&self, exchange: &Exchange) -> Option<Replay> {
        let reply = exchange.req.reply.as_ref()?;
        let metrics = &self.inner.metrics;
        let hit = match response_type(&reply.msg) {
            ReplyType::NoError | ReplyType::Delegation => &metrics.success_hits,
            _ => &metrics.denial_hits,
        };
        Some(Replay::Count(Box::new([
            metrics.requests.clone(),
            hit.clone(),
        ])))
    }
}

impl Inner {
    /// CoreDNS `getIfNotStale`: the negative store first, but a cached
    /// SERVFAIL does not hide a good positive entry.
    fn lookup(&self, key: &Key, now: Instant) -> Option<Arc<Item>> {
        let stale_window = self
            .o
            .serve_stale
            .map(|(window, _)| window.as_secs() as i64)
            .unwrap_or(0);
        let usable = |item: &Arc<Item>| {
            let ttl = item.ttl(now);
            (ttl > 0 || (stale_window > 0 && -ttl < stale_window)) && self.current(item)
        };
        if let Some(item) = self.denial.get(key).filter(usable) {
            if item.rcode == ResponseCode::ServFail
                && let Some(positive) = self.success.get(key).filter(usable)
            {
                self.metrics.success_hits.inc();
                return Some(positive);
            }
            self.metrics.denial_hits.inc();
            return Some(item);
        }
        let positive = self.success.get(key).filter(usable)?;
        self.metrics.success_hits.inc();
        Some(positive)
    }

    /// False for a cluster answer built from older watched data.
    fn current(&self, item: &Item) -> bool {
        match (item.generation, self.cluster.get()) {
            (Some(generation), Some(cluster)) => cluster.shared.generation() == generation,
            _ => true,
        }
    }

    fn generation_for(&self, name: &str) -> Option<u64> {
        if !self.o.watch_invalidation {
            return None;
        }
        let cluster = self.cluster.get()?;
        cluster
            .zones
            .iter()
            .any(|z| is_subdomain(z, name))
            .then(|| cluster.shared.generation())
    }

    fn should_prefetch(&self, item: &Item, now: Instant) -> bool {
        if self.o.prefetch == 0 {
            return false;
        }
        let mut last = item.last_hit.lock().expect("hit lock");
        if now.duration_since(*last) > self.o.prefetch_window {
            item.hits.store(0, Ordering::Relaxed);
        }
        *last = now;
        let hits = item.hits.fetch_add(1, Ordering::Relaxed) + 1;
        let threshold = (f64::from(self.o.prefetch_percentage) / 100.0 * f64::from(item.orig_ttl))
            .ceil() as i64;
        hits >= self.o.prefetch && item.ttl(now) <= threshold
    }

    /// Refreshes an entry in the background (prefetch, stale immediate).
    fn prefetch(inner: Arc<Inner>, req: &Request, next: &Next, key: Key, item: &Arc<Item>) {
        if item.refreshing.swap(true, Ordering::SeqCst) {
            return;
        }
        inner.metrics.prefetches.inc();
        let mut copy = req.clone();
        copy.reply = None;
        // A refresh looks like a TCP client, so forward uses TCP upstream.
        copy.proto = crate::dns::Proto::Tcp;
        let next = next.clone();
        let item = item.clone();
        tokio::spawn(async move {
            let exchange = next.serve(copy).wait().await;
            if let Some(reply) = &exchange.req.reply {
                inner.store(&key, &reply.msg, &exchange.req);
            }
            item.refreshing.store(false, Ordering::SeqCst);
        });
    }

    fn serve_stale(inner: Arc<Inner>, req: Request, next: Next, key: Key, item: Arc<Item>) -> Flow {
        inner.metrics.served_stale.inc();
        let stale_ttl = inner.o.stale_ttl;
        match inner.o.serve_stale.map(|(_, mode)| mode) {
            Some(StaleMode::Verify) => {
                let refreshing = inner.clone();
                Inner::refresh(refreshing, req, next, key).map(move |exchange| {
                    let refreshed = exchange.req.reply.as_ref().is_some_and(|r| {
                        matches!(
                            r.msg.metadata.response_code,
                            ResponseCode::NoError | ResponseCode::NXDomain
                        )
                    });
                    if refreshed {
                        return exchange;
                    }
                    let Exchange { mut req, .. } = exchange;
                    req.reply = None;
                    match write_item(req, &item, stale_ttl) {
                        Flow::Done(exchange) => exchange,
                        Flow::Pending(_) => unreachable!("write_item answers inline"),
                    }
                })
            }
            _ => {
                Inner::prefetch(inner.clone(), &req, &next, key, &item);
                write_item(req, &item, stale_ttl)
            }
        }
    }

    /// A miss: ask the rest of the chain, then store and adjust the reply.
    fn refresh(inner: Arc<Inner>, mut req: Request, next: Next, key: Key) -> Flow {
        let client_ad = req.msg.metadata.authentic_data;
        // ≥ 1.14.7: the query sent on a miss asks for AD.
        req.msg.metadata.authentic_data = true;
        next.serve(req).map(move |mut exchange| {
            exchange.req.msg.metadata.authentic_data = client_ad;
            let do_bit = exchange.req.do_bit();
            if let Some(mut reply) = exchange.req.reply.take() {
                if let Some(ttl) = inner.store(&key, &reply.msg, &exchange.req) {
                    flatten(&mut reply.msg, ttl);
                }
                if !do_bit && !client_ad {
                    reply.msg.metadata.authentic_data = false;
                }
                exchange.req.reply = Some(reply);
            }
            exchange
        })
    }

    /// Stores a reply if it may be cached; returns the TTL every record of
    /// it gets (also applied to the reply going out).
    fn store(&self, key: &Key, reply: &Message, req: &Request) -> Option<u32> {
        let reply_type = response_type(reply);
        let duration = match reply_type {
            ReplyType::NameError | ReplyType::NoData => clamp(
                minimal_ttl(reply, reply_type, self.o.denial_ttl),
                self.o.denial_min_ttl,
                self.o.denial_ttl,
            ),
            ReplyType::ServerError => self.o.servfail_ttl,
            _ => clamp(
                minimal_ttl(reply, reply_type, self.o.success_ttl),
                self.o.success_min_ttl,
                self.o.success_ttl,
            ),
        };
        let ttl = duration.as_secs() as u32;
        if !storable(reply, reply_type) || duration.is_zero() {
            return Some(ttl);
        }
        let matches = reply.queries.first().is_some_and(|q| {
            crate::dns::names::lower_fqdn(q.name()) == req.qname_lower
                && q.query_type() == req.qtype()
        });
        if !matches {
            self.metrics.drops.inc();
            return Some(ttl);
        }
        let positive = matches!(reply_type, ReplyType::NoError | ReplyType::Delegation);
        let excepted = if positive {
            &self.o.disable_success
        } else {
            &self.o.disable_denial
        };
        if excepted.iter().any(|z| is_subdomain(z, &req.qname_lower)) {
            return Some(ttl);
        }
        let item = Arc::new(Item {
            rcode: reply.metadata.response_code,
            authentic_data: reply.metadata.authentic_data,
            recursion_available: reply.metadata.recursion_available,
            answers: with_ttl(&reply.answers, ttl),
            authorities: with_ttl(&reply.authorities, ttl),
            additionals: with_ttl(&reply.additionals, ttl),
            orig_ttl: ttl,
            stored: Instant::now(),
            generation: self.generation_for(&req.qname_lower),
            hits: AtomicU32::new(0),
            last_hit: Mutex::new(Instant::now()),
            refreshing: AtomicBool::new(false),
            bytes: item_bytes(reply),
        });
        let store = if positive {
            &self.success
        } else {
            &self.denial
        };
        let before = store.len();
        let new_key = !store.contains_key(key);
        store.insert(key.clone(), item);
        if new_key && store.len() <= before {
            self.metrics.eviction(positive);
        }
        self.metrics.entries(positive, store.len());
        Some(ttl)
    }
}

/// An item's size in memory: the record structs and their wire bytes.
fn item_bytes(reply: &Message) -> usize {
    let records = reply.answers.len() + reply.authorities.len() + reply.additionals.len();
    std::mem::size_of::<Item>()
        + records * std::mem::size_of::<Record>()
        + crate::dns::wire::uncompressed_len(reply)
}

/// CoreDNS `cacheResponseType`: typify, and a NOERROR with an SOA whose
/// answer does not answer the question is NODATA.
fn response_type(reply: &Message) -> ReplyType {
    let reply_type = typify(Some(reply));
    if reply_type == ReplyType::NoError && has_soa(reply) && is_nodata(reply) {
        return ReplyType::NoData;
    }
    reply_type
}

/// CoreDNS `key`'s refusals: TC, errors and meta replies, an NXDOMAIN
/// without an SOA, and (≥ 1.14.7) a NOERROR whose CNAME chain never
/// reaches the asked type and has no SOA.
fn storable(reply: &Message, reply_type: ReplyType) -> bool {
    let refused = match reply_type {
        ReplyType::OtherError | ReplyType::Meta | ReplyType::Update => true,
        ReplyType::NameError => !has_soa(reply),
        ReplyType::NoError => !has_soa(reply) && is_nodata(reply),
        _ => false,
    };
    !reply.metadata.truncation && !refused
}

fn has_soa(reply: &Message) -> bool {
    reply
        .authorities
        .iter()
        .any(|r| r.record_type() == RecordType::SOA)
}

fn is_nodata(reply: &Message) -> bool {
    !reply.answers.is_empty() && !answers_question(reply)
}

/// Whether a NOERROR reply answers its question, following the CNAME chain
/// from the question name (CoreDNS `answersQuestion`).
fn answers_question(reply: &Message) -> bool {
    let Some(question) = reply.queries.first() else {
        return false;
    };
    let same = |a: &hickory_proto::rr::Name, b: &hickory_proto::rr::Name| {
        a.to_ascii().eq_ignore_ascii_case(&b.to_ascii())
    };
    let class_ok = |r: &Record| {
        question.query_class() == DNSClass::ANY || r.dns_class == question.query_class()
    };
    let qtype = question.query_type();
    if qtype == RecordType::ANY {
        return reply
            .answers
            .iter()
            .any(|r| class_ok(r) && same(&r.name, question.name()));
    }
    let cname_of = |owner: &hickory_proto::rr::Name| {
        let mut targets = reply
            .answers
            .iter()
            .filter(|r| class_ok(r) && same(&r.name, owner))
            .filter_map(|r| match &r.data {
                hickory_proto::rr::RData::CNAME(target) => Some(target.0.clone()),
                _ => None,
            });
        let first = targets.next();
        if targets.next().is_some() {
            None
        } else {
            first
        }
    };
    if qtype == RecordType::CNAME {
        return cname_of(question.name()).is_some();
    }
    let mut owner = question.name().clone();
    for _ in 0..16 {
        match cname_of(&owner) {
            Some(target) => owner = target,
            None => break,
        }
    }
    reply
        .answers
        .iter()
        .any(|r| r.record_type() == qtype && class_ok(r) && same(&r.name, &owner))
}

/// CoreDNS `MinimalTTLWithMaximum`.
fn minimal_ttl(reply: &Message, reply_type: ReplyType, maximum: Duration) -> Duration {
    if !matches!(
        reply_type,
        ReplyType::NoError | ReplyType::NameError | ReplyType::NoData
    ) {
        return FAIL_SAFE_TTL;
    }
    let records = reply
        .answers
        .iter()
        .chain(&reply.authorities)
        .chain(&reply.additionals);
    let mut minimum = maximum.as_secs() as u32;
    let mut any = false;
    for record in records {
        any = true;
        minimum = minimum.min(record.ttl);
    }
    if !any {
        return FAIL_SAFE_TTL;
    }
    Duration::from_secs(u64::from(minimum))
}

fn clamp(ttl: Duration, minimum: Duration, maximum: Duration) -> Duration {
    ttl.max(minimum).min(maximum)
}

fn with_ttl(records: &[Record], ttl: u32) -> Vec<Record> {
    records
        .iter()
        .map(|r| {
            let mut r = r.clone();
            r.ttl = ttl;
            r
        })
        .collect()
}

fn flatten(reply: &mut Message, ttl: u32) {
    for record in reply
        .answers
        .iter_mut()
        .chain(reply.authorities.iter_mut())
        .chain(reply.additionals.iter_mut())
    {
        record.ttl = ttl;
    }
}

/// A hit stays fresh until the item expires; its TTLs count down with the
/// item's clock unless `keepttl` keeps them.
fn memo_terms(item: &Item, keepttl: bool) -> MemoTerms {
    let clock = item.clock();
    MemoTerms {
        source: "cache",
        until: Some(clock.expiry()),
        ttl_clock: (!keepttl).then_some(clock),
    }
}

/// A reply from a cached item (CoreDNS `toMsg`): the client's question,
/// AA set, RA and rcode from the item, AD only for DO/AD clients.
fn write_item(mut req: Request, item: &Item, ttl: u32) -> Flow {
    let mut reply = req.reply_skeleton();
    reply.metadata.authoritative = true;
    let client_ad = req.msg.metadata.authentic_data;
    reply.metadata.authentic_data = item.authentic_data && (req.do_bit() || client_ad);
    reply.metadata.recursion_available = item.recursion_available;
    reply.metadata.response_code = item.rcode;
    reply.answers = with_ttl(&item.answers, ttl);
    reply.authorities = with_ttl(&item.authorities, ttl);
    reply.additionals = with_ttl(&item.additionals, ttl);
    req.write(reply, "cache");
    Flow::done(req, Status::written(ResponseCode::NoError))
}

#[cfg(test)]
mod tests {
    use super::{Item, Key, STORE_BYTES, new_store};
    use hickory_proto::op::ResponseCode;
    use hickory_proto::rr::DNSClass;
    use std::sync::Arc;
    use std::sync::atomic::{AtomicBool, AtomicU32};
    use std::time::Instant;

    fn item(bytes: usize) -> Arc<Item> {
        Arc::new(Item {
            rcode: ResponseCode::NoError,
            authentic_data: false,
            recursion_available: true,
            answers: Vec::new(),
            authorities: Vec::new(),
            additionals: Vec::new(),
            orig_ttl: 30,
            stored: Instant::now(),
            generation: None,
            hits: AtomicU32::new(0),
            last_hit: std::sync::Mutex::new(Instant::now()),
            refreshing: AtomicBool::new(false),
            bytes,
        })
    }

    fn key(n: usize) -> Key {
        Key::new(
            &format!("n{n}.example."),
            RecordType::A,
            DNSClass::IN,
            false,
            false,
        )
    }

    #[test]
    fn a_store_is_bounded_by_entries_and_by_bytes() {
        let small = new_store(1024);
        for n in 0..4000 {
            small.insert(key(n), item(300));
        }
        assert!(
            (900..=1024).contains(&small.len()),
            "{} small entries",
            small.len()
        );
        let large = new_store(9984);
        for n in 0..2000 {
            large.insert(key(n), item(64 * 1024));
        }
        assert!(large.weight() <= STORE_BYTES, "{} bytes", large.weight());
        assert!(large.len() <= 256, "{} entries of 64 KiB", large.len());
    }

    use crate::plugin::pkg::test::{self, Case};
    use hickory_proto::rr::RecordType;

    #[test]
    fn a_success_cap_lowers_the_ttl_of_cluster_answers() {
        let chain = test::chain(&test::seed_corefile(
            " cache {\n  success 100 5\n }",
            "ttl 30",
        ));
        let case = Case::answer(
            "kubernetes.default.svc.cluster.local.",
            RecordType::A,
            &["kubernetes.default.svc.cluster.local. 5 IN A 10.32.0.1"],
        );
        test::check(&chain, &[case]);
        // The second ask is a hit, with the same capped TTL.
        let hit = test::ask(
            &chain,
            "kubernetes.default.svc.cluster.local.",
            RecordType::A,
        );
        assert!(hit.answers[0].ttl <= 5, "{:?}", hit.answers);
    }

    #[test]
    fn without_a_cap_the_plugins_ttl_stands() {
        let chain = test::chain(&test::seed_corefile(" cache 3600", "ttl 30"));
        test::check(
            &chain,
            &[Case::answer(
                "kubernetes.default.svc.cluster.local.",
                RecordType::A,
                &["kubernetes.default.svc.cluster.local. 30 IN A 10.32.0.1"],
            )],
        );
    }

    #[test]
    fn a_capacity_must_be_a_number() {
        let error = test::setup_error(".:53 {\n cache 30 {\n  success many\n }\n}\n");
        assert_eq!(
            error,
            "plugin/cache: strconv.Atoi: parsing \"many\": invalid syntax"
        );
    }
}
