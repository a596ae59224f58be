//! The kubernetes plugin against the real apiserver, and against CoreDNS on
//! the same state: a few hundred queries over UDP and TCP, with and without
//! EDNS, compared after normalisation. Then the answers must follow
//! creates, updates and deletes, and survive an apiserver restart.

mod support;

use std::net::IpAddr;
use std::time::Duration;

use clusterdns::diff::{Proto, compare, exchange, ttl_off_by_one};
use hickory_proto::op::{Edns, Message, ResponseCode};
use hickory_proto::rr::RecordType;
use support::dns::{addresses, query};
use support::peers::{Cluster, Coredns, cluster, eventually};
use support::process::Clusterdns;

const COREFILE: &str = ".:PORT {\n bind 127.0.0.1\n ready 127.0.0.1:READY\n kubernetes cluster.local in-addr.arpa ip6.arpa {\n  kubeconfig KUBECONFIG\n  pods insecure\n }\n}\n";

fn start_ours(cluster: &Cluster, corefile: &str) -> Clusterdns {
    let text = corefile
        .replace("READY", &support::free_port().to_string())
        .replace("KUBECONFIG", &cluster.kubeconfig.display().to_string());
    Clusterdns::start(&text)
}

/// Seeds the F1 fixture once per test binary.
fn seeded() -> &'static Cluster {
    static SEEDED: std::sync::OnceLock<()> = std::sync::OnceLock::new();
    let cluster = cluster();
    SEEDED.get_or_init(|| {
        cluster.apply(include_str!("fixtures/cluster-f1.yaml"));
        let status =
            r#"{"status":{"phase":"Running","podIP":"10.240.0.1","podIPs":[{"ip":"10.240.0.1"}]}}"#;
        cluster.kubectl(&[
            "patch",
            "pod",
            "foo",
            "-n",
            "podns",
            "--subresource=status",
            "--type=merge",
            "-p",
            status,
        ]);
    });
    cluster
}

fn ask(server: std::net::SocketAddr, name: &str, qtype: RecordType) -> Message {
    exchange(
        server,
        &query(name, qtype),
        Proto::Udp,
        Duration::from_secs(5),
    )
    .expect("reply")
}

fn reverse_name(ip: IpAddr) -> String {
    match ip {
        IpAddr::V4(v4) => {
            let o = v4.octets();
            format!("{}.{}.{}.{}.in-addr.arpa.", o[3], o[2], o[1], o[0])
        }
        IpAddr::V6(v6) => {
            let hex: String = v6.octets().iter().map(|b| format!("{b:02x}")).collect();
            let nibbles: Vec<String> = hex.chars().rev().map(|c| c.to_string()).collect();
            format!("{}.ip6.arpa.", nibbles.join("."))
        }
    }
}

