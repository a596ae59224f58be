//! Table tests over a snapshot with external addresses; the names are
//! answered in `example.org`, with `whoami` behind for what falls through.

use std::io::Write;

use crate::plugin::pkg::test::{self, Case};
use hickory_proto::op::ResponseCode;
use hickory_proto::rr::RecordType::{A, AAAA, NS, PTR, SOA, SRV};

const SNAPSHOT: &str = r#"apiVersion: v1
kind: List
items:
- {apiVersion: v1, kind: Namespace, metadata: {name: shop}}
- apiVersion: v1
  kind: Service
  metadata: {name: web, namespace: shop}
  spec:
    clusterIP: 10.32.0.50
    externalIPs: [192.0.2.10, "2001:db8::10"]
    ports: [{name: http, port: 80, protocol: TCP}, {name: https, port: 443, protocol: TCP}]
- apiVersion: v1
  kind: Service
  metadata: {name: lb, namespace: shop}
  spec:
    type: LoadBalancer
    clusterIP: 10.32.0.51
    ports: [{name: http, port: 80, protocol: TCP}]
  status:
    loadBalancer:
      ingress: [{ip: 198.51.100.5}]
- apiVersion: v1
  kind: Service
  metadata: {name: db, namespace: shop}
  spec: {clusterIP: None, ports: [{name: pg, port: 5432, protocol: TCP}]}
- apiVersion: discovery.k8s.io/v1
  kind: EndpointSlice
  metadata: {name: db-1, namespace: shop, labels: {kubernetes.io/service-name: db}}
  addressType: IPv4
  ports: [{name: pg, port: 5432, protocol: TCP}]
  endpoints:
  - {addresses: [10.200.0.9], conditions: {ready: true}, hostname: primary}
"#;

fn chain(options: &str) -> (std::sync::Arc<crate::dns::Chain>, tempfile::NamedTempFile) {
    let mut snapshot = tempfile::NamedTempFile::new().expect("temp file");
    snapshot.write_all(SNAPSHOT.as_bytes()).expect("write");
    let chain = test::chain(&format!(
        ".:53 {{\n k8s_external example.org 2.0.192.in-addr.arpa {{\n{options}\n }}\n kubernetes cluster.local {{\n  snapshot {}\n }}\n whoami\n}}\n",
        snapshot.path().display()
    ));
    (chain, snapshot)
}

const SOA_TEXT: &str = "example.org. 5 IN SOA ns1.dns.example.org. hostmaster.dns.example.org. SERIAL 7200 1800 86400 5";

#[test]
fn services_answer_with_their_external_addresses() {
    let (chain, _snapshot) = chain("");
    test::check(
        &chain,
        &[
            Case::answer(
                "web.shop.example.org.",
                A,
                &["web.shop.example.org. 5 IN A 192.0.2.10"],
            ),
            Case::answer(
                "web.shop.example.org.",
                AAAA,
                &["web.shop.example.org. 5 IN AAAA 2001:db8::10"],
            ),
            Case::answer(
                "lb.shop.example.org.",
                A,
                &["lb.shop.example.org. 5 IN A 198.51.100.5"],
            ),
            Case {
                qname: "_https._tcp.web.shop.example.org.",
                qtype: SRV,
                rcode: ResponseCode::NoError,
                answer: &[
                    "_https._tcp.web.shop.example.org. 5 IN SRV 0 50 443 web.shop.example.org.",
                ],
                authority: &[],
                additional: &[
                    "web.shop.example.org. 5 IN A 192.0.2.10",
                    "web.shop.example.org. 5 IN AAAA 2001:db8::10",
                ],
            },
            Case::answer(
                "10.2.0.192.in-addr.arpa.",
                PTR,
                &["10.2.0.192.in-addr.arpa. 5 IN PTR web.shop.example.org."],
            ),
        ],
    );
}

