//! Zone routing for one listener: the longest zone suffix of the query name
//! picks the server block, `.` last, REFUSED when nothing matches.

use std::collections::HashMap;
use std::sync::Arc;

use super::request::Origin;
use crate::metrics::ZoneMetrics;
use crate::plugin::Chain;

/// One zone's chain and where queries for it come from.
#[derive(Clone)]
pub struct Route {
    pub chain: Arc<Chain>,
    pub origin: Origin,
}

/// The routing table of one listener.
pub struct Routes {
    zones: HashMap<String, Route>,
    /// Whether non-IN classes may enter a chain (a block has `forward`).
    pub any_class: bool,
    /// Metrics for queries that never reach a chain (`zone="dropped"`).
    pub dropped: ZoneMetrics,
    pub server: Arc<str>,
}

impl Routes {
    pub fn new(zones: HashMap<String, Route>, server: Arc<str>) -> Self {
        let any_class = zones
            .values()
            .any(|r| r.chain.plugins().iter().any(|p| p.name() == "forward"));
        let dropped = ZoneMetrics::new(&server, "dropped", Arc::from([""]));
        Routes {
            zones,
            any_class,
            dropped,
            server,
        }
    }

    /// Finds the route for a lower-case FQDN. DS queries go to the
    /// highest matching zone (the parent side of a delegation).
    pub fn select(&self, qname: &str, is_ds: bool) -> Option<&Route> {
        let mut ds_route = None;
        let mut rest = qname;
        loop {
            if let Some(route) = self.zones.get(rest) {
                if !is_ds {
                    return Some(route);
                }
                ds_route = Some(route);
            }
            match rest.find('.') {
                Some(dot) if dot + 1 < rest.len() => rest = &rest[dot + 1..],
                _ => break,
            }
        }
        ds_route.or_else(|| self.zones.get("."))
    }

    pub fn routes(&self) -> impl Iterator<Item = &Route> {
        self.zones.values()
    }
}

impl std::fmt::Debug for Routes {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Routes")
            .field("server", &self.server)
            .field("zones", &self.zones.keys())
            .finish()
    }
}
