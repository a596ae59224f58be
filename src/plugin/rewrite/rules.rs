//! The rules of `rewrite`: each looks at the question as it stands (an
//! earlier `continue` rule may have changed it), may change it, and may leave
//! response rules that turn the reply back into what the client asked.
//!
//! Names are matched in lower case with a trailing dot, as CoreDNS's
//! `request.Name()` gives them; names in a reply are compared as written.

use hickory_proto::op::{Message, Query, ResponseCode};
use hickory_proto::rr::rdata::opt::{EdnsCode, EdnsOption};
use hickory_proto::rr::{DNSClass, Name, RData, Record, RecordType};
use regex::Regex;

/// What a rule does once it has changed the question.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub(crate) enum Next {
    Stop,
    Continue,
}

/// How a rule matches a name (`exact` unless the rule names another).
#[derive(Debug)]
pub(crate) enum Matcher {
    Exact(String),
    Prefix(String),
    Suffix(String),
    Substring(String),
    Regex(Regex),
}

impl Matcher {
    pub(crate) fn matches(&self, name: &str) -> bool {
        match self {
            Matcher::Exact(from) => name == from,
            Matcher::Prefix(prefix) => name.starts_with(prefix.as_str()),
            Matcher::Suffix(suffix) => name.ends_with(suffix.as_str()),
            Matcher::Substring(part) => name.contains(part.as_str()),
            Matcher::Regex(pattern) => pattern.is_match(name),
        }
    }
}

/// A string rewrite used on names in a reply.
#[derive(Debug, Clone)]
pub(crate) enum StringRewrite {
    /// `FROM` regex to `TO` with `{N}` groups.
    Regex(Regex, String),
    /// The whole name, or its tail at a label boundary, mapped back.
    Remap { from: String, to: String },
    /// A suffix swapped.
    Suffix { from: String, to: String },
}

impl StringRewrite {
    pub(crate) fn apply(&self, src: &str) -> String {
        match self {
            StringRewrite::Regex(pattern, replacement) => match pattern.captures(src) {
                Some(groups) => expand(replacement, &groups),
                None => src.to_string(),
            },
            StringRewrite::Remap { from, to } => {
                if src == from {
                    return to.clone();
                }
                match src.len().checked_sub(from.len()) {
                    Some(i) if i > 0 && src.as_bytes()[i - 1] == b'.' && &src[i..] == from => {
                        format!("{}{to}", &src[..i])
                    }
                    _ => src.to_string(),
                }
            }
            StringRewrite::Suffix { from, to } => match src.strip_suffix(from.as_str()) {
                Some(before) => format!("{before}{to}"),
                None => src.to_string(),
            },
        }
    }
}

/// `{0}`, `{1}`, … in `replacement` replaced by the groups, an unmatched
/// group by nothing.
pub(super) fn expand(replacement: &str, groups: &regex::Captures<'_>) -> String {
    let mut text = replacement.to_string();
    for index in 0..groups.len() {
        let value = groups.get(index).map_or("", |m| m.as_str());
        text = text.replace(&format!("{{{index}}}"), value);
    }
    text
}

/// A change made to every record of the reply.
#[derive(Debug, Clone)]
pub(crate) enum ResponseRule {
    /// The owner name.
    Name(StringRewrite),
    /// The name a record points at (CNAME, NS, PTR, SOA, SRV, MX, NAPTR).
    Value(StringRewrite),
    /// The TTL into `min..=max`.
    Ttl { min: u32, max: u32 },
    /// The reply's rcode, when it is `from`.
    Rcode {
        from: ResponseCode,
        to: ResponseCode,
    },
    /// The reply's first EDNS option with this code removed (an option an
    /// `edns0 … revert` rule added).
    RemoveOption(u16),
    /// The reply's first EDNS option with this code given back the value
    /// the client sent.
    RestoreOption(u16, Vec<u8>),
}

impl ResponseRule {
    pub(crate) fn apply(&self, record: &mut Record) {
        match self {
            ResponseRule::Name(rewrite) => {
                let old = record.name.to_ascii();
                let new = rewrite.apply(&old);
                if new != old
                    && let Ok(name) = Name::from_ascii(&new)
                {
                    record.name = name;
                }
            }
            ResponseRule::Value(rewrite) => {
                if let Some(target) = pointed_name(&mut record.data) {
                    let old = target.to_ascii();
                    let new = rewrite.apply(&old);
                    if new != old
                        && let Ok(name) = Name::from_ascii(&new)
                    {
                        *target = name;
                    }
                }
            }
            ResponseRule::Ttl { min, max } => {
                record.ttl = record.ttl.clamp(*min, *max);
            }
            ResponseRule::Rcode { .. }
            | ResponseRule::RemoveOption(_)
            | ResponseRule::RestoreOption(..) => {}
        }
    }

