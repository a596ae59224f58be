//! Table tests: a rewrite in front of `hosts`, which only knows the
//! rewritten names, so every answer shows what the rules did both ways.

use crate::plugin::pkg::test::{self, Case};
use hickory_proto::op::ResponseCode;
use hickory_proto::rr::RecordType::{A, AAAA};

fn corefile(rules: &str) -> String {
    format!(
        ".:53 {{\n{rules}\n hosts {{\n  10.0.0.1 b.example.org\n  10.0.0.2 x.example.org\n  ttl 60\n }}\n}}\n"
    )
}

#[test]
fn an_exact_rule_answers_under_the_asked_name() {
    let chain = test::chain(&corefile(" rewrite name exact a.example.org b.example.org"));
    test::check(
        &chain,
        &[
            Case::answer("a.example.org.", A, &["a.example.org. 60 IN A 10.0.0.1"]),
            Case::answer("A.Example.Org.", A, &["a.example.org. 60 IN A 10.0.0.1"]),
            Case::answer("b.example.org.", A, &["b.example.org. 60 IN A 10.0.0.1"]),
        ],
    );
    let reply = test::ask(&chain, "A.Example.Org.", A);
    assert_eq!(
        reply.queries[0].name().to_ascii(),
        "A.Example.Org.",
        "the question as asked"
    );
}

#[test]
fn suffix_regex_and_substring_rules_with_answer_rewrites() {
    let suffix = test::chain(&corefile(
        " rewrite name suffix .old.test .example.org answer auto",
    ));
    test::check(
        &suffix,
        &[Case::answer(
            "x.old.test.",
            A,
            &["x.old.test. 60 IN A 10.0.0.2"],
        )],
    );
    // AKS's coredns-custom example, as one rule over a block.
    let regex = test::chain(&corefile(
        " rewrite stop {\n  name regex (.*)\\.custom\\.test {1}.example.org\n  answer name (.*)\\.example\\.org {1}.custom.test\n }",
    ));
    test::check(
        &regex,
        &[Case::answer(
            "b.custom.test.",
            A,
            &["b.custom.test. 60 IN A 10.0.0.1"],
        )],
    );
    let substring = test::chain(&corefile(
        " rewrite name substring old.test example.org answer auto",
    ));
    test::check(
        &substring,
        &[Case::answer(
            "x.old.test.",
            A,
            &["x.old.test. 60 IN A 10.0.0.2"],
        )],
    );
}

#[test]
fn without_answer_rules_the_owner_stays_rewritten_but_the_question_is_restored() {
    let chain = test::chain(&corefile(" rewrite name prefix y x"));
    let reply = test::ask(&chain, "y.example.org.", A);
    assert_eq!(
        test::section(&reply.answers),
        ["x.example.org. 60 IN A 10.0.0.2"]
    );
    assert_eq!(reply.queries[0].name().to_ascii(), "y.example.org.");
}

#[test]
fn continue_rules_chain_and_their_reply_rules_run_last_first() {
    let chain = test::chain(&corefile(
        " rewrite continue name exact a.test c.test\n rewrite name exact c.test b.example.org",
    ));
    test::check(
        &chain,
        &[Case::answer("a.test.", A, &["a.test. 60 IN A 10.0.0.1"])],
    );
}

#[test]
fn type_and_ttl_rules() {
    let types = test::chain(&corefile(" rewrite type AAAA A"));
    let reply = test::ask(&types, "b.example.org.", AAAA);
    assert_eq!(
        test::section(&reply.answers),
        ["b.example.org. 60 IN A 10.0.0.1"]
    );
    assert_eq!(reply.queries[0].query_type(), AAAA, "the question as asked");
    let ttl = test::chain(&corefile(" rewrite ttl regex .*\\.example\\.org 15"));
    test::check(
        &ttl,
        &[Case::answer(
            "x.example.org.",
            A,
            &["x.example.org. 15 IN A 10.0.0.2"],
        )],
    );
    let range = test::chain(&corefile(" rewrite ttl suffix example.org 100-"));
    test::check(
        &range,
        &[Case::answer(
            "x.example.org.",
            A,
            &["x.example.org. 100 IN A 10.0.0.2"],
        )],
    );
}

#[test]
fn a_name_that_is_not_a_domain_name_is_servfail() {
    let chain = test::chain(&corefile(
        " rewrite name regex (.*)\\.long\\.test {1}{1}{1}{1}{1}{1}{1}{1}.example.org",
    ));
    let reply = test::ask(&chain, "aaaaaaaaaa.long.test.", A);
    assert_eq!(reply.metadata.response_code, ResponseCode::ServFail);
    test::check(
        &chain,
        &[Case::answer(
            "b.example.org.",
            A,
            &["b.example.org. 60 IN A 10.0.0.1"],
        )],
    );
}

#[test]
fn setup_errors_name_the_rule_and_its_line() {
    for (rules, message) in [
        (" rewrite foo a b", "invalid rule type \"foo\""),
        (
            " rewrite name regex ( b",
            "invalid regex matching pattern: (",
        ),
        (
            " rewrite name regex (.*) {1}{2}.b",
            "uses more subexpressions than its corresponding matching regex pattern",
        ),
        (
            " rewrite answer name a b",
            "response rewrites must begin with a name rule",
        ),
        (
            " rewrite type A",
            "type rules must have exactly two arguments",
        ),
        (" rewrite type A BOGUS", "invalid type \"BOGUS\""),
        (" rewrite ttl a.b c", "invalid TTL 'c' for a ttl rule"),
        (
            " rewrite name suffix a b answer auto answer name x y",
            "auto name answer rule cannot be combined",
        ),
        (
            " rewrite cname exact a.b c.d",
            "not supported by clusterdns yet",
        ),
        (
            " rewrite edns0 local",
            "too few arguments for an EDNS0 rule",
        ),
        (" rewrite edns0 local bump 1 2", "invalid action: \"bump\""),
        (
            " rewrite edns0 local set 1",
            "EDNS0 local rules require three or four args",
        ),
        (
            " rewrite edns0 local set 0xfffff a",
            "strconv.ParseUint: parsing \"0xfffff\": value out of range",
        ),
        (
            " rewrite edns0 local set 65001 0xzz",
            "encoding/hex: invalid byte: U+007A 'z'",
        ),
        (
            " rewrite edns0 local set 65001 {nope}",
            "unsupported variable name \"{nope}\"",
        ),
        (
            " rewrite edns0 nsid set x",
            "EDNS0 NSID rules can accept no more than one arg",
        ),
        (
            " rewrite edns0 subnet set 33 56",
            "invalid IPv4 bit mask length 33",
        ),
        (
            " rewrite edns0 local unset",
            "local unset action requires exactly two arguments",
        ),
        (" rewrite edns0 cookie set", "invalid rule type \"cookie\""),
    ] {
        let error = test::setup_error(&corefile(rules));
        assert!(
            error.starts_with("plugin/rewrite: Corefile:2 - Error during parsing: ")
                && error.contains(message),
            "{rules:?}: {error}"
        );
    }
}
