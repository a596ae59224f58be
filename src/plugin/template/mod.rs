//! template: answers queries from RR fragments written in the Corefile,
//! as CoreDNS's template plugin does. It is the usual way to filter AAAA
//! (`template ANY AAAA { rcode NOERROR }`), to give a reserved domain
//! NXDOMAIN, and to synthesise names such as `ip-10-0-0-1.example`.
//!
//! Templates are tried in file order. One whose zones, class and type fit
//! and one of whose regexes matches answers; one whose zones fit but no
//! regex matched answers SERVFAIL unless it falls through. A CNAME answer
//! to an A or AAAA question is followed through the whole server, and the
//! target's answers come after it.
//!
//! Fragments are Go templates (`gotmpl.rs`) whose output is read as one
//! zone-file record (`rr_text.rs`). Deciding whether to answer depends only
//! on the question, so template is transparent to remembered replies.

mod gotmpl;
mod metrics;
mod rr_text;
mod setup;

use std::collections::VecDeque;

use hickory_proto::op::{Edns, Message, ResponseCode};
use hickory_proto::rr::rdata::opt::{EdnsCode, EdnsOption};
use hickory_proto::rr::{DNSClass, RData, Record, RecordType};
use regex::Regex;

use crate::corefile::{CorefileError, Dispenser};
use crate::dns::names::longest_match;
use crate::dns::{Exchange, Flow, Next, Plugin, Request, Status};
use crate::plugin::pkg::zones::Fall;
use gotmpl::{Data, GoTemplate, Question};

pub(crate) struct Template {
    /// Every template's zones: queries elsewhere pass untouched.
    zones: Vec<String>,
    rules: Vec<Rule>,
}

/// One `template` directive.
pub(crate) struct Rule {
    zones: Vec<String>,
    /// `None` is ANY.
    qclass: Option<DNSClass>,
    /// `None` is ANY.
    qtype: Option<RecordType>,
    rcode: ResponseCode,
    regexes: Vec<Regex>,
    fragments: Vec<Fragment>,
    ederror: Option<(u16, String)>,
    fall: Fall,
}

