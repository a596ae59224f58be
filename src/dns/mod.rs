//! The query contract: what the server hands a plugin and what a plugin
//! hands back.
//!
//! Why its own module: the server (listeners, routing) and the plugins both
//! build on these types, and neither should know the other. Everything a
//! plugin needs to answer a query lives here: the request and its reply,
//! the status and flow it returns, the `Plugin` trait and the chain, the
//! terms on which a reply may be remembered, the handle that re-enters the
//! server (`Upstream`), and the name, wire and reply-type helpers.

pub(crate) mod encoder;
pub(crate) mod memo;
pub(crate) mod names;
pub(crate) mod plugin;
pub(crate) mod proto;
pub(crate) mod request;
pub(crate) mod status;
pub(crate) mod typify;
pub(crate) mod wire;

pub(crate) use memo::{DataEpoch, HitObserver, MemoHit, MemoTerms, TtlClock};
pub(crate) use plugin::{Chain, ChainTraits, MemoRole, Next, Plugin};
pub use proto::Proto;
pub(crate) use request::{Exchange, Flow, Origin, Reentry, Reply, Request, Undecoded, Upstream};
pub(crate) use status::Status;
