//! The conformance vectors of k8s-dns-behaviour.md §14, over real UDP and
//! TCP sockets, with the fixtures loaded through the snapshot source.
//!
//! Not here: V36 and V78–V80 need forward/autopath/file (tested in their
//! own files or by the differential), V39 (unsynced) is in `tests/local/unsynced.rs`, V48 and V99 need an injected
//! local IP (covered by the differential against CoreDNS), V67–V71 are the
//! `zonal` extension, V72–V77, V81, V82 are F5 (the real-cluster CI) whose
//! shapes the differential test covers, and V90/V94/V95 are server or
//! autopath behaviour tested elsewhere.

use crate::support;

use std::collections::BTreeSet;
use std::time::Duration;

use clusterdns::diff::{Proto, exchange, record_text};
use hickory_proto::op::{Message, ResponseCode};
use hickory_proto::rr::RecordType;
use support::dns::query;
use support::process::Clusterdns;

const NX: ResponseCode = ResponseCode::NXDomain;
const OK: ResponseCode = ResponseCode::NoError;

/// One vector: the query and the exact expected sections.
struct V {
    id: &'static str,
    name: &'static str,
    qtype: RecordType,
    rcode: ResponseCode,
    answers: &'static [&'static str],
    additional: &'static [&'static str],
    /// The SOA expected in AUTHORITY (serial zeroed), for NXDOMAIN/NODATA.
    soa: Option<&'static str>,
}

const SOA: Option<&str> = Some(
    "cluster.local. 5 IN SOA ns.dns.cluster.local. hostmaster.cluster.local. 0 7200 1800 86400 5",
);

const fn v(
    id: &'static str,
    name: &'static str,
    qtype: RecordType,
    answers: &'static [&'static str],
) -> V {
    V {
        id,
        name,
        qtype,
        rcode: OK,
        answers,
        additional: &[],
        soa: None,
    }
}

/// NXDOMAIN with the zone's SOA.
const fn nx(id: &'static str, name: &'static str, qtype: RecordType) -> V {
    V {
        id,
        name,
        qtype,
        rcode: NX,
        answers: &[],
        additional: &[],
        soa: SOA,
    }
}

/// NODATA with the zone's SOA.
const fn nd(id: &'static str, name: &'static str, qtype: RecordType) -> V {
    V {
        id,
        name,
        qtype,
        rcode: OK,
        answers: &[],
        additional: &[],
        soa: SOA,
    }
}

fn corefile(snapshot: &str, zones: &str, options: &str) -> String {
    let path = format!("{}/tests/fixtures/{snapshot}", env!("CARGO_MANIFEST_DIR"));
    support::block(
        ".",
        &format!(" kubernetes {zones} {{\n  snapshot {path}\n  {options}\n }}\n"),
    )
}

fn check(server: &Clusterdns, vectors: &[V]) {
    let mut failures = Vec::new();
    for vector in vectors {
        for transport in [Proto::Udp, Proto::Tcp] {
            let reply = exchange(
                server.addr(),
                &query(vector.name, vector.qtype),
                transport,
                Duration::from_secs(5),
            )
            .unwrap_or_else(|e| panic!("{}: {e}", vector.id));
            if let Some(problem) = mismatch(vector, &reply) {
                failures.push(format!(
                    "{} {} {} {transport:?}: {problem}",
                    vector.id, vector.name, vector.qtype
                ));
            }
        }
    }
    assert!(
        failures.is_empty(),
        "{} vector checks failed:\n{}",
        failures.len(),
        failures.join("\n")
    );
}

fn texts(records: &[hickory_proto::rr::Record]) -> BTreeSet<String> {
    records.iter().map(record_text).collect()
}

