//! log: one line per query, in CoreDNS's common or combined format.
//!
//! The format is compiled once at setup into literal and placeholder parts,
//! so a query only appends bytes to the log buffer (`crate::logging`), with
//! no `format!`. Lines go to stdout after the reply is known, prefixed
//! `[INFO] ` with no `plugin/log:` prefix, as CoreDNS does.
//!
//! Why log is a memo observer: `log` is on in most Corefiles, and if it
//! turned remembered replies off, every cluster query would be decoded,
//! run through the chain and encoded again. A remembered reply's line
//! differs from its exchange's only in the client, the ID and the
//! duration, so the line is prepared once when the reply is remembered
//! and completed per hit.

mod format;
#[cfg(test)]
mod tests;

use std::sync::Arc;
use std::time::Instant;

use hickory_proto::op::Message;

use crate::dns::typify::{Class, classify, typify};
use format::Format;

use crate::corefile::{CorefileError, Dispenser};
use crate::dns::Request;
use crate::dns::names::is_subdomain;
use crate::dns::wire::reply_to;
use crate::dns::wire::uncompressed_len;
use crate::dns::{Exchange, Flow, HitObserver, MemoHit, Next, Plugin};
use crate::metrics::Replay;

const COMMON: &str = "{remote}:{port} - {>id} \"{type} {class} {name} {proto} {size} {>do} {>bufsize}\" {rcode} {>rflags} {rsize} {duration}";

struct Rule {
    scope: String,
    format: Format,
    classes: Vec<Class>,
}

pub(crate) struct Log {
    rules: Arc<Vec<Rule>>,
}

pub(crate) fn setup(d: &mut Dispenser) -> Result<Log, CorefileError> {
    let mut rules = Vec::new();
    while d.next() {
        let first_new = rules.len();
        let mut args = d.remaining_args();
        let mut format_text = COMMON.to_string();
        if args.len() >= 2 && args.last().is_some_and(|a| a.contains('{')) {
            let combined = format!("{COMMON} \"{{>opcode}}\"");
            format_text = args
                .pop()
                .unwrap_or_default()
                .replace("{common}", COMMON)
                .replace("{combined}", &combined);
        }
        if args.is_empty() {
            args.push(".".to_string());
        }
        for scope in args {
            rules.push(Rule {
                scope: fqdn_lower(&scope),
                format: Format::compile(&format_text),
                classes: Vec::new(),
            });
        }
        let classes = parse_classes(d)?;
        for rule in &mut rules[first_new..] {
            rule.classes = classes.clone();
        }
    }
    Ok(Log {
        rules: Arc::new(rules),
    })
}

fn parse_classes(d: &mut Dispenser) -> Result<Vec<Class>, CorefileError> {
    let mut classes = Vec::new();
    while d.next_block() {
        if d.val() != "class" {
            return Err(d.unknown_property());
        }
        let names = d.remaining_args();
        if names.is_empty() {
            return Err(d.arg_err());
        }
        for name in names {
            let class = Class::parse(&name)
                .ok_or_else(|| CorefileError::plain(format!("invalid class: {name}")))?;
            classes.push(class);
        }
    }
    if classes.is_empty() {
        classes.push(Class::All);
    }
    Ok(classes)
}

fn fqdn_lower(name: &str) -> String {
    let mut name = name.to_ascii_lowercase();
    if !name.ends_with('.') {
        name.push('.');
    }
    name
}

impl Plugin for Log {
    fn name(&self) -> &'static str {
        "log"
    }

    fn memo_replay(&self, exchange: &Exchange) -> Option<Replay> {
        let template = self.rule_for(&exchange.req).and_then(|rule| {
            line_of(rule, exchange, Instant::now(), |written| {
                rule.format.template(&exchange.req, written)
            })
        });
        Some(Replay::Plugin(Box::new(RememberedLine(template))))
    }

    fn serve(&self, req: Request, next: Next) -> Flow {
        let Some(index) = self
            .rules
            .iter()
            .position(|r| is_subdomain(&r.scope, &req.qname_lower))
        else {
            return next.serve(req);
        };
        let rules = self.rules.clone();
        let start = Instant::now();
        next.serve(req).map(move |exchange| {
            let rule = &rules[index];
            line_of(rule, &exchange, start, |written| {
                crate::logging::query_line(|out| {
                    out.extend_from_slice(b"[INFO] ");
                    rule.format.render(out, &exchange.req, written);
                });
            });
            exchange
        })
    }
}

impl Log {
    /// The first rule whose scope covers the query's name.
    fn rule_for(&self, req: &Request) -> Option<&Rule> {
        self.rules
            .iter()
            .find(|r| is_subdomain(&r.scope, &req.qname_lower))
    }
}

/// Calls `emit` with what the line reports of the reply, when `rule`'s
/// classes let the exchange be logged.
fn line_of<T>(
    rule: &Rule,
    exchange: &Exchange,
    start: Instant,
    emit: impl FnOnce(&Written<'_>) -> T,
) -> Option<T> {
    let made_up;
    let (reply, rsize) = match &exchange.req.reply {
        Some(reply) => (Some(&reply.msg), reply.uncompressed_len()),
        None if !exchange.status.client_written() => {
            made_up = reply_to(&exchange.req.msg, exchange.status.rcode);
            (Some(&made_up), uncompressed_len(&made_up))
        }
        None => (None, 0),
    };
    let class = classify(typify(reply));
    if !rule.classes.iter().any(|c| *c == Class::All || *c == class) {
        return None;
    }
    Some(emit(&Written {
        reply,
        rsize,
        start,
    }))
}

/// The line of a remembered reply, or nothing when its exchange was not
/// logged (out of every rule's scope, or of its classes).
struct RememberedLine(Option<format::Template>);

impl HitObserver for RememberedLine {
    fn observe(&self, hit: &MemoHit) {
        if let Some(template) = &self.0 {
            crate::logging::query_line(|out| {
                out.extend_from_slice(b"[INFO] ");
                template.render(out, hit);
            });
        }
    }
}

/// What the log line reports about the reply.
pub(crate) struct Written<'a> {
    pub reply: Option<&'a Message>,
    pub rsize: usize,
    pub start: Instant,
}
