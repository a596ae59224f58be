//! The DNS server: listeners, routing, the query pipeline, and the HTTP hub.
//!
//! A running `Server` keeps its sockets across configuration swaps: each
//! listener reads its routing table through an `ArcSwap`, so a reload
//! replaces the tables without closing a socket or dropping a query.

pub(crate) mod batch;
pub(crate) mod handler;
pub(crate) mod health_probe;
pub(crate) mod http;
pub(crate) mod instance;
pub(crate) mod memo;
pub(crate) mod routing;
pub(crate) mod tcp;
pub(crate) mod tcp_table;
pub(crate) mod udp;

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;

use arc_swap::ArcSwap;
use tokio::task::JoinHandle;

use instance::{Instance, ListenKey, bind_address};
use routing::Routes;

struct Listener {
    routes: Arc<ArcSwap<Routes>>,
    tasks: Vec<JoinHandle<()>>,
}

impl Drop for Listener {
    fn drop(&mut self) {
        for task in &self.tasks {
            task.abort();
        }
    }
}

/// The running server.
pub struct Server {
    listeners: BTreeMap<ListenKey, Listener>,
    pub http: Arc<http::HttpHub>,
    lameduck: Duration,
    workers: usize,
}

impl Server {
    /// Opens every socket of `instance` and starts serving it.
    pub async fn start(instance: Instance, workers: usize) -> std::io::Result<Server> {
        let mut server = Server {
            listeners: BTreeMap::new(),
            http: Arc::new(http::HttpHub::default()),
            lameduck: Duration::ZERO,
            workers: workers.max(1),
        };
        // Probes answer from the start, as in CoreDNS, where health and ready
        // listen before kubernetes holds the DNS listeners: /ready says 503
        // while the startup wait lasts instead of refusing the connection,
        // and until the DNS sockets below are open.
        let bound = server.http.bind_new(&instance.http).await?;
        server.http.apply(instance.http.clone(), bound);
        server.apply(instance).await?;
        server.http.dns_listening();
        Ok(server)
    }

    /// Switches to a new configuration. Sockets for new addresses are opened
    /// first; if one fails nothing changes. Sockets still in use stay open.
    pub async fn apply(&mut self, instance: Instance) -> std::io::Result<()> {
        start_plugins(&instance).await;
        let mut opened = BTreeMap::new();
        for (key, routes) in &instance.listeners {
            if !self.listeners.contains_key(key) {
                opened.insert(*key, self.open(*key, routes.clone())?);
            }
        }
        let http_bound = self.http.bind_new(&instance.http).await?;
        let wanted: std::collections::BTreeSet<ListenKey> =
            instance.listeners.keys().copied().collect();
        for (key, routes) in instance.listeners {
            match opened.remove(&key) {
                Some(listener) => {
                    self.listeners.insert(key, listener);
                }
                None => self.listeners[&key].routes.store(routes),
            }
        }
        self.listeners.retain(|key, _| wanted.contains(key));
        self.http.apply(instance.http, http_bound);
        self.lameduck = instance.lameduck;
        Ok(())
    }

    fn open(&self, key: ListenKey, routes: Arc<Routes>) -> std::io::Result<Listener> {
        let address = bind_address(key);
        let shared = Arc::new(ArcSwap::new(routes));
        let mut tasks = Vec::new();
        for _ in 0..self.workers {
            let socket = Arc::new(bind_with_fallback(address, udp::bind_udp)?);
            tasks.push(tokio::spawn(udp::serve_udp(socket, shared.clone())));
        }
        let listener = bind_with_fallback(address, tcp::bind_tcp)?;
        tasks.push(tokio::spawn(tcp::serve_tcp(listener, shared.clone())));
        Ok(Listener {
            routes: shared,
            tasks,
        })
    }

    pub fn lameduck(&self) -> Duration {
        self.lameduck
    }
}

/// Binds the wildcard as dual-stack `[::]`, falling back to `0.0.0.0` on
/// machines without IPv6.
fn bind_with_fallback<T>(
    address: std::net::SocketAddr,
    bind: impl Fn(std::net::SocketAddr) -> std::io::Result<T>,
) -> std::io::Result<T> {
    match bind(address) {
        Err(error) if address.ip().is_unspecified() && address.is_ipv6() => {
            let v4 = std::net::SocketAddr::from(([0, 0, 0, 0], address.port()));
            bind(v4).map_err(|_| error)
        }
        other => other,
    }
}

/// Starts every plugin's background work, then waits until the plugins that
/// report readiness are ready, or their `startup_timeout` passes (CoreDNS
/// holds its listeners the same way).
async fn start_plugins(instance: &Instance) {
    let plugins = instance.plugins();
    for plugin in &plugins {
        plugin.start();
    }
    let gated: Vec<_> = plugins
        .iter()
        .filter_map(|p| p.startup_timeout().map(|t| (p.clone(), t)))
        .collect();
    let Some(timeout) = gated.iter().map(|(_, t)| *t).max() else {
        return;
    };
    let started = tokio::time::Instant::now();
    // Each plugin says itself what it waits for (see its `start`).
    while started.elapsed() < timeout && gated.iter().any(|(p, _)| p.ready() == Some(false)) {
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}
