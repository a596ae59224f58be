//! Answers for names under a kubernetes zone, from an `Index`.
//!
//! This follows CoreDNS's kubernetes plugin and `plugin/backend_lookup.go`
//! (reference k8s-dns-behaviour.md §2–§9): first the name is turned into
//! "entries" (CoreDNS's `msg.Service`: an address or a host name, a port,
//! and the name the entry lives at), then the query type decides which
//! records the entries give. A name error becomes NXDOMAIN (or falls
//! through); no records for an existing name becomes NODATA.

use std::collections::HashSet;
use std::net::IpAddr;

use hickory_proto::rr::rdata::{A, AAAA, CNAME, NS, PTR, SOA, SRV, TXT};
use hickory_proto::rr::{Name, RData, Record, RecordType};

use super::parse::{self, NameParts};
use crate::kubernetes::index::Index;
use crate::kubernetes::model::{ServiceKind, Slice, endpoint_hostname};
use crate::plugin::pkg::service_labels::matches;

/// How pod names are answered.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum PodMode {
    Disabled,
    Insecure,
    Verified,
}

/// The plugin options that shape answers.
#[derive(Debug, Clone)]
pub(super) struct Settings {
    /// Lower-case FQDN zones, as configured.
    pub zones: Vec<String>,
    /// The first non-reverse zone: PTR targets live there.
    pub primary_zone: String,
    pub ttl: u32,
    pub pods: PodMode,
    pub endpoint_pod_names: bool,
    /// The `namespaces` allow-list (empty: all).
    pub namespaces: Vec<String>,
    pub ignore_empty_service: bool,
    /// Our own addresses, for NS and `ns.dns.<zone>` (CoreDNS `boundIPs`).
    pub local_ips: Vec<IpAddr>,
}

/// A query against one zone.
pub(super) struct Query<'a> {
    /// The question name as the client wrote it.
    pub qname: &'a Name,
    /// The same name in lower case text (FQDN).
    pub lower: &'a str,
    /// The matched zone as the client spelled it (suffix of the qname).
    pub zone: &'a str,
    /// The matched zone in lower case.
    pub zone_lower: &'a str,
    pub qtype: RecordType,
}

/// What the plugin should reply.
#[derive(Debug, Clone, PartialEq)]
pub(super) enum Outcome {
    Answer {
        answers: Vec<Record>,
        additionals: Vec<Record>,
    },
    NoData,
    NameError,
    /// AXFR/IXFR without a transfer plugin: REFUSED written by the server.
    Refused,
    /// An ExternalName target outside the zone: resolve `target` through the
    /// whole server and append its answers after `records` (which end with
    /// the CNAME). If that lookup fails, the reply is NODATA.
    Chase {
        records: Vec<Record>,
        target: Name,
        qtype: RecordType,
    },
}

/// Where an entry points.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Host {
    Ip(IpAddr),
    Name(String),
    Text(&'static str),
}

/// CoreDNS's `msg.Service`: a host, a port, and the name it lives at
/// (`path` is that name without the zone, e.g. `web.ns.svc`).
#[derive(Debug, Clone)]
struct Entry {
    host: Host,
    port: i32,
    path: String,
}

type Lookup = Result<Vec<Entry>, NameError>;

/// A name error: invalid, unexposed namespace, or nothing matched.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) struct NameError;

/// The `dns-version` TXT value (Kubernetes DNS spec schema version).
const SCHEMA_VERSION: &str = "1.1.0";
const SCHEMA_TTL: u32 = 28800;
const MAX_CNAME_CHAIN: usize = 7;

/// Answers one query.
pub(super) fn resolve(s: &Settings, ix: &Index, q: &Query<'_>) -> Outcome {
    let result = match q.qtype {
        RecordType::A | RecordType::AAAA => return address_outcome(s, ix, q),
        RecordType::TXT => txt(s, ix, q),
        RecordType::CNAME => cname(s, ix, q),
        RecordType::PTR => ptr(s, ix, q),
        RecordType::MX => services(s, ix, q, q.lower, q.qtype).map(|_| (Vec::new(), Vec::new())),
        RecordType::SRV => srv(s, ix, q),
        RecordType::SOA if q.lower.len() == q.zone.len() => {
            Ok((vec![soa(s, ix, q.zone)], Vec::new()))
        }
        RecordType::SOA => Ok((Vec::new(), Vec::new())),
        RecordType::AXFR | RecordType::IXFR => return Outcome::Refused,
        RecordType::NS if q.lower == q.zone => ns(s, ix, q),
        _ => exists(s, ix, q),
    };
    into_outcome(result)
}

