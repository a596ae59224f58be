//! In-process plugin tests, the way CoreDNS's `plugin/test` runs them: a
//! chain is built from a Corefile snippet by the registry, queries are fed
//! to it as requests (no socket, no server), and replies are checked
//! against a table of cases.
//!
//! Why: a plugin's behaviour is a function of its Corefile lines and the
//! query. Checking it here is fast and names the plugin that broke;
//! integration tests over real sockets stay for what needs sockets.

use std::net::SocketAddr;
use std::sync::Arc;

use hickory_proto::op::{Message, MessageType, OpCode, Query, ResponseCode};
use hickory_proto::rr::{Name, RecordType};

use crate::corefile::{ServerBlock, parse, parse_address};
use crate::dns::names::lower_fqdn;
use crate::dns::{Chain, DataEpoch, Exchange, Flow, Origin, Proto, Request};
use crate::plugin::registry::{self, BlockContext};

/// The client address every query comes from unless a case says otherwise.
pub(crate) const CLIENT: &str = "127.0.0.1:40000";

/// The chain of the first server block of `corefile`, as the server would
/// build it (same registry, same order).
pub(crate) fn chain(corefile: &str) -> Arc<Chain> {
    let block = first_block(corefile);
    let zones = block_zones(&block);
    let epoch = DataEpoch::default();
    let built = registry::setup_block(&BlockContext {
        block: &block,
        zones: &zones,
        servers: &[Arc::from("dns://:53")],
        first_port: 53,
        epoch: &epoch,
    })
    .unwrap_or_else(|e| panic!("setup of {corefile:?}: {e}"));
    Chain::new(built.chain, built.traits)
}

/// The setup error of the first block of `corefile`, as text.
pub(crate) fn setup_error(corefile: &str) -> String {
    let block = first_block(corefile);
    let zones = block_zones(&block);
    let epoch = DataEpoch::default();
    match registry::setup_block(&BlockContext {
        block: &block,
        zones: &zones,
        servers: &[Arc::from("dns://:53")],
        first_port: 53,
        epoch: &epoch,
    }) {
        Ok(_) => panic!("{corefile:?} set up without error"),
        Err(e) => e.to_string(),
    }
}

fn first_block(corefile: &str) -> ServerBlock {
    let blocks = parse(corefile, "Corefile", &registry::is_known)
        .unwrap_or_else(|e| panic!("parse of {corefile:?}: {e}"));
    blocks.into_iter().next().expect("one server block")
}

fn block_zones(block: &ServerBlock) -> Vec<String> {
    let mut zones = Vec::new();
    for key in &block.keys {
        for address in parse_address(&key.text, 53).expect("block key") {
            if !zones.contains(&address.zone) {
                zones.push(address.zone);
            }
        }
    }
    zones
}

/// A query for `name` and `qtype` with RD set, as a client sends it.
pub(crate) fn query(name: &str, qtype: RecordType) -> Message {
    let mut msg = Message::new(4242, MessageType::Query, OpCode::Query);
    msg.metadata.recursion_desired = true;
    msg.add_query(Query::query(Name::from_ascii(name).expect("name"), qtype));
    msg
}

/// Runs `msg` through `chain` from `client` over `proto`, waiting for a
/// pending exchange on a runtime of its own.
pub(crate) fn exchange(chain: &Arc<Chain>, msg: Message, client: &str, proto: Proto) -> Exchange {
    let src: SocketAddr = client.parse().expect("client address");
    let qname = lower_fqdn(msg.queries[0].name());
    let origin = Origin {
        server: Arc::from("dns://:53"),
        block_zones: Arc::from([".".to_string()]),
    };
    let local: SocketAddr = "127.0.0.1:53".parse().expect("local address");
    let req = Request::new(msg, qname, 40, src, local, proto, origin);
    match chain.serve(req) {
        Flow::Done(exchange) => exchange,
        Flow::Pending(future) => tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .expect("runtime")
            .block_on(future),
    }
}

/// The reply `chain` gives a UDP query for `name` and `qtype`; a chain
/// that wrote nothing yields an empty reply with the status's rcode.
pub(crate) fn ask(chain: &Arc<Chain>, name: &str, qtype: RecordType) -> Message {
    reply_of(exchange(chain, query(name, qtype), CLIENT, Proto::Udp))
}

/// The written reply, or the server's empty error reply.
pub(crate) fn reply_of(exchange: Exchange) -> Message {
    match exchange.req.reply {
        Some(reply) => reply.msg,
        None => crate::dns::wire::reply_to(&exchange.req.msg, exchange.status.rcode),
    }
}

/// One row of a table test (CoreDNS's `test.Case`): the question, the
/// rcode, and each section's records in presentation form, in any order.
pub(crate) struct Case {
    pub qname: &'static str,
    pub qtype: RecordType,
    pub rcode: ResponseCode,
    pub answer: &'static [&'static str],
    pub authority: &'static [&'static str],
    pub additional: &'static [&'static str],
}

impl Case {
    /// A NOERROR case with only an answer section.
    pub(crate) const fn answer(
        qname: &'static str,
        qtype: RecordType,
        answer: &'static [&'static str],
    ) -> Case {
        Case {
            qname,
            qtype,
            rcode: ResponseCode::NoError,
            answer,
            authority: &[],
            additional: &[],
        }
    }
}

/// Checks every case against `chain`, reporting all mismatches at once.
pub(crate) fn check(chain: &Arc<Chain>, cases: &[Case]) {
    let mut failures = Vec::new();
    for case in cases {
        let reply = ask(chain, case.qname, case.qtype);
        let got = (
            reply.metadata.response_code,
            section(&reply.answers),
            section(&reply.authorities),
            section(&reply.additionals),
        );
        let want = (
            case.rcode,
            sorted(case.answer),
            sorted(case.authority),
            sorted(case.additional),
        );
        if got != want {
            failures.push(format!(
                "{} {:?}: got {got:?}, want {want:?}",
                case.qname, case.qtype
            ));
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}

/// A section in presentation form, whitespace collapsed, sorted.
pub(crate) fn section(records: &[hickory_proto::rr::Record]) -> Vec<String> {
    let mut lines: Vec<String> = records
        .iter()
        .filter(|r| r.record_type() != RecordType::OPT)
        .map(|r| collapse(&r.to_string()))
        .collect();
    lines.sort();
    lines
}

fn sorted(lines: &[&str]) -> Vec<String> {
    let mut lines: Vec<String> = lines.iter().map(|l| collapse(l)).collect();
    lines.sort();
    lines
}

fn collapse(line: &str) -> String {
    line.split_whitespace().collect::<Vec<_>>().join(" ")
}

/// The tokens of `directive` in the first block of `corefile`, for a
/// plugin's own `setup` (read with `Dispenser::new`).
pub(crate) fn directive_tokens(corefile: &str, directive: &str) -> Vec<crate::corefile::Token> {
    first_block(corefile)
        .tokens(directive)
        .unwrap_or_else(|| panic!("no {directive} in {corefile:?}"))
        .to_vec()
}

/// A block serving the bundled seed snapshot, with `plugins` in front.
pub(crate) fn seed_corefile(plugins: &str, kubernetes_options: &str) -> String {
    format!(
        ".:53 {{\n{plugins}\n kubernetes cluster.local in-addr.arpa ip6.arpa {{\n  snapshot {}/demo/seed-cluster.yaml\n  {kubernetes_options}\n }}\n}}\n",
        env!("CARGO_MANIFEST_DIR")
    )
}
