//! The plugins distributions add to their default Corefiles, against
//! CoreDNS 1.14.7 on the same Corefile: the same rcode, flags, sections and
//! TTLs over UDP and TCP, with and without EDNS. Names a plugin passes on
//! go to the same loopback stub upstream.

use crate::support;

use std::time::Duration;

use clusterdns::diff::{Proto, exchange};
use hickory_proto::rr::{DNSClass, RecordType};
use support::differential::differences;
use support::dns::{query, query_class, with_edns};
use support::peers::{Coredns, cluster, eventually};
use support::process::Clusterdns;
use support::upstream::{Mode, Stub};

/// CoreDNS and clusterdns serving the same Corefile (`PORT` and `READY`
/// filled in for each).
fn both(corefile: &str) -> (Coredns, Clusterdns) {
    let coredns = Coredns::start(corefile, &cluster().kubeconfig);
    let ours = Clusterdns::start(&corefile.replace("READY", &support::free_port().to_string()));
    (coredns, ours)
}

/// No exchange differed.
fn assert_same(compared: usize, failures: &[String]) {
    assert!(
        failures.is_empty(),
        "{} of {compared}:\n{}",
        failures.len(),
        failures.join("\n")
    );
}

/// clusterdns's reply over UDP, for a positive control.
fn ask_ours(ours: &Clusterdns, name: &str, qtype: RecordType) -> hickory_proto::op::Message {
    exchange(
        ours.addr(),
        &query(name, qtype),
        Proto::Udp,
        Duration::from_secs(5),
    )
    .unwrap()
}

/// Every name × type over UDP and TCP, with and without EDNS, asked of
/// both servers: how many exchanges were compared, and each difference.
fn compare_each(
    coredns: &Coredns,
    ours: &Clusterdns,
    names: &[&str],
    types: &[RecordType],
) -> (usize, Vec<String>) {
    support::differential::compare_each(coredns.addr(), ours.addr(), names, types, false, false)
}

const HOSTS_FILE: &str = "\
# k3s-style node hosts, plus the shapes hosts(5) allows
10.0.0.1 a.example.org alias.example.org
10.0.0.1 A-Second.Example.ORG
fd00::1 a.example.org v6only.example.org
10.0.0.9 *.wild.example.org
junk line without an address
::ffff:10.0.0.7 mapped.example.org
10.0.0.8%eth0 zoned.example.org
10.0.0.99 outside.example.net
";

#[test]
fn hosts_answers_match_coredns_inline_file_ptr_fallthrough_and_reload() {
    let stub = Stub::start(Mode::Answer);
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("hosts");
    std::fs::write(&file, HOSTS_FILE).unwrap();
    let corefile = support::block(
        ".",
        &format!(
            " ready 127.0.0.1:READY\n hosts {} example.org {{\n  10.0.0.2 inline.example.org\n  fd00::2 inline.example.org\n  ttl 60\n  reload 300ms\n  fallthrough fall.example.org\n }}\n forward . {}\n",
            file.display(),
            stub.addr
        ),
    );
    let (coredns, ours) = both(&corefile);
    let names = [
        "a.example.org.",
        "A.EXAMPLE.org.",
        "alias.example.org.",
        "a-second.example.org.",
        "v6only.example.org.",
        "inline.example.org.",
        "x.wild.example.org.",
        "wild.example.org.",
        "deep.x.wild.example.org.",
        "mapped.example.org.",
        "zoned.example.org.",
        "unknown.example.org.",
        "n.fall.example.org.",
        "outside.example.net.",
    ];
    let types = [RecordType::A, RecordType::AAAA, RecordType::MX];
    // Positive control: hosts itself answers (the comparison is not of
    // two servers that both fail).
    let direct = support::dns::udp(ours.addr(), &query("alias.example.org.", RecordType::A));
    assert_eq!(
        support::dns::addresses(&direct),
        vec!["10.0.0.1".parse::<std::net::IpAddr>().unwrap()]
    );
    assert!(direct.metadata.authoritative);
    let (mut compared, mut failures) = compare_each(&coredns, &ours, &names, &types);
    let reverse = [
        "1.0.0.10.in-addr.arpa.",
        "2.0.0.10.in-addr.arpa.",
        "9.0.0.10.in-addr.arpa.",
        "1.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.d.f.ip6.arpa.",
        "77.0.0.10.in-addr.arpa.",
    ];
    let (more, diffs) = compare_each(&coredns, &ours, &reverse, &[RecordType::PTR]);
    compared += more;
    failures.extend(diffs);

    // A node joins: both servers pick the changed file up.
    std::fs::write(&file, format!("{HOSTS_FILE}10.0.0.3 node-3.example.org\n")).unwrap();
    for server in [coredns.addr(), ours.addr()] {
        eventually(Duration::from_secs(10), "the new entry", || {
            let reply = exchange(
                server,
                &query("node-3.example.org.", RecordType::A),
                Proto::Udp,
                Duration::from_secs(2),
            )
            .ok()?;
            (!reply.answers.is_empty()).then_some(())
        });
    }
    let after = [
        "node-3.example.org.",
        "a.example.org.",
        "unknown.example.org.",
    ];
    let (more, diffs) = compare_each(&coredns, &ours, &after, &[RecordType::A, RecordType::TXT]);
    compared += more;
    failures.extend(diffs);

    assert_same(compared, &failures);
    assert_eq!(compared, 14 * 3 * 4 + 5 * 4 + 3 * 2 * 4);
    assert!(
        stub.queries() > 0,
        "the fallthrough and outside names reached the upstream"
    );
}

