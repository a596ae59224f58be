//! One packet in, at most one packet out: the work shared by the UDP and TCP
//! listeners (CoreDNS's `Server.ServeDNS` plus miekg's accept checks).

use std::future::Future;
use std::net::SocketAddr;
use std::pin::Pin;
use std::sync::Arc;

use arc_swap::ArcSwap;
use std::time::Instant;

use hickory_proto::op::{Message, ResponseCode};
use hickory_proto::rr::{DNSClass, RecordType};

use super::memo::Memo;
use super::routing::Routes;
use crate::dns::names::lower_fqdn;
use crate::dns::wire::{self, Admission, reply_to};
use crate::dns::{Exchange, Flow, Proto, Reentry, Reply, Request, Upstream};
use crate::metrics::Observation;

/// The outcome of handling a packet.
pub enum Handled {
    Reply(Vec<u8>),
    Drop,
    /// The chain is waiting (e.g. on an upstream); the future yields the reply.
    Pending(Pin<Box<dyn Future<Output = Option<Vec<u8>>> + Send>>),
}

/// Where a packet arrived.
#[derive(Clone, Copy)]
pub struct Arrival {
    pub src: SocketAddr,
    pub local: SocketAddr,
    pub proto: Proto,
}

/// Handles one packet against a listener's routes.
pub fn handle_packet(shared: &Arc<ArcSwap<Routes>>, packet: &[u8], arrival: Arrival) -> Handled {
    let routes = shared.load();
    contained(&routes, packet, || {
        serve_packet(shared, &routes, packet, arrival, None)
    })
}

/// Handles one UDP packet: from the socket's memo when the same query was
/// answered before from unchanged data, else through the chain, keeping
/// the reply in the memo when the chain allows it.
pub(crate) fn handle_udp_packet(
    shared: &Arc<ArcSwap<Routes>>,
    packet: &[u8],
    arrival: Arrival,
    memo: &mut Memo,
) -> Handled {
    let routes = shared.load();
    if let Some(reply) = memo.recall(&routes, packet, arrival.src) {
        return Handled::Reply(reply);
    }
    let generation = routes.epoch.current();
    contained(&routes, packet, || {
        serve_packet(shared, &routes, packet, arrival, Some((memo, generation)))
    })
}

/// Runs `serve` so that a panic in it (or in the future it leaves pending)
/// ends only this query: counted in `coredns_panics_total`, logged as
/// CoreDNS logs it, and answered SERVFAIL, while the listener's task
/// goes on serving. Why not let it abort: one bad query (a bug on a rare
/// path) would then take every client's DNS down until the kubelet's
/// restart, and a panic in a UDP worker ended that worker for good.
fn contained(routes: &Routes, packet: &[u8], serve: impl FnOnce() -> Handled) -> Handled {
    use futures::FutureExt;
    match std::panic::catch_unwind(std::panic::AssertUnwindSafe(serve)) {
        Ok(Handled::Pending(future)) => {
            let (server, packet) = (routes.server.clone(), packet.to_vec());
            Handled::Pending(Box::pin(async move {
                match std::panic::AssertUnwindSafe(future).catch_unwind().await {
                    Ok(reply) => reply,
                    Err(panic) => Some(after_panic(&server, &packet, panic.as_ref())),
                }
            }))
        }
        Ok(handled) => handled,
        Err(panic) => Handled::Reply(after_panic(&routes.server, packet, panic.as_ref())),
    }
}

/// Counts and logs a panic while serving `packet`; the SERVFAIL to send.
fn after_panic(server: &str, packet: &[u8], panic: &(dyn std::any::Any + Send)) -> Vec<u8> {
    let what = panic
        .downcast_ref::<&str>()
        .map(|s| s.to_string())
        .or_else(|| panic.downcast_ref::<String>().cloned())
        .unwrap_or_else(|| "panic".to_string());
    crate::metrics::global().panics.inc();
    crate::logging::level(
        "ERROR",
        &format!("Recovered from panic in server: {server:?} {what}"),
    );
    match Message::from_vec(packet) {
        Ok(msg) => wire::encode(&reply_to(&msg, ResponseCode::ServFail)),
        Err(_) => wire::header_only_reply(packet, ResponseCode::ServFail),
    }
}

