//! Asking CoreDNS and clusterdns the same queries and listing every
//! difference (`clusterdns::diff::compare`), for the differential tests.

use std::net::SocketAddr;
use std::time::Duration;

use clusterdns::diff::{Proto, compare, exchange, ttl_off_by_one};
use hickory_proto::op::Message;
use hickory_proto::rr::RecordType;

use super::dns::{query, with_edns};

/// The differences between the two servers' replies to `msg` over
/// `transport`; asked once more when `ask_again` and they differ only by
/// TTLs one second apart (caches can read so across a second boundary).
pub fn differences(
    theirs: SocketAddr,
    ours: SocketAddr,
    msg: &Message,
    transport: Proto,
    ask_again: bool,
) -> Vec<String> {
    let timeout = Duration::from_secs(5);
    let ask_both = || {
        let reference = exchange(theirs, msg, transport, timeout).unwrap();
        (reference, exchange(ours, msg, transport, timeout).unwrap())
    };
    let (reference, mine) = ask_both();
    let mut differences = compare(&reference, &mine);
    if ask_again && !differences.is_empty() && ttl_off_by_one(&reference, &mine) {
        let (reference, mine) = ask_both();
        differences = compare(&reference, &mine);
    }
    differences.iter().map(|d| format!("{d:?}")).collect()
}

/// Every name × type over UDP and TCP, with and without EDNS (1232, DO as
/// `dnssec_ok`): how many exchanges were compared, and each difference.
pub fn compare_each(
    theirs: SocketAddr,
    ours: SocketAddr,
    names: &[&str],
    types: &[RecordType],
    dnssec_ok: bool,
    ask_again: bool,
) -> (usize, Vec<String>) {
    let mut failures = Vec::new();
    let mut compared = 0;
    for &name in names {
        for &qtype in types {
            for (transport, edns) in [
                (Proto::Udp, false),
                (Proto::Udp, true),
                (Proto::Tcp, false),
                (Proto::Tcp, true),
            ] {
                let msg = match edns {
                    true => with_edns(query(name, qtype), 1232, dnssec_ok),
                    false => query(name, qtype),
                };
                compared += 1;
                let mut found = differences(theirs, ours, &msg, transport, ask_again);
                if !dnssec_ok {
                    found.retain(|d| !is_the_do_bit_fix(d));
                }
                if !found.is_empty() {
                    failures.push(format!(
                        "{name} {qtype} {transport:?} edns={edns}: {found:?}"
                    ));
                }
            }
        }
    }
    (compared, failures)
}

/// The one difference kept on purpose in the OPT record (README,
/// Compatibility): for a client that did not set DO, CoreDNS's acl and
/// nsid set it in an OPT they make; clusterdns echoes the client's bit
/// (RFC 3225). Every other field of the OPT must still agree.
pub fn is_the_do_bit_fix(difference: &str) -> bool {
    let quoted = |key: &str| {
        let start = difference.find(&format!("{key}: \""))? + key.len() + 3;
        let end = start + difference[start..].find('"')?;
        Some(difference[start..end].to_string())
    };
    difference.contains("field: \"edns\"")
        && match (quoted("expected"), quoted("actual")) {
            (Some(expected), Some(actual)) => {
                expected.contains(" do=true ")
                    && expected.replace(" do=true ", " do=false ") == actual
            }
            _ => false,
        }
}
