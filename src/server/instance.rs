//! From parsed server blocks to what runs: one routing table per listen
//! address, each block's chain, and the HTTP routes.
//!
//! Building an instance opens nothing, so a reload (or `-check`) can build
//! the whole new configuration while the old one keeps serving.

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::net::{IpAddr, SocketAddr};
use std::sync::Arc;
use std::time::Duration;

use super::http::HttpRoutes;
use super::routing::{Route, Routes};
use crate::corefile::{CorefileError, Scheme, ServerBlock, parse_address};
use crate::dns::{Chain, DataEpoch, Origin};
use crate::plugin::registry::{self, BlockContext};

/// Where one DNS listener binds: an IP (None = every interface) and a port.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct ListenKey {
    pub ip: Option<IpAddr>,
    pub port: u16,
}

impl ListenKey {
    /// The `server` label: `dns://:53` or `dns://127.0.0.1:53`.
    pub fn label(&self) -> String {
        match self.ip {
            None => format!("dns://:{}", self.port),
            Some(IpAddr::V6(v6)) => format!("dns://[{v6}]:{}", self.port),
            Some(ip) => format!("dns://{ip}:{}", self.port),
        }
    }
}

/// A fully built configuration, not yet serving.
pub struct Instance {
    pub listeners: BTreeMap<ListenKey, Arc<Routes>>,
    pub http: HttpRoutes,
    pub lameduck: Duration,
    /// The reload period, when some block has `reload`.
    pub reload: Option<Duration>,
    /// The SHA-512 of the parsed configuration (set by the loader).
    pub hash: String,
    /// The startup lines, one per zone (`.:53`, `example.org.:53 on 127.0.0.1`).
    pub zone_lines: Vec<String>,
}

/// Builds an instance from server blocks. `dns_port` is the `-dns.port` flag.
pub fn build(blocks: &[ServerBlock], dns_port: u16) -> Result<Instance, CorefileError> {
    let mut builder = Builder::default();
    for block in blocks {
        builder.add_block(block, dns_port)?;
    }
    Ok(builder.into_instance())
}

#[derive(Default)]
struct Builder {
    routes: BTreeMap<ListenKey, HashMap<String, Route>>,
    labels: HashMap<ListenKey, Arc<str>>,
    http: HttpRoutes,
    lameduck: Duration,
    reload: Option<Duration>,
    zone_lines: BTreeSet<String>,
    /// Shared by this configuration's routing tables and data sources.
    epoch: DataEpoch,
}

impl Builder {
    fn label(&mut self, key: ListenKey) -> Arc<str> {
        self.labels
            .entry(key)
            .or_insert_with(|| Arc::from(key.label()))
            .clone()
    }

    fn add_block(&mut self, block: &ServerBlock, dns_port: u16) -> Result<(), CorefileError> {
        let addresses = block_addresses(block, dns_port)?;
        let bind = registry::bind_addresses(block)?;
        let ips: Vec<Option<IpAddr>> = if bind.is_empty() {
            vec![None]
        } else {
            bind.into_iter().map(Some).collect()
        };
        let mut zones: Vec<String> = Vec::new();
        let mut servers: Vec<Arc<str>> = Vec::new();
        let mut placements = Vec::new();
        for address in &addresses {
            if !zones.contains(&address.zone) {
                zones.push(address.zone.clone());
            }
            for ip in &ips {
                let key = ListenKey {
                    ip: *ip,
                    port: address.port,
                };
                let label = self.label(key);
                if !servers.contains(&label) {
                    servers.push(label);
                }
                placements.push((key, address.zone.clone()));
            }
        }
        let plugins = registry::setup_block(&BlockContext {
            block,
            zones: &zones,
            servers: &servers,
            first_port: addresses.first().map(|a| a.port).unwrap_or(dns_port),
            epoch: &self.epoch,
        })?;
        let chain = Chain::new(plugins.chain, plugins.traits);
        let block_zones: Arc<[String]> = zones.clone().into();
        for (key, zone) in placements {
            self.place(key, zone, &chain, &block_zones)?;
        }
        self.add_http(&plugins.extras, &chain);
        self.reload = self.reload.or(plugins.extras.reload);
        Ok(())
    }

