//! cache in front of a stub upstream (and the snapshot source): what is
//! stored, for how long, what a hit looks like, prefetch, serve_stale,
//! the watch-driven invalidation of cluster answers, and the size bound.

use crate::support;

use std::time::Duration;

use hickory_proto::op::ResponseCode;
use hickory_proto::rr::RecordType;
use support::dns::{addresses, query, udp, with_edns};
use support::peers::eventually;
use support::process::Clusterdns;
use support::upstream::{Mode, Stub};
use support::{free_port, http_get};

fn cached(stub: &Stub, cache: &str) -> Clusterdns {
    Clusterdns::start(&support::block(
        ".",
        &format!(" {cache}\n forward . {}\n", stub.addr),
    ))
}

#[test]
fn a_hit_is_served_from_memory_with_aa_and_a_flattened_decaying_ttl() {
    let stub = Stub::start(Mode::Answer);
    let server = cached(&stub, "cache 30");
    let miss = udp(server.addr(), &query("www.example.org.", RecordType::A));
    assert_eq!(
        miss.answers[0].ttl, 30,
        "upstream 300 capped to 30 on the miss too"
    );
    assert!(
        !miss.metadata.authoritative,
        "a miss passes the upstream flags"
    );
    let hit = udp(server.addr(), &query("WWW.example.org.", RecordType::A));
    assert_eq!(
        stub.queries(),
        1,
        "the second query was a hit (name case does not matter)"
    );
    assert!(hit.metadata.authoritative, "AA on hits");
    assert!(hit.metadata.recursion_available, "RA copied");
    assert_eq!(
        hit.queries[0].name().to_ascii(),
        "WWW.example.org.",
        "the client's question"
    );
    assert_eq!(addresses(&hit), addresses(&miss));
    std::thread::sleep(Duration::from_millis(2100));
    let later = udp(server.addr(), &query("www.example.org.", RecordType::A));
    assert!(
        later.answers[0].ttl <= 28,
        "TTL decays: {}",
        later.answers[0].ttl
    );
    assert_eq!(stub.queries(), 1);
}

#[test]
fn denials_are_cached_and_the_do_bit_is_part_of_the_key() {
    let stub = Stub::start(Mode::Answer);
    let server = cached(&stub, "cache 30");
    let nx = udp(server.addr(), &query("nx.example.org.", RecordType::A));
    assert_eq!(nx.metadata.response_code, ResponseCode::NXDomain);
    assert_eq!(nx.authorities[0].ttl, 30, "SOA TTL 60 capped to 30");
    udp(server.addr(), &query("nx.example.org.", RecordType::A));
    assert_eq!(stub.queries(), 1, "NXDOMAIN from the denial store");
    udp(
        server.addr(),
        &with_edns(query("nx.example.org.", RecordType::A), 1232, true),
    );
    assert_eq!(stub.queries(), 2, "DO=1 is another entry");
    udp(server.addr(), &query("nx.example.org.", RecordType::AAAA));
    assert_eq!(stub.queries(), 3, "another type is another entry");
}

#[test]
fn truncated_replies_are_never_stored() {
    let stub = Stub::start(Mode::TruncateUdp);
    let server = cached(&stub, "cache 30");
    for _ in 0..2 {
        assert!(
            udp(server.addr(), &query("tc.example.org.", RecordType::A))
                .metadata
                .truncation
        );
    }
    assert_eq!(stub.queries(), 2);
}

#[test]
fn disable_and_servfail_options() {
    let stub = Stub::start(Mode::Answer);
    let server = cached(&stub, "cache 30 {\n  disable success example.org\n }");
    udp(server.addr(), &query("a.example.org.", RecordType::A));
    udp(server.addr(), &query("a.example.org.", RecordType::A));
    assert_eq!(stub.queries(), 2, "success not cached for example.org");
    udp(server.addr(), &query("a.example.net.", RecordType::A));
    udp(server.addr(), &query("a.example.net.", RecordType::A));
    assert_eq!(stub.queries(), 3, "other names still cached");

    let failing = Stub::start(Mode::Rcode(2));
    let server = cached(&failing, "cache 30");
    udp(server.addr(), &query("s.example.org.", RecordType::A));
    udp(server.addr(), &query("s.example.org.", RecordType::A));
    assert_eq!(failing.queries(), 1, "SERVFAIL cached for 5s");
    let server = cached(&failing, "cache 30 {\n  servfail 0\n }");
    udp(server.addr(), &query("s2.example.org.", RecordType::A));
    udp(server.addr(), &query("s2.example.org.", RecordType::A));
    assert_eq!(failing.queries(), 3, "servfail 0 disables it");
}

