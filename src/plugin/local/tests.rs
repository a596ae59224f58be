//! Table tests after CoreDNS's own for `local`, with `whoami` behind it to
//! show which names pass on.

use crate::plugin::pkg::test::{self, Case};
use hickory_proto::op::ResponseCode;
use hickory_proto::rr::RecordType::{A, AAAA, MX, NS, PTR, SOA};

const COREFILE: &str = ".:53 {\n local\n whoami\n}\n";

fn nx(qname: &'static str, authority: &'static [&'static str]) -> Case {
    Case {
        qname,
        qtype: A,
        rcode: ResponseCode::NXDomain,
        answer: &[],
        authority,
        additional: &[],
    }
}

fn nodata(
    qname: &'static str,
    qtype: hickory_proto::rr::RecordType,
    authority: &'static [&'static str],
) -> Case {
    Case {
        qname,
        qtype,
        rcode: ResponseCode::NoError,
        answer: &[],
        authority,
        additional: &[],
    }
}

#[test]
fn localhost_and_its_reverse_zones_are_answered_here() {
    let chain = test::chain(COREFILE);
    test::check(
        &chain,
        &[
            Case::answer("localhost.", A, &["localhost. 604800 IN A 127.0.0.1"]),
            Case::answer("LocalHost.", AAAA, &["LocalHost. 604800 IN AAAA ::1"]),
            Case::answer("localhost.", NS, &["localhost. 604800 IN NS localhost."]),
            Case::answer(
                "127.in-addr.arpa.",
                SOA,
                &["127.in-addr.arpa. 604800 IN SOA localhost. root.localhost. 1 0 0 0 604800"],
            ),
            Case::answer(
                "1.0.0.127.in-addr.arpa.",
                PTR,
                &["1.0.0.127.in-addr.arpa. 604800 IN PTR localhost."],
            ),
            nodata(
                "localhost.",
                MX,
                &["localhost. 604800 IN SOA localhost. root.localhost. 1 0 0 0 604800"],
            ),
            nodata(
                "0.in-addr.arpa.",
                A,
                &["0.in-addr.arpa. 604800 IN SOA localhost. root.localhost. 1 0 0 0 604800"],
            ),
            nx(
                "2.0.0.127.in-addr.arpa.",
                &["127.in-addr.arpa. 604800 IN SOA localhost. root.localhost. 1 0 0 0 604800"],
            ),
            Case::answer(
                "app.localhost.",
                A,
                &["app.localhost. 604800 IN A 127.0.0.1"],
            ),
            Case::answer(
                "localhost.example.org.",
                A,
                &["localhost.example.org. 604800 IN A 127.0.0.1"],
            ),
        ],
    );
}

#[test]
fn other_names_pass_and_the_prefix_rule_can_be_turned_off() {
    let chain = test::chain(COREFILE);
    let passed = test::ask(&chain, "example.org.", A);
    assert_eq!(passed.additionals.len(), 2, "whoami answered");
    let off = test::chain(".:53 {\n local {\n  localhost_prefix off\n }\n whoami\n}\n");
    let passed = test::ask(&off, "localhost.example.org.", A);
    assert_eq!(passed.additionals.len(), 2, "whoami answered");
    let still = test::ask(&off, "app.localhost.", A);
    assert_eq!(still.answers.len(), 1);
}

#[test]
fn setup_errors() {
    for (corefile, message) in [
        (".:53 {\n local extra\n}\n", "Wrong argument count"),
        (
            ".:53 {\n local {\n  localhost_prefix maybe\n }\n}\n",
            "localhost_prefix expects 'on' or 'off', got \"maybe\"",
        ),
        (
            ".:53 {\n local {\n  other\n }\n}\n",
            "unknown property 'other'",
        ),
    ] {
        let error = test::setup_error(corefile);
        assert!(error.contains(message), "{corefile:?}: {error}");
    }
}