    fn place(
        &mut self,
        key: ListenKey,
        zone: String,
        chain: &Arc<Chain>,
        zones: &Arc<[String]>,
    ) -> Result<(), CorefileError> {
        let label = self.label(key);
        let table = self.routes.entry(key).or_default();
        if table.contains_key(&zone) {
            let port = key.port;
            return Err(CorefileError::plain(match key.ip {
                None => format!("cannot serve dns://{zone}:{port} - it is already defined"),
                Some(ip) => {
                    format!("cannot serve dns://{zone}:{port} on {ip} - it is already defined")
                }
            }));
        }
        for plugin in chain.plugins() {
            crate::metrics::set_plugin_enabled(&label, &zone, plugin.name());
        }
        self.zone_lines.insert(match key.ip {
            None => format!("{zone}:{}", key.port),
            Some(ip) => format!("{zone}:{} on {ip}", key.port),
        });
        let origin = Origin {
            server: label,
            block_zones: zones.clone(),
        };
        table.insert(
            zone,
            Route {
                chain: chain.clone(),
                origin,
            },
        );
        Ok(())
    }

    fn add_http(&mut self, extras: &registry::BlockExtras, chain: &Arc<Chain>) {
        if let Some(health) = &extras.health {
            self.http.health.insert(health.address);
            self.lameduck = self.lameduck.max(health.lameduck);
        }
        if let Some(ready) = &extras.ready {
            let entry = self.http.ready.entry(ready.address).or_default();
            entry.continuously |= ready.continuously;
            entry
                .plugins
                .extend(registry::ready_plugins(chain.plugins()).plugins);
        }
        if let Some(metrics) = extras.metrics {
            self.http.metrics.insert(metrics);
        }
    }

    fn into_instance(self) -> Instance {
        let labels = self.labels;
        let listeners = self
            .routes
            .into_iter()
            .map(|(key, zones)| {
                let label = labels
                    .get(&key)
                    .cloned()
                    .unwrap_or_else(|| Arc::from(key.label()));
                (key, Arc::new(Routes::new(zones, label, self.epoch.clone())))
            })
            .collect();
        Instance {
            listeners,
            http: self.http,
            lameduck: self.lameduck,
            reload: self.reload,
            hash: String::new(),
            zone_lines: self.zone_lines.into_iter().collect(),
        }
    }
}

fn block_addresses(
    block: &ServerBlock,
    dns_port: u16,
) -> Result<Vec<crate::corefile::Address>, CorefileError> {
    let mut addresses = Vec::new();
    for key in &block.keys {
        let parsed = parse_address(&key.text, dns_port)
            .map_err(|e| CorefileError::plain(format!("error inspecting server blocks: {e}")))?;
        for address in parsed {
            if address.scheme != Scheme::Dns {
                return Err(CorefileError::plain(format!(
                    "{}:{} - Error during parsing: transport {}:// is not supported by clusterdns",
                    key.file,
                    key.line,
                    address.scheme.scheme()
                )));
            }
            addresses.push(address);
        }
    }
    Ok(addresses)
}

/// The socket address a listener binds for `key` (the wildcard when no IP).
pub(crate) fn bind_address(key: ListenKey) -> SocketAddr {
    SocketAddr::new(
        key.ip
            .unwrap_or(IpAddr::V6(std::net::Ipv6Addr::UNSPECIFIED)),
        key.port,
    )
}

impl Instance {
    /// Every plugin instance of every chain, once each.
    pub fn plugins(&self) -> Vec<Arc<dyn crate::dns::Plugin>> {
        let mut seen: Vec<Arc<dyn crate::dns::Plugin>> = Vec::new();
        for routes in self.listeners.values() {
            for route in routes.routes() {
                for plugin in route.chain.plugins() {
                    if !seen.iter().any(|p| Arc::ptr_eq(p, plugin)) {
                        seen.push(plugin.clone());
                    }
                }
            }
        }
        seen
    }
}
