//! forward: relays queries to upstream resolvers.
//!
//! Our own relay rather than a resolver library: the client's query goes
//! upstream with its flags and EDNS under a fresh random ID, over pooled
//! connected sockets, and the reply comes back unchanged but for the ID
//! (CoreDNS's algorithm, reference corefile-and-plugins.md §2.6). It is the
//! one plugin that waits, so it returns `Flow::Pending`.

mod metrics;
mod proxy;
mod resolve;
pub(crate) mod setup;
mod tls;
mod undecoded;

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use hickory_proto::op::{Message, ResponseCode};
use hickory_proto::rr::Name;
use rand::seq::SliceRandom;

use crate::corefile::{CorefileError, Dispenser};
use crate::dns::names::is_subdomain;
use crate::dns::wire::reply_to;
use crate::dns::{Exchange, Flow, Next, Plugin, Status};
use crate::dns::{Proto, Request, Undecoded};
use proxy::{Answer, HealthProbe, Pooling, Upstream, same_question};
use setup::{Options, Policy};

/// The whole budget of one query, and of one try.
const QUERY_BUDGET: Duration = Duration::from_secs(5);

pub(crate) struct Forward {
    inner: Arc<Inner>,
}

struct Inner {
    options: Options,
    upstreams: Vec<Arc<Upstream>>,
    in_flight: AtomicUsize,
    round_robin: AtomicUsize,
    probe: HealthProbe,
    /// Whether the next plugin is another forward (for `next RCODE` and
    /// `next_on_nodata`).
    next_is_forward: bool,
}

/// Parses one `forward` occurrence.
pub(crate) fn setup(
    d: &mut Dispenser,
    block_zones: &[String],
    next_is_forward: bool,
) -> Result<Forward, CorefileError> {
    let options = setup::parse(d, block_zones)?;
    let upstreams = upstreams(&options)?;
    let probe = HealthProbe {
        interval: options.health_check,
        recursion: options.health_check_recursion,
        domain: Name::from_ascii(&options.health_check_domain).unwrap_or_else(|_| Name::root()),
        transport: if options.force_tcp {
            Proto::Tcp
        } else {
            Proto::Udp
        },
    };
    metrics::touch();
    let inner = Inner {
        options,
        upstreams,
        in_flight: AtomicUsize::new(0),
        round_robin: AtomicUsize::new(0),
        probe,
        next_is_forward,
    };
    Ok(Forward {
        inner: Arc::new(inner),
    })
}

/// One `Upstream` per TO; the `tls://` ones share the forward's TLS
/// client configuration, each with the name its certificate must carry.
fn upstreams(options: &Options) -> Result<Vec<Arc<Upstream>>, CorefileError> {
    let config = match options.to.iter().any(|to| to.tls) {
        true => Some(tls::client_config(&options.tls)?),
        false => None,
    };
    options
        .to
        .iter()
        .map(|to| {
            let tls = match (&config, to.tls) {
                (Some(config), true) => {
                    let name = options.tls_servername.as_deref();
                    Some(tls::target(
                        config,
                        to.address,
                        name.or(to.server_name.as_deref()),
                    )?)
                }
                _ => None,
            };
            let pooling = Pooling {
                expire: options.expire,
                max_age: options.max_age,
                max_idle: options.max_idle_conns,
                source: options.source_address,
            };
            let upstream = Upstream::new(to.address, pooling, tls);
            Ok(Arc::new(upstream))
        })
        .collect()
}

impl Plugin for Forward {
    fn name(&self) -> &'static str {
        "forward"
    }

    fn serve(&self, req: Request, next: Next) -> Flow {
        if !self.inner.matches(&req.qname_lower) {
            return next.serve(req);
        }
        let inner = self.inner.clone();
        if inner.options.max_concurrent > 0 {
            let count = inner.in_flight.fetch_add(1, Ordering::SeqCst) + 1;
            if count > inner.options.max_concurrent {
                inner.in_flight.fetch_sub(1, Ordering::SeqCst);
                metrics::max_concurrent_rejected();
                let error = format!(
                    "concurrent queries exceeded maximum {}",
                    inner.options.max_concurrent
                );
                return Flow::done(req, Status::failed(ResponseCode::Refused, error));
            }
        }
        // One future, not one wrapped in another: a wrapper would hold the
        // Request a second time. The Request is boxed because an async fn
        // keeps its arguments apart from the locals they move into, which
        // would also hold it twice.
        Flow::Pending(Box::pin(inner.relay(Box::new(req), next)))
    }
}

/// Releases a `max_concurrent` slot when the query ends, however it ends.
struct InFlight<'a>(&'a Inner);

impl Drop for InFlight<'_> {
    fn drop(&mut self) {
        if self.0.options.max_concurrent > 0 {
            self.0.in_flight.fetch_sub(1, Ordering::SeqCst);
        }
    }
}

impl Inner {
    /// FROM covers the name and no `except` name does (FROM itself stays).
    fn matches(&self, lower: &str) -> bool {
        is_subdomain(&self.options.from, lower)
            && !self
                .options
                .except
                .iter()
                .any(|e| is_subdomain(e, lower) && *e != self.options.from)
    }

    /// The upstreams in the order this query tries them.
    fn order(&self) -> Vec<Arc<Upstream>> {
        let mut list = self.upstreams.clone();
        match self.options.policy {
            Policy::Sequential => {}
            Policy::Random => match list.len() {
                0 | 1 => {}
                2 => {
                    if rand::random::<bool>() {
                        list.swap(0, 1);
                    }
                }
                _ => list.shuffle(&mut rand::rng()),
            },
            Policy::RoundRobin => {
                let i = (self.round_robin.fetch_add(1, Ordering::Relaxed) + 1) % list.len();
                let first = list.remove(i);
                list.insert(0, first);
            }
        }
        list
    }

