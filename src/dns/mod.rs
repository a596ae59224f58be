//! The query contract: what the server hands a plugin and what a plugin
//! hands back.
//!
//! Why its own module: the server (listeners, routing) and the plugins both
//! build on these types, and neither should know the other. Everything a
//! plugin needs to answer a query lives here: the request and its reply,
//! the status and flow it returns, the `Plugin` trait and the chain, the
//! terms on which a reply may be remembered, the handle that re-enters the
//! server (`Upstream`), and the name, wire and reply-type helpers.

pub mod encoder;
pub mod memo;
pub mod names;
pub mod plugin;
pub mod proto;
pub mod request;
pub mod status;
pub mod typify;
pub mod wire;

pub use memo::{DataEpoch, HitObserver, MemoHit, MemoTerms, TtlClock};
pub use plugin::{Chain, ChainTraits, MemoRole, Next, Plugin};
pub use proto::Proto;
pub use request::{
    Exchange, Flow, Origin, PendingExchange, Reentry, Reply, Request, Undecoded, Upstream,
};
pub use status::Status;
