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
}

/// The plugins of one server block, in the fixed order.
pub struct Chain {
    plugins: Vec<Arc<dyn Plugin>>,
}

impl Chain {
    pub fn new(plugins: Vec<Arc<dyn Plugin>>) -> Arc<Self> {
        Arc::new(Chain { plugins })
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
