//! The whole query path: any bytes in, at most one reply out, never a panic.
//! The server is built from a Corefile with the F1 snapshot, whoami, cache,
//! loadbalance and errors, and no upstream (nothing leaves the process).
//! It also checks the own encoder against hickory's on every decodable input,
//! and that every reply answers its query: the query's ID, QR set, the
//! query's question when it has one, and no larger than the client allows.
#![no_main]

use std::net::SocketAddr;
use std::sync::{Arc, LazyLock};

use arc_swap::ArcSwap;
use clusterdns::internals::{Arrival, Handled, handle_packet};
use clusterdns::Proto;
use clusterdns::internals::Routes;
use libfuzzer_sys::fuzz_target;

static ROUTES: LazyLock<Arc<ArcSwap<Routes>>> = LazyLock::new(|| {
    let snapshot = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../tests/fixtures/f1-snapshot.yaml"
    );
    let corefile = format!(
        ".:53 {{\n errors\n loadbalance\n cache 30\n kubernetes cluster.local in-addr.arpa {{\n  snapshot {snapshot}\n  pods insecure\n }}\n}}\nexample.org:53 {{\n whoami\n}}\n"
    );
    let blocks = clusterdns::app::parse_corefile(&corefile, "fuzz", 53).expect("corefile");
    let instance = clusterdns::internals::build_instance(&blocks, 53).expect("instance");
    let routes = instance
        .listeners
        .into_values()
        .next()
        .expect("one listener");
    Arc::new(ArcSwap::new(routes))
});

fuzz_target!(|data: &[u8]| {
    // Our encoder must write what hickory writes for any message it takes.
    if let Ok(message) = hickory_proto::op::Message::from_vec(data)
        && let Some(ours) = clusterdns::internals::encode_reply(&message)
        && let Ok(theirs) = message.to_vec()
    {
        assert_eq!(ours, theirs, "encoder differs from hickory");
    }
    for proto in [Proto::Udp, Proto::Tcp] {
        let arrival = Arrival {
            src: SocketAddr::from(([10, 240, 0, 1], 5353)),
            local: SocketAddr::from(([127, 0, 0, 1], 53)),
            proto,
        };
        match handle_packet(&ROUTES, data, arrival) {
            Handled::Reply(bytes) => check_reply(data, &bytes, proto),
            Handled::Drop => {}
            Handled::Pending(_) => panic!("nothing here waits"),
        }
    }
});

/// What any reply to `query` must be.
fn check_reply(query: &[u8], reply: &[u8], proto: Proto) {
    assert!(reply.len() >= 12, "a reply has a header");
    assert_eq!(reply[..2], query[..2], "the query's ID");
    assert!(reply[2] & 0x80 != 0, "QR set");
    let Ok(asked) = hickory_proto::op::Message::from_vec(query) else {
        assert!(reply.len() <= 512, "an undecodable query gets a header-only reply");
        return;
    };
    let limit = clusterdns::internals::client_size(&asked, proto);
    assert!(reply.len() <= limit, "{} bytes for a client allowing {limit}", reply.len());
    let answered = hickory_proto::op::Message::from_vec(reply).expect("the reply decodes");
    if let (Some(question), Some(echoed)) = (asked.queries.first(), answered.queries.first()) {
        assert_eq!(question, echoed, "the question echoed");
    }
}