    fn transport(&self, proto: Proto) -> Proto {
        match (self.options.force_tcp, self.options.prefer_udp, proto) {
            (true, _, _) => Proto::Tcp,
            (false, true, _) => Proto::Udp,
            (false, false, Proto::Udp) => Proto::Udp,
            (false, false, Proto::Tcp) => Proto::Tcp,
        }
    }

    /// CoreDNS's forward `ServeDNS` loop, holding a `max_concurrent` slot.
    async fn relay(self: Arc<Self>, mut req: Box<Request>, next: Next) -> Exchange {
        let _slot = InFlight(&self);
        let list = self.order();
        let deadline = Instant::now() + QUERY_BUDGET;
        let max_attempts = self
            .options
            .max_connect_attempts
            .map(|n| n as usize)
            .unwrap_or(2 * list.len());
        let (mut index, mut fails, mut attempts, mut failovers) = (0usize, 0usize, 0usize, 0usize);
        let mut last_error: Option<String> = None;
        while Instant::now() < deadline && (max_attempts == 0 || attempts < max_attempts) {
            if index >= list.len() {
                index = 0;
                fails = 0;
            }
            let mut upstream = list[index].clone();
            index += 1;
            if upstream.down(self.options.max_fails) {
                fails += 1;
                if fails < self.upstreams.len() {
                    continue;
                }
                metrics::healthcheck_broken();
                if self.options.failfast_all_unhealthy {
                    break;
                }
                upstream = self.upstreams[rand::random_range(0..self.upstreams.len())].clone();
            }
            match self.try_upstream(&upstream, &req, deadline).await {
                Err(error) => {
                    last_error = Some(error);
                    if self.options.max_fails != 0 {
                        upstream.start_health_check(self.probe.clone());
                    }
                    attempts += 1;
                    if max_attempts > 0 && attempts >= max_attempts {
                        break;
                    }
                    if fails < self.upstreams.len() {
                        continue;
                    }
                    break;
                }
                Ok(Answer {
                    msg: reply,
                    undecoded,
                }) => {
                    // An undecoded reply's question was checked on its bytes.
                    if undecoded.is_none() && !same_question(&req.msg, &reply) {
                        let status =
                            req.write(reply_to(&req.msg, ResponseCode::FormErr), "forward");
                        return Exchange {
                            req: *req,
                            status: Status {
                                rcode: status.rcode,
                                error: None,
                            },
                        };
                    }
                    let rcode = reply.metadata.response_code;
                    if self.options.failover.contains(&rcode) {
                        failovers += 1;
                        if failovers < self.upstreams.len() {
                            continue;
                        }
                    }
                    if self.next_is_forward
                        && (self.options.next.contains(&rcode)
                            || (self.options.next_on_nodata
                                && rcode == ResponseCode::NoError
                                && no_answers(&reply, undecoded.as_ref())))
                    {
                        // Boxed: a rare path, and its future would double
                        // the size of every query's.
                        return Box::pin(next.serve(*req).wait()).await;
                    }
                    let status = match undecoded {
                        Some(undecoded) => req.write_undecoded(reply, undecoded, "forward"),
                        None => req.write(reply, "forward"),
                    };
                    return Exchange {
                        req: *req,
                        status: Status {
                            rcode: status.rcode,
                            error: None,
                        },
                    };
                }
            }
        }
        let error = last_error.unwrap_or_else(|| "no healthy proxies".to_string());
        Exchange {
            req: *req,
            status: Status::failed(ResponseCode::ServFail, error),
        }
    }

    /// One upstream, with the TCP retry of `prefer_udp` on a TC reply.
    async fn try_upstream(
        &self,
        upstream: &Upstream,
        req: &Request,
        deadline: Instant,
    ) -> Result<Answer, String> {
        let client_id = req.msg.metadata.id;
        let upstream_id = rand::random();
        let buffer = crate::dns::wire::client_size(&req.msg, req.proto);
        let mut transport = self.transport(req.proto);
        loop {
            let remaining = deadline.saturating_duration_since(Instant::now());
            let timeout = self.options.read_timeout.min(remaining);
            let started = Instant::now();
            let mut reply = upstream
                .exchange(
                    &req.msg,
                    req.raw.as_deref(),
                    upstream_id,
                    transport,
                    buffer,
                    timeout,
                    req.undecoded_ok && req.raw.is_some(),
                )
                .await
                .map_err(|e| e.0)?;
            upstream.metrics.observe(
                reply.msg.metadata.response_code,
                started.elapsed().as_secs_f64(),
            );
            if reply.msg.metadata.truncation
                && transport == Proto::Udp
                && self.options.prefer_udp
                && !self.options.force_tcp
            {
                transport = Proto::Tcp;
                continue;
            }
            reply.msg.metadata.id = client_id;
            return Ok(reply);
        }
    }
}

/// Whether a reply's answer section is empty (NODATA when NOERROR). An
/// undecoded reply's answer count is read from its header.
fn no_answers(reply: &Message, undecoded: Option<&Undecoded>) -> bool {
    match undecoded {
        Some(undecoded) => undecoded.bytes.get(6..8) == Some(&[0, 0][..]),
        None => reply.answers.is_empty(),
    }
}