/// OpenShift's shape: `bufsize 512` in the main block (in front of a large
/// hosts answer, so the lowered size truncates), `chaos` with explicit
/// texts, and a `hostname.bind` block of its own.
#[test]
fn bufsize_and_chaos_match_coredns() {
    let stub = Stub::start(Mode::Answer);
    let many: String = (1..=60)
        .map(|n| format!("  10.1.0.{n} big.example.org\n"))
        .chain((1..=20).map(|n| format!("  10.2.0.{n} mid.example.org\n")))
        .chain((1..=20).map(|n| format!("  fd00::{n} mid.example.org\n")))
        .collect();
    let corefile = format!(
        ".:PORT {{\n bind 127.0.0.1\n ready 127.0.0.1:READY\n bufsize 512\n chaos Build-7 alice\n hosts {{\n{many}  10.1.1.1 small.example.org\n  fallthrough\n }}\n forward . {}\n}}\nhostname.bind:PORT {{\n bind 127.0.0.1\n chaos\n}}\n",
        stub.addr
    );
    let (coredns, ours) = both(&corefile);
    let (mut compared, mut failures) = compare_each(
        &coredns,
        &ours,
        &["big.example.org.", "small.example.org.", "www.example.net."],
        &[RecordType::A, RecordType::TXT],
    );
    // Positive control: the lowered size truncates the large answer.
    let big = with_edns(query("big.example.org.", RecordType::A), 4096, false);
    let mine = exchange(ours.addr(), &big, Proto::Udp, Duration::from_secs(5)).unwrap();
    assert!(
        mine.metadata.truncation,
        "60 addresses do not fit 512 bytes"
    );
    // bufsize against each client size: the advertised size is lowered,
    // and what no longer fits is truncated the same way.
    let sized_names = [
        "big.example.org.",
        "mid.example.org.",
        "small.example.org.",
        "www.example.net.",
        "nxname.example.net.",
        "BIG.Example.ORG.",
    ];
    for name in sized_names {
        for qtype in [RecordType::A, RecordType::AAAA, RecordType::TXT] {
            for size in [4096, 1232, 700, 512] {
                for transport in [Proto::Udp, Proto::Tcp] {
                    let msg = with_edns(query(name, qtype), size, false);
                    compared += 1;
                    let found = differences(coredns.addr(), ours.addr(), &msg, transport, false);
                    if !found.is_empty() {
                        failures.push(format!("{name} {qtype} {size} {transport:?}: {found:?}"));
                    }
                }
            }
        }
    }
    // chaos: each name it knows and some it does not, in CH and in IN
    // (which goes on to hosts and forward), with and without EDNS.
    let chaos_names = [
        "version.bind.",
        "VERSION.Bind.",
        "version.server.",
        "authors.bind.",
        "hostname.bind.",
        "id.server.",
        "other.bind.",
        "hostname.server.",
        "version.example.org.",
    ];
    for name in chaos_names {
        for class in [DNSClass::CH, DNSClass::IN] {
            for qtype in [RecordType::TXT, RecordType::A, RecordType::ANY] {
                for edns in [false, true] {
                    for transport in [Proto::Udp, Proto::Tcp] {
                        let plain = query_class(name, qtype, class);
                        let msg = if edns {
                            with_edns(plain, 1232, false)
                        } else {
                            plain
                        };
                        compared += 1;
                        let found =
                            differences(coredns.addr(), ours.addr(), &msg, transport, false);
                        if !found.is_empty() {
                            failures.push(format!(
                                "{class:?} {name} {qtype} edns={edns} {transport:?}: {found:?}"
                            ));
                        }
                    }
                }
            }
        }
    }
    let version = query_class("version.bind.", RecordType::TXT, DNSClass::CH);
    let answer = exchange(ours.addr(), &version, Proto::Udp, Duration::from_secs(5)).unwrap();
    assert_eq!(answer.answers.len(), 1, "chaos answered version.bind");
    assert_same(compared, &failures);
    assert_eq!(
        compared,
        3 * 2 * 4 + sized_names.len() * 3 * 4 * 2 + chaos_names.len() * 2 * 3 * 2 * 2
    );
}

/// The rewrite shapes distributions ship (AKS's `coredns-custom` regex
/// block, a substring rule mapping an old domain) and each rule kind,
/// in front of `hosts` and `forward`: names the rules map are answered
/// under the name asked, the others pass untouched.
#[test]
fn rewrite_matches_coredns() {
    let stub = Stub::start(Mode::Answer);
    let corefile = support::block(
        ".",
        &format!(
            " ready 127.0.0.1:READY\n rewrite name exact exact.test b.example.org\n rewrite stop {{\n  name regex (.*)\\.custom\\.test {{1}}.example.org\n  answer name (.*)\\.example\\.org {{1}}.custom.test\n }}\n rewrite name substring old.domain example.org answer auto\n rewrite name suffix .sfx.test .example.net answer auto\n rewrite name prefix pre- b.\n rewrite continue name exact chain.test hop.test\n rewrite name exact hop.test b.example.org\n rewrite type ANY HINFO\n rewrite ttl regex ttl\\..* 7\n rewrite rcode regex nx.*\\.example\\.net NXDOMAIN REFUSED\n rewrite rcode suffix nx.example.com 3 0\n rewrite name regex (.*)\\.long\\.test {{1}}{{1}}{{1}}{{1}}{{1}}{{1}}{{1}}.example.org\n hosts {{\n  10.0.0.1 b.example.org\n  10.0.0.2 x.example.org\n  ttl 60\n  fallthrough\n }}\n forward . {}\n",
            stub.addr
        ),
    );
    let (coredns, ours) = both(&corefile);
    let names = [
        "exact.test.",
        "EXACT.Test.",
        "b.custom.test.",
        "x.custom.test.",
        "b.old.domain.",
        "www.old.domain.",
        "www.sfx.test.",
        "pre-example.org.",
        "chain.test.",
        "ttl.example.net.",
        "aaaaaaaaaa.long.test.",
        "untouched.example.net.",
        "nxname.example.net.",
        "nxname.example.com.",
    ];
    let (compared, failures) = compare_each(
        &coredns,
        &ours,
        &names,
        &[RecordType::A, RecordType::AAAA, RecordType::ANY],
    );
    assert_same(compared, &failures);
    assert_eq!(compared, names.len() * 3 * 4);
    // Positive control: the rewritten name really reached hosts.
    let reply = ask_ours(&ours, "b.custom.test.", RecordType::A);
    assert_eq!(reply.answers.len(), 1, "{reply:?}");
    assert_eq!(reply.answers[0].name.to_ascii(), "b.custom.test.");
    let refused = ask_ours(&ours, "nxname.example.net.", RecordType::A);
    assert_eq!(
        refused.metadata.response_code,
        hickory_proto::op::ResponseCode::Refused,
        "the rcode rule turned the stub's NXDOMAIN into REFUSED"
    );
}

