//! The default Corefile of every mainstream distribution
//! (`tests/fixtures/corefiles/`, each naming its public source) passes
//! `-check` unchanged and serves once started, here and in CoreDNS 1.14.7.
//!
//! To start one on this machine its addresses are moved to loopback
//! stand-ins and nothing else changes: listener ports and `bind` to
//! 127.0.0.1 and free ports, health/ready/prometheus to free loopback
//! ports, every `forward` to a stub upstream, and `kubernetes` to the test
//! apiserver's kubeconfig. The same text goes to both servers.

use crate::support;

use std::path::{Path, PathBuf};

use clusterdns::diff::Proto;
use hickory_proto::rr::{DNSClass, RecordType};
use regex::Regex;
use support::differential::differences;
use support::dns::{query, query_class};
use support::peers::{Coredns, cluster};
use support::process::Clusterdns;
use support::upstream::{Mode, Stub, expected_a};

fn fixtures() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/corefiles")
}

fn corefiles() -> Vec<PathBuf> {
    let mut files: Vec<PathBuf> = std::fs::read_dir(fixtures())
        .unwrap()
        .map(|entry| entry.unwrap().path())
        .filter(|path| path.extension().is_some_and(|e| e == "Corefile"))
        .collect();
    files.sort();
    files
}

#[test]
fn every_distributions_corefile_passes_check_unchanged() {
    let files = corefiles();
    assert!(files.len() >= 16, "{} fixtures", files.len());
    let mut failures = Vec::new();
    for file in &files {
        let name = file.file_name().unwrap().to_str().unwrap();
        let output = std::process::Command::new(support::process::binary())
            .current_dir(fixtures())
            .args(["-conf", name, "-check"])
            .output()
            .unwrap();
        let stdout = String::from_utf8_lossy(&output.stdout);
        if !output.status.success() || !stdout.contains("is valid") {
            failures.push(format!(
                "{name}: {:?} {stdout} {}",
                output.status.code(),
                String::from_utf8_lossy(&output.stderr)
            ));
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}

/// The fixture's text with its addresses on loopback (see the module doc);
/// `PORT` stays for the harness to fill in.
fn on_loopback(text: &str, upstream: std::net::SocketAddr, kubeconfig: &Path) -> String {
    let key = Regex::new(r"^(\S+):(53|5353)(\s*\{)\s*$").unwrap();
    let bind = Regex::new(r"^\s*bind\s").unwrap();
    let http = Regex::new(r"^(\s*)(health|ready|prometheus)(\s+[^\s{]+)?(\s*\{)?\s*$").unwrap();
    let forward = Regex::new(r"^(\s*forward\s+\S+)\s+[^{]+?(\s*\{)?\s*$").unwrap();
    let kubernetes = Regex::new(r"^(\s*kubernetes\b.*\{)\s*$").unwrap();
    let import = Regex::new(r"^(\s*import\s+)(aks-custom/)").unwrap();
    let mut out = Vec::new();
    for line in text.lines() {
        if bind.is_match(line) {
            continue;
        }
        if key.is_match(line) {
            out.push(key.replace(line, "$1:PORT$3").to_string());
            out.push("    bind 127.0.0.1".to_string());
        } else if let Some(caps) = http.captures(line) {
            // The harness waits on READY (a `ready` is added where the
            // fixture has none).
            let address = match &caps[2] {
                "ready" => "127.0.0.1:READY".to_string(),
                _ => format!("127.0.0.1:{}", support::free_port()),
            };
            let replacement = format!("${{1}}${{2}} {address}$4");
            out.push(http.replace(line, replacement.as_str()).to_string());
        } else if forward.is_match(line) {
            out.push(
                forward
                    .replace(line, format!("$1 {upstream}$2"))
                    .to_string(),
            );
        } else if kubernetes.is_match(line) {
            out.push(line.to_string());
            out.push(format!("      kubeconfig {}", kubeconfig.display()));
        } else {
            let absolute = format!("${{1}}{}/$2", fixtures().display());
            out.push(import.replace(line, absolute).to_string());
        }
    }
    if !text
        .lines()
        .any(|line| line.trim_start().starts_with("ready"))
    {
        out.insert(
            out.iter()
                .position(|l| l.contains("bind 127.0.0.1"))
                .unwrap()
                + 1,
            "    ready 127.0.0.1:READY".to_string(),
        );
    }
    out.join("\n") + "\n"
}

/// What each fixture must answer beyond a forwarded name: a cluster name
/// where it has `kubernetes`, and its own extra (hosts, chaos) names.
fn checks(name: &str, text: &str) -> Vec<(&'static str, RecordType, DNSClass)> {
    let mut checks = vec![("www.example.org.", RecordType::A, DNSClass::IN)];
    if text.contains("kubernetes ") {
        checks.push((
            "kubernetes.default.svc.cluster.local.",
            RecordType::A,
            DNSClass::IN,
        ));
        checks.push(("1.0.32.10.in-addr.arpa.", RecordType::PTR, DNSClass::IN));
        checks.push((
            "nothere.default.svc.cluster.local.",
            RecordType::A,
            DNSClass::IN,
        ));
    }
    match name {
        "minikube.Corefile" => {
            checks.push(("host.minikube.internal.", RecordType::A, DNSClass::IN))
        }
        "aks.Corefile" => checks.push(("example2.org.", RecordType::A, DNSClass::IN)),
        "openshift.Corefile" => checks.push(("hostname.bind.", RecordType::TXT, DNSClass::CH)),
        _ => {}
    }
    checks
}

#[test]
fn every_distributions_corefile_starts_and_answers_as_coredns_does() {
    let stub = Stub::start(Mode::Answer);
    let kubeconfig = &cluster().kubeconfig;
    let mut failures = Vec::new();
    let mut compared = 0;
    for file in corefiles() {
        let name = file.file_name().unwrap().to_str().unwrap().to_string();
        let text = std::fs::read_to_string(&file).unwrap();
        let corefile = on_loopback(&text, stub.addr, kubeconfig);
        let coredns = Coredns::start(&corefile, kubeconfig);
        let ours = Clusterdns::start(&corefile.replace("READY", &support::free_port().to_string()));
        for (qname, qtype, class) in checks(&name, &text) {
            for transport in [Proto::Udp, Proto::Tcp] {
                let msg = query_class(qname, qtype, class);
                compared += 1;
                let found = differences(coredns.addr(), ours.addr(), &msg, transport, false);
                if !found.is_empty() {
                    failures.push(format!("{name} {qname} {qtype} {transport:?}: {found:?}"));
                }
            }
        }
        // Positive controls: the stub's answer, and the apiserver's.
        let forwarded = support::dns::udp(ours.addr(), &query("www.example.org.", RecordType::A));
        if support::dns::addresses(&forwarded) != vec![expected_a("www.example.org.")] {
            failures.push(format!(
                "{name}: forwarded name not answered: {forwarded:?}"
            ));
        }
        if text.contains("kubernetes ") {
            let q = query("kubernetes.default.svc.cluster.local.", RecordType::A);
            let cluster_name = support::dns::udp(ours.addr(), &q);
            let want: std::net::IpAddr = "10.32.0.1".parse().unwrap();
            if support::dns::addresses(&cluster_name) != vec![want] {
                failures.push(format!(
                    "{name}: cluster name not answered: {cluster_name:?}"
                ));
            }
        }
    }
    assert!(
        failures.is_empty(),
        "{} differences in {compared}:\n{}",
        failures.len(),
        failures.join("\n")
    );
}