/// The query corpus: every record shape and edge case of the reference.
fn corpus(cluster: &Cluster) -> Vec<(String, RecordType)> {
    let z = "cluster.local.";
    let services = [
        "svc1.testns",
        "svcempty.testns",
        "svc6.testns",
        "hdls1.testns",
        "hdlsprtls.testns",
        "external.testns",
        "external-to-service.testns",
        "external-to-missing.testns",
        "svc-dual-stack.testns",
        "multiport.testns",
        "svc-unready.testns",
        "svc2.podns",
        "kubernetes.default",
        "svc0.testns",
        "svc1.nsnoexist",
    ];
    let mut names: Vec<String> = services.iter().map(|s| format!("{s}.svc.{z}")).collect();
    for sub in [
        "ep1a.svc1.testns.svc",
        "172-0-0-2.hdls1.testns.svc",
        "dup-name.hdls1.testns.svc",
        "5678-abcd--1.hdls1.testns.svc",
        "172-0-0-20.hdlsprtls.testns.svc",
        "bogus.hdls1.testns.svc",
        "172-0-0-6.hdls1.testns.svc",
        "multiport-pod-0.multiport.testns.svc",
        "172-0-1-1.multiport.testns.svc",
        "shared.svc2.podns.svc",
        "_http._tcp.svc1.testns.svc",
        "_http._tcp.hdls1.testns.svc",
        "_dns._udp.multiport.testns.svc",
        "_dns-tcp._tcp.multiport.testns.svc",
        "_metrics._tcp.multiport.testns.svc",
        "_foo._tcp.svc1.testns.svc",
        "http.tcp.svc1.testns.svc",
        "_tcp.svc1.testns.svc",
        "a.b.c.svc1.testns.svc",
        "_http._udp.svc1.testns.svc",
        "endpoint.external.testns.svc",
        "_http._tcp.external.testns.svc",
        "testns.svc",
        "podns.svc",
        "nsnoexist.svc",
        "svc",
        "pod",
        "",
        "foo",
        "dns-version",
        "ns.dns",
        "dns",
        "10-240-0-1.podns.pod",
        "172-0-0-2.podns.pod",
        "blah.podns.pod",
        "x.10-240-0-1.podns.pod",
        "podns.pod",
        "1-2-3-4.nsnoexist.pod",
        "fd00--1.podns.pod",
        "_a._b.10-240-0-1.podns.pod",
        "*.testns.svc",
    ] {
        names.push(if sub.is_empty() {
            z.to_string()
        } else {
            format!("{sub}.{z}")
        });
    }
    let types = [
        RecordType::A,
        RecordType::AAAA,
        RecordType::SRV,
        RecordType::TXT,
        RecordType::CNAME,
        RecordType::PTR,
        RecordType::MX,
        RecordType::SOA,
        RecordType::NS,
        RecordType::ANY,
        RecordType::HINFO,
    ];
    let mut queries: Vec<(String, RecordType)> = names
        .iter()
        .flat_map(|n| types.iter().map(move |t| (n.clone(), *t)))
        .collect();
    for mixed in [
        "SvC1.TeStNs.SvC.cLuStEr.LoCaL.",
        "_HtTp._TcP.sVc1.TeStNs.SvC.cLuStEr.LoCaL.",
        "Cluster.local.",
        "CLUSTER.LOCAL.",
        "ns.dns.CLUSTER.LOCAL.",
        "HDLS1.testns.svc.cluster.local.",
        "not-a-service.testns.svc.ClUsTeR.lOcAl.",
        "External.TestNs.svc.cluster.local.",
        "DNS-Version.Cluster.Local.",
    ] {
        for t in [
            RecordType::A,
            RecordType::AAAA,
            RecordType::SRV,
            RecordType::SOA,
            RecordType::NS,
            RecordType::TXT,
        ] {
            queries.push((mixed.to_string(), t));
        }
    }
    for ip in reverse_targets(cluster) {
        queries.push((reverse_name(ip), RecordType::PTR));
        queries.push((reverse_name(ip), RecordType::A));
    }
    for name in [
        "0.0.10.in-addr.arpa.",
        "in-addr.arpa.",
        "ip6.arpa.",
        "10.in-addr.arpa.",
        "svc1.testns.svc.0.10.in-addr.arpa.",
    ] {
        queries.push((name.to_string(), RecordType::PTR));
        queries.push((name.to_string(), RecordType::NS));
    }
    queries.push(("example.com.".into(), RecordType::A));
    queries
}

fn reverse_targets(cluster: &Cluster) -> Vec<IpAddr> {
    // Only the fixture's namespaces: other tests change theirs concurrently.
    let ips: String = ["testns", "podns", "default"]
        .iter()
        .map(|ns| {
            cluster.kubectl(&[
                "get",
                "services",
                "-n",
                ns,
                "-o",
                "jsonpath={.items[*].spec.clusterIPs[*]} ",
            ])
        })
        .collect();
    let mut all: Vec<IpAddr> = ips
        .split_whitespace()
        .filter_map(|ip| ip.parse().ok())
        .collect();
    for ip in [
        "172.0.0.1",
        "172.0.0.2",
        "172.0.0.4",
        "172.0.0.6",
        "172.0.0.20",
        "172.0.1.1",
        "5678:abcd::1",
        "10.240.0.1",
        "10.99.99.99",
    ] {
        all.push(ip.parse().unwrap());
    }
    all
}

fn with_edns(mut msg: Message) -> Message {
    let mut edns = Edns::new();
    edns.set_max_payload(1232);
    msg.set_edns(edns);
    msg
}

