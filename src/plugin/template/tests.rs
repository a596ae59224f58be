//! Table tests: templates from template's README, with hosts behind them
//! for what falls through.

use crate::plugin::pkg::test::{self, Case};
use hickory_proto::op::ResponseCode;
use hickory_proto::rr::RecordType::{A, AAAA, MX, PTR, SOA, TXT};

fn chain(templates: &str) -> std::sync::Arc<crate::dns::Chain> {
    test::chain(&format!(
        ".:53 {{\n{templates}\n hosts {{\n  10.9.9.9 other.example.\n  fd00::9 other.example.\n  fallthrough\n }}\n}}\n"
    ))
}

#[test]
fn the_readme_examples_answer_as_documented() {
    let chain = chain(
        r#" template IN A example {
  match (^|[.])ip-(?P<a>[0-9]*)-(?P<b>[0-9]*)-(?P<c>[0-9]*)-(?P<d>[0-9]*)[.]example[.]$
  answer "{{ .Name }} 60 IN A {{ .Group.a }}.{{ .Group.b }}.{{ .Group.c }}.{{ .Group.d }}"
  fallthrough
 }
 template IN PTR in-addr.arpa {
  match ^(?P<d>[0-9]*)[.](?P<c>[0-9]*)[.](?P<b>[0-9]*)[.](?P<a>[0-9]*)[.]in-addr[.]arpa[.]$
  answer "{{ .Name }} 60 IN PTR ip-{{ .Group.a }}-{{ .Group.b }}-{{ .Group.c }}-{{ .Group.d }}.example."
 }
 template ANY ANY invalid {
  rcode NXDOMAIN
  authority "invalid. 60 {{ .Class }} SOA ns.invalid. hostmaster.invalid. (1 60 60 60 60)"
 }"#,
    );
    test::check(
        &chain,
        &[
            Case::answer(
                "ip-10-0-0-1.example.",
                A,
                &["ip-10-0-0-1.example. 60 IN A 10.0.0.1"],
            ),
            Case::answer(
                "www.ip-10-0-0-1.example.",
                A,
                &["www.ip-10-0-0-1.example. 60 IN A 10.0.0.1"],
            ),
            Case::answer(
                "1.0.0.10.in-addr.arpa.",
                PTR,
                &["1.0.0.10.in-addr.arpa. 60 IN PTR ip-10-0-0-1.example."],
            ),
            Case::answer("other.example.", A, &["other.example. 3600 IN A 10.9.9.9"]),
            Case {
                qname: "a.invalid.",
                qtype: TXT,
                rcode: ResponseCode::NXDomain,
                answer: &[],
                authority: &["invalid. 60 IN SOA ns.invalid. hostmaster.invalid. 1 60 60 60 60"],
                additional: &[],
            },
        ],
    );
    // The A template's type does not fit, so its regex is not even tried:
    // the next template, then hosts (NODATA for a name it knows).
    let mx = test::ask(&chain, "other.example.", MX);
    assert_eq!(mx.metadata.response_code, ResponseCode::NoError);
    assert!(mx.answers.is_empty());
}

#[test]
fn a_zone_match_without_a_regex_match_is_servfail_unless_it_falls_through() {
    let strict = chain(
        " template IN A example {\n  match ^only[.]example[.]$\n  answer \"{{ .Name }} 5 A 192.0.2.1\"\n }",
    );
    assert_eq!(
        test::ask(&strict, "other.example.", A)
            .metadata
            .response_code,
        ResponseCode::ServFail
    );
    assert_eq!(test::ask(&strict, "only.example.", A).answers.len(), 1);
    let outside = test::ask(&strict, "other.example.", AAAA);
    assert_eq!(outside.answers.len(), 1, "type does not fit: hosts answers");
    let scoped = chain(
        " template IN A example {\n  match ^only[.]example[.]$\n  fallthrough in-addr.arpa\n }",
    );
    assert_eq!(
        test::ask(&scoped, "other.example.", A)
            .metadata
            .response_code,
        ResponseCode::ServFail,
        "fallthrough for other zones only"
    );
}

