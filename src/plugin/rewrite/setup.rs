//! `rewrite [continue|stop] FIELD ARGS...`, one rule per line, or one rule
//! spread over a block (`rewrite stop { name regex A B; answer name C D }`):
//! a line with fewer than two arguments takes every token of its block.
//!
//! Arguments are read as CoreDNS's rewrite plugin reads them, with its error
//! texts; each error also names the file and line of the rule. Patterns
//! keep Go's meaning (`plugin/pkg/go_regex.rs`).

use hickory_proto::op::ResponseCode;
use hickory_proto::rr::{DNSClass, RecordType};
use regex::Regex;

use super::rules::{Action, Matcher, Next, ResponseRule, Rule, StringRewrite};
use crate::corefile::{CorefileError, Dispenser};
use crate::plugin::pkg::{go_regex, rcode};

/// Longest regular expression a rule accepts.
const MAX_REGEX_LEN: usize = 10_000;

pub(crate) fn setup(d: &mut Dispenser) -> Result<Vec<Rule>, CorefileError> {
    let mut rules = Vec::new();
    while d.next() {
        let (file, line) = (d.file().to_string(), d.line());
        let mut args = d.remaining_args();
        if args.len() < 2 {
            while d.next_block() {
                args.push(d.val().to_string());
            }
        }
        rules.push(rule(&args).map_err(|msg| CorefileError::parsing(&file, line, msg))?);
    }
    Ok(rules)
}

/// One rule from its arguments.
fn rule(args: &[String]) -> Result<Rule, String> {
    let first = args
        .first()
        .ok_or("no rule type specified for rewrite")?
        .to_ascii_lowercase();
    let (next, rest) = match first.as_str() {
        "continue" | "stop" => {
            let next = if first == "continue" {
                Next::Continue
            } else {
                Next::Stop
            };
            if args.len() < 2 {
                return Err(format!("{first} rule must begin with a rule type"));
            }
            (next, &args[1..])
        }
        _ => (Next::Stop, args),
    };
    let field = rest[0].to_ascii_lowercase();
    let values = &rest[1..];
    let action = match field.as_str() {
        "answer" => return Err("response rewrites must begin with a name rule".into()),
        "name" => name_rule(values)?,
        "type" | "class" if values.len() != 2 => {
            return Err(format!("{field} rules must have exactly two arguments"));
        }
        "type" => Action::Type {
            from: record_type(&values[0])?,
            to: record_type(&values[1])?,
        },
        "class" => Action::Class {
            from: class(&values[0])?,
            to: class(&values[1])?,
        },
        "ttl" => ttl_rule(values)?,
        "rcode" => rcode_rule(values)?,
        "edns0" => Action::Edns0(super::edns0::parse(values)?),
        "cname" => {
            return Err(format!(
                "the {field} rule type is not supported by clusterdns yet"
            ));
        }
        _ => return Err(format!("invalid rule type {:?}", args[0])),
    };
    Ok(Rule { next, action })
}

/// CoreDNS's `plugin.Name(s).Normalize()`: lower case, fully qualified.
fn normalize(name: &str) -> String {
    let mut text = name.to_ascii_lowercase();
    if !text.ends_with('.') {
        text.push('.');
    }
    text
}