    /// The part of the rule that acts on the whole reply.
    pub(crate) fn apply_to_message(&self, reply: &mut Message) {
        match self {
            ResponseRule::Rcode { from, to } if reply.metadata.response_code == *from => {
                reply.metadata.response_code = *to;
            }
            ResponseRule::RemoveOption(code) | ResponseRule::RestoreOption(code, _) => {
                // CoreDNS runs reply rules once per record, the OPT included,
                // so a removal can take several options with the code.
                let records =
                    reply.answers.len() + reply.authorities.len() + reply.additionals.len();
                let Some(edns) = reply.edns.as_mut() else {
                    return;
                };
                let options = &mut edns.options_mut().options;
                for _ in 0..=records {
                    let Some(at) = options.iter().position(|(c, _)| u16::from(*c) == *code) else {
                        return;
                    };
                    match self {
                        ResponseRule::RestoreOption(_, old) => {
                            let value = EdnsOption::Unknown(*code, old.clone());
                            options[at] = (EdnsCode::from(*code), value);
                        }
                        _ => {
                            options.remove(at);
                        }
                    }
                }
            }
            _ => {}
        }
    }
}

fn pointed_name(data: &mut RData) -> Option<&mut Name> {
    match data {
        RData::CNAME(cname) => Some(&mut cname.0),
        RData::NS(ns) => Some(&mut ns.0),
        RData::PTR(ptr) => Some(&mut ptr.0),
        RData::SOA(soa) => Some(&mut soa.mname),
        RData::SRV(srv) => Some(&mut srv.target),
        RData::MX(mx) => Some(&mut mx.exchange),
        RData::NAPTR(naptr) => Some(&mut naptr.replacement),
        _ => None,
    }
}

/// What a rule does to the question.
#[derive(Debug)]
pub(crate) enum Action {
    /// The name, with the reply rules to undo it: `auto` adds the rules
    /// that map the new name back (for `exact` always; for `suffix` a
    /// reverse suffix swap).
    Name {
        matcher: Matcher,
        to: String,
        auto: bool,
        answers: Vec<ResponseRule>,
    },
    Type {
        from: RecordType,
        to: RecordType,
    },
    Class {
        from: DNSClass,
        to: DNSClass,
    },
    /// No change to the question: the TTLs of the reply.
    Ttl {
        matcher: Matcher,
        min: u32,
        max: u32,
    },
    /// No change to the question: the reply's rcode.
    Rcode {
        matcher: Matcher,
        from: ResponseCode,
        to: ResponseCode,
    },
    /// The query's EDNS options (applied by `mod.rs`, which has the request).
    Edns0(super::edns0::Edns0Rule),
}

#[derive(Debug)]
pub(crate) struct Rule {
    pub next: Next,
    pub action: Action,
}

/// The outcome of one rule on a question.
pub(crate) enum Outcome {
    Ignored,
    Done(Vec<ResponseRule>),
    /// The new name is not a valid domain name.
    Invalid(String),
}

impl Rule {
    /// Applies the rule to `question`, whose name in lower case with a dot
    /// is `name`.
    pub(crate) fn apply(&self, question: &mut Query, name: &str) -> Outcome {
        match &self.action {
            Action::Name {
                matcher,
                to,
                auto,
                answers,
            } => {
                let Some(new) = rewritten(matcher, to, name) else {
                    return Outcome::Ignored;
                };
                let Some(parsed) = valid_name(&new) else {
                    return Outcome::Invalid(new);
                };
                question.set_name(parsed);
                let mut rules = Vec::new();
                if *auto {
                    let back = StringRewrite::Remap {
                        from: new,
                        to: name.to_string(),
                    };
                    rules.push(ResponseRule::Name(back.clone()));
                    rules.push(ResponseRule::Value(back));
                }
                rules.extend(answers.iter().cloned());
                Outcome::Done(rules)
            }
            Action::Type { from, to } if question.query_type() == *from => {
                question.set_query_type(*to);
                Outcome::Done(Vec::new())
            }
            Action::Class { from, to } if question.query_class() == *from => {
                question.set_query_class(*to);
                Outcome::Done(Vec::new())
            }
            Action::Ttl { matcher, min, max } if matcher.matches(name) => {
                Outcome::Done(vec![ResponseRule::Ttl {
                    min: *min,
                    max: *max,
                }])
            }
            Action::Rcode { matcher, from, to } if matcher.matches(name) => {
                Outcome::Done(vec![ResponseRule::Rcode {
                    from: *from,
                    to: *to,
                }])
            }
            _ => Outcome::Ignored,
        }
    }
}

/// The question name after a name rule, or `None` when it does not match.
fn rewritten(matcher: &Matcher, to: &str, name: &str) -> Option<String> {
    match matcher {
        Matcher::Exact(from) => (name == from).then(|| to.to_string()),
        Matcher::Prefix(prefix) => name
            .strip_prefix(prefix.as_str())
            .map(|rest| format!("{to}{rest}")),
        Matcher::Suffix(suffix) => name
            .strip_suffix(suffix.as_str())
            .map(|rest| format!("{rest}{to}")),
        Matcher::Substring(part) => name
            .contains(part.as_str())
            .then(|| name.replace(part.as_str(), to)),
        Matcher::Regex(pattern) => pattern.captures(name).map(|groups| expand(to, &groups)),
    }
}

/// A name as `dns.IsDomainName` accepts it: at most 255 octets on the wire,
/// labels of 1–63.
fn valid_name(text: &str) -> Option<Name> {
    let name = Name::from_ascii(text).ok()?;
    (name.len() <= 255
        && name
            .iter()
            .all(|label| !label.is_empty() && label.len() <= 63))
    .then_some(name)
}