fn into_outcome(result: Result<(Vec<Record>, Vec<Record>), NameError>) -> Outcome {
    match result {
        Err(NameError) => Outcome::NameError,
        Ok((answers, _)) if answers.is_empty() => Outcome::NoData,
        Ok((answers, additionals)) => Outcome::Answer {
            answers,
            additionals,
        },
    }
}

/// The fake A lookup CoreDNS uses for other types: only existence matters.
fn exists(
    s: &Settings,
    ix: &Index,
    q: &Query<'_>,
) -> Result<(Vec<Record>, Vec<Record>), NameError> {
    services(s, ix, q, q.lower, RecordType::A).map(|_| (Vec::new(), Vec::new()))
}

/// The SOA of a zone, with the zone as the client spelled it.
pub(super) fn soa(s: &Settings, ix: &Index, zone: &str) -> Record {
    SOA_CACHE.with_borrow_mut(|cache| {
        let key = (ix.serial, s.ttl);
        if let Some((_, _, record)) = cache.iter().find(|(z, k, _)| z == zone && *k == key) {
            return record.clone();
        }
        let record = build_soa(s, ix, zone);
        if cache.len() == SOA_CACHE_SIZE {
            cache.remove(0);
        }
        cache.push((zone.to_string(), key, record.clone()));
        record
    })
}

/// SOA records per worker thread, by zone spelling, serial and TTL: every
/// NXDOMAIN and NODATA carries one, and building its three names from text
/// costs more than the rest of the answer.
const SOA_CACHE_SIZE: usize = 8;

/// A cached SOA: the zone as spelled, (serial, TTL), the record.
type CachedSoa = (String, (u32, u32), Record);

thread_local! {
    static SOA_CACHE: std::cell::RefCell<Vec<CachedSoa>> =
        const { std::cell::RefCell::new(Vec::new()) };
}

fn build_soa(s: &Settings, ix: &Index, zone: &str) -> Record {
    let zone_name = name(zone);
    let join = |prefix: &str| name(&format!("{prefix}{zone}"));
    let data = SOA::new(
        join("ns.dns."),
        join("hostmaster."),
        ix.serial,
        7200,
        1800,
        86400,
        s.ttl,
    );
    Record::from_rdata(zone_name, s.ttl.min(300), RData::SOA(data))
}

// --- entries (CoreDNS `Services`, `Records`, `findServices`, `findPods`) ---

/// The entries of `lower` (a lower-case name in the query's zone) for `qtype`.
fn services(s: &Settings, ix: &Index, q: &Query<'_>, lower: &str, qtype: RecordType) -> Lookup {
    match qtype {
        RecordType::TXT => {
            if parse::trim_zone(lower, q.zone_lower) == "dns-version" {
                return Ok(vec![Entry {
                    host: Host::Text(SCHEMA_VERSION),
                    port: 0,
                    path: String::new(),
                }]);
            }
            return match records(s, ix, q, lower) {
                Ok(found) if !found.is_empty() => Ok(Vec::new()),
                _ => Err(NameError),
            };
        }
        RecordType::NS => return Ok(ns_entries(s, ix, q.zone)),
        _ => {}
    }
    if is_default_ns(lower, q.zone) {
        let family = |ip: &IpAddr| {
            matches!(
                (qtype, ip),
                (RecordType::A, IpAddr::V4(_)) | (RecordType::AAAA, IpAddr::V6(_))
            )
        };
        return Ok(ns_entries(s, ix, q.zone)
            .into_iter()
            .filter(|e| matches!(&e.host, Host::Ip(ip) if family(ip)))
            .collect());
    }
    let found = records(s, ix, q, lower)?;
    if qtype != RecordType::SRV {
        return Ok(found);
    }
    Ok(found
        .into_iter()
        .filter(|e| !matches!(e.host, Host::Name(_)))
        .collect())
}

/// `ns.dns.<zone>`, compared with the zone as the client spelled it (Q5).
fn is_default_ns(lower: &str, zone: &str) -> bool {
    lower.starts_with("ns.dns.") && lower.find(zone) == Some("ns.dns.".len())
}

