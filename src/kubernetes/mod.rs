//! Kubernetes data: watch (or snapshot) → compact model → immutable index.
//! This layer knows no DNS; `plugin::kubernetes` answers from the index.
//!
//! Why a separate model: a decoded Pod costs ~25 KB and an EndpointSlice
//! ~700 B per endpoint. Each object is reduced at once to the few fields
//! DNS needs, and queries read an immutable `Index`
//! swapped atomically, so they never take a lock or touch an API type.

pub(crate) mod client;
pub(crate) mod index;
pub(crate) mod metrics;
pub(crate) mod model;
pub(crate) mod reduce;
mod rest_metrics;
pub(crate) mod sharded;
pub(crate) mod snapshot;
pub(crate) mod source;
pub(crate) mod store;
pub(crate) mod watch;
