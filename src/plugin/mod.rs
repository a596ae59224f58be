//! Plugins and the chain that runs them.
//!
//! A plugin sees a query and either answers it (writes a reply into the
//! request), passes it to `next`, or wraps what `next` did (log, metrics,
//! errors). This is CoreDNS's middleware model.
//!
//! Why `Flow` instead of `async fn`: most queries (cluster names, cache hits)
//! are answered without waiting for anything. `Flow::Done` carries such an
//! answer back synchronously, so the listener writes it inline with no task
//! spawned and no future boxed. Only a plugin that must wait (forward) returns
//! `Flow::Pending`, a `'static` future the listener spawns.

pub mod autopath;
pub mod cache;
pub mod errors;
pub mod forward;
pub mod health;
pub mod kubernetes;
pub mod loadbalance;
pub mod log;
pub mod loop_detect;
pub mod prometheus;
pub mod ready;
pub mod registry;
pub mod reload;
pub mod whoami;

use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;

use hickory_proto::op::ResponseCode;

use crate::server::request::Request;

/// What a plugin's `serve` produced: the request (with any reply written
/// into it) and the chain's status.
pub struct Exchange {
    pub req: Request,
    pub status: Status,
}

/// CoreDNS's `(rcode int, err error)` return pair.
#[derive(Debug, Clone)]
pub struct Status {
    pub rcode: ResponseCode,
    pub error: Option<Arc<str>>,
}

impl Status {
    /// The reply was written by a plugin (rcode as written).
    pub fn written(rcode: ResponseCode) -> Self {
        Status { rcode, error: None }
    }

    /// Nothing written; the server writes an empty reply with `rcode`.
    pub fn failed(rcode: ResponseCode, error: impl Into<Arc<str>>) -> Self {
        Status {
            rcode,
            error: Some(error.into()),
        }
    }

    /// Whether a plugin wrote the reply (CoreDNS's `plugin.ClientWrite`).
    pub fn client_written(&self) -> bool {
        !matches!(
            self.rcode,
            ResponseCode::ServFail
                | ResponseCode::Refused
                | ResponseCode::FormErr
                | ResponseCode::NotImp
        )
    }
}

/// A future that finishes an exchange.
pub type PendingExchange = Pin<Box<dyn Future<Output = Exchange> + Send + 'static>>;

/// The result of handing a request to a plugin.
///
/// `Done` is large (it carries the request) on purpose: boxing it would put
/// an allocation on every locally answered query.
#[allow(clippy::large_enum_variant)]
pub enum Flow {
    Done(Exchange),
    Pending(PendingExchange),
}

impl Flow {
    pub fn done(req: Request, status: Status) -> Self {
        Flow::Done(Exchange { req, status })
    }

    /// Runs `after` on the exchange once it is finished, inline when it is
    /// already finished.
    pub fn map(self, after: impl FnOnce(Exchange) -> Exchange + Send + 'static) -> Flow {
        match self {
            Flow::Done(exchange) => Flow::Done(after(exchange)),
            Flow::Pending(future) => Flow::Pending(Box::pin(async move { after(future.await) })),
        }
    }

    /// Continues with another flow once this one is finished.
    pub fn then(self, after: impl FnOnce(Exchange) -> Flow + Send + 'static) -> Flow {
        match self {
            Flow::Done(exchange) => after(exchange),
            Flow::Pending(future) => {
                Flow::Pending(Box::pin(async move { after(future.await).finish().await }))
            }
        }
    }

    /// Waits for the exchange.
    pub async fn finish(self) -> Exchange {
        match self {
            Flow::Done(exchange) => exchange,
            Flow::Pending(future) => future.await,
        }
    }
}

/// How a plugin stands to remembered replies (`server::memo`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum MemoRole {
    /// It may change a reply, or depends on more than the query bytes.
    Opaque,
    /// It hands the reply on untouched and does nothing per query when the
    /// reply carries no error.
    Transparent,
    /// Like `Transparent`, but it records every query; a remembered reply
    /// replays that record ([`Plugin::memo_replay`]).
    Observer,
    /// It writes replies that depend only on the query bytes, its
    /// published data and the clock, and marks them with [`Request::memo`]
    /// terms under its own name.
    Source,
}

