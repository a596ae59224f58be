//! End to end against the real peers: kube-apiserver + etcd (+ the
//! EndpointSlice controller) and CoreDNS 1.14.7. These tests fail, never
//! skip, when a peer is missing (tools/test builds them).

mod support;

use std::net::IpAddr;
use std::time::Duration;

use clusterdns::diff::{Proto, exchange};
use hickory_proto::op::{Message, ResponseCode};
use hickory_proto::rr::RecordType;
use support::dns::{addresses, query};
use support::peers::{Coredns, cluster, eventually};

const COREFILE: &str = ".:PORT {\n bind 127.0.0.1\n ready 127.0.0.1:READY\n kubernetes cluster.local in-addr.arpa ip6.arpa {\n  kubeconfig KUBECONFIG\n  ttl 5\n }\n}\n";

/// Asks CoreDNS over UDP; on no reply, fails with CoreDNS's log.
fn ask(coredns: &Coredns, name: &str) -> Message {
    let timeout = Duration::from_secs(5);
    exchange(
        coredns.addr(),
        &query(name, RecordType::A),
        Proto::Udp,
        timeout,
    )
    .unwrap_or_else(|e| panic!("{e}\nCoreDNS log:\n{}", coredns.peer.log_text()))
}

#[test]
fn coredns_resolves_the_default_kubernetes_service_to_the_first_cluster_ip() {
    let cluster = cluster();
    let coredns = Coredns::start(COREFILE, &cluster.kubeconfig);
    let reply = ask(&coredns, "kubernetes.default.svc.cluster.local.");
    assert_eq!(
        addresses(&reply),
        vec!["10.32.0.1".parse::<IpAddr>().unwrap()]
    );
}

#[test]
fn coredns_follows_a_service_created_then_deleted() {
    let cluster = cluster();
    let ns = cluster.namespace("svc");
    let coredns = Coredns::start(COREFILE, &cluster.kubeconfig);
    cluster.apply(&format!(
        "apiVersion: v1\nkind: Service\nmetadata:\n  name: web\n  namespace: {ns}\nspec:\n  ports:\n  - name: http\n    port: 80\n    protocol: TCP\n"
    ));
    let cluster_ip: IpAddr = cluster
        .kubectl(&[
            "get",
            "service",
            "web",
            "-n",
            &ns,
            "-o",
            "jsonpath={.spec.clusterIP}",
        ])
        .parse()
        .unwrap();
    assert!(
        cluster_ip.to_string().starts_with("10.32.0."),
        "allocated from the seed range: {cluster_ip}"
    );
    let name = format!("web.{ns}.svc.cluster.local.");
    eventually(Duration::from_secs(20), "the ClusterIP answer", || {
        let reply = ask(&coredns, &name);
        (addresses(&reply) == vec![cluster_ip]).then_some(())
    });
    cluster.kubectl(&["delete", "service", "web", "-n", &ns, "--wait=true"]);
    eventually(Duration::from_secs(20), "NXDOMAIN after delete", || {
        (ask(&coredns, &name).metadata.response_code == ResponseCode::NXDomain).then_some(())
    });
}

#[test]
fn endpointslice_controller_publishes_a_ready_pod_for_a_headless_service() {
    let cluster = cluster();
    cluster.start_controllers();
    let ns = cluster.namespace("headless");
    cluster.apply("apiVersion: v1\nkind: Node\nmetadata:\n  name: node-a\n");
    cluster.apply(&format!(
        "apiVersion: v1\nkind: Service\nmetadata:\n  name: hl\n  namespace: {ns}\nspec:\n  clusterIP: None\n  selector:\n    app: hl\n  ports:\n  - name: http\n    port: 80\n---\napiVersion: v1\nkind: Pod\nmetadata:\n  name: hl-0\n  namespace: {ns}\n  labels:\n    app: hl\nspec:\n  nodeName: node-a\n  containers:\n  - name: c\n    image: registry.invalid/none:1\n"
    ));
    // What a kubelet would report: running, ready, with an address (data only).
    let status = r#"{"status":{"phase":"Running","podIP":"10.200.0.50","podIPs":[{"ip":"10.200.0.50"}],"conditions":[{"type":"Ready","status":"True"}]}}"#;
    cluster.kubectl(&[
        "patch",
        "pod",
        "hl-0",
        "-n",
        &ns,
        "--subresource=status",
        "--type=merge",
        "-p",
        status,
    ]);
    eventually(
        Duration::from_secs(30),
        "an EndpointSlice from the controller",
        || {
            let out = cluster.kubectl(&[
                "get",
                "endpointslices",
                "-n",
                &ns,
                "-l",
                "kubernetes.io/service-name=hl",
                "-o",
                "jsonpath={.items[*].endpoints[*].addresses[*]}",
            ]);
            out.contains("10.200.0.50").then_some(())
        },
    );
    let coredns = Coredns::start(COREFILE, &cluster.kubeconfig);
    let name = format!("hl.{ns}.svc.cluster.local.");
    eventually(Duration::from_secs(20), "the headless answer", || {
        (addresses(&ask(&coredns, &name)) == vec!["10.200.0.50".parse::<IpAddr>().unwrap()])
            .then_some(())
    });
}