/// Waits until both servers see the whole fixture (the last object written).
fn converge(servers: &[std::net::SocketAddr]) {
    for server in servers {
        eventually(
            Duration::from_secs(20),
            "the fixture to reach the server",
            || {
                let reply = ask(*server, "svc2.podns.svc.cluster.local.", RecordType::A);
                let synced = reply.metadata.response_code == ResponseCode::NoError
                    && !reply.answers.is_empty();
                synced.then_some(())
            },
        );
    }
}

#[test]
fn answers_match_coredns_on_the_same_apiserver_state() {
    differential(COREFILE, true);
}

const OPTIONS_COREFILE: &str = ".:PORT {\n bind 127.0.0.1\n ready 127.0.0.1:READY\n kubernetes cluster.local 10.0.0.0/8 ip6.arpa {\n  kubeconfig KUBECONFIG\n  pods verified\n  endpoint_pod_names\n  namespaces testns podns default\n  ttl 30\n  fallthrough in-addr.arpa ip6.arpa\n  ignore empty_service\n }\n}\n";

#[test]
fn answers_match_coredns_with_other_options() {
    differential(OPTIONS_COREFILE, false);
}

/// Sends the whole corpus to CoreDNS and clusterdns running `corefile` on
/// the same apiserver state and fails on any difference.
fn differential(corefile: &str, check_mix: bool) {
    let cluster = seeded();
    let coredns = Coredns::start(corefile, &cluster.kubeconfig);
    // CoreDNS semantics: other tests change cluster objects concurrently, and
    // our default drops cached cluster answers on any change (by design), so
    // the comparison turns that off.
    let ours_corefile =
        corefile.replace(" cache 30\n", " cache 30 {\n  watch_invalidation off\n }\n");
    let ours = start_ours(cluster, &ours_corefile);
    converge(&[coredns.addr(), ours.addr()]);
    let queries = corpus(cluster);
    let mut compared = 0;
    let mut failures = Vec::new();
    let mut kinds = std::collections::BTreeMap::<String, usize>::new();
    for (name, qtype) in &queries {
        for (transport, edns) in [
            (Proto::Udp, false),
            (Proto::Udp, true),
            (Proto::Tcp, false),
            (Proto::Tcp, true),
        ] {
            let msg = if edns {
                with_edns(query(name, *qtype))
            } else {
                query(name, *qtype)
            };
            let timeout = Duration::from_secs(5);
            let ask_both = || {
                let theirs = exchange(coredns.addr(), &msg, transport, timeout);
                (theirs, exchange(ours.addr(), &msg, transport, timeout))
            };
            compared += 1;
            match ask_both() {
                (Ok(theirs), Ok(mine)) => {
                    *kinds.entry(reply_kind(&theirs)).or_default() += 1;
                    let mut differences = compare(&theirs, &mine);
                    // Each cache ages its entry from the moment it stored it,
                    // a few ms apart, so a TTL can read one second apart when
                    // a second boundary falls between the two exchanges. Only
                    // such a difference is asked again.
                    if !differences.is_empty()
                        && ttl_off_by_one(&theirs, &mine)
                        && let (Ok(theirs), Ok(mine)) = ask_both()
                    {
                        differences = compare(&theirs, &mine);
                    }
                    if !differences.is_empty() {
                        failures.push(format!(
                            "{name} {qtype} {transport:?} edns={edns}: {}",
                            differences
                                .iter()
                                .map(|d| d.to_string())
                                .collect::<Vec<_>>()
                                .join("; ")
                        ));
                    }
                }
                (theirs, mine) => failures.push(format!(
                    "{name} {qtype} {transport:?}: CoreDNS {:?} / clusterdns {:?}",
                    theirs.err(),
                    mine.err()
                )),
            }
        }
    }
    println!(
        "differential: {} queries, {compared} exchanges, {} differing; CoreDNS replies: {kinds:?}",
        queries.len(),
        failures.len()
    );
    // The corpus must exercise every kind of reply, or the comparison proves little.
    if !check_mix {
        assert!(
            failures.is_empty(),
            "{} of {compared} differ:\n{}",
            failures.len(),
            failures.join("\n")
        );
        return;
    }
    let minimums = [
        ("answer", 100),
        ("answer+additional", 50),
        ("nodata", 200),
        ("nxdomain", 200),
        ("servfail", 4),
    ];
    for (kind, minimum) in minimums {
        let seen = kinds.get(kind).copied().unwrap_or(0);
        assert!(seen >= minimum, "too few {kind} replies: {kinds:?}");
    }
    assert!(queries.len() >= 300, "corpus has {} queries", queries.len());
    assert!(
        failures.is_empty(),
        "{} of {compared} differ:\n{}",
        failures.len(),
        failures.join("\n")
    );
}