fn records(s: &Settings, ix: &Index, q: &Query<'_>, lower: &str) -> Lookup {
    let request = parse::parse(lower, q.zone_lower).map_err(|_| NameError)?;
    if request.kind.is_empty() {
        return Ok(Vec::new());
    }
    if parse::is_reverse(q.zone_lower) || !exposed(s, ix, request.namespace) {
        return Err(NameError);
    }
    if request.kind == "pod" {
        return find_pods(s, ix, &request);
    }
    find_services(s, ix, &request)
}

/// CoreDNS `namespaceExposed`: allowed by `namespaces` and present.
fn exposed(s: &Settings, ix: &Index, namespace: &str) -> bool {
    (s.namespaces.is_empty() || s.namespaces.iter().any(|n| n == namespace))
        && ix.namespaces.contains(namespace)
}

fn find_services(s: &Settings, ix: &Index, r: &NameParts<'_>) -> Lookup {
    if r.service.is_empty() {
        return Ok(Vec::new());
    }
    let service = ix.service(r.namespace, r.service).ok_or(NameError)?;
    let slices = ix.service_slices(r.namespace, r.service);
    let path = [&*service.name, ".", &*service.namespace, ".svc"].concat();
    let headless = service.kind == ServiceKind::Headless;
    if s.ignore_empty_service
        && matches!(service.kind, ServiceKind::ClusterIp(_))
        && slices.iter().all(|slice| slice.addresses.is_empty())
    {
        return Err(NameError);
    }
    let mut out = Vec::new();
    let found = match &service.kind {
        ServiceKind::ExternalName(target) => {
            let has_subname =
                !(r.endpoint.is_empty() && r.port.is_empty() && r.protocol.is_empty());
            if has_subname || target.parse::<IpAddr>().is_ok() {
                return Err(NameError);
            }
            out.push(Entry {
                host: Host::Name(fqdn(target)),
                port: 0,
                path,
            });
            true
        }
        _ if headless || !r.endpoint.is_empty() => endpoint_entries(s, r, slices, &path, &mut out),
        ServiceKind::ClusterIp(ips) => {
            let mut found = false;
            for port in service
                .ports
                .iter()
                .filter(|p| matches(r.port, &p.name) && matches(r.protocol, &p.protocol))
            {
                found = true;
                out.extend(ips.iter().map(|ip| Entry {
                    host: Host::Ip(*ip),
                    port: port.port,
                    path: path.clone(),
                }));
            }
            found
        }
        ServiceKind::Headless => unreachable!("handled above"),
    };
    if found { Ok(out) } else { Err(NameError) }
}

fn endpoint_entries(
    s: &Settings,
    r: &NameParts<'_>,
    slices: &[std::sync::Arc<Slice>],
    path: &str,
    out: &mut Vec<Entry>,
) -> bool {
    let mut found = false;
    for slice in slices {
        for address in &slice.addresses {
            let hostname = endpoint_hostname(address, s.endpoint_pod_names);
            if !r.endpoint.is_empty() && !r.endpoint.eq_ignore_ascii_case(&hostname) {
                continue;
            }
            for port in slice
                .ports
                .iter()
                .filter(|p| matches(r.port, &p.name) && matches(r.protocol, &p.protocol))
            {
                found = true;
                out.push(Entry {
                    host: Host::Ip(address.ip),
                    port: port.port,
                    path: [&*hostname, ".", path].concat(),
                });
            }
        }
    }
    found
}

fn find_pods(s: &Settings, ix: &Index, r: &NameParts<'_>) -> Lookup {
    if s.pods == PodMode::Disabled {
        return Err(NameError);
    }
    let pod_name = r.service;
    if pod_name.is_empty() {
        return Ok(Vec::new());
    }
    let ip_text = if pod_name.matches('-').count() == 3 && !pod_name.contains("--") {
        pod_name.replace('-', ".")
    } else {
        pod_name.replace('-', ":")
    };
    let path = format!("{pod_name}.{}.pod", r.namespace);
    let ip: IpAddr = ip_text.parse().map_err(|_| NameError)?;
    if s.pods == PodMode::Insecure {
        return Ok(vec![Entry {
            host: Host::Ip(ip),
            port: 0,
            path,
        }]);
    }
    let pods = ix.pods.get(ip_text.as_str()).ok_or(NameError)?;
    let found: Vec<Entry> = pods
        .iter()
        .filter(|pod| pod.namespace.eq_ignore_ascii_case(r.namespace))
        .map(|_| Entry {
            host: Host::Ip(ip),
            port: 0,
            path: path.clone(),
        })
        .collect();
    if found.is_empty() {
        Err(NameError)
    } else {
        Ok(found)
    }
}

