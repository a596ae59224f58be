//! In-process tests of `errors`: its setup errors, the line it writes for
//! a failed exchange, which consolidate rule takes a line, and the line
//! that ends a consolidation period.

use hickory_proto::op::ResponseCode;
use hickory_proto::rr::RecordType;

use super::{Errors, error_text, setup, summary};
use crate::corefile::Dispenser;
use crate::dns::{Proto, Status};
use crate::plugin::pkg::test;

fn errors(corefile: &str) -> Result<Errors, String> {
    let tokens = test::directive_tokens(corefile, "errors");
    setup(&mut Dispenser::new(&tokens)).map_err(|e| e.to_string())
}

fn setup_error(corefile: &str) -> String {
    errors(corefile)
        .err()
        .unwrap_or_else(|| panic!("{corefile:?} was accepted"))
}

#[test]
fn setup_takes_stdout_stacktrace_and_consolidate_rules() {
    let plugin = errors(
        ".:53 {\n errors stdout {\n  stacktrace\n  consolidate 5m \".* timeout$\" warning show_first\n  consolidate 30s \"^2 \"\n }\n}\n",
    )
    .unwrap();
    assert_eq!(plugin.patterns.len(), 2);
    let first = &plugin.patterns[0];
    assert_eq!(
        (first.level, first.show_first, first.source.as_str()),
        ("WARNING", true, ".* timeout$")
    );
    assert_eq!(plugin.patterns[1].level, "ERROR", "the default level");
}

#[test]
fn bad_lines_are_setup_errors() {
    let cases = [
        (".:53 {\n errors stderr\n}\n", "Wrong argument count"),
        (
            ".:53 {\n errors {\n  stacktrace yes\n }\n}\n",
            "Wrong argument count",
        ),
        (".:53 {\n errors {\n  colour\n }\n}\n", "unknown property"),
        (
            ".:53 {\n errors {\n  consolidate 5m\n }\n}\n",
            "Wrong argument count",
        ),
        (
            ".:53 {\n errors {\n  consolidate soon \"x\"\n }\n}\n",
            "invalid duration: 'soon'",
        ),
        (
            ".:53 {\n errors {\n  consolidate 5m \"x\" loud\n }\n}\n",
            "unknown log level argument in consolidate: 'loud'",
        ),
        (
            ".:53 {\n errors {\n  consolidate 5m \"(\"\n }\n}\n",
            "regex",
        ),
    ];
    for (corefile, wanted) in cases {
        let error = setup_error(corefile);
        assert!(error.contains(wanted), "{corefile:?}: {error}");
    }
}

#[test]
fn a_failed_exchange_gives_coredns_line_and_a_written_one_none() {
    let chain = test::chain(".:53 {\n errors\n whoami\n}\n");
    let msg = test::query("Host.Example.ORG.", RecordType::AAAA);
    let mut exchange = test::exchange(&chain, msg, test::CLIENT, Proto::Udp);
    assert_eq!(error_text(&exchange), None, "whoami answered");
    exchange.status = Status::failed(
        ResponseCode::ServFail,
        "plugin/forward: no healthy upstream",
    );
    assert_eq!(
        error_text(&exchange).as_deref(),
        Some("2 host.example.org. AAAA: plugin/forward: no healthy upstream")
    );
}

#[test]
fn the_reply_passes_through_unchanged() {
    let with = test::chain(".:53 {\n errors\n whoami\n}\n");
    let without = test::chain(".:53 {\n whoami\n}\n");
    let ask = |chain| test::section(&test::ask(chain, "example.org.", RecordType::A).additionals);
    assert_eq!(ask(&with), ask(&without));
    assert_eq!(ask(&with).len(), 2, "whoami's two records");
}

#[test]
fn the_first_matching_rule_takes_a_line() {
    let plugin = errors(
        ".:53 {\n errors {\n  consolidate 5m \"timeout$\"\n  consolidate 5m \"^2 \"\n }\n}\n",
    )
    .unwrap();
    let taker = |text: &str| plugin.patterns.iter().position(|p| p.regex.is_match(text));
    assert_eq!(taker("2 a. A: read udp: i/o timeout"), Some(0));
    assert_eq!(taker("2 a. A: no healthy upstream"), Some(1));
    assert_eq!(taker("5 a. A: refused"), None);
}

#[test]
fn a_period_ends_with_one_summary_line() {
    let plugin = errors(
        ".:53 {\n errors {\n  consolidate 5m \"x\" info show_first\n  consolidate 90s \"y\"\n }\n}\n",
    )
    .unwrap();
    let (shown_first, counted) = (&plugin.patterns[0], &plugin.patterns[1]);
    assert_eq!(
        summary(shown_first, 3).as_deref(),
        Some("plugin/errors: 2 errors like 'x' occurred in last 5m0s"),
        "the one shown at once is not counted again"
    );
    assert_eq!(summary(shown_first, 1), None, "the only one was shown");
    assert_eq!(
        summary(counted, 3).as_deref(),
        Some("plugin/errors: 3 errors like 'y' occurred in last 1m30s")
    );
}