fn reply_kind(reply: &Message) -> String {
    match (
        reply.metadata.response_code,
        reply.answers.is_empty(),
        reply.additionals.is_empty(),
    ) {
        (ResponseCode::NoError, false, false) => "answer+additional",
        (ResponseCode::NoError, false, true) => "answer",
        (ResponseCode::NoError, true, _) => "nodata",
        (ResponseCode::NXDomain, _, _) => "nxdomain",
        (ResponseCode::ServFail, _, _) => "servfail",
        _ => "other",
    }
    .to_string()
}

fn service_ip(cluster: &Cluster, namespace: &str, name: &str) -> IpAddr {
    let text = cluster.kubectl(&[
        "get",
        "service",
        name,
        "-n",
        namespace,
        "-o",
        "jsonpath={.spec.clusterIP}",
    ]);
    text.parse().expect("a cluster IP")
}

fn wait_answer(
    server: std::net::SocketAddr,
    name: &str,
    qtype: RecordType,
    wanted: impl Fn(&Message) -> bool,
    what: &str,
) {
    eventually(Duration::from_secs(20), what, || {
        wanted(&ask(server, name, qtype)).then_some(())
    });
}

fn is_nxdomain(reply: &Message) -> bool {
    reply.metadata.response_code == ResponseCode::NXDomain
}

#[test]
fn answers_follow_creates_updates_and_deletes() {
    let cluster = seeded();
    cluster.start_controllers();
    let ours = start_ours(cluster, COREFILE);
    let ns = cluster.namespace("follow");
    let web = format!("web.{ns}.svc.cluster.local.");
    cluster.apply(&format!(
        "apiVersion: v1\nkind: Service\nmetadata: {{name: web, namespace: {ns}}}\nspec:\n  ports: [{{name: http, port: 80, protocol: TCP}}]\n"
    ));
    let ip = service_ip(cluster, &ns, "web");
    wait_answer(
        ours.addr(),
        &web,
        RecordType::A,
        |r| addresses(r) == vec![ip],
        "the new Service",
    );

    // An update that adds a port shows in SRV.
    cluster.apply(&format!(
        "apiVersion: v1\nkind: Service\nmetadata: {{name: web, namespace: {ns}}}\nspec:\n  ports: [{{name: http, port: 80, protocol: TCP}}, {{name: grpc, port: 9090, protocol: TCP}}]\n"
    ));
    let grpc = format!("_grpc._tcp.web.{ns}.svc.cluster.local.");
    wait_answer(
        ours.addr(),
        &grpc,
        RecordType::SRV,
        |r| r.answers.len() == 1,
        "the added port",
    );

    // A headless Service follows its EndpointSlice.
    let slice = |ip: &str| {
        format!(
            "apiVersion: v1\nkind: Service\nmetadata: {{name: hl, namespace: {ns}}}\nspec:\n  clusterIP: None\n  ports: [{{name: http, port: 80}}]\n---\napiVersion: discovery.k8s.io/v1\nkind: EndpointSlice\nmetadata: {{name: hl-a, namespace: {ns}, labels: {{kubernetes.io/service-name: hl}}}}\naddressType: IPv4\nendpoints:\n- addresses: [{ip}]\nports: [{{name: http, port: 80, protocol: TCP}}]\n"
        )
    };
    let hl = format!("hl.{ns}.svc.cluster.local.");
    cluster.apply(&slice("10.1.0.1"));
    wait_answer(
        ours.addr(),
        &hl,
        RecordType::A,
        |r| addresses(r) == vec!["10.1.0.1".parse::<IpAddr>().unwrap()],
        "the slice address",
    );
    cluster.apply(&slice("10.1.0.2"));
    wait_answer(
        ours.addr(),
        &hl,
        RecordType::A,
        |r| addresses(r) == vec!["10.1.0.2".parse::<IpAddr>().unwrap()],
        "the changed address",
    );
    wait_answer(
        ours.addr(),
        "2.0.1.10.in-addr.arpa.",
        RecordType::PTR,
        |r| r.answers.len() == 1,
        "the new PTR",
    );
    cluster.kubectl(&["delete", "endpointslice", "hl-a", "-n", &ns]);
    wait_answer(
        ours.addr(),
        &hl,
        RecordType::A,
        is_nxdomain,
        "NXDOMAIN once the slice is gone",
    );

    // Deletes.
    cluster.kubectl(&["delete", "service", "web", "-n", &ns]);
    wait_answer(
        ours.addr(),
        &web,
        RecordType::A,
        is_nxdomain,
        "NXDOMAIN after the delete",
    );
    let apex = format!("{ns}.svc.cluster.local.");
    wait_answer(
        ours.addr(),
        &apex,
        RecordType::A,
        |r| r.metadata.response_code == ResponseCode::NoError,
        "the namespace",
    );
    cluster.kubectl(&["delete", "namespace", &ns, "--wait=false"]);
    eventually(
        Duration::from_secs(60),
        "NXDOMAIN for the deleted namespace",
        || is_nxdomain(&ask(ours.addr(), &apex, RecordType::A)).then_some(()),
    );
}

