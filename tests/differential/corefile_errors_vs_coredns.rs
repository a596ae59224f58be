//! Broken Corefiles: clusterdns must print the same error as CoreDNS 1.14.7
//! (same text, same FILE:LINE) and exit 1, both when starting and with
//! `-check`.

use crate::support;

use std::path::Path;
use std::process::{Command, Output};
use std::time::Duration;

use support::peers::PeerBins;
use support::upstream::{Mode, Stub};

const CASES: &[(&str, &str)] = &[
    ("unknown directive", ".:1 {\n whoami\n foo bar\n}\n"),
    ("missing closing brace", ".:1 {\n whoami\n"),
    ("unexpected closing brace", ".:1 {\n log }\n}\n"),
    ("EOF in directive block", ".:1 {\n log {\n class all\n"),
    ("extra comma", "a.org, {\n whoami\n}\n"),
    (
        "snippet redeclared",
        "(s) {\n log\n}\n(s) {\n log\n}\n.:1 {\n whoami\n}\n",
    ),
    ("empty import", ".:1 {\n import \"\"\n}\n"),
    ("import with two arguments", ".:1 {\n import a b\n}\n"),
    (
        "import of a missing file",
        ".:1 {\n import /nonexistent/clusterdns-file\n}\n",
    ),
    ("import of a directory", ".:1 {\n import /tmp\n}\n"),
    ("glob with two wildcards", ".:1 {\n import /tmp/*/*.x\n}\n"),
    ("import without argument", ".:1 {\n import\n}\n"),
    ("errors twice", ".:1 {\n errors\n errors\n whoami\n}\n"),
    ("ready twice", ".:1 {\n ready\n ready\n whoami\n}\n"),
    (
        "log unknown property",
        ".:1 {\n log {\n foo\n }\n whoami\n}\n",
    ),
    (
        "health unknown property",
        ".:1 {\n health {\n foo\n }\n whoami\n}\n",
    ),
    ("whoami with an argument", ".:1 {\n whoami x\n}\n"),
    (
        "zone defined twice",
        "a.org:1 {\n whoami\n}\na.org:1 {\n whoami\n}\n",
    ),
    ("colon without port", "a.org: {\n whoami\n}\n"),
    (
        "forward tls with four arguments",
        ".:1 {\n forward . tls://127.0.0.1 {\n  tls a b c d\n }\n}\n",
    ),
    (
        "forward max_age below expire",
        ".:1 {\n forward . 127.0.0.1 {\n  expire 30s\n  max_age 10s\n }\n}\n",
    ),
    (
        "forward negative max_age",
        ".:1 {\n forward . 127.0.0.1 {\n  max_age -1m30s\n }\n}\n",
    ),
    (
        "forward negative expire",
        ".:1 {\n forward . 127.0.0.1 {\n  expire -5s\n }\n}\n",
    ),
    (
        "forward source_address not an IP",
        ".:1 {\n forward . 127.0.0.1 {\n  source_address not-an-ip\n }\n}\n",
    ),
    (
        "forward source_address without argument",
        ".:1 {\n forward . 127.0.0.1 {\n  source_address\n }\n}\n",
    ),
    (
        "forward next_on_nodata with an argument",
        ".:1 {\n forward . 127.0.0.1 {\n  next_on_nodata x\n }\n}\n",
    ),
    (
        "forward TO neither address, file nor domain",
        ".:1 {\n forward . not..an-ip\n}\n",
    ),
    ("forward quic TO", ".:1 {\n forward . quic://127.0.0.1\n}\n"),
    ("forward grpc TO", ".:1 {\n forward . grpc://[::1]\n}\n"),
    ("forward unix TO", ".:1 {\n forward . unix:///tmp/x\n}\n"),
    (
        "forward https TO with a path",
        ".:1 {\n forward . https://127.0.0.1/dns-query\n}\n",
    ),
    ("forward empty tls TO", ".:1 {\n forward . tls://\n}\n"),
    ("forward empty dns TO", ".:1 {\n forward . dns://\n}\n"),
    (
        "forward resolver not an IP",
        ".:1 {\n forward . 127.0.0.1 {\n  resolver dns.example\n }\n}\n",
    ),
    (
        "forward resolver without argument",
        ".:1 {\n forward . 127.0.0.1 {\n  resolver\n }\n}\n",
    ),
    (
        "forward tls server name given twice",
        ".:1 {\n forward . tls://127.0.0.1%a.test {\n  tls_servername b.test\n }\n}\n",
    ),
];

fn run(program: &Path, args: &[&str], corefile: &Path) -> Output {
    let mut child = Command::new(program)
        .arg("-conf")
        .arg(corefile)
        .args(args)
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    // A valid file would start serving; a broken one exits at once.
    let deadline = std::time::Instant::now() + Duration::from_secs(10);
    while child.try_wait().unwrap().is_none() {
        if std::time::Instant::now() > deadline {
            child.kill().unwrap();
            break;
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    child.wait_with_output().unwrap()
}

/// The error line: the last non-empty stderr line, without CoreDNS's
/// `maxprocs` banner.
fn error_line(output: &Output) -> String {
    let text = String::from_utf8_lossy(&output.stderr);
    text.lines()
        .rfind(|l| !l.is_empty() && !l.starts_with("maxprocs:"))
        .unwrap_or("")
        .to_string()
}

#[test]
fn startup_and_check_errors_match_coredns() {
    let cases: Vec<(String, String)> = CASES
        .iter()
        .map(|(label, text)| (label.to_string(), text.to_string()))
        .collect();
    assert_no_mismatches(&cases);
}

/// A hostname TO that the `resolver` (a stub on loopback) does not know:
/// both servers fail at setup with the same text. No lookup leaves the
/// machine: the name is asked of the stub only.
#[test]
fn hostname_lookup_failures_match_coredns() {
    let resolver = Stub::start(Mode::LoopbackA);
    let cases = vec![(
        "unknown hostname TO".to_string(),
        format!(
            ".:1 {{\n forward . nxhost.test {{\n  resolver {}\n }}\n}}\n",
            resolver.addr
        ),
    )];
    assert_no_mismatches(&cases);
    assert!(resolver.queries() >= 3, "both servers asked the stub");
}

/// Runs every case through CoreDNS, then clusterdns (start and `-check`),
/// and fails listing each case whose exit code or error line differs.
fn assert_no_mismatches(cases: &[(String, String)]) {
    let coredns = PeerBins::locate().coredns.join("coredns");
    let ours = support::process::binary();
    let dir = tempfile::tempdir().unwrap();
    let mut failures = Vec::new();
    for (label, text) in cases {
        let file = dir.path().join("Corefile");
        std::fs::write(&file, text).unwrap();
        let theirs = run(&coredns, &[], &file);
        let started = run(&ours, &[], &file);
        let checked = run(&ours, &["-check"], &file);
        let expected = error_line(&theirs);
        assert_eq!(theirs.status.code(), Some(1), "{label}: CoreDNS exits 1");
        assert!(!expected.is_empty(), "{label}: CoreDNS printed an error");
        for (mode, output) in [("start", &started), ("-check", &checked)] {
            if output.status.code() != Some(1) || error_line(output) != expected {
                failures.push(format!(
                    "{label} ({mode}): exit {:?}\n  CoreDNS:    {expected}\n  clusterdns: {}",
                    output.status.code(),
                    error_line(output)
                ));
            }
        }
    }
    assert!(
        failures.is_empty(),
        "{} mismatches:\n{}",
        failures.len(),
        failures.join("\n")
    );
}
