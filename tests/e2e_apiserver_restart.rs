//! Losing the API server: the last-known data keeps answering; the cluster
//! changes meanwhile (through a second apiserver) and etcd is compacted, so
//! after the restart the watches get 410 Gone and relist, with no stale
//! answers left.
//! In a test binary of its own, since it stops the shared apiserver.

mod support;

use std::net::IpAddr;
use std::time::Duration;

use clusterdns::diff::{Proto, exchange};
use hickory_proto::op::{Message, ResponseCode};
use hickory_proto::rr::{RData, RecordType};
use support::dns::query;
use support::peers::{cluster, eventually};
use support::process::Clusterdns;

fn ask(server: std::net::SocketAddr, name: &str) -> Message {
    exchange(
        server,
        &query(name, RecordType::A),
        Proto::Udp,
        Duration::from_secs(5),
    )
    .expect("reply")
}

fn first_a(reply: &Message) -> Option<IpAddr> {
    reply.answers.iter().find_map(|r| match &r.data {
        RData::A(a) => Some(IpAddr::V4(a.0)),
        _ => None,
    })
}

#[test]
fn last_known_data_serves_while_the_apiserver_is_down_then_relists() {
    let cluster = cluster();
    let ns = cluster.namespace("restart");
    let service = |name: &str| support::peers::service_yaml(&ns, name);
    cluster.apply(&service("before"));
    cluster.apply(&service("doomed"));
    let corefile = support::block(
        ".",
        &format!(
            " kubernetes cluster.local {{\n  kubeconfig {}\n }}\n",
            cluster.kubeconfig.display()
        ),
    );
    let ours = Clusterdns::start(&corefile);
    let before = format!("before.{ns}.svc.cluster.local.");
    let doomed = format!("doomed.{ns}.svc.cluster.local.");
    let ip = eventually(Duration::from_secs(20), "the first answer", || {
        first_a(&ask(ours.addr(), &before))
    });
    let doomed_ip = first_a(&ask(ours.addr(), &doomed)).expect("doomed answered");

    cluster.stop_apiserver();
    for _ in 0..10 {
        assert_eq!(
            first_a(&ask(ours.addr(), &before)),
            Some(ip),
            "last-known data while the apiserver is down"
        );
        std::thread::sleep(Duration::from_millis(200));
    }

    // While it is down the cluster changes through a second apiserver, and
    // etcd's history is compacted: the watches' resource versions are gone.
    {
        let second = cluster.second_apiserver();
        let through_second = |args: &[&str], stdin: Option<&str>| {
            cluster
                .kubectl_at(&second.kubeconfig, args, stdin)
                .unwrap_or_else(|e| panic!("kubectl {args:?}: {e}"))
        };
        through_second(&["apply", "-f", "-"], Some(&service("after")));
        through_second(&["delete", "service", "doomed", "-n", &ns], None);
        cluster.compact_etcd();
    }
    assert_eq!(
        first_a(&ask(ours.addr(), &doomed)),
        Some(doomed_ip),
        "last-known data, even what has since been deleted"
    );

    cluster.start_apiserver();
    cluster.wait_ready();
    let after = format!("after.{ns}.svc.cluster.local.");
    eventually(
        Duration::from_secs(60),
        "the Service created after the restart",
        || first_a(&ask(ours.addr(), &after)),
    );
    eventually(
        Duration::from_secs(60),
        "no stale answer for the deleted Service",
        || {
            (ask(ours.addr(), &doomed).metadata.response_code == ResponseCode::NXDomain)
                .then_some(())
        },
    );
    assert_eq!(
        first_a(&ask(ours.addr(), &before)),
        Some(ip),
        "unchanged data is still served"
    );
    // The resumed watches were refused with 410 Gone and relisted.
    ours.wait_for_line("410 Gone");
}