/// One plugin instance in a chain.
pub trait Plugin: Send + Sync + 'static {
    /// The directive name, as used in metrics labels and log prefixes.
    fn name(&self) -> &'static str;

    /// Handles a query.
    fn serve(&self, req: Request, next: Next) -> Flow;

    /// `Some(ready)` for plugins that report readiness (kubernetes).
    fn ready(&self) -> Option<bool> {
        None
    }

    /// Starts background work (watches, probes) when the configuration
    /// goes live. Setup itself contacts nothing, so `-check` can run it.
    fn start(&self) {}

    /// How long serving may wait for this plugin to become ready.
    fn startup_timeout(&self) -> Option<std::time::Duration> {
        None
    }

    /// See [`MemoRole`]; anything not declared otherwise is opaque.
    fn memo_role(&self) -> MemoRole {
        MemoRole::Opaque
    }

    /// For an `Observer` or a `Source`: what to record again each time the
    /// reply of this finished exchange is sent from memory. An `Observer`
    /// that returns `None` forbids remembering the reply.
    fn memo_replay(&self, _exchange: &Exchange) -> Option<crate::metrics::Replay> {
        None
    }

    /// Whether, in front of `forward`, this plugin reads no more of a reply
    /// than its rcode and size, so forward may pass an upstream reply on
    /// as bytes, undecoded (`plugin::forward::undecoded`).
    fn passes_undecoded_replies(&self) -> bool {
        false
    }

    /// For a `Transparent` plugin whose effect depends on the reply: whether
    /// this finished exchange's reply would come out the same every time
    /// (e.g. loadbalance with nothing to shuffle).
    fn memo_allows(&self, _exchange: &Exchange) -> bool {
        true
    }
}

/// The plugins of one server block, in the fixed order.
pub struct Chain {
    plugins: Vec<Arc<dyn Plugin>>,
    /// The position of the plugin whose replies may be remembered: the
    /// first `Source` with only `Transparent` and `Observer` plugins before it.
    memo_source: Option<usize>,
    /// Whether a query may be relayed upstream (the chain has `forward`).
    forwards: bool,
    /// Whether every plugin in front of `forward` passes undecoded replies.
    relays_undecoded: bool,
}

impl Chain {
    pub fn new(plugins: Vec<Arc<dyn Plugin>>) -> Arc<Self> {
        let memo_source = plugins
            .iter()
            .position(|p| !matches!(p.memo_role(), MemoRole::Transparent | MemoRole::Observer))
            .filter(|&at| plugins[at].memo_role() == MemoRole::Source);
        let first_forward = plugins.iter().position(|p| p.name() == "forward");
        let relays_undecoded = first_forward
            .is_some_and(|at| plugins[..at].iter().all(|p| p.passes_undecoded_replies()));
        Arc::new(Chain {
            plugins,
            memo_source,
            forwards: first_forward.is_some(),
            relays_undecoded,
        })
    }

    /// Whether a query may be relayed upstream, so its bytes are worth keeping.
    pub fn forwards(&self) -> bool {
        self.forwards
    }

    /// Whether forward may pass upstream replies on undecoded.
    pub fn relays_undecoded(&self) -> bool {
        self.relays_undecoded
    }

    /// The observations to replay with the reply of `exchange`, or `None`
    /// when that reply must not be remembered.
    pub fn memo_replays(
        &self,
        exchange: &Exchange,
    ) -> Option<(crate::server::memo::MemoTerms, Vec<crate::metrics::Replay>)> {
        let source = self.memo_source?;
        let req = &exchange.req;
        let terms = req.memo?;
        let remember = terms.source == self.plugins[source].name()
            && req.reply.is_some()
            && exchange.status.error.is_none()
            && req.proto == crate::server::request::Proto::Udp;
        if !remember {
            return None;
        }
        let mut replays = Vec::new();
        for plugin in &self.plugins[..source] {
            if !plugin.memo_allows(exchange) {
                return None;
            }
            if plugin.memo_role() == MemoRole::Observer {
                replays.push(plugin.memo_replay(exchange)?);
            }
        }
        replays.extend(self.plugins[source].memo_replay(exchange));
        Some((terms, replays))
    }

    pub fn plugins(&self) -> &[Arc<dyn Plugin>] {
        &self.plugins
    }

    pub fn is_empty(&self) -> bool {
        self.plugins.is_empty()
    }