/// `any` (RFC 8482's HINFO for every ANY) and `minimal` (successful replies
/// trimmed to their answers) in front of `hosts` and `forward`.
#[test]
fn any_and_minimal_match_coredns() {
    let stub = Stub::start(Mode::Answer);
    let corefile = support::block(
        ".",
        &format!(
            " ready 127.0.0.1:READY\n any\n minimal\n hosts {{\n  10.0.0.1 a.example.org\n  fallthrough\n }}\n forward . {}\n",
            stub.addr
        ),
    );
    let (coredns, ours) = both(&corefile);
    let names = ["a.example.org.", "www.example.net.", "nxname.example.net."];
    let types = [
        RecordType::A,
        RecordType::AAAA,
        RecordType::ANY,
        RecordType::MX,
    ];
    let (compared, failures) = compare_each(&coredns, &ours, &names, &types);
    assert_same(compared, &failures);
    assert_eq!(compared, names.len() * types.len() * 4);
    // Positive control: ANY never reached the upstream.
    let before = stub.queries();
    let reply = ask_ours(&ours, "www.example.net.", RecordType::ANY);
    assert_eq!(reply.answers[0].record_type(), RecordType::HINFO);
    assert_eq!(stub.queries(), before, "ANY is answered by `any`");
}

/// `nsid` with a fixed identifier, in front of `hosts` and `forward`: the
/// NSID option of each reply, asked for or not.
#[test]
fn nsid_matches_coredns() {
    let stub = Stub::start(Mode::Answer);
    let corefile = support::block(
        ".",
        &format!(
            " ready 127.0.0.1:READY\n nsid replica one\n hosts {{\n  10.0.0.1 a.example.org\n  fallthrough\n }}\n forward . {}\n",
            stub.addr
        ),
    );
    let (coredns, ours) = both(&corefile);
    let mut compared = 0;
    let mut failures = Vec::new();
    for name in ["a.example.org.", "www.example.net.", "nxname.example.net."] {
        for transport in [Proto::Udp, Proto::Tcp] {
            for ask in [false, true] {
                let mut msg = with_edns(query(name, RecordType::A), 1232, false);
                if ask {
                    let edns = msg.edns.as_mut().unwrap();
                    edns.options_mut().options.push((
                        hickory_proto::rr::rdata::opt::EdnsCode::NSID,
                        hickory_proto::rr::rdata::opt::EdnsOption::NSID(
                            hickory_proto::rr::rdata::opt::NSIDPayload::new(Vec::new()).unwrap(),
                        ),
                    ));
                }
                compared += 1;
                let mut found = differences(coredns.addr(), ours.addr(), &msg, transport, false);
                // Kept on purpose (README, Compatibility).
                found.retain(|d| !support::differential::is_the_do_bit_fix(d));
                if !found.is_empty() {
                    failures.push(format!("{name} {transport:?} nsid={ask}: {found:?}"));
                }
                if ask {
                    let reply =
                        exchange(ours.addr(), &msg, transport, Duration::from_secs(5)).unwrap();
                    let options = &reply.edns.as_ref().expect("an OPT").options().options;
                    assert!(
                        options.iter().any(|(_, o)| matches!(
                            o,
                            hickory_proto::rr::rdata::opt::EdnsOption::NSID(p) if p.as_ref() == b"replica one"
                        )),
                        "{name}: {options:?}"
                    );
                }
            }
        }
    }
    assert_same(compared, &failures);
}

/// `header` setting `ra` and clearing `aa` on replies and clearing `rd` on
/// queries, in front of `hosts` and `forward`.
#[test]
fn header_matches_coredns() {
    let stub = Stub::start(Mode::Answer);
    let corefile = support::block(
        ".",
        &format!(
            " ready 127.0.0.1:READY\n header {{\n  response set ra aa\n  response clear aa\n  query clear rd\n }}\n hosts {{\n  10.0.0.1 a.example.org\n  fallthrough\n }}\n forward . {}\n",
            stub.addr
        ),
    );
    let (coredns, ours) = both(&corefile);
    let names = ["a.example.org.", "www.example.net.", "nxname.example.net."];
    let types = [RecordType::A, RecordType::AAAA];
    let (compared, failures) = compare_each(&coredns, &ours, &names, &types);
    assert_same(compared, &failures);
    assert_eq!(compared, names.len() * types.len() * 4);
    let reply = ask_ours(&ours, "a.example.org.", RecordType::A);
    assert!(reply.metadata.recursion_available && !reply.metadata.authoritative);
}