fn name_rule(values: &[String]) -> Result<Action, String> {
    if values.len() < 2 {
        return Err("too few arguments for a name rule".into());
    }
    let (kind, from, to) = if values.len() == 2 {
        ("exact".to_string(), values[0].as_str(), values[1].as_str())
    } else {
        (
            values[0].to_ascii_lowercase(),
            values[1].as_str(),
            values[2].as_str(),
        )
    };
    let (auto, answers) = if values.len() > 3 {
        answer_rules(&kind, &values[3..])?
    } else {
        (false, Vec::new())
    };
    let to_name = normalize(to);
    let (matcher, auto, answers) = match kind.as_str() {
        "exact" => (Matcher::Exact(normalize(from)), true, answers),
        "prefix" => (Matcher::Prefix(normalize(from)), auto, answers),
        "suffix" => {
            let from = normalize(from);
            let mut rules = Vec::new();
            if auto {
                let back = StringRewrite::Suffix {
                    from: to_name.clone(),
                    to: from.clone(),
                };
                rules.push(ResponseRule::Name(back.clone()));
                rules.push(ResponseRule::Value(back));
            }
            rules.extend(answers);
            (Matcher::Suffix(from), false, rules)
        }
        "substring" => (Matcher::Substring(normalize(from)), auto, answers),
        "regex" => (Matcher::Regex(pattern(from, to)?), auto, answers),
        other => {
            return Err(format!(
                "name rule supports only exact, prefix, suffix, substring, and regex name matching, received: {other}"
            ));
        }
    };
    Ok(Action::Name {
        matcher,
        to: to_name,
        auto,
        answers,
    })
}

/// `answer auto | answer name FROM TO | answer value FROM TO`, repeated;
/// after the first, the word `answer` may be left out.
fn answer_rules(kind: &str, args: &[String]) -> Result<(bool, Vec<ResponseRule>), String> {
    if args.len() < 2 {
        return Err(format!("invalid arguments for {kind} rule"));
    }
    let (mut auto, mut rules, mut name_rules) = (false, Vec::new(), 0);
    let mut at = 0;
    let mut last: Option<&str> = None;
    while at < args.len() {
        if last.is_none() && args[at] != "answer" {
            return Err(format!(
                "exceeded the number of arguments for a non-answer rule argument for {kind} rule"
            ));
        }
        if args[at] == "answer" {
            at += 1;
        }
        let what = args
            .get(at)
            .ok_or_else(|| format!("type missing for answer rule for {kind} rule"))?;
        last = Some(what);
        at += 1;
        match what.as_str() {
            "auto" => auto = true,
            "name" | "value" => {
                let [from, to] = args
                    .get(at..at + 2)
                    .and_then(|s| <&[String; 2]>::try_from(s).ok())
                    .ok_or_else(|| {
                        format!("{what} answer rule for {kind} rule: 2 arguments required")
                    })?;
                let compiled = pattern(from, to)
                    .map_err(|e| format!("{what} answer rule for {kind} rule: {e}"))?;
                let rewrite = StringRewrite::Regex(compiled, normalize(to));
                if what == "name" {
                    rules.push(ResponseRule::Name(rewrite));
                    name_rules += 1;
                } else {
                    rules.push(ResponseRule::Value(rewrite));
                }
                at += 2;
            }
            other => {
                return Err(format!(
                    "invalid type {other:?} for answer rule for {kind} rule"
                ));
            }
        }
    }
    if auto && name_rules > 0 {
        return Err(
            "auto name answer rule cannot be combined with explicit name anwer rules".into(),
        );
    }
    Ok((auto, rules))
}

/// A `FROM` regex whose `TO` uses no more groups than it has.
fn pattern(from: &str, to: &str) -> Result<Regex, String> {
    if from.len() > MAX_REGEX_LEN {
        return Err(format!(
            "regex pattern too long: {} > {MAX_REGEX_LEN}",
            from.len()
        ));
    }
    let compiled =
        go_regex::compile(from).map_err(|_| format!("invalid regex matching pattern: {from}"))?;
    let used = (0..=100)
        .filter(|i| to.contains(&format!("{{{i}}}")))
        .count();
    if used > compiled.captures_len() - 1 {
        return Err(format!(
            "the rewrite regex pattern ({to}) uses more subexpressions than its corresponding matching regex pattern ({from})"
        ));
    }
    Ok(compiled)
}

fn ttl_rule(values: &[String]) -> Result<Action, String> {
    if values.len() < 2 {
        return Err(format!(
            "too few ({}) arguments for a ttl rule",
            values.len()
        ));
    }
    if values.len() > 3 {
        return Err("many few arguments for a ttl rule".into());
    }
    let seconds = values.last().unwrap();
    let (min, max) =
        ttl_range(seconds).ok_or_else(|| format!("invalid TTL '{seconds}' for a ttl rule"))?;
    let matcher = if values.len() == 2 {
        Matcher::Exact(normalize(&values[0]))
    } else {
        name_matcher(&values[0], &values[1], "ttl")?
    };
    Ok(Action::Ttl { matcher, min, max })
}