#[test]
fn prefetch_refreshes_a_popular_entry_before_it_expires() {
    let stub = Stub::start_with_ttl(Mode::Answer, 10);
    let server = cached(&stub, "cache 30 {\n  prefetch 2 1m 90%\n }");
    udp(server.addr(), &query("p.example.org.", RecordType::A));
    std::thread::sleep(Duration::from_millis(1100));
    udp(server.addr(), &query("p.example.org.", RecordType::A));
    udp(server.addr(), &query("p.example.org.", RecordType::A));
    eventually(Duration::from_secs(5), "a background refresh", || {
        (stub.queries() >= 2).then_some(())
    });
    assert_eq!(
        stub.tcp_queries.load(std::sync::atomic::Ordering::SeqCst),
        1,
        "the refresh goes upstream over TCP"
    );
}

#[test]
fn serve_stale_answers_expired_entries_with_ttl_zero() {
    let stub = Stub::start(Mode::Answer);
    let server = cached(&stub, "cache {\n  success 1024 1 0\n  serve_stale 1h\n }");
    let first = udp(server.addr(), &query("old.example.org.", RecordType::A));
    assert_eq!(first.answers[0].ttl, 1);
    stub.set_mode(Mode::Silent);
    std::thread::sleep(Duration::from_millis(2200));
    let stale = udp(server.addr(), &query("old.example.org.", RecordType::A));
    assert_eq!(stale.metadata.response_code, ResponseCode::NoError);
    assert_eq!(addresses(&stale), addresses(&first));
    assert_eq!(stale.answers[0].ttl, 0, "stale TTL");
}

#[test]
fn a_flood_of_unique_names_stays_within_the_capacity() {
    let stub = Stub::start(Mode::Answer);
    let metrics = free_port();
    let server = Clusterdns::start(&support::block(
        ".",
        &format!(
            " prometheus 127.0.0.1:{metrics}\n cache 30 {{\n  success 1024\n }}\n forward . {}\n",
            stub.addr
        ),
    ));
    for i in 0..3000 {
        udp(
            server.addr(),
            &query(&format!("n{i}.flood.example.org."), RecordType::A),
        );
    }
    let (_, body) = http_get(metrics, "/metrics").unwrap();
    let line = body
        .lines()
        .find(|l| l.starts_with("coredns_cache_entries{") && l.contains("type=\"success\""))
        .unwrap();
    let entries: usize = line.rsplit(' ').next().unwrap().parse().unwrap();
    assert!(entries <= 1024 && entries > 500, "entries {entries}");
}

const SERVICE: &str = "apiVersion: v1\nkind: Namespace\nmetadata: {name: default}\n---\napiVersion: v1\nkind: Service\nmetadata: {name: NAME, namespace: default}\nspec: {clusterIP: 10.32.0.60, clusterIPs: [10.32.0.60], ports: [{port: 80}]}\n";

fn snapshot_with_cache(option: &str) -> (Clusterdns, tempfile::TempDir, std::path::PathBuf) {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("snapshot.yaml");
    std::fs::write(&file, SERVICE.replace("NAME", "old")).unwrap();
    let corefile = support::block(
        ".",
        &format!(
            " cache 30 {{\n  {option}\n }}\n kubernetes cluster.local {{\n  snapshot {}\n  ttl 30\n }}\n",
            file.display()
        ),
    );
    (Clusterdns::start(&corefile), dir, file)
}

#[test]
fn a_new_service_resolves_at_once_despite_cached_nxdomain() {
    let (server, _dir, file) = snapshot_with_cache("");
    let name = "new.default.svc.cluster.local.";
    assert_eq!(
        udp(server.addr(), &query(name, RecordType::A))
            .metadata
            .response_code,
        ResponseCode::NXDomain
    );
    std::fs::write(&file, SERVICE.replace("NAME", "new")).unwrap();
    eventually(
        Duration::from_secs(5),
        "the new Service through cache 30",
        || (addresses(&udp(server.addr(), &query(name, RecordType::A))).len() == 1).then_some(()),
    );
}

#[test]
fn without_watch_invalidation_the_cached_nxdomain_stays() {
    let (server, _dir, file) = snapshot_with_cache("watch_invalidation off");
    let name = "new.default.svc.cluster.local.";
    assert_eq!(
        udp(server.addr(), &query(name, RecordType::A))
            .metadata
            .response_code,
        ResponseCode::NXDomain
    );
    std::fs::write(&file, SERVICE.replace("NAME", "new")).unwrap();
    std::thread::sleep(Duration::from_millis(2500));
    let reply = udp(server.addr(), &query(name, RecordType::A));
    assert_eq!(
        reply.metadata.response_code,
        ResponseCode::NXDomain,
        "CoreDNS's behaviour: cached for up to 30s"
    );
}