/// `local` in front of `forward`: localhost, its reverse zones, names
/// under and starting with `localhost.`, and a name it passes on.
#[test]
fn local_matches_coredns() {
    let stub = Stub::start(Mode::Answer);
    let corefile = support::block(
        ".",
        &format!(" ready 127.0.0.1:READY\n local\n forward . {}\n", stub.addr),
    );
    let (coredns, ours) = both(&corefile);
    let names = [
        "localhost.",
        "LocalHost.",
        "app.localhost.",
        "localhost.example.org.",
        "0.in-addr.arpa.",
        "127.in-addr.arpa.",
        "1.0.0.127.in-addr.arpa.",
        "2.0.0.127.in-addr.arpa.",
        "255.in-addr.arpa.",
        "www.example.net.",
    ];
    let types = [
        RecordType::A,
        RecordType::AAAA,
        RecordType::PTR,
        RecordType::SOA,
        RecordType::NS,
        RecordType::MX,
    ];
    let (compared, failures) = compare_each(&coredns, &ours, &names, &types);
    assert_same(compared, &failures);
    assert_eq!(compared, names.len() * types.len() * 4);
    let before = stub.queries();
    let reply = ask_ours(&ours, "app.localhost.", RecordType::A);
    assert_eq!(reply.answers.len(), 1);
    assert_eq!(stub.queries(), before, "localhost names never go upstream");
}

/// `acl` with each action, for this client (127.0.0.1), in front of `hosts`
/// and `forward`: REFUSED and an empty NOERROR carry their Extended DNS
/// Error; a dropped query gets no reply from either server.
#[test]
fn acl_matches_coredns() {
    let stub = Stub::start(Mode::Answer);
    let corefile = support::block(
        ".",
        &format!(
            " ready 127.0.0.1:READY\n acl {{\n  block type AAAA net 127.0.0.0/8\n  filter type MX\n  drop type TXT\n  allow net 127.0.0.1\n  block\n }}\n acl blocked.example.org {{\n  block\n }}\n hosts {{\n  10.0.0.1 a.example.org\n  fallthrough\n }}\n forward . {}\n",
            stub.addr
        ),
    );
    let (coredns, ours) = both(&corefile);
    let names = [
        "a.example.org.",
        "www.example.net.",
        "x.blocked.example.org.",
    ];
    let types = [RecordType::A, RecordType::AAAA, RecordType::MX];
    let (compared, failures) = compare_each(&coredns, &ours, &names, &types);
    assert_same(compared, &failures);
    assert_eq!(compared, names.len() * types.len() * 4);
    assert_eq!(
        ask_ours(&ours, "a.example.org.", RecordType::AAAA)
            .metadata
            .response_code,
        hickory_proto::op::ResponseCode::Refused
    );
    for server in [coredns.addr(), ours.addr()] {
        let dropped = exchange(
            server,
            &query("a.example.org.", RecordType::TXT),
            Proto::Udp,
            Duration::from_millis(700),
        );
        assert!(dropped.is_err(), "{server}: a dropped query has no reply");
    }
}

