//! local: answers the names that never leave a host (RFC 6761) itself, so
//! they are not forwarded upstream, as CoreDNS's `local` does:
//! `localhost.` (127.0.0.1 and ::1), the reverse zones `0.`, `127.` and
//! `255.in-addr.arpa.` (with `1.0.0.127.in-addr.arpa.` PTR `localhost.`),
//! and every name under `localhost.`. Unless `localhost_prefix off`, names
//! that start with `localhost.` (`localhost.example.org.`, a search-path
//! expansion) are answered as localhost too.

mod metrics;

use std::net::{Ipv4Addr, Ipv6Addr};

use hickory_proto::op::ResponseCode;
use hickory_proto::rr::rdata::{A, AAAA, NS, PTR, SOA};
use hickory_proto::rr::{DNSClass, Name, RData, Record, RecordType};

use crate::corefile::{CorefileError, Dispenser};
use crate::dns::wire::reply_to;
use crate::dns::{Flow, Next, Plugin, Request};

/// The TTL of every record local writes (a week).
const TTL: u32 = 604_800;
const ZONES: [&str; 4] = [
    "localhost.",
    "0.in-addr.arpa.",
    "127.in-addr.arpa.",
    "255.in-addr.arpa.",
];
const LOCALHOST: &str = "localhost.";

pub(crate) struct Local {
    localhost_prefix: bool,
}

/// `local [{ localhost_prefix on|off }]`.
pub(crate) fn setup(d: &mut Dispenser) -> Result<Local, CorefileError> {
    let mut local = Local {
        localhost_prefix: true,
    };
    while d.next() {
        if !d.remaining_args().is_empty() {
            return Err(d.arg_err());
        }
        while d.next_block() {
            if d.val() != "localhost_prefix" {
                return Err(d.unknown_property());
            }
            let args = d.remaining_args();
            let [value] = args.as_slice() else {
                return Err(d.arg_err());
            };
            local.localhost_prefix = match value.as_str() {
                "on" => true,
                "off" => false,
                other => {
                    return Err(d.err(format!(
                        "localhost_prefix expects 'on' or 'off', got {other:?}"
                    )));
                }
            };
        }
    }
    Ok(local)
}

fn record(name: &Name, data: RData) -> Record {
    let mut record = Record::from_rdata(name.clone(), TTL, data);
    record.dns_class = DNSClass::IN;
    record
}

fn name(text: &str) -> Name {
    Name::from_ascii(text).expect("a fixed name")
}

fn soa(origin: &Name) -> Record {
    record(
        origin,
        RData::SOA(SOA::new(
            name(LOCALHOST),
            name("root.localhost."),
            1,
            0,
            0,
            0,
            TTL,
        )),
    )
}

/// The address records of localhost for `qtype`, under `owner`.
fn localhost_answer(owner: &Name, qtype: RecordType) -> Option<Record> {
    match qtype {
        RecordType::A => Some(record(owner, RData::A(A(Ipv4Addr::LOCALHOST)))),
        RecordType::AAAA => Some(record(owner, RData::AAAA(AAAA(Ipv6Addr::LOCALHOST)))),
        _ => None,
    }
}

impl Local {
    fn is_localhost_alias(&self, lower: &str) -> bool {
        lower.len() > LOCALHOST.len()
            && (lower.ends_with(".localhost.")
                || (self.localhost_prefix && lower.starts_with(LOCALHOST)))
    }
}

impl Plugin for Local {
    fn name(&self) -> &'static str {
        "local"
    }

    fn serve(&self, mut req: Request, next: Next) -> Flow {
        let lower = req.qname_lower.clone();
        let qname = req.qname().clone();
        let qtype = req.qtype();
        let mut reply = reply_to(&req.msg, ResponseCode::NoError);
        if self.is_localhost_alias(&lower) {
            metrics::localhost_requests().inc();
            match localhost_answer(&qname, qtype) {
                Some(answer) => reply.answers.push(answer),
                None => reply.authorities.push(soa(&qname)),
            }
            let status = req.write(reply, "local");
            return Flow::done(req, status);
        }
        let Some(zone) = ZONES
            .iter()
            .find(|z| lower == **z || lower.ends_with(&format!(".{z}")))
        else {
            return next.serve(req);
        };
        // The zone as the query spelled it (its case kept).
        let labels = zone.trim_end_matches('.').split('.').count();
        let zone_name = qname.trim_to(labels);
        match lower.as_str() {
            apex if ZONES.contains(&apex) => match qtype {
                RecordType::A | RecordType::AAAA if apex == LOCALHOST => {
                    reply.answers.extend(localhost_answer(&qname, qtype));
                }
                RecordType::SOA => reply.answers.push(soa(&qname)),
                RecordType::NS => reply
                    .answers
                    .push(record(&qname, RData::NS(NS(name(LOCALHOST))))),
                _ => reply.authorities.push(soa(&qname)),
            },
            "1.0.0.127.in-addr.arpa." => match qtype {
                RecordType::PTR => reply
                    .answers
                    .push(record(&qname, RData::PTR(PTR(name(LOCALHOST))))),
                _ => reply.authorities.push(soa(&zone_name)),
            },
            _ => {}
        }
        if reply.answers.is_empty() && reply.authorities.is_empty() {
            reply.authorities.push(soa(&zone_name));
            reply.metadata.response_code = ResponseCode::NXDomain;
        }
        let status = req.write(reply, "local");
        Flow::done(req, status)
    }
}

#[cfg(test)]
mod tests;
