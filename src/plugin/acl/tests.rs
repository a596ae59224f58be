//! Table tests: the test client is 127.0.0.1, `hosts` answers what passes.

use crate::plugin::pkg::test;
use hickory_proto::op::ResponseCode;
use hickory_proto::rr::RecordType::{A, AAAA};

fn chain(policies: &str) -> std::sync::Arc<crate::dns::Chain> {
    test::chain(&format!(
        ".:53 {{\n acl {{\n{policies}\n }}\n hosts {{\n  10.0.0.1 a.example.org\n  fd00::1 a.example.org\n }}\n}}\n"
    ))
}

#[test]
fn the_first_policy_that_covers_a_query_decides() {
    let block_v4 = chain("  block type A net 127.0.0.0/8\n  allow net *");
    let reply = test::ask(&block_v4, "a.example.org.", A);
    assert_eq!(reply.metadata.response_code, ResponseCode::Refused);
    let ede = reply
        .edns
        .expect("an OPT with the EDE")
        .options()
        .options
        .clone();
    assert_eq!(ede.len(), 1, "{ede:?}");
    let other_type = test::ask(&block_v4, "a.example.org.", AAAA);
    assert_eq!(other_type.answers.len(), 1, "AAAA is not covered");
    let allow_first = chain("  allow net 127.0.0.1\n  block");
    assert_eq!(
        test::ask(&allow_first, "a.example.org.", A).answers.len(),
        1
    );
    let elsewhere = chain("  block net 10.0.0.0/8");
    assert_eq!(test::ask(&elsewhere, "a.example.org.", A).answers.len(), 1);
}

#[test]
fn filter_is_an_empty_noerror_and_drop_sends_nothing() {
    let filter = test::ask(&chain("  filter type A"), "a.example.org.", A);
    assert_eq!(filter.metadata.response_code, ResponseCode::NoError);
    assert!(filter.answers.is_empty());
    let dropped = test::exchange(
        &chain("  drop"),
        test::query("a.example.org.", A),
        test::CLIENT,
        crate::dns::Proto::Udp,
    );
    assert!(
        dropped.req.reply.is_none() && dropped.status.client_written(),
        "nothing to send"
    );
}

#[test]
fn rules_apply_to_their_zones_only() {
    let chain = test::chain(
        ".:53 {\n acl example.net {\n  block\n }\n hosts {\n  10.0.0.1 a.example.org\n }\n}\n",
    );
    assert_eq!(test::ask(&chain, "a.example.org.", A).answers.len(), 1);
}

#[test]
fn setup_errors() {
    for (policies, message) in [
        (
            "  deny",
            "unexpected token \"deny\"; expect 'allow', 'block', 'filter' or 'drop'",
        ),
        (
            "  block port 53",
            "unexpected token \"port\"; expect 'type | net'",
        ),
        ("  block type", "no token specified in \"type\" section"),
        (
            "  block type BOGUS",
            "unexpected token \"BOGUS\"; expect legal QTYPE",
        ),
        (
            "  block net 10.0.0.300",
            "illegal CIDR notation \"10.0.0.300/32\"",
        ),
    ] {
        let error = test::setup_error(&format!(".:53 {{\n acl {{\n{policies}\n }}\n}}\n"));
        assert!(error.contains(message), "{policies}: {error}");
    }
}