/// template's README examples and the shapes users write (an AAAA filter
/// in front of kubernetes, NXDOMAIN for a reserved domain with an EDE,
/// `parseInt`, CNAMEs followed through the server to kubernetes and to
/// forward, failing templates), in front of hosts, kubernetes on the real
/// apiserver, and forward.
#[test]
fn template_matches_coredns() {
    let stub = Stub::start(Mode::Answer);
    let corefile = format!(
        r#".:PORT {{
 bind 127.0.0.1
 ready 127.0.0.1:READY
 template IN A example {{
  match (^|[.])ip-(?P<a>[0-9]*)-(?P<b>[0-9]*)-(?P<c>[0-9]*)-(?P<d>[0-9]*)[.]example[.]$
  answer "{{{{ .Name }}}} 60 IN A {{{{ .Group.a }}}}.{{{{ .Group.b }}}}.{{{{ .Group.c }}}}.{{{{ .Group.d }}}}"
  fallthrough
 }}
 template IN PTR 10.in-addr.arpa {{
  match ^(?P<d>[0-9]*)[.](?P<c>[0-9]*)[.](?P<b>[0-9]*)[.]10[.]in-addr[.]arpa[.]$
  answer "{{{{ .Name }}}} 60 IN PTR ip-10-{{{{ .Group.b }}}}-{{{{ .Group.c }}}}-{{{{ .Group.d }}}}.example."
 }}
 template ANY ANY invalid {{
  rcode NXDOMAIN
  authority "invalid. 60 {{{{ .Class }}}} SOA ns.invalid. hostmaster.invalid. (1 60 60 60 60)"
  ederror 21 "Blocked according to RFC2606"
 }}
 template IN ANY example.com.dc1.example.com {{
  rcode NXDOMAIN
  authority "{{{{ .Zone }}}} 60 IN SOA ns.example.com hostmaster.example.com (1 60 60 60 60)"
 }}
 template IN A hex.test {{
  match "^ip0a(?P<b>[a-f0-9]{{2}})(?P<c>[a-f0-9]{{2}})(?P<d>[a-f0-9]{{2}})[.]hex[.]test[.]$"
  answer "{{{{ .Name }}}} 60 IN A 10.{{{{ parseInt .Group.b 16 8 }}}}.{{{{ parseInt .Group.c 16 8 }}}}.{{{{ parseInt .Group.d 16 8 }}}}"
 }}
 template IN A alias.test {{
  answer "{{{{ .Name }}}} 30 IN CNAME kubernetes.default.svc.cluster.local."
 }}
 template IN ANY ext.test {{
  answer "{{{{ .Name }}}} 30 IN CNAME www.upstream.net."
 }}
 template IN AAAA cluster.local {{
  rcode NOERROR
 }}
 template IN TXT info.test {{
  answer "{{{{ .Name }}}} 30 IN TXT {{{{ .Type }}}}/{{{{ .Class }}}}/{{{{ len .Match }}}}"
  additional "extra.info.test. 30 IN A 192.0.2.1"
 }}
 template IN A fail.test {{
  answer "{{{{ index .Match 5 }}}} 60 IN A 10.0.0.1"
 }}
 template IN A badrr.test {{
  answer "{{{{ .Name }}}} 60 IN A 10.0.0.300"
 }}
 template IN MX mx.test {{
  answer "{{{{ .Name }}}} 60 IN MX 10 mail.{{{{ .Zone }}}}"
  rcode REFUSED
 }}
 template CH TXT version.test {{
  answer "{{{{ .Name }}}} 0 CH TXT {{{{ .Class }}}}"
 }}
 hosts {{
  10.9.9.9 other.example
  fallthrough
 }}
 kubernetes cluster.local in-addr.arpa ip6.arpa {{
  kubeconfig {}
  fallthrough in-addr.arpa ip6.arpa
 }}
 forward . {}
}}
"#,
        cluster().kubeconfig.display(),
        stub.addr
    );
    let (coredns, ours) = both(&corefile);
    let names = [
        "ip-10-0-0-1.example.",
        "www.ip-10-1-2-3.example.",
        "other.example.",
        "nomatch.example.",
        "1.0.0.10.in-addr.arpa.",
        "a.invalid.",
        "www.example.com.dc1.example.com.",
        "ip0a0b0c0d.hex.test.",
        "x.alias.test.",
        "x.ext.test.",
        "kubernetes.default.svc.cluster.local.",
        "x.info.test.",
        "x.fail.test.",
        "x.badrr.test.",
        "x.mx.test.",
        "nothing.example.net.",
    ];
    let types = [
        RecordType::A,
        RecordType::AAAA,
        RecordType::TXT,
        RecordType::MX,
        RecordType::PTR,
    ];
    let (compared, failures) = compare_each(&coredns, &ours, &names, &types);
    assert_same(compared, &failures);
    assert_eq!(compared, names.len() * types.len() * 4);
    let chaos = support::dns::query_class("version.test.", RecordType::TXT, DNSClass::CH);
    let mut chaos_compared = 0;
    for transport in [Proto::Udp, Proto::Tcp] {
        let found = support::differential::differences(
            coredns.addr(),
            ours.addr(),
            &chaos,
            transport,
            false,
        );
        assert!(found.is_empty(), "CH TXT over {transport:?}: {found:?}");
        chaos_compared += 1;
    }
    assert_eq!(chaos_compared, 2);

    // Positive controls: each kind of answer really came from a template.
    let synthesised = ask_ours(&ours, "ip-10-0-0-1.example.", RecordType::A);
    assert_eq!(synthesised.answers.len(), 1, "{synthesised:?}");
    assert_eq!(synthesised.answers[0].data.to_string(), "10.0.0.1");
    let followed = ask_ours(&ours, "x.alias.test.", RecordType::A);
    assert_eq!(
        followed.answers.len(),
        2,
        "the CNAME and kubernetes's A: {followed:?}"
    );
    assert_eq!(followed.answers[1].data.to_string(), "10.32.0.1");
    let filtered = ask_ours(
        &ours,
        "kubernetes.default.svc.cluster.local.",
        RecordType::AAAA,
    );
    assert!(filtered.answers.is_empty() && filtered.metadata.authoritative);
    let failed = ask_ours(&ours, "x.fail.test.", RecordType::A);
    assert_eq!(
        failed.metadata.response_code,
        hickory_proto::op::ResponseCode::ServFail
    );
}

