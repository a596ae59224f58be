//! clusterdns: a Kubernetes cluster DNS server that reads CoreDNS Corefiles.
//!
//! The map follows CoreDNS's so its users find their way: `corefile` is the
//! language, `server` the listeners and query pipeline, `plugin` one module
//! per directive with the chain order fixed in `plugin::registry`.

pub mod app;
pub mod corefile;
pub mod diff;
pub mod dns;
pub mod duration;
pub mod kubernetes;
pub mod lifecycle;
pub mod logging;
pub mod metrics;
pub mod net;
pub mod plugin;
pub mod process_metrics;
pub mod server;
