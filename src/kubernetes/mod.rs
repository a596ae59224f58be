//! Kubernetes data for DNS: watch (or snapshot) → compact model → immutable
//! index → answers.
//!
//! Why a separate model: a decoded Pod costs ~25 KB and an EndpointSlice
//! ~700 B per endpoint (perf-and-crates.md §A7.3). Each object is reduced at
//! once to the few fields DNS needs, and queries read an immutable `Index`
//! swapped atomically, so they never take a lock or touch an API type.

pub mod index;
pub mod lookup;
pub mod metrics;
pub mod model;
pub mod parse;
pub mod reduce;
pub mod sharded;
pub mod snapshot;
pub mod source;
pub mod store;
pub mod watch;