/// k8s_external on the real apiserver: Services with `externalIPs`, a
/// LoadBalancer whose status has an ingress IP and a hostname, an IPv6
/// address, an unnamed UDP port, a headless Service, and the zone's apex
/// and name-server names, next to kubernetes and forward.
#[test]
fn k8s_external_matches_coredns() {
    let cluster = cluster();
    let ns = cluster.namespace("ext");
    cluster.apply(&format!(
        r#"apiVersion: v1
kind: Service
metadata: {{name: web, namespace: {ns}}}
spec:
  externalIPs: [192.0.2.10, 192.0.2.11]
  ports: [{{name: http, port: 80}}, {{name: https, port: 443}}]
---
apiVersion: v1
kind: Service
metadata: {{name: bare, namespace: {ns}}}
spec:
  externalIPs: [192.0.2.20]
  ports: [{{port: 53, protocol: UDP}}]
---
apiVersion: v1
kind: Service
metadata: {{name: lb, namespace: {ns}}}
spec:
  type: LoadBalancer
  ports: [{{name: http, port: 80}}]
---
apiVersion: v1
kind: Service
metadata: {{name: v6, namespace: {ns}}}
spec:
  externalIPs: ["2001:db8::5"]
  ports: [{{name: http, port: 80}}]
---
apiVersion: v1
kind: Service
metadata: {{name: hl, namespace: {ns}}}
spec:
  clusterIP: None
  externalIPs: [192.0.2.30]
  ports: [{{name: http, port: 80}}]
---
apiVersion: v1
kind: Service
metadata: {{name: none, namespace: {ns}}}
spec:
  ports: [{{name: http, port: 80}}]
"#
    ));
    cluster.kubectl(&[
        "patch",
        "service",
        "lb",
        "-n",
        &ns,
        "--subresource=status",
        "--type=merge",
        "-p",
        r#"{"status":{"loadBalancer":{"ingress":[{"ip":"198.51.100.5"},{"hostname":"lb.upstream.test"}]}}}"#,
    ]);
    let stub = Stub::start(Mode::Answer);
    let corefile = support::block(
        ".",
        &format!(
            " ready 127.0.0.1:READY\n k8s_external example.org 2.0.192.in-addr.arpa\n kubernetes cluster.local {{\n  kubeconfig {}\n }}\n forward . {}\n",
            cluster.kubeconfig.display(),
            stub.addr
        ),
    );
    let (coredns, ours) = both(&corefile);
    let lb = format!("lb.{ns}.example.org.");
    for (server, addr) in [("coredns", coredns.addr()), ("clusterdns", ours.addr())] {
        eventually(Duration::from_secs(20), server, || {
            let reply = exchange(
                addr,
                &query(&lb, RecordType::A),
                Proto::Udp,
                Duration::from_secs(5),
            )
            .ok()?;
            (reply.answers.len() >= 2).then_some(())
        });
    }
    let owned: Vec<String> = [
        "example.org.",
        "dns.example.org.",
        "ns1.dns.example.org.",
        "ns2.dns.example.org.",
        "x.ns1.dns.example.org.",
        "web.NS.example.org.",
        "bare.NS.example.org.",
        "lb.NS.example.org.",
        "v6.NS.example.org.",
        "hl.NS.example.org.",
        "none.NS.example.org.",
        "missing.NS.example.org.",
        "NS.example.org.",
        "web.nosuchns.example.org.",
        "_http._tcp.web.NS.example.org.",
        "_https._tcp.web.NS.example.org.",
        "_http._udp.web.NS.example.org.",
        "_dns._udp.bare.NS.example.org.",
        "x.web.NS.example.org.",
        "a.b.c.web.NS.example.org.",
        "Web.NS.Example.ORG.",
        "10.2.0.192.in-addr.arpa.",
        "99.2.0.192.in-addr.arpa.",
    ]
    .iter()
    .map(|n| n.replace("NS", &ns))
    .collect();
    let names: Vec<&str> = owned.iter().map(String::as_str).collect();
    let types = [
        RecordType::A,
        RecordType::AAAA,
        RecordType::SRV,
        RecordType::PTR,
        RecordType::SOA,
        RecordType::NS,
    ];
    let (compared, failures) = compare_each(&coredns, &ours, &names, &types);
    assert_same(compared, &failures);
    assert_eq!(compared, names.len() * types.len() * 4);

    // Positive controls: the external addresses, the ingress hostname
    // followed to the stub, SRV with both addresses, the PTR.
    let web = ask_ours(&ours, &format!("web.{ns}.example.org."), RecordType::A);
    assert_eq!(web.answers.len(), 2, "{web:?}");
    let lb = ask_ours(&ours, &lb, RecordType::A);
    let kinds: Vec<RecordType> = lb.answers.iter().map(|r| r.record_type()).collect();
    assert_eq!(
        kinds,
        [RecordType::A, RecordType::CNAME, RecordType::A],
        "{lb:?}"
    );
    let srv = ask_ours(
        &ours,
        &format!("_http._tcp.web.{ns}.example.org."),
        RecordType::SRV,
    );
    assert_eq!(
        (srv.answers.len(), srv.additionals.len()),
        (1, 2),
        "{srv:?}"
    );
    let ptr = ask_ours(&ours, "10.2.0.192.in-addr.arpa.", RecordType::PTR);
    assert_eq!(
        ptr.answers[0].data.to_string(),
        format!("web.{ns}.example.org.")
    );
}

/// rewrite's `edns0` rules in front of forward: the stub upstream echoes
/// the OPT it received, so each reply shows the options each server sent
/// upstream (and what `revert` put back). Clients send no OPT, a bare OPT,
/// or one with ECS, NSID and local options already in it.
#[test]
fn rewrite_edns0_matches_coredns() {
    let stub = Stub::start(Mode::Answer);
    let variants = [
        " rewrite continue edns0 local set 0xffee 0x61626364\n rewrite continue edns0 local append 65001 {qname}\n rewrite continue edns0 local set 65002 {client_ip}\n rewrite continue edns0 local set 65003 {protocol}\n rewrite continue edns0 local set 65004 {qtype}\n rewrite continue edns0 local set 65007 {server_ip}\n rewrite continue edns0 nsid set\n rewrite continue edns0 subnet set 24 56\n",
        " rewrite continue edns0 local replace 65001 0xbeef revert\n rewrite continue edns0 subnet replace 16 48 revert\n rewrite continue edns0 nsid unset\n rewrite continue edns0 local set 65005 hello revert\n rewrite continue edns0 local unset 65006\n rewrite continue edns0 local append 65006 again\n",
        " rewrite edns0 local replace 65009 nothing\n rewrite name exact b.example.org c.example.org\n",
        " rewrite edns0 subnet append 32 128 revert\n rewrite continue edns0 nsid append revert\n",
    ];
    let names = [
        "b.example.org.",
        "B.Example.ORG.",
        "x.example.org.",
        "www.example.net.",
        "nxname.example.net.",
    ];
    let mut compared = 0;
    let mut failures = Vec::new();
    for rules in variants {
        let corefile = support::block(
            ".",
            &format!(" ready 127.0.0.1:READY\n{rules} forward . {}\n", stub.addr),
        );
        let (coredns, ours) = both(&corefile);
        let (n, found) = compare_each(&coredns, &ours, &names, &[RecordType::A, RecordType::AAAA]);
        compared += n;
        failures.extend(found.into_iter().map(|f| format!("{rules}: {f}")));
        for name in names {
            for transport in [Proto::Udp, Proto::Tcp] {
                let msg = with_client_options(query(name, RecordType::A));
                let found = differences(coredns.addr(), ours.addr(), &msg, transport, false);
                compared += 1;
                if !found.is_empty() {
                    failures.push(format!(
                        "{rules}: {name} {transport:?} with options: {found:?}"
                    ));
                }
            }
        }
    }
    assert_same(compared, &failures);
    assert_eq!(compared, 4 * names.len() * (2 * 4 + 2));

    // Positive control: the options really reached the upstream.
    let corefile = support::block(
        ".",
        &format!(
            " ready 127.0.0.1:READY\n{} forward . {}\n",
            variants[0], stub.addr
        ),
    );
    let ours = Clusterdns::start(&corefile.replace("READY", &support::free_port().to_string()));
    let reply = ask_ours(&ours, "b.example.org.", RecordType::A);
    let codes: Vec<u16> = reply
        .edns
        .expect("the upstream's OPT")
        .options()
        .options
        .iter()
        .map(|(code, _)| u16::from(*code))
        .collect();
    assert_eq!(
        codes,
        [0xffee, 65001, 65002, 65003, 65004, 65007, 3, 8],
        "{codes:?}"
    );
}