/// The seed cluster's Corefile shape: cache, loadbalance, loop and forward
/// around kubernetes, with a stub upstream on loopback in place of 8.8.8.8.
#[test]
fn answers_match_coredns_with_the_seed_corefile() {
    let stub = support::upstream::Stub::start(support::upstream::Mode::Answer);
    let corefile = support::block(
        ".",
        &format!(
            " errors\n ready 127.0.0.1:READY\n kubernetes cluster.local in-addr.arpa ip6.arpa {{\n  kubeconfig KUBECONFIG\n  pods insecure\n  fallthrough in-addr.arpa ip6.arpa\n  ttl 30\n }}\n forward . {}\n cache 30\n loop\n loadbalance\n",
            stub.addr
        ),
    );
    differential(&corefile, false);
}

/// Beyond CoreDNS: under `cache 30`, a Service created after its name was
/// cached as NXDOMAIN resolves as soon as the apiserver's watch delivers
/// it. CoreDNS on the same state keeps serving the cached NXDOMAIN (its
/// issue #2434), while the same name with the DO bit (another cache key)
/// shows it has the Service: the difference is the cache, not the watch.
#[test]
fn a_new_service_resolves_at_once_under_cache_30_where_coredns_serves_its_cached_nxdomain() {
    let cluster = cluster();
    let ns = cluster.namespace("cached");
    let corefile = &support::block(
        ".",
        " ready 127.0.0.1:READY\n cache 30\n kubernetes cluster.local {\n  kubeconfig KUBECONFIG\n  ttl 30\n }\n",
    );
    let coredns = Coredns::start(corefile, &cluster.kubeconfig);
    let ours = start_ours(cluster, corefile);
    cluster.apply(&support::peers::service_yaml(&ns, "before"));
    let before = format!("before.{ns}.svc.cluster.local.");
    for server in [coredns.addr(), ours.addr()] {
        wait_answer(
            server,
            &before,
            RecordType::A,
            |r| !addresses(r).is_empty(),
            "the first Service",
        );
    }
    let name = format!("new.{ns}.svc.cluster.local.");
    for server in [coredns.addr(), ours.addr()] {
        assert!(
            is_nxdomain(&ask(server, &name, RecordType::A)),
            "cached as NXDOMAIN"
        );
    }
    let created = std::time::Instant::now();
    cluster.apply(&support::peers::service_yaml(&ns, "new"));
    eventually(
        Duration::from_secs(5),
        "the new Service through cache 30",
        || (!addresses(&ask(ours.addr(), &name, RecordType::A)).is_empty()).then_some(()),
    );
    println!(
        "new Service answered {:?} after the create",
        created.elapsed()
    );
    // CoreDNS's watch is as quick as ours; a second is a wide margin. Each
    // question is asked once, since a too-early ask would itself be cached.
    std::thread::sleep(Duration::from_secs(1));
    assert!(
        is_nxdomain(&ask(coredns.addr(), &name, RecordType::A)),
        "CoreDNS keeps its cached NXDOMAIN for up to 30 s"
    );
    let with_do = support::dns::with_edns(query(&name, RecordType::A), 512, true);
    let uncached = exchange(coredns.addr(), &with_do, Proto::Udp, Duration::from_secs(5));
    assert!(
        !addresses(&uncached.expect("reply")).is_empty(),
        "CoreDNS has the Service under a key it had not cached"
    );
}