fn serve_packet(
    shared: &Arc<ArcSwap<Routes>>,
    routes: &Routes,
    packet: &[u8],
    arrival: Arrival,
    memo: Option<(&mut Memo, u64)>,
) -> Handled {
    match wire::admit(packet) {
        Admission::Ignore => return Handled::Drop,
        Admission::Reject => {
            return Handled::Reply(wire::header_only_reply(packet, ResponseCode::FormErr));
        }
        Admission::NotImplemented => {
            return Handled::Reply(wire::header_only_reply(packet, ResponseCode::NotImp));
        }
        Admission::Accept => {}
    }
    let Ok(msg) = Message::from_vec(packet) else {
        return Handled::Reply(wire::header_only_reply(packet, ResponseCode::FormErr));
    };
    let Some(question) = msg.queries.first() else {
        return Handled::Reply(wire::header_only_reply(packet, ResponseCode::FormErr));
    };
    if question.query_class() != DNSClass::IN && !routes.any_class {
        return refuse(routes, &msg, packet.len(), arrival);
    }
    if msg.edns.as_ref().is_some_and(|e| e.version() != 0) {
        return Handled::Reply(wire::encode(&wire::badvers_reply(&msg)));
    }
    let is_ds = question.query_type() == RecordType::DS;
    let qname = lower_fqdn(question.name());
    let Some(route) = routes.select(&qname, is_ds) else {
        return refuse(routes, &msg, packet.len(), arrival);
    };
    if route.chain.is_empty() {
        return refuse(routes, &msg, packet.len(), arrival);
    }
    let mut req = Request::new(
        msg,
        qname,
        packet.len(),
        arrival.src,
        arrival.local,
        arrival.proto,
        route.origin.clone(),
    );
    req.upstream = Some(Upstream::new(shared.clone()));
    if route.chain.forwards() {
        req.raw = Some(packet.into());
        req.undecoded_ok = route.chain.relays_undecoded();
    }
    match route.chain.serve(req) {
        Flow::Done(exchange) => {
            let replays = memo
                .as_ref()
                .and_then(|_| route.chain.memo_replays(&exchange));
            let Some(bytes) = reply_bytes(exchange) else {
                return Handled::Drop;
            };
            if let (Some((memo, generation)), Some((terms, replays))) = (memo, replays) {
                memo.remember(routes, generation, packet, &bytes, terms, replays);
            }
            Handled::Reply(bytes)
        }
        Flow::Pending(future) => {
            Handled::Pending(Box::pin(async move { reply_bytes(future.await) }))
        }
    }
}

/// A listener's current routing is how a plugin re-enters the server.
impl Reentry for ArcSwap<Routes> {
    fn resolve(&self, mut req: Request) -> Option<Flow> {
        let routes = self.load();
        let route = routes.select(&req.qname_lower, false)?;
        req.origin = route.origin.clone();
        Some(route.chain.serve(req))
    }
}

/// Turns a finished exchange into the bytes to send: the written reply, or
/// the empty error reply the server writes itself, fitted to the client.
pub(crate) fn reply_bytes(exchange: Exchange) -> Option<Vec<u8>> {
    let Exchange { req, status } = exchange;
    let mut reply = match req.reply {
        // Already fitted to the client by forward.
        Some(Reply {
            undecoded: Some(undecoded),
            ..
        }) => return Some(undecoded.bytes),
        Some(reply) => reply.msg,
        None if !status.client_written() => reply_to(&req.msg, status.rcode),
        None => return None,
    };
    Some(fit(&req.msg, &mut reply, req.proto))
}

/// EDNS echo and truncation (CoreDNS's ScrubWriter).
pub(crate) fn fit(query: &Message, reply: &mut Message, proto: Proto) -> Vec<u8> {
    wire::echo_edns(query, reply);
    wire::encode_fitted(reply, wire::client_size(query, proto))
}

/// REFUSED before any chain, counted under `zone="dropped"`.
fn refuse(routes: &Routes, msg: &Message, size: usize, arrival: Arrival) -> Handled {
    let start = Instant::now();
    let mut reply = reply_to(msg, ResponseCode::Refused);
    wire::echo_edns(msg, &mut reply);
    let response_size = wire::uncompressed_len(&reply);
    routes.dropped.observe(&Observation {
        proto: arrival.proto,
        ipv6: arrival.src.is_ipv6(),
        qtype: msg.queries[0].query_type(),
        do_bit: msg.edns.as_ref().is_some_and(|e| e.flags().dnssec_ok),
        request_size: size,
        response_size,
        rcode: ResponseCode::Refused,
        plugin: "",
        seconds: start.elapsed().as_secs_f64(),
    });
    Handled::Reply(wire::encode_fitted(
        &mut reply,
        wire::client_size(msg, arrival.proto),
    ))
}