fn mismatch(vector: &V, reply: &Message) -> Option<String> {
    let want = |list: &[&str]| list.iter().map(|s| s.to_string()).collect::<BTreeSet<_>>();
    if reply.metadata.response_code != vector.rcode {
        return Some(format!("rcode {:?}", reply.metadata.response_code));
    }
    if !reply.metadata.authoritative {
        return Some("aa not set".into());
    }
    if texts(&reply.answers) != want(vector.answers) {
        return Some(format!("answers {:?}", texts(&reply.answers)));
    }
    if texts(&reply.additionals) != want(vector.additional) {
        return Some(format!("additional {:?}", texts(&reply.additionals)));
    }
    let authority = texts(&reply.authorities);
    let expected_authority = vector.soa.map(|s| want(&[s])).unwrap_or_default();
    if authority != expected_authority {
        return Some(format!("authority {authority:?}"));
    }
    None
}

use RecordType::{A, AAAA, ANY, CNAME, HINFO, NS, PTR, SOA as SOA_TYPE, SRV, TXT};

#[test]
fn f1_with_namespaces_testns() {
    let server = Clusterdns::start(&corefile(
        "f1-snapshot.yaml",
        "cluster.local",
        "namespaces testns",
    ));
    check(
        &server,
        &[
            v(
                "V01",
                "svc1.testns.svc.cluster.local.",
                A,
                &["svc1.testns.svc.cluster.local. 5 IN A 10.0.0.1"],
            ),
            v(
                "V02",
                "svcempty.testns.svc.cluster.local.",
                A,
                &["svcempty.testns.svc.cluster.local. 5 IN A 10.0.0.1"],
            ),
            V {
                additional: &["svc1.testns.svc.cluster.local. 5 IN A 10.0.0.1"],
                ..v(
                    "V03",
                    "svc1.testns.svc.cluster.local.",
                    SRV,
                    &[
                        "svc1.testns.svc.cluster.local. 5 IN SRV 0 100 80 svc1.testns.svc.cluster.local.",
                    ],
                )
            },
            V {
                additional: &["svc6.testns.svc.cluster.local. 5 IN AAAA 1234:abcd::1"],
                ..v(
                    "V04",
                    "svc6.testns.svc.cluster.local.",
                    SRV,
                    &[
                        "svc6.testns.svc.cluster.local. 5 IN SRV 0 100 80 svc6.testns.svc.cluster.local.",
                    ],
                )
            },
            V {
                additional: &["svc1.testns.svc.cluster.local. 5 IN A 10.0.0.1"],
                ..v(
                    "V05",
                    "_http._tcp.svc1.testns.svc.cluster.local.",
                    SRV,
                    &[
                        "_http._tcp.svc1.testns.svc.cluster.local. 5 IN SRV 0 100 80 svc1.testns.svc.cluster.local.",
                    ],
                )
            },
            V {
                additional: &["svcempty.testns.svc.cluster.local. 5 IN A 10.0.0.1"],
                ..v(
                    "V06",
                    "_http._tcp.svcempty.testns.svc.cluster.local.",
                    SRV,
                    &[
                        "_http._tcp.svcempty.testns.svc.cluster.local. 5 IN SRV 0 100 80 svcempty.testns.svc.cluster.local.",
                    ],
                )
            },
            v(
                "V07",
                "hdls1.testns.svc.cluster.local.",
                A,
                &[
                    "hdls1.testns.svc.cluster.local. 5 IN A 172.0.0.2",
                    "hdls1.testns.svc.cluster.local. 5 IN A 172.0.0.3",
                    "hdls1.testns.svc.cluster.local. 5 IN A 172.0.0.4",
                    "hdls1.testns.svc.cluster.local. 5 IN A 172.0.0.5",
                ],
            ),
            v(
                "V08",
                "hdls1.testns.svc.cluster.local.",
                AAAA,
                &[
                    "hdls1.testns.svc.cluster.local. 5 IN AAAA 5678:abcd::1",
                    "hdls1.testns.svc.cluster.local. 5 IN AAAA 5678:abcd::2",
                ],
            ),
            v(
                "V09",
                "hdlsprtls.testns.svc.cluster.local.",
                A,
                &["hdlsprtls.testns.svc.cluster.local. 5 IN A 172.0.0.20"],
            ),
            nd("V10", "svc1.testns.svc.cluster.local.", AAAA),
            nx("V11", "svc0.testns.svc.cluster.local.", AAAA),
            nx("V12", "svc0.testns.svc.cluster.local.", A),
            nx("V13", "svc0.svc-nons.svc.cluster.local.", A),
            v(
                "V14",
                "dns-version.cluster.local.",
                TXT,
                &["dns-version.cluster.local. 28800 IN TXT 1.1.0"],
            ),
            nd("V15", "svc1.testns.svc.cluster.local.", TXT),
            nx("V16", "svc0.svc-nons.svc.cluster.local.", TXT),
            nx("V17", "bogusendpoint.hdls1.testns.svc.cluster.local.", A),
            nx("V18", "bogusendpoint.svc0.testns.svc.cluster.local.", A),
            v(
                "V19",
                "svc6.testns.svc.cluster.local.",
                AAAA,
                &["svc6.testns.svc.cluster.local. 5 IN AAAA 1234:abcd::1"],
            ),
            V {
                additional: &["svc6.testns.svc.cluster.local. 5 IN AAAA 1234:abcd::1"],
                ..v(
                    "V20",
                    "_http._tcp.svc6.testns.svc.cluster.local.",
                    SRV,
                    &[
                        "_http._tcp.svc6.testns.svc.cluster.local. 5 IN SRV 0 100 80 svc6.testns.svc.cluster.local.",
                    ],
                )
            },
            nd("V21", "svc.cluster.local.", A),
            nd("V22", "pod.cluster.local.", A),
            nd("V23", "testns.svc.cluster.local.", A),
            nd("V24", "testns.svc.cluster.local.", NS),
            nx("V25", "foo.cluster.local.", NS),
            nx("V26", "foo.svc.cluster.local.", NS),
            v(
                "V27a",
                "svc-dual-stack.testns.svc.cluster.local.",
                A,
                &["svc-dual-stack.testns.svc.cluster.local. 5 IN A 10.0.0.3"],
            ),
            v(
                "V27b",
                "svc-dual-stack.testns.svc.cluster.local.",
                AAAA,
                &["svc-dual-stack.testns.svc.cluster.local. 5 IN AAAA 10::3"],
            ),
            V {
                additional: &[
                    "svc-dual-stack.testns.svc.cluster.local. 5 IN A 10.0.0.3",
                    "svc-dual-stack.testns.svc.cluster.local. 5 IN AAAA 10::3",
                ],
                ..v(
                    "V28",
                    "svc-dual-stack.testns.svc.cluster.local.",
                    SRV,
                    &[
                        "svc-dual-stack.testns.svc.cluster.local. 5 IN SRV 0 50 80 svc-dual-stack.testns.svc.cluster.local.",
                    ],
                )
            },
            nd("V29", "svc1.testns.svc.cluster.local.", SOA_TYPE),
            nx("V30", "endpoint.external.testns.svc.cluster.local.", CNAME),
            V {
                additional: &[
                    "172-0-0-2.hdls1.testns.svc.cluster.local. 5 IN A 172.0.0.2",
                    "172-0-0-3.hdls1.testns.svc.cluster.local. 5 IN A 172.0.0.3",
                    "dup-name.hdls1.testns.svc.cluster.local. 5 IN A 172.0.0.4",
                    "dup-name.hdls1.testns.svc.cluster.local. 5 IN A 172.0.0.5",
                    "5678-abcd--1.hdls1.testns.svc.cluster.local. 5 IN AAAA 5678:abcd::1",
                    "5678-abcd--2.hdls1.testns.svc.cluster.local. 5 IN AAAA 5678:abcd::2",
                ],
                ..v(
                    "V31",
                    "_http._tcp.hdls1.testns.svc.cluster.local.",
                    SRV,
                    &[
                        "_http._tcp.hdls1.testns.svc.cluster.local. 5 IN SRV 0 16 80 172-0-0-2.hdls1.testns.svc.cluster.local.",
                        "_http._tcp.hdls1.testns.svc.cluster.local. 5 IN SRV 0 16 80 172-0-0-3.hdls1.testns.svc.cluster.local.",
                        "_http._tcp.hdls1.testns.svc.cluster.local. 5 IN SRV 0 16 80 dup-name.hdls1.testns.svc.cluster.local.",
                        "_http._tcp.hdls1.testns.svc.cluster.local. 5 IN SRV 0 16 80 5678-abcd--1.hdls1.testns.svc.cluster.local.",
                        "_http._tcp.hdls1.testns.svc.cluster.local. 5 IN SRV 0 16 80 5678-abcd--2.hdls1.testns.svc.cluster.local.",
                    ],
                )
            },
            v(
                "V32",
                "5678-abcd--1.hdls1.testns.svc.cluster.local.",
                AAAA,
                &["5678-abcd--1.hdls1.testns.svc.cluster.local. 5 IN AAAA 5678:abcd::1"],
            ),
            v(
                "V33",
                "172-0-0-20.hdlsprtls.testns.svc.cluster.local.",
                A,
                &["172-0-0-20.hdlsprtls.testns.svc.cluster.local. 5 IN A 172.0.0.20"],
            ),
            v(
                "V34",
                "dup-name.hdls1.testns.svc.cluster.local.",
                A,
                &[
                    "dup-name.hdls1.testns.svc.cluster.local. 5 IN A 172.0.0.4",
                    "dup-name.hdls1.testns.svc.cluster.local. 5 IN A 172.0.0.5",
                ],
            ),
            v(
                "V35",
                "external.testns.svc.cluster.local.",
                CNAME,
                &["external.testns.svc.cluster.local. 5 IN CNAME ext.interwebs.test."],
            ),
            v(
                "V37",
                "external-to-service.testns.svc.cluster.local.",
                A,
                &[
                    "external-to-service.testns.svc.cluster.local. 5 IN CNAME svc1.testns.svc.cluster.local.",
                    "svc1.testns.svc.cluster.local. 5 IN A 10.0.0.1",
                ],
            ),
            v(
                "V41",
                "SvC1.TeStNs.SvC.cLuStEr.LoCaL.",
                A,
                &["SvC1.TeStNs.SvC.cLuStEr.LoCaL. 5 IN A 10.0.0.1"],
            ),
            V {
                additional: &["svc1.testns.svc.cLuStEr.LoCaL. 5 IN A 10.0.0.1"],
                ..v(
                    "V42",
                    "_HtTp._TcP.sVc1.TeStNs.SvC.cLuStEr.LoCaL.",
                    SRV,
                    &[
                        "_HtTp._TcP.sVc1.TeStNs.SvC.cLuStEr.LoCaL. 5 IN SRV 0 100 80 svc1.testns.svc.cLuStEr.LoCaL.",
                    ],
                )
            },
            v(
                "V43",
                "Cluster.local.",
                SOA_TYPE,
                &[
                    "Cluster.local. 5 IN SOA ns.dns.Cluster.local. hostmaster.Cluster.local. 0 7200 1800 86400 5",
                ],
            ),
            v(
                "V46",
                "cluster.local.",
                SOA_TYPE,
                &[
                    "cluster.local. 5 IN SOA ns.dns.cluster.local. hostmaster.cluster.local. 0 7200 1800 86400 5",
                ],
            ),
            nd("V47", "cluster.local.", HINFO),
            nd("V49a", "cluster.local.", A),
            nd("V49b", "cluster.local.", AAAA),
            nd("V49c", "cluster.local.", SRV),
            v(
                "V83",
                "ep1a.svc1.testns.svc.cluster.local.",
                A,
                &["ep1a.svc1.testns.svc.cluster.local. 5 IN A 172.0.0.1"],
            ),
            nx("V84", "_foo._tcp.svc1.testns.svc.cluster.local.", SRV),
            nd("V85", "svc1.testns.svc.cluster.local.", ANY),
            nx("V86", "cluster.local.", TXT),
            nx("V87", "dns-version.cluster.local.", A),
            nd("V88", "svc0.testns.svc.cluster.local.", SOA_TYPE),
            V {
                soa: Some(
                    "CLUSTER.LOCAL. 5 IN SOA ns.dns.CLUSTER.LOCAL. hostmaster.CLUSTER.LOCAL. 0 7200 1800 86400 5",
                ),
                ..nd("V89", "CLUSTER.LOCAL.", NS)
            },
            nd("V91", "external.testns.svc.cluster.local.", SRV),
            nx("V93", "a.b.c.svc1.testns.svc.cluster.local.", A),
            V {
                additional: &["svc1.testns.svc.cluster.local. 5 IN A 10.0.0.1"],
                ..v(
                    "V96",
                    "http.tcp.svc1.testns.svc.cluster.local.",
                    SRV,
                    &[
                        "http.tcp.svc1.testns.svc.cluster.local. 5 IN SRV 0 100 80 svc1.testns.svc.cluster.local.",
                    ],
                )
            },
            nx("V97", "_tcp.svc1.testns.svc.cluster.local.", A),
            nx("V98", "testns.svc.cluster.local.", TXT),
        ],
    );
}

