//! prometheus: records every query's metrics and serves `/metrics`.
//!
//! Handles are resolved per (server, zone) when the chain is built; a query
//! finds its set by comparing the listener's label pointer and the block's
//! zones, so nothing is looked up by label values per query.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Instant;

use crate::corefile::{CorefileError, Dispenser};
use crate::dns::Request;
use crate::dns::names::is_subdomain;
use crate::dns::{Exchange, Flow, Next, Plugin};
use crate::metrics::{Outcome, QueryReplay, Replay, ZoneMetrics};
use crate::plugin::pkg::http_address::{address_argument, parse_http_address};

pub(crate) fn setup(d: &mut Dispenser) -> Result<SocketAddr, CorefileError> {
    let mut address = parse_http_address("localhost:9153")?;
    while d.next_once()? {
        address_argument(d, &mut address)?;
        while d.next_block() {
            match d.val() {
                "runtime_metrics" => {}
                "tls" => {
                    return Err(d.err("tls for the metrics listener is not supported"));
                }
                _ => return Err(d.unknown_property()),
            }
        }
    }
    Ok(address)
}

/// One server label with the zone handle sets of a block, longest zone first.
struct ServerMetrics {
    server: Arc<str>,
    zones: Vec<(String, Arc<ZoneMetrics>)>,
}

pub(crate) struct Prometheus {
    servers: Arc<Vec<ServerMetrics>>,
    writer_label: &'static str,
}

impl Prometheus {
    /// `servers` are the listener labels this block is served on; `zones`
    /// the block's keys; `plugin_names` every possible `plugin` label value.
    /// `writer_label` is the `plugin` label of written replies: CoreDNS
    /// 1.14.7 tags the writer wrapping its recorder, i.e. the next plugin.
    pub(crate) fn new(
        servers: &[Arc<str>],
        zones: &[String],
        plugin_names: Arc<[&'static str]>,
        writer_label: &'static str,
    ) -> Self {
        let mut sorted: Vec<String> = zones.to_vec();
        if !sorted.iter().any(|z| z == ".") {
            sorted.push(".".to_string());
        }
        sorted.sort_by_key(|z| std::cmp::Reverse(z.len()));
        sorted.dedup();
        let servers = servers
            .iter()
            .map(|server| ServerMetrics {
                server: server.clone(),
                zones: sorted
                    .iter()
                    .map(|zone| {
                        (
                            zone.clone(),
                            Arc::new(ZoneMetrics::new(server, zone, plugin_names.clone())),
                        )
                    })
                    .collect(),
            })
            .collect();
        Prometheus {
            servers: Arc::new(servers),
            writer_label,
        }
    }
}

impl Plugin for Prometheus {
    fn name(&self) -> &'static str {
        "prometheus"
    }

    fn memo_replay(&self, exchange: &Exchange) -> Option<Replay> {
        let (zone, outcome) = observed(&self.servers, exchange, self.writer_label)?;
        Some(Replay::Query(QueryReplay {
            zone: zone.clone(),
            outcome,
        }))
    }

    fn serve(&self, req: Request, next: Next) -> Flow {
        let servers = self.servers.clone();
        let writer_label = self.writer_label;
        let start = Instant::now();
        next.serve(req).map(move |exchange| {
            record(&servers, &exchange, start, writer_label);
            exchange
        })
    }
}

fn record(
    servers: &[ServerMetrics],
    exchange: &Exchange,
    start: Instant,
    writer_label: &'static str,
) {
    let Some((zone, outcome)) = observed(servers, exchange, writer_label) else {
        return;
    };
    let req = &exchange.req;
    zone.observe_outcome(
        &outcome,
        req.proto,
        req.src.is_ipv6(),
        req.size,
        start.elapsed().as_secs_f64(),
    );
}

/// The zone metrics this exchange is recorded in, and what it records
/// less what changes per query.
fn observed<'a>(
    servers: &'a [ServerMetrics],
    exchange: &Exchange,
    writer_label: &'static str,
) -> Option<(&'a Arc<ZoneMetrics>, Outcome)> {
    let req = &exchange.req;
    let server = servers
        .iter()
        .find(|s| Arc::ptr_eq(&s.server, &req.origin.server))
        .or_else(|| servers.iter().find(|s| s.server == req.origin.server))?;
    let (_, zone) = server
        .zones
        .iter()
        .find(|(zone, _)| is_subdomain(zone, &req.qname_lower))?;
    let written = req.reply.as_ref();
    let rcode = match (exchange.status.client_written(), written) {
        (false, _) => exchange.status.rcode,
        (true, Some(reply)) => reply.msg.metadata.response_code,
        (true, None) => exchange.status.rcode,
    };
    let outcome = Outcome {
        qtype: req.qtype(),
        do_bit: req.do_bit(),
        response_size: written.map(|r| r.uncompressed_len()).unwrap_or(0),
        rcode,
        plugin: if written.is_some() { writer_label } else { "" },
    };
    Some((zone, outcome))
}

#[cfg(test)]
mod tests {
    use crate::plugin::pkg::test;
    use hickory_proto::rr::RecordType;

    /// `coredns_dns_requests_total` summed over the series of `zone`.
    fn requests(zone: &str) -> f64 {
        crate::metrics::global()
            .registry
            .gather()
            .iter()
            .filter(|family| family.name() == "coredns_dns_requests_total")
            .flat_map(|family| family.get_metric())
            .filter(|m| {
                m.get_label()
                    .iter()
                    .any(|l| l.name() == "zone" && l.value() == zone)
            })
            .map(|m| m.get_counter().value())
            .sum()
    }

    #[test]
    fn sits_first_in_the_chain_and_counts_each_query_under_its_zone() {
        let chain =
            test::chain("prom-test.example.:53 {\n prometheus 127.0.0.1:9153\n whoami\n}\n");
        assert_eq!(chain.plugins()[0].name(), "prometheus");
        let before = requests("prom-test.example.");
        for _ in 0..3 {
            test::ask(&chain, "a.prom-test.example.", RecordType::A);
        }
        assert_eq!(requests("prom-test.example.") - before, 3.0);
    }

    #[test]
    fn rejects_a_second_address() {
        let error = test::setup_error(".:53 {\n prometheus :9153 :9154\n}\n");
        assert!(error.contains("Wrong argument count"), "{error}");
    }
}