/// CoreDNS `nsAddrs`: the Services whose endpoints are our own addresses,
/// or `ns.dns.<zone>` with our addresses when there are none.
fn ns_entries(s: &Settings, ix: &Index, zone: &str) -> Vec<Entry> {
    let mut entries = Vec::new();
    let mut found_endpoint = false;
    for local in &s.local_ips {
        for slice in ix
            .endpoint_ips
            .get(local)
            .into_iter()
            .flat_map(|at| at.iter())
        {
            found_endpoint = true;
            let Some(service) = ix.service(&slice.namespace, &slice.service) else {
                continue;
            };
            let path = format!("{}.{}.svc", service.name, service.namespace);
            match &service.kind {
                ServiceKind::Headless => {
                    for address in &slice.addresses {
                        let hostname = endpoint_hostname(address, s.endpoint_pod_names);
                        entries.push(Entry {
                            host: Host::Ip(address.ip),
                            port: 0,
                            path: format!("{hostname}.{path}"),
                        });
                    }
                }
                ServiceKind::ClusterIp(ips) => {
                    entries.extend(ips.iter().map(|ip| Entry {
                        host: Host::Ip(*ip),
                        port: 0,
                        path: path.clone(),
                    }));
                }
                ServiceKind::ExternalName(_) => {}
            }
        }
    }
    if !found_endpoint {
        entries = s
            .local_ips
            .iter()
            .map(|ip| Entry {
                host: Host::Ip(*ip),
                port: 0,
                path: "ns.dns".into(),
            })
            .collect();
        // The zone is appended by `target`; `ns.dns.<zone>` keeps the client's case.
        let _ = zone;
    }
    entries
}

// --- records per query type (CoreDNS `plugin/backend_lookup.go`) ---

fn address_outcome(s: &Settings, ix: &Index, q: &Query<'_>) -> Outcome {
    match address(s, ix, q, q.qname, q.lower, &[]) {
        Err(NameError) => Outcome::NameError,
        Ok(Addresses {
            records,
            chase: Some((target, mut before)),
        }) => {
            before.splice(0..0, records);
            Outcome::Chase {
                records: before,
                target,
                qtype: q.qtype,
            }
        }
        Ok(Addresses {
            records,
            chase: None,
        }) if records.is_empty() => Outcome::NoData,
        Ok(Addresses {
            records,
            chase: None,
        }) => Outcome::Answer {
            answers: records,
            additionals: Vec::new(),
        },
    }
}

struct Addresses {
    records: Vec<Record>,
    /// An out-of-zone CNAME target still to resolve, with the records that
    /// lead to it (ending with the CNAME).
    chase: Option<(Name, Vec<Record>)>,
}

/// CoreDNS `A`/`AAAA`: address records of `owner`, following ExternalName
/// CNAMEs inside the zone here and reporting one outside it for the caller.
fn address(
    s: &Settings,
    ix: &Index,
    q: &Query<'_>,
    owner: &Name,
    lower: &str,
    previous: &[Record],
) -> Result<Addresses, NameError> {
    let entries = services(s, ix, q, lower, q.qtype)?;
    let mut out = Addresses {
        records: Vec::new(),
        chase: None,
    };
    // Hashing is only needed to drop repeats among several entries.
    let dedupe = entries.len() > 1;
    let mut seen = HashSet::new();
    for entry in entries {
        match entry.host {
            Host::Name(target) => {
                let target_lower = target.to_ascii_lowercase();
                if target_lower == lower || previous.len() > MAX_CNAME_CHAIN {
                    continue;
                }
                let target_name = name(&target);
                let cname = Record::from_rdata(
                    owner.clone(),
                    s.ttl,
                    RData::CNAME(CNAME(target_name.clone())),
                );
                if previous.iter().any(|r| r == &cname) {
                    continue;
                }
                if crate::dns::names::is_subdomain(q.zone_lower, &target_lower) {
                    let mut chain = previous.to_vec();
                    chain.push(cname.clone());
                    if let Ok(next) = address(s, ix, q, &target_name, &target_lower, &chain) {
                        if let Some((target, mut rest)) = next.chase {
                            rest.insert(0, cname);
                            out.chase = Some((target, rest));
                        } else if !next.records.is_empty() {
                            out.records.push(cname);
                            out.records.extend(next.records);
                        }
                    }
                    continue;
                }
                out.chase = Some((target_name, vec![cname]));
            }
            Host::Ip(ip) => {
                if (!dedupe || seen.insert(ip))
                    && let Some(data) = address_data(ip, q.qtype)
                {
                    out.records
                        .push(Record::from_rdata(owner.clone(), s.ttl, data));
                }
            }
            Host::Text(_) => {}
        }
    }
    Ok(out)
}