/// A query whose OPT already holds ECS (127.0.0.1/32), an empty NSID and
/// local options 65001 and 65006.
fn with_client_options(msg: hickory_proto::op::Message) -> hickory_proto::op::Message {
    use hickory_proto::rr::rdata::opt::{EdnsCode, EdnsOption};
    let mut msg = with_edns(msg, 1232, false);
    let edns = msg.edns.as_mut().expect("an OPT");
    let options = &mut edns.options_mut().options;
    for (code, value) in [
        (8u16, vec![0, 1, 32, 0, 127, 0, 0, 1]),
        (3, Vec::new()),
        (65001, b"abc".to_vec()),
        (65006, b"zz".to_vec()),
    ] {
        options.push((EdnsCode::from(code), EdnsOption::Unknown(code, value)));
    }
    msg
}

/// One sample of a Prometheus text exposition, labels in name order.
type Sample = (String, std::collections::BTreeMap<String, String>);

/// The samples of an exposition (comments skipped), with their values.
fn samples(text: &str) -> std::collections::BTreeMap<Sample, f64> {
    let mut out = std::collections::BTreeMap::new();
    for line in text
        .lines()
        .filter(|l| !l.starts_with('#') && !l.is_empty())
    {
        let (series, value) = line.rsplit_once(' ').expect("name and value");
        let (name, labels) = match series.split_once('{') {
            Some((name, rest)) => (name, rest.trim_end_matches('}')),
            None => (series, ""),
        };
        let mut map = std::collections::BTreeMap::new();
        let mut rest = labels;
        while let Some((key, after)) = rest.split_once("=\"") {
            let mut end = 0;
            let bytes = after.as_bytes();
            while end < bytes.len()
                && !(bytes[end] == b'"' && (end == 0 || bytes[end - 1] != b'\\'))
            {
                end += 1;
            }
            let key = key.trim_start_matches(',').to_string();
            let mut value = after[..end].to_string();
            // The two servers listen on different ports.
            if key == "server"
                && let Some((address, _port)) = value.rsplit_once(':')
            {
                value = format!("{address}:PORT");
            }
            map.insert(key, value);
            rest = after.get(end + 1..).unwrap_or("");
        }
        out.insert((name.to_string(), map), value.parse().unwrap_or(f64::NAN));
    }
    out
}

/// The families whose every sample must be equal: counts of queries,
/// replies, sizes, cache and forward outcomes, hosts entries, enabled
/// plugins. Timings (durations, their sums and buckets) differ by nature;
/// their `_count`s are compared.
fn compared_family(name: &str) -> bool {
    const EXACT: &[&str] = &[
        "coredns_dns_requests_total",
        "coredns_dns_responses_total",
        "coredns_dns_request_size_bytes",
        "coredns_dns_response_size_bytes",
        "coredns_cache_requests_total",
        "coredns_cache_hits_total",
        "coredns_cache_misses_total",
        "coredns_cache_entries",
        "coredns_forward_requests_total",
        "coredns_forward_responses_total",
        "coredns_hosts_entries",
        "coredns_plugin_enabled",
        "coredns_template_matches_total",
    ];
    EXACT.iter().any(|family| {
        name == *family
            || name
                .strip_prefix(family)
                .is_some_and(|s| matches!(s, "_bucket" | "_sum" | "_count"))
    }) || (name.starts_with("coredns_")
        && name.ends_with("_duration_seconds_count")
        && !name.contains("rest_client")
        && !name.starts_with("coredns_health_"))
}

