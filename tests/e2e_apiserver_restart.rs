//! Losing the API server: the last-known data keeps answering, and after a
//! restart the watches reconnect (or relist) with no stale answers left.
//! In a test binary of its own, since it stops the shared apiserver.

mod support;

use std::net::IpAddr;
use std::time::Duration;

use clusterdns::diff::{Transport, exchange};
use hickory_proto::op::{Message, ResponseCode};
use hickory_proto::rr::{RData, RecordType};
use support::dns::query;
use support::peers::{cluster, eventually};
use support::process::Clusterdns;

fn ask(server: std::net::SocketAddr, name: &str) -> Message {
    exchange(
        server,
        &query(name, RecordType::A),
        Transport::Udp,
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
    let service = |name: &str| {
        format!(
            "apiVersion: v1\nkind: Service\nmetadata: {{name: {name}, namespace: {ns}}}\nspec:\n  ports: [{{port: 80}}]\n"
        )
    };
    cluster.apply(&service("before"));
    cluster.apply(&service("doomed"));
    let corefile = format!(
        ".:PORT {{\n bind 127.0.0.1\n kubernetes cluster.local {{\n  kubeconfig {}\n }}\n}}\n",
        cluster.kubeconfig.display()
    );
    let ours = Clusterdns::start(&corefile);
    let before = format!("before.{ns}.svc.cluster.local.");
    let doomed = format!("doomed.{ns}.svc.cluster.local.");
    let ip = eventually(Duration::from_secs(20), "the first answer", || {
        first_a(&ask(ours.addr(), &before))
    });

    cluster.stop_apiserver();
    for _ in 0..10 {
        assert_eq!(
            first_a(&ask(ours.addr(), &before)),
            Some(ip),
            "last-known data while the apiserver is down"
        );
        std::thread::sleep(Duration::from_millis(200));
    }

    cluster.start_apiserver();
    cluster.wait_ready();
    cluster.apply(&service("after"));
    cluster.kubectl(&["delete", "service", "doomed", "-n", &ns]);
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
}
