//! Kubernetes data: watch (or snapshot) → compact model → immutable index.
//! This layer knows no DNS; `plugin::kubernetes` answers from the index.
//!
//! Why a separate model: a decoded Pod costs ~25 KB and an EndpointSlice
//! ~700 B per endpoint. Each object is reduced at once to the few fields
//! DNS needs, and queries read an immutable `Index`
//! swapped atomically, so they never take a lock or touch an API type.

pub mod client;
pub mod index;
pub mod metrics;
pub mod model;
pub mod reduce;
mod rest_metrics;
pub mod sharded;
pub mod snapshot;
pub mod source;
pub mod store;
pub mod watch;