/// `coredns_kubernetes_dns_programming_duration_seconds` from the
/// EndpointSlice trigger-time annotation of a headless Service.
#[test]
fn dns_programming_latency_is_recorded_for_headless_services() {
    let cluster = seeded();
    let metrics = support::free_port();
    let corefile = support::block(
        ".",
        &format!(
            " prometheus 127.0.0.1:{metrics}\n kubernetes cluster.local {{\n  kubeconfig KUBECONFIG\n }}\n"
        ),
    );
    let ours = start_ours(cluster, &corefile);
    let ns = cluster.namespace("latency");
    let trigger = (std::time::SystemTime::now() - Duration::from_secs(2))
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs();
    let stamp = jiff::Timestamp::from_second(trigger as i64)
        .unwrap()
        .to_string();
    cluster.apply(&format!(
        "apiVersion: v1\nkind: Service\nmetadata: {{name: hl, namespace: {ns}}}\nspec:\n  clusterIP: None\n  ports: [{{name: http, port: 80}}]\n---\napiVersion: discovery.k8s.io/v1\nkind: EndpointSlice\nmetadata:\n  name: hl-a\n  namespace: {ns}\n  labels: {{kubernetes.io/service-name: hl}}\n  annotations: {{endpoints.kubernetes.io/last-change-trigger-time: \"{stamp}\"}}\naddressType: IPv4\nendpoints:\n- addresses: [10.1.2.3]\nports: [{{name: http, port: 80, protocol: TCP}}]\n"
    ));
    let name = format!("hl.{ns}.svc.cluster.local.");
    eventually(Duration::from_secs(20), "the headless answer", || {
        (!addresses(&ask(ours.addr(), &name, RecordType::A)).is_empty()).then_some(())
    });
    // Touch the slice so an update event carries the annotation after the Service is known.
    cluster.kubectl(&["label", "endpointslice", "hl-a", "-n", &ns, "touched=yes"]);
    let line = eventually(
        Duration::from_secs(10),
        "the programming latency metric",
        || {
            let (_, body) = support::http_get(metrics, "/metrics")?;
            body.lines()
            .find(|l| l.starts_with("coredns_kubernetes_dns_programming_duration_seconds_sum{service_kind=\"headless_with_selector\"}"))
            .map(str::to_string)
        },
    );
    let seconds: f64 = line.rsplit(' ').next().unwrap().parse().unwrap();
    assert!(
        seconds >= 1.5,
        "at least the 2s since the trigger time: {line}"
    );

    // A ClusterIP Service's slice is recorded as `cluster_ip` (CoreDNS >= 1.14.6).
    cluster.apply(&format!(
        "apiVersion: v1\nkind: Service\nmetadata: {{name: cip, namespace: {ns}}}\nspec:\n  ports: [{{name: http, port: 80}}]\n---\napiVersion: discovery.k8s.io/v1\nkind: EndpointSlice\nmetadata:\n  name: cip-a\n  namespace: {ns}\n  labels: {{kubernetes.io/service-name: cip}}\n  annotations: {{endpoints.kubernetes.io/last-change-trigger-time: \"{stamp}\"}}\naddressType: IPv4\nendpoints:\n- addresses: [10.1.2.4]\nports: [{{name: http, port: 80, protocol: TCP}}]\n"
    ));
    let name = format!("cip.{ns}.svc.cluster.local.");
    eventually(Duration::from_secs(20), "the ClusterIP answer", || {
        (!addresses(&ask(ours.addr(), &name, RecordType::A)).is_empty()).then_some(())
    });
    cluster.kubectl(&["label", "endpointslice", "cip-a", "-n", &ns, "touched=yes"]);
    eventually(Duration::from_secs(10), "the cluster_ip series", || {
        let (_, body) = support::http_get(metrics, "/metrics")?;
        body.lines()
            .find(|l| l.starts_with("coredns_kubernetes_dns_programming_duration_seconds_count{service_kind=\"cluster_ip\"}"))
            .map(str::to_string)
    });
}