#[test]
fn the_aaaa_filter_answers_empty_and_leaves_a_alone() {
    let chain = chain(" template ANY AAAA {\n  rcode NOERROR\n }");
    let aaaa = test::ask(&chain, "other.example.", AAAA);
    assert_eq!(aaaa.metadata.response_code, ResponseCode::NoError);
    assert!(aaaa.answers.is_empty() && aaaa.metadata.authoritative);
    assert_eq!(test::ask(&chain, "other.example.", A).answers.len(), 1);
}

#[test]
fn template_and_rr_failures_are_servfail() {
    let chain = chain(
        " template IN A bad {\n  answer \"{{ index .Match 3 }} 60 IN A 10.0.0.1\"\n }\n template IN A worse {\n  answer \"{{ .Name }} 60 IN A not-an-address\"\n }",
    );
    for name in ["x.bad.", "x.worse."] {
        let exchange = test::exchange(
            &chain,
            test::query(name, A),
            test::CLIENT,
            crate::dns::Proto::Udp,
        );
        assert_eq!(exchange.status.rcode, ResponseCode::ServFail, "{name}");
        assert!(
            exchange.status.error.is_some(),
            "{name}: the error is logged"
        );
    }
    let exposition = crate::metrics::global().render();
    let counted = |metric: &str, zone: &str, template: &str| {
        exposition.lines().any(|line| {
            line.starts_with(metric)
                && line.contains(&format!("zone=\"{zone}\""))
                && line.contains(&format!("template=\"{template}\""))
                && line.contains("section=\"answer\"")
        })
    };
    assert!(
        counted(
            "coredns_template_template_failures_total",
            "bad.",
            "{{index .Match 3}} 60 IN A 10.0.0.1"
        ),
        "{exposition}"
    );
    assert!(
        counted(
            "coredns_template_rr_failures_total",
            "worse.",
            "{{.Name}} 60 IN A not-an-address"
        ),
        "{exposition}"
    );
}

#[test]
fn ederror_adds_an_opt_with_the_code_and_text() {
    let chain =
        chain(" template ANY ANY invalid {\n  rcode NXDOMAIN\n  ederror 21 \"Blocked\"\n }");
    let reply = test::ask(&chain, "x.invalid.", A);
    let edns = reply.edns.expect("an OPT");
    assert_eq!(edns.max_payload(), 4096);
    let options = &edns.options().options;
    assert_eq!(options.len(), 1);
    let encoded = format!("{:?}", options[0].1);
    assert!(
        encoded.contains("Blocked") || encoded.contains("66, 108"),
        "{encoded}"
    );
}

#[test]
fn setup_errors_read_as_coredns_writes_them() {
    for (directive, want) in [
        ("template XX A", "invalid query class XX"),
        ("template IN XX", "invalid RR class XX"),
        ("template IN A {\n  rcode NOPE\n }", "unknown rcode NOPE"),
        ("template IN A {\n  match (\n }", "could not parse regex: ("),
        (
            "template IN A {\n  answer \"{{ nosuch }}\"\n }",
            "could not compile template",
        ),
        (
            "template IN A {\n  answer \"{{ range .Match }}{{ end }}\"\n }",
            "not supported by clusterdns",
        ),
        ("template IN A {\n  bogus\n }", "Wrong argument count"),
    ] {
        let error = test::setup_error(&format!(".:53 {{\n {directive}\n}}\n"));
        assert!(error.contains(want), "{directive}: {error}");
    }
}

#[test]
fn soa_answers_use_the_matched_zone() {
    let chain = chain(
        " template IN SOA example.org {\n  answer \"{{ .Zone }} 60 IN SOA ns.{{ .Zone }} hostmaster.{{ .Zone }} (1 60 60 60 60)\"\n }",
    );
    test::check(
        &chain,
        &[Case::answer(
            "x.example.org.",
            SOA,
            &["example.org. 60 IN SOA ns.example.org. hostmaster.example.org. 1 60 60 60 60"],
        )],
    );
}
