//! The kubernetes data of a server block, for the plugins of the same block
//! that read it (autopath's pod namespaces, cache's invalidation).
//!
//! Why a link and not an import: a plugin never imports another. The
//! registry creates one link per block, the kubernetes setup fills it, and
//! the readers hold it; a block without kubernetes leaves it empty.

use std::sync::{Arc, OnceLock};

use crate::kubernetes::source::Shared;

/// The block's published data and the kubernetes plugin's zones.
pub type ClusterLink = Arc<OnceLock<(Arc<Shared>, Vec<String>)>>;