/// The name matcher of a `ttl` or `rcode` rule, with that rule's errors.
fn name_matcher(kind: &str, target: &str, rule: &str) -> Result<Matcher, String> {
    Ok(match kind.to_ascii_lowercase().as_str() {
        "exact" => Matcher::Exact(normalize(target)),
        "prefix" => Matcher::Prefix(normalize(target)),
        "suffix" => Matcher::Suffix(normalize(target)),
        "substring" => Matcher::Substring(normalize(target)),
        "regex" => {
            if target.len() > MAX_REGEX_LEN {
                return Err(format!(
                    "regex pattern too long in a {rule} rule: {} > {MAX_REGEX_LEN}",
                    target.len()
                ));
            }
            Matcher::Regex(
                go_regex::compile(target)
                    .map_err(|_| format!("invalid regex pattern in a {rule} rule: {target}"))?,
            )
        }
        _ => {
            return Err(format!(
                "{rule} rule supports only exact, prefix, suffix, substring, and regex name matching"
            ));
        }
    })
}

/// `rcode [TYPE] NAME OLD NEW`.
fn rcode_rule(values: &[String]) -> Result<Action, String> {
    if values.len() < 3 {
        return Err(format!(
            "too few ({}) arguments for a rcode rule",
            values.len()
        ));
    }
    if values.len() > 4 {
        return Err("many few arguments for a rcode rule".into());
    }
    let [old, new] = [&values[values.len() - 2], &values[values.len() - 1]];
    let from =
        rcode(old).ok_or_else(|| format!("invalid matching RCODE '{old}' for a rcode rule"))?;
    let to =
        rcode(new).ok_or_else(|| format!("invalid replacement RCODE '{new}' for a rcode rule"))?;
    let matcher = if values.len() == 3 {
        Matcher::Exact(normalize(&values[0]))
    } else {
        name_matcher(&values[0], &values[1], "rcode")?
    };
    Ok(Action::Rcode { matcher, from, to })
}

/// An rcode by number (0–23) or by name, as `dns.StringToRcode` spells it.
fn rcode(text: &str) -> Option<ResponseCode> {
    if let Ok(number) = text.parse::<u16>() {
        return (number <= 23).then(|| rcode::by_number(number));
    }
    rcode::by_name(&text.to_ascii_uppercase())
}

/// `SECONDS`, `MIN-MAX`, `MIN-` or `-MAX`.
fn ttl_range(text: &str) -> Option<(u32, u32)> {
    let parse = |s: &str| s.parse::<u32>().ok();
    match text.split('-').collect::<Vec<_>>().as_slice() {
        [one] => parse(one).map(|v| (v, v)),
        ["", ""] => None,
        ["", max] => Some((0, parse(max)?)),
        [min, ""] => Some((parse(min)?, i32::MAX as u32)),
        [min, max] => Some((parse(min)?, parse(max)?)),
        _ => None,
    }
}

fn record_type(text: &str) -> Result<RecordType, String> {
    let upper = text.to_ascii_uppercase();
    match upper.parse::<RecordType>() {
        Ok(RecordType::Unknown(_)) | Err(_) => Err(format!("invalid type {upper:?}")),
        Ok(known) => Ok(known),
    }
}

fn class(text: &str) -> Result<DNSClass, String> {
    let upper = text.to_ascii_uppercase();
    match upper.as_str() {
        "IN" => Ok(DNSClass::IN),
        "CH" | "CHAOS" => Ok(DNSClass::CH),
        "HS" => Ok(DNSClass::HS),
        "NONE" => Ok(DNSClass::NONE),
        "ANY" => Ok(DNSClass::ANY),
        _ => Err(format!("invalid class {upper:?}")),
    }
}