/// `/metrics` of both servers after the same queries on the same
/// Corefile: every counted family CoreDNS exports is there with the same
/// labels and values (the `server` label's port aside). `go_*` metrics are
/// not there (README), nor health's without `health` in the Corefile.
#[test]
fn metrics_match_coredns_after_the_same_queries() {
    let stub = Stub::start(Mode::Answer);
    let base = support::block(
        ".",
        &format!(
            " ready 127.0.0.1:READY\n prometheus 127.0.0.1:METRICS\n errors\n cache 30\n template IN AAAA synth.test {{\n  rcode NOERROR\n }}\n hosts {{\n  10.0.0.1 a.example.org\n  fallthrough\n }}\n kubernetes cluster.local in-addr.arpa {{\n  kubeconfig {}\n  fallthrough in-addr.arpa\n }}\n forward . {}\n",
            cluster().kubeconfig.display(),
            stub.addr
        ),
    );
    let (theirs_port, ours_port) = (support::free_port(), support::free_port());
    let coredns = Coredns::start(
        &base.replace("METRICS", &theirs_port.to_string()),
        &cluster().kubeconfig,
    );
    let ours = Clusterdns::start(
        &base
            .replace("METRICS", &ours_port.to_string())
            .replace("READY", &support::free_port().to_string()),
    );
    let questions = [
        ("a.example.org.", RecordType::A),
        ("a.example.org.", RecordType::AAAA),
        ("kubernetes.default.svc.cluster.local.", RecordType::A),
        ("kubernetes.default.svc.cluster.local.", RecordType::SRV),
        ("missing.default.svc.cluster.local.", RecordType::A),
        ("1.0.32.10.in-addr.arpa.", RecordType::PTR),
        ("www.example.net.", RecordType::A),
        ("nxname.example.net.", RecordType::A),
        ("x.synth.test.", RecordType::AAAA),
    ];
    let mut asked = 0;
    for round in 0..2 {
        for (name, qtype) in questions {
            for (addr, transport) in [
                (coredns.addr(), Proto::Udp),
                (ours.addr(), Proto::Udp),
                (coredns.addr(), Proto::Tcp),
                (ours.addr(), Proto::Tcp),
            ] {
                let msg = if round == 0 {
                    query(name, qtype)
                } else {
                    with_edns(query(name, qtype), 1232, false)
                };
                exchange(addr, &msg, transport, Duration::from_secs(5)).unwrap();
                asked += 1;
            }
        }
    }
    assert_eq!(asked, questions.len() * 2 * 4);
    let scrape = |port: u16| samples(&support::http_get(port, "/metrics").expect("metrics").1);
    let (theirs, mine) = (scrape(theirs_port), scrape(ours_port));
    let mut failures = Vec::new();
    let mut checked = 0;
    for (sample, value) in theirs.iter().filter(|((name, _), _)| compared_family(name)) {
        checked += 1;
        match mine.get(sample) {
            Some(got) if got == value => {}
            got => failures.push(format!("{sample:?}: CoreDNS {value}, clusterdns {got:?}")),
        }
    }
    // Handles resolved at startup (the `dropped` zone's, for one) show
    // zero-valued series CoreDNS only makes at first use: README.
    for (sample, value) in mine.iter().filter(|((name, _), _)| compared_family(name)) {
        if !theirs.contains_key(sample) && *value != 0.0 {
            failures.push(format!("{sample:?}: only clusterdns has it, at {value}"));
        }
    }
    assert!(
        failures.is_empty(),
        "{} of {checked}:\n{}",
        failures.len(),
        failures.join("\n")
    );
    assert!(checked > 80, "only {checked} samples compared");
    // Positive control: the counts moved.
    let requests: f64 = mine
        .iter()
        .filter(|((name, _), _)| name == "coredns_dns_requests_total")
        .map(|(_, v)| v)
        .sum();
    assert_eq!(requests, (questions.len() * 2 * 2) as f64);
}

/// The `dnsdiff` tool itself: silent and exit 0 for two servers that agree,
/// `DIFF` lines and exit 1 for two that do not, exit 2 for a bad file.
#[test]
fn dnsdiff_reports_agreement_and_each_difference() {
    let stub = Stub::start(Mode::Answer);
    let corefile = |address: &str| {
        support::block(
            ".",
            &format!(
                " ready 127.0.0.1:READY\n hosts {{\n  {address} a.example.org\n  fallthrough\n }}\n forward . {}\n",
                stub.addr
            ),
        )
    };
    let (coredns, ours) = both(&corefile("10.0.0.1"));
    let other = Clusterdns::start(
        &corefile("10.0.0.2").replace("READY", &support::free_port().to_string()),
    );
    let dir = tempfile::tempdir().unwrap();
    let queries = dir.path().join("queries");
    std::fs::write(
        &queries,
        "# names\na.example.org A\na.example.org AAAA\nwww.example.net A\n",
    )
    .unwrap();
    let run = |candidate: std::net::SocketAddr, file: &std::path::Path| {
        let output = std::process::Command::new(env!("CARGO_BIN_EXE_dnsdiff"))
            .arg(coredns.addr().to_string())
            .arg(candidate.to_string())
            .arg(file)
            .output()
            .unwrap();
        (
            output.status.code(),
            String::from_utf8_lossy(&output.stdout).to_string(),
        )
    };
    let (status, out) = run(ours.addr(), &queries);
    assert_eq!(status, Some(0), "{out}");
    assert!(out.ends_with("12 compared, 0 differing\n"), "{out}");
    let (status, out) = run(other.addr(), &queries);
    assert_eq!(status, Some(1), "{out}");
    assert_eq!(out.matches("DIFF a.example.org A ").count(), 4, "{out}");
    assert!(out.contains("10.0.0.2"), "the difference is shown: {out}");
    assert!(out.ends_with("12 compared, 4 differing\n"), "{out}");
    let bad = dir.path().join("bad");
    std::fs::write(&bad, "a.example.org NOTATYPE\n").unwrap();
    assert_eq!(run(ours.addr(), &bad).0, Some(2));
}