fn address_data(ip: IpAddr, qtype: RecordType) -> Option<RData> {
    match (ip, qtype) {
        (IpAddr::V4(v4), RecordType::A) => Some(RData::A(A(v4))),
        (IpAddr::V6(v6), RecordType::AAAA) => Some(RData::AAAA(AAAA(v6))),
        _ => None,
    }
}

fn glue(ip: IpAddr, owner: Name, ttl: u32) -> Record {
    let data = match ip {
        IpAddr::V4(v4) => RData::A(A(v4)),
        IpAddr::V6(v6) => RData::AAAA(AAAA(v6)),
    };
    Record::from_rdata(owner, ttl, data)
}

type Sections = Result<(Vec<Record>, Vec<Record>), NameError>;

fn txt(s: &Settings, ix: &Index, q: &Query<'_>) -> Sections {
    let entries = services(s, ix, q, q.lower, RecordType::TXT)?;
    let records = entries
        .iter()
        .filter_map(|e| match e.host {
            Host::Text(text) => Some(Record::from_rdata(
                q.qname.clone(),
                SCHEMA_TTL,
                RData::TXT(TXT::new(vec![text.to_string()])),
            )),
            _ => None,
        })
        .take(1)
        .collect();
    Ok((records, Vec::new()))
}

fn cname(s: &Settings, ix: &Index, q: &Query<'_>) -> Sections {
    let entries = services(s, ix, q, q.lower, RecordType::CNAME)?;
    let records = match entries.first().map(|e| &e.host) {
        Some(Host::Name(target)) => vec![Record::from_rdata(
            q.qname.clone(),
            s.ttl,
            RData::CNAME(CNAME(name(target))),
        )],
        _ => Vec::new(),
    };
    Ok((records, Vec::new()))
}

fn srv(s: &Settings, ix: &Index, q: &Query<'_>) -> Sections {
    let entries = services(s, ix, q, q.lower, RecordType::SRV)?;
    let weight = (100 / entries.len().max(1)).max(1) as u16;
    let (mut answers, mut additionals) = (Vec::new(), Vec::new());
    let mut seen_srv = HashSet::new();
    let mut seen_glue = HashSet::new();
    for entry in entries.iter().filter(|e| e.port != -1) {
        let Host::Ip(ip) = entry.host else {
            continue;
        };
        let target = target(&entry.path, q.zone);
        let port = entry.port as u16;
        if seen_srv.insert((target.clone(), port)) {
            let data = SRV::new(0, weight, port, name(&target));
            answers.push(Record::from_rdata(q.qname.clone(), s.ttl, RData::SRV(data)));
        }
        if seen_glue.insert((target.clone(), ip)) {
            additionals.push(glue(ip, name(&target), s.ttl));
        }
    }
    Ok((answers, additionals))
}

fn ns(s: &Settings, ix: &Index, q: &Query<'_>) -> Sections {
    let entries = services(s, ix, q, q.lower, RecordType::NS)?;
    let (mut answers, mut additionals) = (Vec::new(), Vec::new());
    let mut seen = HashSet::new();
    for entry in entries {
        let Host::Ip(ip) = entry.host else {
            continue;
        };
        let host = target(&entry.path, q.zone);
        additionals.push(glue(ip, name(&host), s.ttl));
        if seen.insert(host.clone()) {
            answers.push(Record::from_rdata(
                q.qname.clone(),
                s.ttl,
                RData::NS(NS(name(&host))),
            ));
        }
    }
    Ok((answers, additionals))
}

