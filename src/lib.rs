//! clusterdns: a Kubernetes cluster DNS server that reads CoreDNS Corefiles.
//!
//! The map follows CoreDNS's so its users find their way: `corefile` is the
//! language, `server` the listeners and query pipeline, `plugin` one module
//! per directive with the chain order fixed in `plugin::registry`.
//!
//! Why most modules are private: the library exists for the `clusterdns`
//! and `dnsdiff` binaries, the fuzz targets and the benchmarks, not as an
//! API. The public surface is what those use: the command-line app and its
//! lifecycle, the Corefile parser, the log line writer, the differential
//! client, and a few re-exports below. Everything else is `pub(crate)`, so
//! the compiler reports what nothing uses.

pub mod app;
pub mod corefile;
pub mod diff;
pub mod lifecycle;
pub mod logging;

mod dns;
mod duration;
mod kubernetes;
mod metrics;
mod net;
mod plugin;
mod process_metrics;
mod server;

pub use dns::Proto;
pub use duration::format_go_duration;
pub use plugin::registry::{ORDER, is_known};
pub use server::Server;

/// What the fuzz targets and benchmarks reach below the public surface.
#[doc(hidden)]
pub mod internals {
    pub use crate::dns::encoder::encode as encode_reply;
    pub use crate::dns::wire::{client_size, encode};
    pub use crate::plugin::cache::Key as CacheKey;
    pub use crate::server::handler::{Arrival, Handled, handle_packet};
    pub use crate::server::instance::build as build_instance;
    pub use crate::server::routing::Routes;

    /// Parses a snapshot's text and, when it loads, indexes its objects:
    /// the whole path from text to the DNS index, for the fuzz target.
    pub fn index_snapshot(text: &str) -> Result<(), String> {
        use crate::kubernetes::{index::Index, snapshot, store::Store};
        let objects = snapshot::parse(text)?;
        let mut store = Store::new(true, true);
        snapshot::load_into(&mut store, objects);
        let _ = Index::build(&store);
        Ok(())
    }
}
