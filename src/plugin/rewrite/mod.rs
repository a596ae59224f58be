//! rewrite: changes the question before the plugins after it see it, and
//! turns their reply back into an answer to what the client asked, as
//! CoreDNS's rewrite plugin does. AKS's `coredns-custom` examples and
//! kubespray's `old_dns_domains` setting use it to serve one domain under
//! another.
//!
//! Rules run in file order; the first matching `stop` rule ends the walk
//! (`stop` is the default), `continue` rules go on with the changed
//! question. Reply rules run in reverse order over every record. The
//! question is put back in the reply when a `stop` rule matched or reply
//! rules were made; a `continue`-only rewrite without reply rules leaves
//! the changed question in the reply, as CoreDNS does.
//!
//! Supported fields: `name` (exact, prefix, suffix, substring, regex, with
//! `answer auto|name|value`), `type`, `class`, `ttl`, `rcode`, `edns0`
//! (`edns0.rs`). `cname` is refused at setup.

mod edns0;
mod rules;
mod setup;

use hickory_proto::op::ResponseCode;

use crate::dns::names::lower_fqdn;
use crate::dns::{Exchange, Flow, Next, Plugin, Request, Status};
use rules::{Outcome, ResponseRule, Rule};

pub(crate) use setup::setup;

pub(crate) struct Rewrite {
    rules: Vec<Rule>,
}

impl Rewrite {
    pub(crate) fn new(rules: Vec<Rule>) -> Rewrite {
        Rewrite { rules }
    }
}

/// What the rules did to one query.
struct Applied {
    reply_rules: Vec<ResponseRule>,
    stopped: bool,
}

impl Plugin for Rewrite {
    fn name(&self) -> &'static str {
        "rewrite"
    }

    fn serve(&self, mut req: Request, next: Next) -> Flow {
        let original = req.msg.queries[0].clone();
        let original_lower = req.qname_lower.clone();
        let applied = match self.apply(&mut req) {
            Ok(Some(applied)) => applied,
            Ok(None) => return next.serve(req),
            Err(invalid) => {
                req.msg.queries[0] = original;
                req.qname_lower = original_lower;
                return Flow::done(
                    req,
                    Status::failed(
                        ResponseCode::ServFail,
                        format!("invalid name after rewrite: {invalid}"),
                    ),
                );
            }
        };
        // Another question: the client's bytes no longer describe it.
        req.raw = None;
        let revert = applied.stopped || !applied.reply_rules.is_empty();
        next.serve(req).map(move |mut exchange| {
            if revert {
                restore(
                    &mut exchange,
                    original,
                    original_lower,
                    &applied.reply_rules,
                );
            }
            exchange
        })
    }
}

impl Rewrite {
    /// Runs the rules over the question; `None` when none matched, the
    /// invalid name when one made a name that is not a domain name.
    fn apply(&self, req: &mut Request) -> Result<Option<Applied>, String> {
        let mut reply_rules = Vec::new();
        let mut matched = false;
        for rule in &self.rules {
            let outcome = match &rule.action {
                rules::Action::Edns0(edns0) => edns0.apply(req),
                _ => rule.apply(&mut req.msg.queries[0], &req.qname_lower),
            };
            match outcome {
                Outcome::Ignored => continue,
                Outcome::Invalid(invalid) => return Err(invalid),
                Outcome::Done(rules) => {
                    matched = true;
                    req.qname_lower = lower_fqdn(req.msg.queries[0].name());
                    reply_rules.extend(rules);
                    if rule.next == rules::Next::Stop {
                        return Ok(Some(Applied {
                            reply_rules,
                            stopped: true,
                        }));
                    }
                }
            }
        }
        Ok(matched.then_some(Applied {
            reply_rules,
            stopped: false,
        }))
    }
}

/// Puts the client's question back (in the query too, so a failure reply
/// the server writes carries it) and runs the reply rules, last first.
fn restore(
    exchange: &mut Exchange,
    original: hickory_proto::op::Query,
    original_lower: String,
    reply_rules: &[ResponseRule],
) {
    exchange.req.msg.queries[0] = original.clone();
    exchange.req.qname_lower = original_lower;
    let Some(reply) = exchange.req.reply.as_mut() else {
        return;
    };
    match reply.msg.queries.first_mut() {
        Some(question) => *question = original,
        None => reply.msg.queries.push(original),
    }
    if reply_rules.is_empty() {
        return;
    }
    for rule in reply_rules.iter().rev() {
        rule.apply_to_message(&mut reply.msg);
    }
    for section in [
        &mut reply.msg.authorities,
        &mut reply.msg.answers,
        &mut reply.msg.additionals,
    ] {
        for record in section.iter_mut() {
            for rule in reply_rules.iter().rev() {
                rule.apply(record);
            }
        }
    }
}

#[cfg(test)]
mod tests;
