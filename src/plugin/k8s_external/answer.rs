//! The records for the Services a name found, per question type, as
//! CoreDNS's k8s_external writes them: A and AAAA from the addresses
//! (deduplicated; a hostname is a CNAME whose target's answers follow,
//! looked up through the whole server), SRV with CoreDNS's weights and the
//! addresses in additional, PTR to `svc.ns.FIRST-ZONE`; NODATA with the
//! SOA when nothing fits.

use std::collections::{HashSet, VecDeque};
use std::net::IpAddr;

use hickory_proto::op::Message;
use hickory_proto::rr::rdata::{A, AAAA, CNAME, PTR, SRV};
use hickory_proto::rr::{RData, Record, RecordType};

use super::{External, Target, name};
use crate::dns::{Exchange, Flow, Request};

/// One step of building the reply, in order.
enum Step {
    Answer(Record),
    Additional(Record),
    /// Look a name up through the server; its answers go to the answer
    /// section (and its TC bit to the reply) or to additional.
    Lookup {
        target: hickory_proto::rr::Name,
        qtype: RecordType,
        into_answer: bool,
    },
}

/// What a Service's external address is: CoreDNS's `HostType`.
enum Host {
    V4(std::net::Ipv4Addr),
    V6(std::net::Ipv6Addr),
    Name(String),
}

fn host_type(host: &str) -> Host {
    match host.parse::<IpAddr>() {
        Ok(IpAddr::V4(v4)) => Host::V4(v4),
        Ok(IpAddr::V6(v6)) => match v6.to_ipv4_mapped() {
            Some(v4) => Host::V4(v4),
            None => Host::V6(v6),
        },
        Err(_) => Host::Name(fqdn(host)),
    }
}

fn fqdn(text: &str) -> String {
    if text.ends_with('.') {
        text.to_string()
    } else {
        format!("{text}.")
    }
}

pub(super) fn records(
    external: &External,
    req: Request,
    targets: Vec<Target>,
    zone: String,
    service_ttl: u32,
) -> Flow {
    let ctx = Context {
        ttl: external.o.ttl,
        service_ttl,
        zone: &zone,
        first_zone: external.o.zones.first().map(String::as_str).unwrap_or("."),
    };
    let steps = match req.qtype() {
        RecordType::A | RecordType::AAAA => ctx.addresses(&req, &targets),
        RecordType::SRV => ctx.srv(&req, &targets),
        RecordType::PTR => ctx.ptr(&req, &targets),
        _ => Vec::new(),
    };
    let mut reply = req.reply_skeleton();
    reply.metadata.authoritative = true;
    let soa = external.soa(&zone);
    run(req, reply, steps.into(), soa)
}

struct Context<'a> {
    ttl: u32,
    /// The kubernetes plugin's TTL, which CoreDNS gives CNAME and SRV.
    service_ttl: u32,
    zone: &'a str,
    first_zone: &'a str,
}

impl Context<'_> {
    fn addresses(&self, req: &Request, targets: &[Target]) -> Vec<Step> {
        let owner = req.qname().clone();
        let want_v4 = req.qtype() == RecordType::A;
        let mut seen = HashSet::new();
        let mut steps = Vec::new();
        for target in targets {
            let data = match host_type(&target.host) {
                Host::Name(host) => {
                    let host = name(&host);
                    let cname = RData::CNAME(CNAME(host.clone()));
                    steps.push(Step::Answer(Record::from_rdata(
                        owner.clone(),
                        self.service_ttl,
                        cname,
                    )));
                    steps.push(Step::Lookup {
                        target: host,
                        qtype: req.qtype(),
                        into_answer: true,
                    });
                    continue;
                }
                Host::V4(v4) if want_v4 => RData::A(A(v4)),
                Host::V6(v6) if !want_v4 => RData::AAAA(AAAA(v6)),
                _ => continue,
            };
            if seen.insert(target.host.clone()) {
                steps.push(Step::Answer(Record::from_rdata(
                    owner.clone(),
                    self.ttl,
                    data,
                )));
            }
        }
        steps
    }

    fn srv(&self, req: &Request, targets: &[Target]) -> Vec<Step> {
        let owner = req.qname().clone();
        // Every target shares priority 0: CoreDNS's weight for each.
        let total = 100.0 * targets.len() as f64;
        let weight = ((100.0 / total * 100.0).floor() as u16).max(1);
        let mut seen: HashSet<(String, u16, String)> = HashSet::new();
        let mut steps = Vec::new();
        for target in targets.iter().filter(|t| t.port != -1) {
            let port = target.port as u16;
            let host = host_type(&target.host);
            let srv_target = match &host {
                Host::Name(host) => host.clone(),
                _ => format!("{}.{}", target.key, self.zone),
            };
            if seen.insert((srv_target.clone(), port, String::new())) {
                let data = SRV::new(0, weight, port, name(&srv_target));
                steps.push(Step::Answer(Record::from_rdata(
                    owner.clone(),
                    self.service_ttl,
                    RData::SRV(data),
                )));
            }
            let address_key = match &host {
                Host::Name(host) => host.clone(),
                _ => target.host.clone(),
            };
            if !seen.insert((srv_target.clone(), 0, address_key)) {
                continue;
            }
            let data = match host {
                Host::Name(host) => {
                    for qtype in [RecordType::A, RecordType::AAAA] {
                        steps.push(Step::Lookup {
                            target: name(&host),
                            qtype,
                            into_answer: false,
                        });
                    }
                    continue;
                }
                Host::V4(v4) => RData::A(A(v4)),
                Host::V6(v6) => RData::AAAA(AAAA(v6)),
            };
            steps.push(Step::Additional(Record::from_rdata(
                name(&srv_target),
                self.ttl,
                data,
            )));
        }
        steps
    }

    fn ptr(&self, req: &Request, targets: &[Target]) -> Vec<Step> {
        let mut seen = HashSet::new();
        targets
            .iter()
            .filter(|t| seen.insert(t.host.clone()))
            .map(|t| {
                let target = name(&format!("{}.{}", t.host, self.first_zone));
                Step::Answer(Record::from_rdata(
                    req.qname().clone(),
                    self.ttl,
                    RData::PTR(PTR(target)),
                ))
            })
            .collect()
    }
}

/// Applies the steps in order, waiting on each lookup; then writes the
/// reply, with the SOA when the answer section stayed empty.
fn run(mut req: Request, mut reply: Message, mut steps: VecDeque<Step>, soa: Record) -> Flow {
    while let Some(step) = steps.pop_front() {
        let (target, qtype, into_answer) = match step {
            Step::Answer(record) => {
                reply.answers.push(record);
                continue;
            }
            Step::Additional(record) => {
                reply.additionals.push(record);
                continue;
            }
            Step::Lookup {
                target,
                qtype,
                into_answer,
            } => (target, qtype, into_answer),
        };
        let Some(flow) = req.lookup(target, qtype) else {
            continue;
        };
        return flow.then(move |exchange: Exchange| {
            if let Some(found) = exchange.req.reply {
                if into_answer {
                    reply.metadata.truncation |= found.msg.metadata.truncation;
                    reply.answers.extend(found.msg.answers);
                } else {
                    reply.additionals.extend(found.msg.answers);
                }
            }
            run(req, reply, steps, soa)
        });
    }
    if reply.answers.is_empty() {
        reply.authorities.push(soa);
    }
    let status = req.write(reply, "k8s_external");
    Flow::done(req, status)
}
