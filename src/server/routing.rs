//! Zone routing for one listener: the longest zone suffix of the query name
//! picks the server block, `.` last, REFUSED when nothing matches.

use std::collections::HashMap;
use std::sync::Arc;

use crate::dns::names::is_subdomain;
use crate::dns::{Chain, DataEpoch, Origin};
use crate::metrics::ZoneMetrics;

/// One zone's chain and where queries for it come from.
#[derive(Clone)]
pub struct Route {
    pub chain: Arc<Chain>,
    pub origin: Origin,
}

/// The routing table of one listener.
pub struct Routes {
    /// The zones but the root, longest first: a listener has a handful, so
    /// a suffix scan beats hashing every suffix of the name.
    ordered: Vec<(String, Route)>,
    root: Option<Route>,
    /// Whether non-IN classes may enter a chain (a block has `forward` or
    /// `chaos`).
    pub any_class: bool,
    /// Metrics for queries that never reach a chain (`zone="dropped"`).
    pub dropped: ZoneMetrics,
    pub server: Arc<str>,
    /// Unique per table, so remembered replies never outlive a reload.
    pub id: u64,
    /// Bumped by the configuration's data sources on every publish.
    pub epoch: DataEpoch,
}

static NEXT_ROUTES_ID: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(0);

impl Routes {
    pub fn new(zones: HashMap<String, Route>, server: Arc<str>, epoch: DataEpoch) -> Self {
        let any_class = zones.values().any(|r| r.chain.any_class());
        let dropped = ZoneMetrics::new(&server, "dropped", Arc::from([""]));
        let mut zones = zones;
        let root = zones.remove(".");
        let mut ordered: Vec<(String, Route)> = zones.into_iter().collect();
        ordered.sort_by_key(|(zone, _)| std::cmp::Reverse(zone.len()));
        Routes {
            ordered,
            root,
            any_class,
            dropped,
            server,
            id: NEXT_ROUTES_ID.fetch_add(1, std::sync::atomic::Ordering::Relaxed),
            epoch,
        }
    }

    /// Finds the route for a lower-case FQDN. DS queries go to the
    /// highest matching zone (the parent side of a delegation).
    pub fn select(&self, qname: &str, is_ds: bool) -> Option<&Route> {
        let mut matching = self
            .ordered
            .iter()
            .filter(|(zone, _)| is_subdomain(zone, qname))
            .map(|(_, route)| route);
        let found = if is_ds {
            matching.next_back()
        } else {
            matching.next()
        };
        found.or(self.root.as_ref())
    }

    pub fn routes(&self) -> impl Iterator<Item = &Route> {
        self.ordered
            .iter()
            .map(|(_, route)| route)
            .chain(&self.root)
    }
}

impl std::fmt::Debug for Routes {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Routes")
            .field("server", &self.server)
            .field(
                "zones",
                &self
                    .ordered
                    .iter()
                    .map(|(zone, _)| zone)
                    .collect::<Vec<_>>(),
            )
            .field("root", &self.root.is_some())
            .finish()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn routes(zones: &[&str]) -> Routes {
        let table = zones
            .iter()
            .map(|zone| {
                let origin = Origin {
                    server: Arc::from("dns://:53"),
                    block_zones: Arc::from([zone.to_string()]),
                };
                let route = Route {
                    chain: Chain::new(Vec::new(), Default::default()),
                    origin,
                };
                (zone.to_string(), route)
            })
            .collect();
        Routes::new(table, Arc::from("dns://:53"), Default::default())
    }

    fn picked(routes: &Routes, qname: &str, is_ds: bool) -> Option<String> {
        routes
            .select(qname, is_ds)
            .map(|route| route.origin.block_zones[0].clone())
    }

    #[test]
    fn the_longest_zone_at_a_label_boundary_wins_and_root_is_last() {
        let table = routes(&[".", "example.org.", "sub.example.org.", "ample.org."]);
        let pick = |qname| picked(&table, qname, false);
        assert_eq!(
            pick("a.sub.example.org.").as_deref(),
            Some("sub.example.org.")
        );
        assert_eq!(
            pick("sub.example.org.").as_deref(),
            Some("sub.example.org.")
        );
        assert_eq!(pick("xsub.example.org.").as_deref(), Some("example.org."));
        assert_eq!(pick("ample.org.").as_deref(), Some("ample.org."));
        assert_eq!(pick("other.net.").as_deref(), Some("."));
        assert_eq!(pick(".").as_deref(), Some("."));
    }

    #[test]
    fn ds_goes_to_the_highest_matching_zone_and_nothing_matches_without_root() {
        let table = routes(&["example.org.", "sub.example.org."]);
        assert_eq!(
            picked(&table, "a.sub.example.org.", true).as_deref(),
            Some("example.org.")
        );
        assert_eq!(picked(&table, "other.net.", false), None);
    }
}
