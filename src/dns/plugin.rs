//! The plugin contract and the chain that runs plugins.
//!
//! A plugin sees a query and either answers it (writes a reply into the
//! request), passes it to `next`, or wraps what `next` did (log, metrics,
//! errors). This is CoreDNS's middleware model. Which plugins make up a
//! chain, and in what order, is decided in one place, `plugin::registry`.

use std::sync::Arc;

use hickory_proto::op::ResponseCode;

use super::memo::MemoTerms;
use super::request::{Exchange, Flow, Proto, Request};
use super::status::Status;
use crate::metrics::Replay;

/// How a plugin stands to remembered replies (the listener's memo).
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

    /// For an `Observer` or a `Source`: what to record again each time the
    /// reply of this finished exchange is sent from memory. An `Observer`
    /// that returns `None` forbids remembering the reply.
    fn memo_replay(&self, _exchange: &Exchange) -> Option<Replay> {
        None
    }

    /// For a `Transparent` plugin whose effect depends on the reply: whether
    /// this finished exchange's reply would come out the same every time
    /// (e.g. loadbalance with nothing to shuffle).
    fn memo_allows(&self, _exchange: &Exchange) -> bool {
        true
    }
}

/// What the registry, which knows each directive, tells a chain about its
/// plugins. Plugins do not declare these themselves, so the memo's and the
/// relay's rules are read in one table (`plugin::registry`), not in every
/// plugin folder.
#[derive(Debug, Clone, Default)]
pub struct ChainTraits {
    /// The position of the first plugin that relays queries upstream.
    pub first_forward: Option<usize>,
    /// Whether queries of classes other than IN may enter.
    pub any_class: bool,
    /// Each plugin's [`MemoRole`], in chain order (missing: `Opaque`).
    pub memo_roles: Vec<MemoRole>,
    /// For each plugin, in chain order: whether, in front of `forward`, it
    /// reads no more of a reply than its rcode and size, so forward may pass
    /// an upstream reply on as bytes, undecoded (missing: no).
    pub passes_undecoded: Vec<bool>,
}

/// The plugins of one server block, in the fixed order.
pub struct Chain {
    plugins: Vec<Arc<dyn Plugin>>,
    /// Each plugin's memo role, as the registry gave it.
    roles: Vec<MemoRole>,
    /// The position of the plugin whose replies may be remembered: the
    /// first `Source` with only `Transparent` and `Observer` plugins before it.
    memo_source: Option<usize>,
    /// Whether a query may be relayed upstream (the chain has `forward`).
    forwards: bool,
    /// Whether queries of classes other than IN may enter.
    any_class: bool,
    /// Whether every plugin in front of `forward` passes undecoded replies.
    relays_undecoded: bool,
}

impl Chain {
    /// A chain of `plugins` in order, with what the registry knows of them.
    pub fn new(plugins: Vec<Arc<dyn Plugin>>, traits: ChainTraits) -> Arc<Self> {
        let first_forward = traits.first_forward;
        let roles: Vec<MemoRole> = (0..plugins.len())
            .map(|at| {
                traits
                    .memo_roles
                    .get(at)
                    .copied()
                    .unwrap_or(MemoRole::Opaque)
            })
            .collect();
        let memo_source = roles
            .iter()
            .position(|role| !matches!(role, MemoRole::Transparent | MemoRole::Observer))
            .filter(|&at| roles[at] == MemoRole::Source);
        let relays_undecoded = first_forward.is_some_and(|at| {
            (0..at).all(|before| traits.passes_undecoded.get(before) == Some(&true))
        });
        Arc::new(Chain {
            plugins,
            roles,
            memo_source,
            forwards: first_forward.is_some(),
            any_class: traits.any_class,
            relays_undecoded,
        })
    }

    /// Whether a query may be relayed upstream, so its bytes are worth keeping.
    pub fn forwards(&self) -> bool {
        self.forwards
    }

    /// Whether queries of classes other than IN may enter (CoreDNS lets
    /// them in when the server has `forward` or `chaos`).
    pub fn any_class(&self) -> bool {
        self.any_class
    }

    /// Whether forward may pass upstream replies on undecoded.
    pub fn relays_undecoded(&self) -> bool {
        self.relays_undecoded
    }

    /// The observations to replay with the reply of `exchange`, or `None`
    /// when that reply must not be remembered.
    pub fn memo_replays(&self, exchange: &Exchange) -> Option<(MemoTerms, Vec<Replay>)> {
        let source = self.memo_source?;
        let req = &exchange.req;
        let terms = req.memo?;
        let remember = terms.source == self.plugins[source].name()
            && req.reply.is_some()
            && exchange.status.error.is_none()
            && req.proto == Proto::Udp;
        if !remember {
            return None;
        }
        let mut replays = Vec::new();
        for (plugin, role) in self.plugins[..source].iter().zip(&self.roles) {
            if !plugin.memo_allows(exchange) {
                return None;
            }
            if *role == MemoRole::Observer {
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
