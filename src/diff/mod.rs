//! The differential checker: compares two servers' replies to the same
//! query after normalising what may legitimately differ.
//!
//! Normalisation (test-peers.md §Differential): the message ID is ignored,
//! RRsets are compared as multisets (order ignored), the SOA serial is
//! ignored (CoreDNS derives it from change times), and TTLs are compared
//! exactly. Every difference in rcode, flags, EDNS and each section is
//! reported, not just the first.

mod client;

use std::collections::BTreeMap;
use std::fmt;

use hickory_proto::op::Message;
use hickory_proto::rr::{RData, Record};

pub use client::{Proto, exchange};

/// One difference between the expected (reference) and actual replies.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Difference {
    pub field: String,
    pub expected: String,
    pub actual: String,
}

impl fmt::Display for Difference {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{}: expected {} got {}",
            self.field, self.expected, self.actual
        )
    }
}

/// A reply reduced to what must match.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Normalised {
    pub rcode: String,
    pub flags: String,
    pub opcode: String,
    pub question: Vec<String>,
    pub edns: String,
    /// Each section as a multiset: record text → count.
    pub sections: [BTreeMap<String, usize>; 3],
}

const SECTION_NAMES: [&str; 3] = ["answer", "authority", "additional"];

/// Normalises a reply.
pub fn normalise(msg: &Message) -> Normalised {
    let m = &msg.metadata;
    let flags = [
        (m.authoritative, "aa"),
        (m.truncation, "tc"),
        (m.recursion_desired, "rd"),
        (m.recursion_available, "ra"),
        (m.authentic_data, "ad"),
        (m.checking_disabled, "cd"),
    ];
    let flags: Vec<&str> = flags
        .iter()
        .filter(|(on, _)| *on)
        .map(|(_, n)| *n)
        .collect();
    let edns = match &msg.edns {
        None => "none".to_string(),
        Some(e) => {
            // Each option with its value: an EDE's code and text, an NSID.
            let mut options: Vec<String> = e
                .options()
                .options
                .iter()
                .map(|(c, value)| format!("{}={value:?}", u16::from(*c)))
                .collect();
            options.sort();
            format!(
                "version={} udp={} do={} options={options:?}",
                e.version(),
                e.max_payload(),
                e.flags().dnssec_ok
            )
        }
    };
    Normalised {
        rcode: crate::metrics::rcode_label(m.response_code),
        flags: flags.join(","),
        opcode: format!("{:?}", m.op_code),
        question: msg
            .queries
            .iter()
            .map(|q| format!("{} {} {}", q.name(), q.query_class(), q.query_type()))
            .collect(),
        edns,
        sections: [
            multiset(&msg.answers),
            multiset(&msg.authorities),
            multiset(&msg.additionals),
        ],
    }
}

fn multiset(records: &[Record]) -> BTreeMap<String, usize> {
    let mut set = BTreeMap::new();
    for record in records {
        *set.entry(record_text(record)).or_insert(0) += 1;
    }
    set
}

/// A record as text with the SOA serial zeroed.
pub fn record_text(record: &Record) -> String {
    let data = match &record.data {
        RData::SOA(soa) => {
            let mut soa = soa.clone();
            soa.serial = 0;
            RData::SOA(soa).to_string()
        }
        other => other.to_string(),
    };
    format!(
        "{} {} {} {} {}",
        record.name,
        record.ttl,
        record.dns_class,
        record.record_type(),
        data
    )
}

/// Every difference between a reference reply and another server's reply.
pub fn compare(expected: &Message, actual: &Message) -> Vec<Difference> {
    let (e, a) = (normalise(expected), normalise(actual));
    let mut differences = Vec::new();
    let mut check = |field: &str, expected: String, actual: String| {
        if expected != actual {
            differences.push(Difference {
                field: field.to_string(),
                expected,
                actual,
            });
        }
    };
    check("rcode", e.rcode.clone(), a.rcode.clone());
    check("flags", e.flags.clone(), a.flags.clone());
    check("opcode", e.opcode.clone(), a.opcode.clone());
    check("question", e.question.join("; "), a.question.join("; "));
    check("edns", e.edns.clone(), a.edns.clone());
    for (index, name) in SECTION_NAMES.iter().enumerate() {
        compare_section(
            name,
            &e.sections[index],
            &a.sections[index],
            &mut differences,
        );
    }
    differences
}

/// Whether the two replies differ only in record TTLs, each by at most
/// one second and at least one by exactly one: what two caches that
/// stored the same answer a few milliseconds apart can show when a second
/// boundary falls between the two exchanges. Only such a difference is
/// worth asking again.
pub fn ttl_off_by_one(expected: &Message, actual: &Message) -> bool {
    let without_ttls = |msg: &Message| {
        let mut msg = msg.clone();
        for record in msg
            .answers
            .iter_mut()
            .chain(msg.authorities.iter_mut())
            .chain(msg.additionals.iter_mut())
        {
            record.ttl = 0;
        }
        msg
    };
    if !compare(&without_ttls(expected), &without_ttls(actual)).is_empty() {
        return false;
    }
    let ttls = |records: &[Record]| {
        let mut keyed: Vec<(String, u32)> = records
            .iter()
            .map(|r| {
                let mut r = r.clone();
                let ttl = std::mem::replace(&mut r.ttl, 0);
                (record_text(&r), ttl)
            })
            .collect();
        keyed.sort();
        keyed
    };
    let mut off_by_one = false;
    for (e, a) in [
        (&expected.answers, &actual.answers),
        (&expected.authorities, &actual.authorities),
        (&expected.additionals, &actual.additionals),
    ] {
        for ((_, want), (_, got)) in ttls(e).iter().zip(ttls(a).iter()) {
            match want.abs_diff(*got) {
                0 => {}
                1 => off_by_one = true,
                _ => return false,
            }
        }
    }
    off_by_one
}

fn compare_section(
    name: &str,
    expected: &BTreeMap<String, usize>,
    actual: &BTreeMap<String, usize>,
    out: &mut Vec<Difference>,
) {
    let keys: std::collections::BTreeSet<&String> = expected.keys().chain(actual.keys()).collect();
    for key in keys {
        let (want, got) = (
            expected.get(key).copied().unwrap_or(0),
            actual.get(key).copied().unwrap_or(0),
        );
        if want != got {
            out.push(Difference {
                field: format!("{name} [{key}]"),
                expected: format!("{want}×"),
                actual: format!("{got}×"),
            });
        }
    }
}

#[cfg(test)]
mod tests;
