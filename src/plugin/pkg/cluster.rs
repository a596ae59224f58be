//! The kubernetes data of a server block, for the plugins of the same block
//! that read it (autopath's pod namespaces, cache's invalidation,
//! k8s_external's external addresses).
//!
//! Why a link and not an import: a plugin never imports another. The
//! registry creates one link per block, the kubernetes setup fills it, and
//! the readers hold it; a block without kubernetes leaves it empty.

use std::net::IpAddr;
use std::sync::{Arc, OnceLock};

use crate::kubernetes::source::Shared;

/// What the kubernetes plugin of a block shares.
pub(crate) struct Cluster {
    /// The published data.
    pub shared: Arc<Shared>,
    /// The plugin's zones (lower-case FQDNs).
    pub zones: Vec<String>,
    /// The `namespaces` allow-list (empty: all).
    pub namespaces: Vec<String>,
    /// The plugin's record TTL.
    pub ttl: u32,
    /// This server's own addresses (none when the block has `bind`).
    pub local_ips: Vec<IpAddr>,
    /// `endpoint_pod_names`: endpoints are named after their pods.
    pub endpoint_pod_names: bool,
}

impl Cluster {
    /// Whether names in `namespace` are answered: allowed by `namespaces`
    /// and present (namespace labels already filtered the data).
    pub(crate) fn exposes(&self, namespace: &str) -> bool {
        (self.namespaces.is_empty() || self.namespaces.iter().any(|n| n == namespace))
            && self.shared.index.load().namespaces.contains(namespace)
    }
}

/// The block's kubernetes data, once its kubernetes plugin is set up.
pub(crate) type ClusterLink = Arc<OnceLock<Cluster>>;