impl Rule {
    fn new(qclass: Option<DNSClass>, qtype: Option<RecordType>, zones: Vec<String>) -> Rule {
        Rule {
            zones,
            qclass,
            qtype,
            rcode: ResponseCode::NoError,
            regexes: Vec::new(),
            fragments: Vec::new(),
            ederror: None,
            fall: Fall::default(),
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Section {
    Answer,
    Additional,
    Authority,
}

impl Section {
    fn label(self) -> &'static str {
        match self {
            Section::Answer => "answer",
            Section::Additional => "additional",
            Section::Authority => "authority",
        }
    }
}

/// One `answer`, `additional` or `authority` argument.
pub(crate) struct Fragment {
    section: Section,
    /// The template as the failure metrics name it.
    label: String,
    template: GoTemplate,
}

pub(crate) fn setup(d: &mut Dispenser, block_zones: &[String]) -> Result<Template, CorefileError> {
    let rules = setup::parse(d, block_zones)?;
    let mut zones: Vec<String> = rules.iter().flat_map(|r| r.zones.clone()).collect();
    zones.dedup();
    Ok(Template { zones, rules })
}

impl Template {
    /// Whether some template answers classes other than IN, so such
    /// queries must enter the chain.
    pub(crate) fn takes_other_classes(&self) -> bool {
        self.rules.iter().any(|r| r.qclass != Some(DNSClass::IN))
    }
}

/// What one template makes of a query.
enum Verdict {
    Matched(Box<Data>),
    /// Not matched; whether the next template (or plugin) may try.
    Missed {
        fall: bool,
    },
}

impl Rule {
    fn judge(&self, req: &Request) -> Verdict {
        let name = req.qname_lower.as_str();
        let Some(zone) = longest_match(self.zones.iter().map(String::as_str), name) else {
            return Verdict::Missed { fall: true };
        };
        let (qclass, qtype) = (req.qclass(), req.qtype());
        let class_fits = self
            .qclass
            .is_none_or(|c| qclass == DNSClass::ANY || qclass == c);
        let type_fits = self
            .qtype
            .is_none_or(|t| qtype == RecordType::ANY || qtype == t);
        if !class_fits || !type_fits {
            return Verdict::Missed { fall: true };
        }
        for regex in &self.regexes {
            let Some(captures) = regex.captures(name) else {
                continue;
            };
            let matches: Vec<String> = captures
                .iter()
                .map(|m| m.map(|m| m.as_str().to_string()).unwrap_or_default())
                .collect();
            let mut groups: gotmpl::Groups = matches
                .iter()
                .enumerate()
                .map(|(i, m)| (i.to_string(), m.clone()))
                .collect();
            for (i, group) in regex.capture_names().enumerate() {
                if let Some(group) = group {
                    groups.insert(group.to_string(), matches[i].clone());
                }
            }
            return Verdict::Matched(Box::new(Data {
                zone: zone.to_string(),
                name: name.to_string(),
                regex: regex.as_str().to_string(),
                class: class_text(if qclass == DNSClass::ANY {
                    self.qclass
                } else {
                    Some(qclass)
                }),
                qtype: type_text(if qtype == RecordType::ANY {
                    self.qtype
                } else {
                    Some(qtype)
                }),
                remote: req.src.ip().to_string(),
                matches,
                groups,
                question: question(req),
            }));
        }
        Verdict::Missed {
            fall: self.fall.through(name),
        }
    }
}

/// The class as miekg names it; `None` (a template for ANY) is `ANY`.
fn class_text(class: Option<DNSClass>) -> String {
    crate::dns::names::class_text(class.unwrap_or(DNSClass::ANY))
}

/// The type as miekg names it; `None` (a template for ANY) is `ANY`.
fn type_text(qtype: Option<RecordType>) -> String {
    crate::dns::names::type_text(qtype.unwrap_or(RecordType::ANY))
}

fn question(req: &Request) -> Question {
    let name = req.qname().to_string();
    let (qclass, qtype) = (req.qclass(), req.qtype());
    Question {
        text: format!(
            ";{name}\t{}\t {}",
            crate::dns::names::class_text(qclass),
            crate::dns::names::type_text(qtype)
        ),
        name,
        qtype: u16::from(qtype),
        qclass: u16::from(qclass),
    }
}

impl Plugin for Template {
    fn name(&self) -> &'static str {
        "template"
    }

    fn serve(&self, req: Request, next: Next) -> Flow {
        if longest_match(self.zones.iter().map(String::as_str), &req.qname_lower).is_none() {
            return next.serve(req);
        }
        for rule in &self.rules {
            match rule.judge(&req) {
                Verdict::Missed { fall: true } => continue,
                Verdict::Missed { fall: false } => {
                    return Flow::done(req, Status::written(ResponseCode::ServFail));
                }
                Verdict::Matched(data) => return rule.answer(req, &data),
            }
        }
        next.serve(req)
    }
}

impl Rule {
    fn answer(&self, req: Request, data: &Data) -> Flow {
        metrics::matched(&req.origin.server, data);
        if self.rcode == ResponseCode::ServFail {
            return Flow::done(req, Status::written(ResponseCode::ServFail));
        }
        let mut sections: [Vec<Record>; 3] = Default::default();
        for fragment in &self.fragments {
            match fragment.record(&req.origin.server, data) {
                Ok(record) => sections[fragment.section as usize].push(record),
                Err(error) => {
                    return Flow::done(req, Status::failed(ResponseCode::ServFail, error));
                }
            }
        }
        let [answers, additionals, authorities] = sections;
        let mut reply = req.reply_skeleton();
        reply.metadata.authoritative = true;
        reply.metadata.response_code = self.rcode;
        reply.additionals = additionals;
        reply.authorities = authorities;
        if let Some((code, text)) = &self.ederror {
            reply.set_edns(extended_error(*code, text));
        }
        let follow = matches!(req.qtype(), RecordType::A | RecordType::AAAA);
        with_targets(req, reply, answers.into(), follow)
    }
}

impl Fragment {
    /// Runs the template and reads its output as a record, counting a
    /// failure of either step as CoreDNS does.
    fn record(&self, server: &str, data: &Data) -> Result<Record, String> {
        let count =
            |failure| metrics::failed(failure, server, data, self.section.label(), &self.label);
        let text = self
            .template
            .execute(data)
            .inspect_err(|_| count(metrics::Failure::Template))?;
        rr_text::parse_rr(&text).inspect_err(|_| count(metrics::Failure::Record))
    }
}

/// Adds `pending` to the answer section in order; each CNAME is followed by
/// its target's answers, looked up through the whole server (CoreDNS's
/// upstream), whose TC bit the reply takes.
fn with_targets(
    mut req: Request,
    mut reply: Message,
    mut pending: VecDeque<Record>,
    follow: bool,
) -> Flow {
    while let Some(record) = pending.pop_front() {
        let target = match &record.data {
            RData::CNAME(cname) if follow => Some(cname.0.clone()),
            _ => None,
        };
        reply.answers.push(record);
        let Some(target) = target else {
            continue;
        };
        let Some(flow) = req.lookup(target, req.qtype()) else {
            continue;
        };
        return flow.then(move |exchange: Exchange| {
            if let Some(found) = exchange.req.reply {
                reply.metadata.truncation = found.msg.metadata.truncation;
                reply.answers.extend(found.msg.answers);
            }
            with_targets(req, reply, pending, follow)
        });
    }
    let rcode = reply.metadata.response_code;
    req.write(reply, "template");
    Flow::done(req, Status::written(rcode))
}

/// An OPT carrying an Extended DNS Error, as CoreDNS's template sets it:
/// 4096 bytes and the DO bit.
fn extended_error(code: u16, text: &str) -> Edns {
    let mut edns = Edns::new();
    edns.set_max_payload(4096);
    edns.set_dnssec_ok(true);
    let mut value = code.to_be_bytes().to_vec();
    value.extend_from_slice(text.as_bytes());
    edns.options_mut()
        .options
        .push((EdnsCode::Unknown(15), EdnsOption::Unknown(15, value)));
    edns
}

#[cfg(test)]
mod tests;