#[test]
fn f1_without_namespaces_option() {
    let server = Clusterdns::start(&corefile("f1-snapshot.yaml", "cluster.local", ""));
    check(
        &server,
        &[nx("V38", "svc1.nsnoexist.svc.cluster.local.", A)],
    );
}

#[test]
fn f1_case_kept_in_negative_answers_with_ignore_empty_service() {
    let server = Clusterdns::start(&corefile(
        "f1-snapshot.yaml",
        "cluster.local",
        "ignore empty_service",
    ));
    let mixed = Some(
        "ClUsTeR.lOcAl. 5 IN SOA ns.dns.ClUsTeR.lOcAl. hostmaster.ClUsTeR.lOcAl. 0 7200 1800 86400 5",
    );
    check(
        &server,
        &[
            V {
                soa: mixed,
                ..nx("V40", "not-a-service.testns.svc.ClUsTeR.lOcAl.", A)
            },
            nx("V44", "svcempty.testns.svc.cluster.local.", A),
            v(
                "V45",
                "external.testns.svc.cluster.local.",
                CNAME,
                &["external.testns.svc.cluster.local. 5 IN CNAME ext.interwebs.test."],
            ),
        ],
    );
}

#[test]
fn f1_pods_disabled() {
    let server = Clusterdns::start(&corefile(
        "f1-snapshot.yaml",
        "cluster.local",
        "pods disabled",
    ));
    check(
        &server,
        &[
            nx("V50", "10-240-0-1.podns.pod.cluster.local.", A),
            nx("V50b", "podns.pod.cluster.local.", A),
        ],
    );
}