    /// Runs the whole chain.
    pub fn serve(self: &Arc<Self>, req: Request) -> Flow {
        Next {
            chain: self.clone(),
            index: 0,
        }
        .serve(req)
    }
}

/// The rest of the chain below a plugin.
#[derive(Clone)]
pub struct Next {
    chain: Arc<Chain>,
    index: usize,
}

impl Next {
    /// Hands the request to the next plugin, or fails like CoreDNS's
    /// `NextOrFailure` when there is none.
    pub fn serve(self, req: Request) -> Flow {
        let Some(plugin) = self.chain.plugins.get(self.index).cloned() else {
            let name = self
                .index
                .checked_sub(1)
                .and_then(|i| self.chain.plugins.get(i));
            let name = name.map(|p| p.name()).unwrap_or("");
            let error = format!("plugin/{name}: no next plugin found");
            return Flow::done(req, Status::failed(ResponseCode::ServFail, error));
        };
        let rest = Next {
            chain: self.chain,
            index: self.index + 1,
        };
        plugin.serve(req, rest)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::server::request::{Origin, Proto};
    use hickory_proto::op::{Message, MessageType, OpCode, Query};
    use hickory_proto::rr::{Name, RecordType};

    /// A plugin with a given memo role that answers (with this many A
    /// records) when it is a source and passes the query on otherwise.
    struct Role(MemoRole, u8);

    impl Plugin for Role {
        fn name(&self) -> &'static str {
            "role"
        }

        fn memo_role(&self) -> MemoRole {
            self.0
        }

        fn serve(&self, mut req: Request, next: Next) -> Flow {
            if self.0 != MemoRole::Source {
                return next.serve(req);
            }
            req.memo = Some(crate::server::memo::MemoTerms::until_data_changes("role"));
            let mut reply = req.reply_skeleton();
            for last in 1..=self.1 {
                let address = hickory_proto::rr::rdata::A::new(192, 0, 2, last);
                reply.add_answer(hickory_proto::rr::Record::from_rdata(
                    req.qname().clone(),
                    30,
                    hickory_proto::rr::RData::A(address),
                ));
            }
            let status = req.write(reply, "role");
            Flow::done(req, status)
        }
    }

    fn request(proto: Proto) -> Request {
        let mut msg = Message::new(1, MessageType::Query, OpCode::Query);
        msg.add_query(Query::query(
            Name::from_ascii("a.b.").unwrap(),
            RecordType::A,
        ));
        let origin = Origin {
            server: Arc::from("dns://:53"),
            block_zones: Arc::from([".".to_string()]),
        };
        let src = "127.0.0.1:5000".parse().unwrap();
        Request::new(msg, "a.b.".into(), 20, src, src, proto, origin)
    }

    fn remembers(roles: &[MemoRole], proto: Proto) -> bool {
        let plugins = roles
            .iter()
            .map(|role| Arc::new(Role(*role, 1)) as Arc<dyn Plugin>)
            .collect();
        remembers_chain(plugins, proto)
    }

    fn remembers_chain(plugins: Vec<Arc<dyn Plugin>>, proto: Proto) -> bool {
        let chain = Chain::new(plugins);
        let Flow::Done(exchange) = chain.serve(request(proto)) else {
            panic!("answered inline");
        };
        chain.memo_replays(&exchange).is_some()
    }

    #[test]
    fn only_a_source_behind_transparent_plugins_is_remembered_and_only_over_udp() {
        use MemoRole::{Opaque, Source, Transparent};
        assert!(remembers(&[Transparent, Source], Proto::Udp));
        assert!(remembers(&[Source, Opaque], Proto::Udp));
        assert!(!remembers(&[Source], Proto::Tcp));
        assert!(
            !remembers(&[Opaque, Source], Proto::Udp),
            "e.g. cache first"
        );
        assert!(!remembers(&[Transparent, Opaque, Source], Proto::Udp));
    }

    #[test]
    fn behind_loadbalance_only_a_reply_with_nothing_to_shuffle_is_remembered() {
        let behind = |addresses: u8| {
            let plugins: Vec<Arc<dyn Plugin>> = vec![
                Arc::new(loadbalance::LoadBalance),
                Arc::new(Role(MemoRole::Source, addresses)),
            ];
            remembers_chain(plugins, Proto::Udp)
        };
        assert!(behind(1), "one address: the same reply every time");
        assert!(!behind(2), "two addresses: shuffled on every reply");
    }
}