/// The API client's requests, counted and timed under CoreDNS's
/// client-go names: the lists and watches of a sync are GETs answered 200
/// by the apiserver this server talks to.
#[test]
fn rest_client_requests_are_counted_with_coredns_names() {
    let cluster = seeded();
    let metrics = support::free_port();
    let corefile = support::block(
        ".",
        &format!(
            " prometheus 127.0.0.1:{metrics}\n kubernetes cluster.local {{\n  kubeconfig KUBECONFIG\n }}\n"
        ),
    );
    let ours = start_ours(cluster, &corefile);
    eventually(Duration::from_secs(20), "a synced answer", || {
        (!addresses(&ask(
            ours.addr(),
            "kubernetes.default.svc.cluster.local.",
            RecordType::A,
        ))
        .is_empty())
        .then_some(())
    });
    let host = format!("127.0.0.1:{}", cluster.api_port);
    let (_, body) = support::http_get(metrics, "/metrics").expect("metrics");
    let value = |prefix: &str| -> f64 {
        body.lines()
            .find(|l| l.starts_with(prefix))
            .and_then(|l| l.rsplit(' ').next())
            .and_then(|v| v.parse().ok())
            .unwrap_or_else(|| panic!("no {prefix} in:\n{body}"))
    };
    let requests = value(&format!(
        "coredns_kubernetes_rest_client_requests_total{{code=\"200\",host=\"{host}\",method=\"GET\"}}"
    ));
    assert!(
        requests >= 4.0,
        "a list and a watch of each kind at least: {requests}"
    );
    let timed = value(&format!(
        "coredns_kubernetes_rest_client_request_duration_seconds_count{{host=\"{host}\",verb=\"GET\"}}"
    ));
    assert!(
        timed >= requests,
        "every counted request was timed: {timed} < {requests}"
    );
}

#[test]
fn a_silently_stalled_watch_is_dropped_and_resumed() {
    let cluster = cluster();
    let ns = cluster.namespace("stall");
    let service = |name: &str| support::peers::service_yaml(&ns, name);
    cluster.apply(&service("before"));
    // clusterdns reaches the apiserver through a relay that can go silent.
    let proxy = support::proxy::StallingProxy::start(([127, 0, 0, 1], cluster.api_port).into());
    let dir = tempfile::tempdir().unwrap();
    let kubeconfig = dir.path().join("kubeconfig");
    std::fs::write(
        &kubeconfig,
        support::peers::kubeconfig_text(proxy.port, support::peers::ADMIN_TOKEN),
    )
    .unwrap();
    let corefile = support::block(
        ".",
        &format!(
            " kubernetes cluster.local {{\n  kubeconfig {}\n }}\n",
            kubeconfig.display()
        ),
    );
    let ours = Clusterdns::start_with_env(&corefile, &[("CLUSTERDNS_WATCH_TIMEOUT", "3")]);
    let (before, during) = (
        format!("before.{ns}.svc.cluster.local."),
        format!("during.{ns}.svc.cluster.local."),
    );
    wait_answer(
        ours.addr(),
        &before,
        RecordType::A,
        |r| !r.answers.is_empty(),
        "before",
    );

    proxy.silence_open_connections();
    cluster.apply(&service("during"));
    // The stalled watches deliver nothing; the last-known data answers.
    for _ in 0..10 {
        assert!(!ask(ours.addr(), &before, RecordType::A).answers.is_empty());
        std::thread::sleep(Duration::from_millis(100));
    }
    assert!(
        is_nxdomain(&ask(ours.addr(), &during, RecordType::A)),
        "the stall is real: the new Service is not seen yet"
    );
    // Silence past the watch timeout (3 s + 5 s) drops the connection; the
    // watch resumes on a new one and the new Service appears.
    // Every connection open at the stall (the watches' and any idle pooled
    // one a retry may pick) is given up only after the watch timeout plus
    // 5 s, so recovery takes one or more rounds of about 8 s plus backoff.
    // Alone it took 6.5-6.9 s; allow 60 s, far below kube's 290 s.
    let deadline = std::time::Instant::now() + Duration::from_secs(60);
    while ask(ours.addr(), &during, RecordType::A).answers.is_empty() {
        assert!(
            std::time::Instant::now() < deadline,
            "the Service created during the stall was not seen in 60 s; clusterdns logged:\n{}",
            ours.lines().join("\n")
        );
        std::thread::sleep(Duration::from_millis(100));
    }
    assert!(!ask(ours.addr(), &before, RecordType::A).answers.is_empty());
}

