//! The clusterdns process over loopback sockets, with no Kubernetes or
//! CoreDNS peer needed (a few tests start a CoreDNS when one is given):
//! listeners, plugins end to end, reload, limits, malformed input, panics,
//! metrics and the README's figures.
//!
//! One test binary, one module per subject, so `tests/support` and the
//! library are compiled and linked once for all of them.

#[path = "../support/mod.rs"]
mod support;

mod cache;
mod conformance;
mod corefile;
mod forward;
mod forward_tls;
mod loop_and_loadbalance;
mod malformed;
mod memo;
mod observability;
mod panics;
mod readme_figures;
mod reload;
mod server;
mod snapshot;
mod unsynced;