#[test]
fn f1_pods_insecure() {
    let server = Clusterdns::start(&corefile(
        "f1-snapshot.yaml",
        "cluster.local",
        "pods insecure",
    ));
    check(
        &server,
        &[
            v(
                "V51",
                "172-0-0-2.podns.pod.cluster.local.",
                A,
                &["172-0-0-2.podns.pod.cluster.local. 5 IN A 172.0.0.2"],
            ),
            nx("V52a", "blah.podns.pod.cluster.local.", A),
            nx("V52b", "blah.podns.pod.cluster.local.", AAAA),
            nx("V52c", "blah.podns.pod.cluster.local.", HINFO),
            nx("V53", "blah.pod-nons.pod.cluster.local.", A),
            nd("V54", "podns.pod.cluster.local.", A),
            v(
                "V92",
                "x.10-240-0-1.podns.pod.cluster.local.",
                A,
                &["x.10-240-0-1.podns.pod.cluster.local. 5 IN A 10.240.0.1"],
            ),
        ],
    );
}

#[test]
fn f1_pods_verified() {
    let server = Clusterdns::start(&corefile(
        "f1-snapshot.yaml",
        "cluster.local",
        "pods verified",
    ));
    check(
        &server,
        &[
            v(
                "V55",
                "10-240-0-1.podns.pod.cluster.local.",
                A,
                &["10-240-0-1.podns.pod.cluster.local. 5 IN A 10.240.0.1"],
            ),
            nx("V56", "172-0-0-2.podns.pod.cluster.local.", A),
            nx("V57a", "pod-nons.pod.cluster.local.", A),
            nd("V57b", "svcns.svc.cluster.local.", A),
        ],
    );
}

