//! acl: allows, blocks, filters or drops queries by source network and
//! query type, per zone, as CoreDNS's `acl` does. The first policy of the
//! first matching rule that covers the query decides; a query no policy
//! covers is allowed.
//!
//! block answers REFUSED and filter an empty NOERROR, each with an
//! Extended DNS Error (RFC 8914: 15 Blocked, 17 Filtered); drop sends
//! nothing at all.

mod metrics;
mod net;

use std::sync::Arc;

use hickory_proto::op::{Edns, ResponseCode};
use hickory_proto::rr::RecordType;
use hickory_proto::rr::rdata::opt::{EdnsCode, EdnsOption};

use crate::corefile::{CorefileError, Dispenser};
use crate::dns::names::longest_match;
use crate::dns::wire::reply_to;
use crate::dns::{Flow, Next, Plugin, Request, Status};
use crate::plugin::pkg::zones::zones_from_args;
use net::Cidr;

/// What a policy does with the queries it covers.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Action {
    Allow,
    Block,
    Filter,
    Drop,
}

#[derive(Debug)]
struct Policy {
    action: Action,
    /// `None`: every type.
    types: Option<Vec<RecordType>>,
    sources: Vec<Cidr>,
}

impl Policy {
    fn covers(&self, req: &Request) -> bool {
        self.types
            .as_ref()
            .is_none_or(|types| types.contains(&req.qtype()))
            && self.sources.iter().any(|net| net.contains(req.src.ip()))
    }
}

struct Rule {
    zones: Vec<String>,
    /// The counters of each zone, in the order of `zones`.
    counters: Vec<metrics::ZoneCounters>,
    policies: Vec<Policy>,
}

pub(crate) struct Acl {
    rules: Vec<Rule>,
    allowed: prometheus::IntCounter,
}

/// `acl [ZONES...] { ACTION [type QTYPE...] [net SOURCE...] }`, repeated.
pub(crate) fn setup(
    d: &mut Dispenser,
    block_zones: &[String],
    servers: &[Arc<str>],
) -> Result<Acl, CorefileError> {
    let server = servers.first().map(|s| s.as_ref()).unwrap_or("");
    let mut rules = Vec::new();
    while d.next() {
        let zones = zones_from_args(d.remaining_args(), block_zones)?;
        let mut policies = Vec::new();
        while d.next_block() {
            let action = match d.val().to_ascii_lowercase().as_str() {
                "allow" => Action::Allow,
                "block" => Action::Block,
                "filter" => Action::Filter,
                "drop" => Action::Drop,
                _ => {
                    return Err(d.err(format!(
                        "unexpected token {:?}; expect 'allow', 'block', 'filter' or 'drop'",
                        d.val()
                    )));
                }
            };
            let args = d.remaining_args();
            policies.push(policy(action, &args).map_err(|msg| d.err(msg))?);
        }
        let counters = zones
            .iter()
            .map(|zone| metrics::ZoneCounters::new(server, zone))
            .collect();
        rules.push(Rule {
            zones,
            counters,
            policies,
        });
    }
    Ok(Acl {
        rules,
        allowed: metrics::allowed(server),
    })
}

fn is_section(token: &str) -> bool {
    matches!(token.to_ascii_lowercase().as_str(), "type" | "net")
}

/// The `type …` and `net …` sections of one policy line.
fn policy(action: Action, args: &[String]) -> Result<Policy, String> {
    let (mut types, mut sources): (Option<Vec<RecordType>>, Option<Vec<Cidr>>) = (None, None);
    let mut rest = args;
    while let Some(first) = rest.first() {
        if !is_section(first) {
            return Err(format!("unexpected token {first:?}; expect 'type | net'"));
        }
        let section = first.to_ascii_lowercase();
        let count = rest[1..].iter().take_while(|t| !is_section(t)).count();
        let tokens = &rest[1..=count];
        rest = &rest[count + 1..];
        if tokens.is_empty() {
            return Err(format!("no token specified in {section:?} section"));
        }
        if section == "type" {
            let list = types.get_or_insert_with(Vec::new);
            for token in tokens {
                if token == "*" {
                    list.push(RecordType::ZERO);
                    continue;
                }
                match token.parse::<RecordType>() {
                    Ok(RecordType::Unknown(_)) | Err(_) => {
                        return Err(format!("unexpected token {token:?}; expect legal QTYPE"));
                    }
                    Ok(qtype) => list.push(qtype),
                }
            }
        } else {
            let list = sources.get_or_insert_with(Vec::new);
            for token in tokens {
                if token == "*" {
                    list.extend(Cidr::everything());
                    continue;
                }
                list.push(
                    Cidr::parse(token)
                        .ok_or_else(|| format!("illegal CIDR notation {:?}", with_prefix(token)))?,
                );
            }
        }
    }
    let types = types.filter(|list| !list.contains(&RecordType::ZERO));
    Ok(Policy {
        action,
        types,
        sources: sources.unwrap_or_else(|| Cidr::everything().to_vec()),
    })
}

/// The address as CoreDNS's error quotes it: with `/32` or `/128` added.
fn with_prefix(token: &str) -> String {
    if token.contains('/') {
        token.to_string()
    } else if token.contains(':') {
        format!("{token}/128")
    } else {
        format!("{token}/32")
    }
}

/// A reply with an Extended DNS Error, as CoreDNS's acl writes it.
fn refusal(req: &Request, rcode: ResponseCode, info_code: u16) -> hickory_proto::op::Message {
    let mut reply = reply_to(&req.msg, rcode);
    let mut edns = Edns::new();
    edns.set_max_payload(4096);
    edns.set_dnssec_ok(true);
    edns.options_mut().options.push((
        EdnsCode::Unknown(15),
        EdnsOption::Unknown(15, info_code.to_be_bytes().to_vec()),
    ));
    reply.set_edns(edns);
    reply
}

impl Plugin for Acl {
    fn name(&self) -> &'static str {
        "acl"
    }

    fn serve(&self, mut req: Request, next: Next) -> Flow {
        for rule in &self.rules {
            let Some(zone) = longest_match(rule.zones.iter().map(String::as_str), &req.qname_lower)
            else {
                continue;
            };
            let index = rule.zones.iter().position(|z| z == zone).unwrap_or(0);
            let Some(action) = rule
                .policies
                .iter()
                .find(|p| p.covers(&req))
                .map(|p| p.action)
            else {
                continue;
            };
            if action == Action::Allow {
                break;
            }
            rule.counters[index].count(action);
            let status = match action {
                Action::Block => req.write(refusal(&req, ResponseCode::Refused, 15), "acl"),
                Action::Filter => req.write(refusal(&req, ResponseCode::NoError, 17), "acl"),
                _ => Status::written(ResponseCode::NoError),
            };
            return Flow::done(req, status);
        }
        self.allowed.inc();
        next.serve(req)
    }
}

#[cfg(test)]
mod tests;