fn ptr(s: &Settings, ix: &Index, q: &Query<'_>) -> Sections {
    let Some(ip) = parse::reverse_address(q.lower) else {
        return records(s, ix, q, q.lower).map(|_| (Vec::new(), Vec::new()));
    };
    let targets = ptr_targets(s, ix, ip);
    if targets.is_empty() {
        return Err(NameError);
    }
    let mut seen = HashSet::new();
    let records = targets
        .into_iter()
        .filter(|t| seen.insert(t.clone()))
        .map(|t| Record::from_rdata(q.qname.clone(), s.ttl, RData::PTR(PTR(name(&t)))))
        .collect();
    Ok((records, Vec::new()))
}

/// CoreDNS `serviceRecordForIP`: the first Service with this cluster IP,
/// else every ready endpoint with it.
fn ptr_targets(s: &Settings, ix: &Index, ip: IpAddr) -> Vec<String> {
    let allowed = |namespace: &str| s.namespaces.is_empty() || exposed(s, ix, namespace);
    if let Some(service) = ix
        .cluster_ips
        .get(&ip)
        .into_iter()
        .flat_map(|at| at.iter())
        .find(|svc| allowed(&svc.namespace))
    {
        return vec![format!(
            "{}.{}.svc.{}",
            service.name, service.namespace, s.primary_zone
        )];
    }
    let mut targets = Vec::new();
    for slice in ix
        .endpoint_ips
        .get(&ip)
        .into_iter()
        .flat_map(|at| at.iter())
        .filter(|slice| allowed(&slice.namespace))
    {
        for address in slice.addresses.iter().filter(|a| a.ip == ip) {
            let hostname = endpoint_hostname(address, s.endpoint_pod_names);
            targets.push(format!(
                "{hostname}.{}.{}.svc.{}",
                slice.service, slice.namespace, s.primary_zone
            ));
        }
    }
    targets
}

// --- names ---

/// `path` + the zone as the client spelled it.
fn target(path: &str, zone: &str) -> String {
    [path, ".", zone].concat()
}

fn fqdn(text: &str) -> String {
    if text.ends_with('.') {
        text.to_string()
    } else {
        format!("{text}.")
    }
}

/// Builds a name from text; labels that are not valid host names are kept
/// as raw labels.
fn name(text: &str) -> Name {
    plain_name(text).unwrap_or_else(|| {
        Name::from_ascii(text)
            .or_else(|_| Name::from_utf8(text))
            .unwrap_or_else(|_| Name::root())
    })
}

/// `Name::from_ascii` for the text the index produces (host-name labels),
/// built from the label bytes without the general parser; `None` for
/// anything the parser might read differently (escapes, odd characters).
fn plain_name(text: &str) -> Option<Name> {
    let body = text.strip_suffix('.').unwrap_or(text);
    if body.is_empty() || body.len() > 253 {
        return None;
    }
    let mut built = Name::root();
    for label in body.split('.') {
        if !is_plain_label(label.as_bytes()) {
            return None;
        }
        built = built.append_label(label.as_bytes()).ok()?;
    }
    built.set_fqdn(text.ends_with('.'));
    Some(built)
}

/// A label `Label::from_ascii` takes as is: 1–63 bytes that hickory also
/// prints unescaped (the rule the question-name fast path uses).
fn is_plain_label(label: &[u8]) -> bool {
    (1..=63).contains(&label.len()) && crate::dns::names::is_plain_label(label)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_plain_name_path_builds_what_the_parser_builds() {
        for text in [
            "svc1.testns.svc.cluster.local.",
            "_http._tcp.svc1.testns.svc.Cluster.Local.",
            "10-0-0-1.ns.pod.cluster.local",
            "*.wild.example.",
            "a.b",
        ] {
            let fast = plain_name(text).expect("plain");
            let parsed = Name::from_ascii(text).unwrap();
            assert_eq!(fast.to_ascii(), parsed.to_ascii(), "{text}");
            assert_eq!(fast.is_fqdn(), parsed.is_fqdn(), "{text}");
            assert!(fast.eq_case(&parsed), "{text}");
        }
    }

    #[test]
    fn text_the_fast_path_cannot_vouch_for_goes_to_the_parser() {
        for text in [
            "a\\.b.example.",
            "-lead.example.",
            "sp ace.x.",
            "",
            ".",
            "a..b.",
        ] {
            assert!(plain_name(text).is_none(), "{text:?}");
        }
        assert_eq!(name("a\\.b.example.").iter().count(), 2);
    }
}
