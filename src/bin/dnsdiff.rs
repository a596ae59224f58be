//! `dnsdiff`: sends the same queries to a reference server (CoreDNS) and a
//! candidate, over UDP and TCP, with and without EDNS, and prints every
//! difference after normalisation. Exit status 1 when any differs.
//!
//! usage: dnsdiff REFERENCE_ADDR CANDIDATE_ADDR QUERY_FILE
//! QUERY_FILE has one `NAME TYPE` per line; `#` starts a comment.

use std::net::SocketAddr;
use std::process::ExitCode;
use std::time::Duration;

use clusterdns::diff::{Proto, compare, exchange};
use hickory_proto::op::{Edns, Message, MessageType, OpCode, Query};
use hickory_proto::rr::{Name, RecordType};

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let [reference, candidate, file] = args.as_slice() else {
        eprintln!("usage: dnsdiff REFERENCE_ADDR CANDIDATE_ADDR QUERY_FILE");
        return ExitCode::from(2);
    };
    let (Ok(reference), Ok(candidate)) = (
        reference.parse::<SocketAddr>(),
        candidate.parse::<SocketAddr>(),
    ) else {
        eprintln!("dnsdiff: addresses must be IP:PORT");
        return ExitCode::from(2);
    };
    let text = match std::fs::read_to_string(file) {
        Ok(text) => text,
        Err(error) => {
            eprintln!("dnsdiff: {file}: {error}");
            return ExitCode::from(2);
        }
    };
    let mut compared = 0;
    let mut differing = 0;
    for line in text
        .lines()
        .map(|l| l.split('#').next().unwrap_or("").trim())
        .filter(|l| !l.is_empty())
    {
        let Some((name, qtype)) = parse_line(line) else {
            eprintln!("dnsdiff: bad line {line:?}");
            return ExitCode::from(2);
        };
        for (transport, edns) in [
            (Proto::Udp, false),
            (Proto::Udp, true),
            (Proto::Tcp, false),
            (Proto::Tcp, true),
        ] {
            compared += 1;
            let query = build_query(&name, qtype, edns);
            let label = format!("{line} {transport:?}{}", if edns { "+edns" } else { "" });
            let timeout = Duration::from_secs(6);
            match (
                exchange(reference, &query, transport, timeout),
                exchange(candidate, &query, transport, timeout),
            ) {
                (Ok(expected), Ok(actual)) => {
                    let differences = compare(&expected, &actual);
                    if !differences.is_empty() {
                        differing += 1;
                        println!("DIFF {label}");
                        for difference in differences {
                            println!("  {difference}");
                        }
                    }
                }
                (expected, actual) => {
                    differing += 1;
                    println!(
                        "DIFF {label}: reference {:?} candidate {:?}",
                        expected.err(),
                        actual.err()
                    );
                }
            }
        }
    }
    println!("{compared} compared, {differing} differing");
    if differing == 0 {
        ExitCode::SUCCESS
    } else {
        ExitCode::from(1)
    }
}

fn parse_line(line: &str) -> Option<(Name, RecordType)> {
    let mut parts = line.split_whitespace();
    let name = Name::from_ascii(parts.next()?).ok()?;
    let qtype = parts.next().unwrap_or("A").parse::<RecordType>().ok()?;
    Some((name, qtype))
}

fn build_query(name: &Name, qtype: RecordType, edns: bool) -> Message {
    let mut query = Message::new(rand::random(), MessageType::Query, OpCode::Query);
    query.metadata.recursion_desired = true;
    query.add_query(Query::query(name.clone(), qtype));
    if edns {
        let mut opt = Edns::new();
        opt.set_max_payload(1232);
        query.set_edns(opt);
    }
    query
}