#[test]
fn f1_ttl_option_shapes_the_soa() {
    let server = Clusterdns::start(&corefile("f1-snapshot.yaml", "cluster.local", "ttl 3600"));
    let long = Some(
        "cluster.local. 300 IN SOA ns.dns.cluster.local. hostmaster.cluster.local. 0 7200 1800 86400 3600",
    );
    check(
        &server,
        &[V {
            soa: long,
            ..nx("V100a", "svc0.testns.svc.cluster.local.", A)
        }],
    );
    let server = Clusterdns::start(&corefile("f1-snapshot.yaml", "cluster.local", "ttl 30"));
    let short = Some(
        "cluster.local. 30 IN SOA ns.dns.cluster.local. hostmaster.cluster.local. 0 7200 1800 86400 30",
    );
    check(
        &server,
        &[V {
            soa: short,
            ..nx("V100b", "svc0.testns.svc.cluster.local.", A)
        }],
    );
}

#[test]
fn f2_reverse_lookups() {
    let zones =
        "cluster.local 0.10.in-addr.arpa 168.192.in-addr.arpa 1234:abcd::/64 fd00:77:30::/64";
    let server = Clusterdns::start(&corefile("f2-snapshot.yaml", zones, ""));
    let v6a = "1.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.d.c.b.a.4.3.2.1.ip6.arpa.";
    let v6b = "6.a.b.9.2.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.3.0.0.7.7.0.0.0.0.d.f.ip6.arpa.";
    let reverse_soa = Some(
        "0.10.in-addr.arpa. 5 IN SOA ns.dns.0.10.in-addr.arpa. hostmaster.0.10.in-addr.arpa. 0 7200 1800 86400 5",
    );
    check(
        &server,
        &[
            v(
                "V58",
                "100.0.0.10.in-addr.arpa.",
                PTR,
                &["100.0.0.10.in-addr.arpa. 5 IN PTR ep1a.svc1.testns.svc.cluster.local."],
            ),
            v(
                "V59",
                "100.1.168.192.in-addr.arpa.",
                PTR,
                &["100.1.168.192.in-addr.arpa. 5 IN PTR svc1.testns.svc.cluster.local."],
            ),
            v(
                "V60",
                v6a,
                PTR,
                &[
                    "1.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.d.c.b.a.4.3.2.1.ip6.arpa. 5 IN PTR ep1b.svc1.testns.svc.cluster.local.",
                ],
            ),
            v(
                "V61",
                v6b,
                PTR,
                &[
                    "6.a.b.9.2.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.3.0.0.7.7.0.0.0.0.d.f.ip6.arpa. 5 IN PTR ip6svc1in.svc1.testns.svc.cluster.local.",
                ],
            ),
            V {
                soa: reverse_soa,
                ..nx("V62", "101.0.0.10.in-addr.arpa.", PTR)
            },
            v(
                "V63",
                "99.0.0.10.in-addr.arpa.",
                PTR,
                &[
                    "99.0.0.10.in-addr.arpa. 5 IN PTR double-ep.svc1.testns.svc.cluster.local.",
                    "99.0.0.10.in-addr.arpa. 5 IN PTR double-ep.svc2.testns.svc.cluster.local.",
                ],
            ),
            nd("V64", "svc1.testns.svc.cluster.local.", PTR),
            V {
                soa: reverse_soa,
                ..nx("V65", "svc1.testns.svc.0.10.in-addr.arpa.", A)
            },
            nx("V66", "example.org.cluster.local.", PTR),
        ],
    );
}
