//! `template CLASS TYPE [ZONE...] { match; answer; additional; authority;
//! rcode; ederror; fallthrough }`, read as CoreDNS reads it, with its
//! error texts (including its "invalid RR class" for a bad TYPE). Every
//! occurrence of the directive is one template, tried in file order.

use std::str::FromStr;

use hickory_proto::rr::{DNSClass, RecordType};

use super::gotmpl::GoTemplate;
use super::{Fragment, Rule, Section};
use crate::corefile::{CorefileError, Dispenser};
use crate::plugin::pkg::zones::{Fall, zones_from_args};
use crate::plugin::pkg::{go_regex, rcode};

/// Longest regular expression `match` accepts.
const MAX_REGEX_LEN: usize = 10_000;

pub(crate) fn parse(d: &mut Dispenser, block_zones: &[String]) -> Result<Vec<Rule>, CorefileError> {
    let mut rules = Vec::new();
    while d.next() {
        if !d.next_arg() {
            return Err(d.arg_err());
        }
        let qclass =
            class(d.val()).ok_or_else(|| d.err(format!("invalid query class {}", d.val())))?;
        if !d.next_arg() {
            return Err(d.arg_err());
        }
        let qtype =
            record_type(d.val()).ok_or_else(|| d.err(format!("invalid RR class {}", d.val())))?;
        let zones = zones_from_args(d.remaining_args(), block_zones)?;
        let mut rule = Rule::new(qclass, qtype, zones);
        while d.next_block() {
            option(d, &mut rule)?;
        }
        if rule.regexes.is_empty() {
            rule.regexes
                .push(go_regex::compile(".*").expect("valid regex"));
        }
        rules.push(rule);
    }
    Ok(rules)
}

fn option(d: &mut Dispenser, rule: &mut Rule) -> Result<(), CorefileError> {
    let name = d.val().to_string();
    match name.as_str() {
        "match" => {
            let args = non_empty(d)?;
            for pattern in args {
                if pattern.len() > MAX_REGEX_LEN {
                    return Err(d.err(format!(
                        "regex pattern too long: {} > {MAX_REGEX_LEN}",
                        pattern.len()
                    )));
                }
                let regex = go_regex::compile(&pattern)
                    .map_err(|e| d.err(format!("could not parse regex: {pattern}, {e}")))?;
                rule.regexes.push(regex);
            }
        }
        "answer" | "additional" | "authority" => {
            let section = match name.as_str() {
                "answer" => Section::Answer,
                "additional" => Section::Additional,
                _ => Section::Authority,
            };
            for text in non_empty(d)? {
                let template = GoTemplate::parse(&name, &text)
                    .map_err(|e| d.err(format!("could not compile template: {}, {e}", d.val())))?;
                rule.fragments.push(Fragment {
                    section,
                    label: template.render(),
                    template,
                });
            }
        }
        "rcode" => {
            if !d.next_arg() {
                return Err(d.arg_err());
            }
            rule.rcode = rcode::by_name(d.val())
                .ok_or_else(|| d.err(format!("unknown rcode {}", d.val())))?;
        }
        "ederror" => {
            let args = d.remaining_args();
            if args.is_empty() || args.len() > 2 {
                return Err(d.arg_err());
            }
            let code: u16 = args[0].parse().map_err(|e| {
                d.err(format!(
                    "error parsing extended DNS error code {}, {e}",
                    d.val()
                ))
            })?;
            rule.ederror = Some((code, args.get(1).cloned().unwrap_or_default()));
        }
        "fallthrough" => rule.fall = Fall::from_args(d.remaining_args())?,
        "upstream" => {
            d.remaining_args();
        }
        _ => return Err(d.arg_err()),
    }
    Ok(())
}

fn non_empty(d: &mut Dispenser) -> Result<Vec<String>, CorefileError> {
    let args = d.remaining_args();
    if args.is_empty() {
        return Err(d.arg_err());
    }
    Ok(args)
}

/// miekg's `StringToClass`; `None` inside `Some` is ANY (every class).
fn class(text: &str) -> Option<Option<DNSClass>> {
    Some(match text {
        "ANY" => None,
        "IN" => Some(DNSClass::IN),
        "CH" => Some(DNSClass::CH),
        "HS" => Some(DNSClass::HS),
        "NONE" => Some(DNSClass::NONE),
        "CS" => Some(DNSClass::Unknown(2)),
        _ => return None,
    })
}

/// miekg's `StringToType` (upper-case mnemonics); `Some(None)` is ANY.
fn record_type(text: &str) -> Option<Option<RecordType>> {
    if text == "ANY" {
        return Some(None);
    }
    if text.starts_with("TYPE") || text != text.to_ascii_uppercase() {
        return None;
    }
    match RecordType::from_str(text) {
        Ok(RecordType::Unknown(_)) | Err(_) => None,
        Ok(t) => Some(Some(t)),
    }
}