#[test]
fn missing_names_are_nxdomain_and_wrong_types_nodata_with_the_soa() {
    let (chain, _snapshot) = chain("");
    for (name, qtype, rcode) in [
        ("missing.shop.example.org.", A, ResponseCode::NXDomain),
        ("web.nowhere.example.org.", A, ResponseCode::NXDomain),
        ("lb.shop.example.org.", AAAA, ResponseCode::NoError),
        ("shop.example.org.", A, ResponseCode::NoError),
        ("x.ns1.dns.example.org.", A, ResponseCode::NXDomain),
        ("other.shop.example.org.", A, ResponseCode::NXDomain),
    ] {
        let reply = test::ask(&chain, name, qtype);
        assert_eq!(reply.metadata.response_code, rcode, "{name} {qtype}");
        assert!(reply.answers.is_empty(), "{name} {qtype}");
        let soa = test::section(&reply.authorities);
        assert_eq!(soa.len(), 1, "{name} {qtype}");
        assert!(
            soa[0].starts_with(
                "example.org. 5 IN SOA ns1.dns.example.org. hostmaster.dns.example.org."
            ),
            "{soa:?}"
        );
    }
    let apex = test::ask(&chain, "example.org.", SOA);
    assert_eq!(apex.answers.len(), 1, "{}", SOA_TEXT);
    let ns = test::ask(&chain, "example.org.", NS);
    assert_eq!(
        test::section(&ns.answers),
        ["example.org. 5 IN NS ns1.dns.example.org."]
    );
}

#[test]
fn fallthrough_hands_nxdomain_names_on_and_options_apply() {
    let (chain, _snapshot) = chain("  fallthrough\n  ttl 60\n  apex ns");
    let passed = test::ask(&chain, "other.shop.example.org.", A);
    assert_eq!(passed.additionals.len(), 2, "whoami answered: {passed:?}");
    let web = test::ask(&chain, "web.shop.example.org.", A);
    assert_eq!(
        test::section(&web.answers),
        ["web.shop.example.org. 60 IN A 192.0.2.10"]
    );
    let soa = test::ask(&chain, "example.org.", SOA);
    assert!(test::section(&soa.answers)[0].contains("ns1.ns.example.org."));
}

#[test]
fn setup_errors_read_as_coredns_writes_them() {
    for (corefile, want) in [
        (
            ".:53 {\n k8s_external example.org\n}\n",
            "kubernetes plugin not loaded",
        ),
        (
            ".:53 {\n k8s_external {\n  ttl 4000\n }\n kubernetes\n}\n",
            "ttl must be in range [0, 3600]: 4000",
        ),
        (
            ".:53 {\n k8s_external {\n  bogus\n }\n kubernetes\n}\n",
            "unknown property 'bogus'",
        ),
    ] {
        let error = test::setup_error(corefile);
        assert!(error.contains(want), "{corefile}: {error}");
    }
}

#[test]
fn headless_services_answer_with_their_endpoints_only_with_the_option() {
    let (plain, _snapshot) = chain("");
    assert_eq!(
        test::ask(&plain, "db.shop.example.org.", A)
            .metadata
            .response_code,
        ResponseCode::NXDomain,
        "no external address"
    );
    let (headless, _snapshot) = chain("  headless");
    test::check(
        &headless,
        &[
            Case::answer(
                "db.shop.example.org.",
                A,
                &["db.shop.example.org. 5 IN A 10.200.0.9"],
            ),
            Case::answer(
                "primary.db.shop.example.org.",
                A,
                &["primary.db.shop.example.org. 5 IN A 10.200.0.9"],
            ),
            Case {
                qname: "_pg._tcp.db.shop.example.org.",
                qtype: SRV,
                rcode: ResponseCode::NoError,
                answer: &[
                    "_pg._tcp.db.shop.example.org. 5 IN SRV 0 100 5432 primary.db.shop.example.org.",
                ],
                authority: &[],
                additional: &["primary.db.shop.example.org. 5 IN A 10.200.0.9"],
            },
        ],
    );
}