#[test]
fn endpoint_with_tls_client_certificates_answers_like_coredns() {
    let cluster = cluster();
    let (cert, key, ca) = cluster.tls_files();
    let corefile = |ca: &std::path::Path| {
        support::block(
            ".",
            &format!(
                " ready 127.0.0.1:READY\n kubernetes cluster.local {{\n  endpoint https://127.0.0.1:{}\n  tls {} {} {}\n }}\n",
                cluster.api_port,
                cert.display(),
                key.display(),
                ca.display()
            ),
        )
    };
    let coredns = Coredns::start(&corefile(&ca), &cluster.kubeconfig);
    let ours = start_ours(cluster, &corefile(&ca));
    let name = "kubernetes.default.svc.cluster.local.";
    wait_answer(
        ours.addr(),
        name,
        RecordType::A,
        |r| !r.answers.is_empty(),
        "an answer over tls",
    );
    let theirs = ask(coredns.addr(), name, RecordType::A);
    let mine = ask(ours.addr(), name, RecordType::A);
    assert_eq!(compare(&theirs, &mine), vec![], "{name}");

    // A CA that did not sign the apiserver's certificate: refused, and said.
    let wrong = start_ours(cluster, &corefile(&cluster.client_ca()));
    let line = wrong.wait_for_line("[ERROR] plugin/kubernetes:");
    assert!(line.contains("watch"), "{line}");
    assert_eq!(
        ask(wrong.addr(), name, RecordType::A)
            .metadata
            .response_code,
        ResponseCode::ServFail,
        "never synced: a would-be answer is SERVFAIL"
    );
}

/// Building the API client is retried: a kubeconfig that is not there at
/// startup (a token or config mounted late) is read once it appears, and
/// the names resolve; before, no watch ever started.
#[test]
fn a_kubeconfig_that_appears_later_is_picked_up_by_the_retry() {
    let cluster = seeded();
    let dir = tempfile::tempdir().unwrap();
    let late = dir.path().join("kubeconfig");
    let corefile = support::block(
        ".",
        &format!(
            " kubernetes cluster.local {{\n  kubeconfig {}\n  startup_timeout 1s\n }}\n",
            late.display()
        ),
    );
    let server = Clusterdns::start(&corefile);
    let line =
        server.wait_for_line("[ERROR] plugin/kubernetes: unable to configure the API client");
    assert!(line.contains("(retrying in"), "{line}");
    let early = ask(
        server.addr(),
        "kubernetes.default.svc.cluster.local.",
        RecordType::A,
    );
    assert_eq!(
        early.metadata.response_code,
        ResponseCode::ServFail,
        "unsynced"
    );
    std::fs::copy(&cluster.kubeconfig, &late).unwrap();
    let want = service_ip(cluster, "default", "kubernetes");
    eventually(Duration::from_secs(40), "the late kubeconfig used", || {
        let reply = ask(
            server.addr(),
            "kubernetes.default.svc.cluster.local.",
            RecordType::A,
        );
        (addresses(&reply) == vec![want]).then_some(())
    });
}
