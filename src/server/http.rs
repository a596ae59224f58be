//! The HTTP side: health, ready and metrics listeners.
//!
//! Why a hub: CoreDNS closes these listeners before a reload and reopens them
//! after, so a failed reload or a port move can leave `/health` down and get
//! the pod killed. Here a listener is opened once per address and stays open;
//! what each address serves is read from an atomically swapped `HttpRoutes`.
//! A reload swaps the routes, opens listeners for new addresses, and only
//! then closes listeners whose address is no longer used.

use std::collections::{BTreeSet, HashMap};
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use arc_swap::ArcSwap;
use axum::Router;
use axum::extract::State;
use axum::http::{StatusCode, Uri};
use axum::response::IntoResponse;
use tokio::sync::oneshot;

use super::tcp_table::{Limits, Slot, Table};
use crate::plugin::registry::ReadySet;

/// What each address serves.
#[derive(Clone, Default)]
pub struct HttpRoutes {
    pub health: BTreeSet<SocketAddr>,
    pub ready: HashMap<SocketAddr, ReadySet>,
    pub metrics: BTreeSet<SocketAddr>,
}

impl HttpRoutes {
    pub fn addresses(&self) -> BTreeSet<SocketAddr> {
        let mut all = self.health.clone();
        all.extend(self.ready.keys().copied());
        all.extend(self.metrics.iter().copied());
        all
    }
}

/// How long a listener that is no longer configured keeps answering.
const LINGER: Duration = Duration::from_secs(1);

struct Shared {
    routes: ArcSwap<HttpRoutes>,
    /// Serialises route changes (applies and the end of a linger).
    changes: Mutex<Changes>,
    /// Plugins that said ready once (`monitor until-ready` never asks again).
    ready_once: Mutex<BTreeSet<String>>,
    /// Set on shutdown: `/ready` answers 503 `Shutting down`.
    shutting_down: std::sync::atomic::AtomicBool,
    /// Set once the DNS listeners are open. Until then `/ready` answers 503
    /// even when every plugin is ready: the startup wait ends a moment
    /// before the sockets bind, and a pod marked Ready in that moment gets
    /// queries its port refuses.
    dns_listening: std::sync::atomic::AtomicBool,
}

/// The process-wide HTTP listeners.
pub struct HttpHub {
    shared: Arc<Shared>,
    /// Each open listener and the sender that closes it gracefully.
    listeners: Mutex<HashMap<SocketAddr, oneshot::Sender<()>>>,
    /// The loop that probes every configured `/health` once a second.
    probing: std::sync::OnceLock<tokio::task::JoinHandle<()>>,
}

impl Drop for HttpHub {
    fn drop(&mut self) {
        if let Some(task) = self.probing.get() {
            task.abort();
        }
    }
}

impl Default for HttpHub {
    fn default() -> Self {
        HttpHub {
            shared: Arc::new(Shared {
                routes: ArcSwap::from_pointee(HttpRoutes::default()),
                changes: Mutex::new(Changes::default()),
                ready_once: Mutex::new(BTreeSet::new()),
                shutting_down: Default::default(),
                dns_listening: Default::default(),
            }),
            listeners: Mutex::new(HashMap::new()),
            probing: std::sync::OnceLock::new(),
        }
    }
}

impl HttpHub {
    /// Binds every address `routes` needs that is not open yet, without
    /// serving the new routes. Fails (changing nothing) if one cannot bind.
    pub async fn bind_new(
        &self,
        routes: &HttpRoutes,
    ) -> std::io::Result<Vec<(SocketAddr, tokio::net::TcpListener)>> {
        let open: BTreeSet<SocketAddr> = self
            .listeners
            .lock()
            .expect("hub lock")
            .keys()
            .copied()
            .collect();
        let mut bound = Vec::new();
        for address in routes.addresses().difference(&open) {
            bound.push((*address, bind_reuse(*address)?));
        }
        Ok(bound)
    }

    /// Serves `routes`: starts the listeners bound by `bind_new` and swaps
    /// the routes. Listeners no longer configured linger for a second, still
    /// answering what they answered, then close gracefully, so a probe of
    /// the old port never fails mid-swap.
    pub fn apply(&self, routes: HttpRoutes, bound: Vec<(SocketAddr, tokio::net::TcpListener)>) {
        let keep = routes.addresses();
        let mut listeners = self.listeners.lock().expect("hub lock");
        {
            let mut changes = self.shared.changes.lock().expect("changes lock");
            changes.wanted = keep.clone();
            let previous = self.shared.routes.load_full();
            let lingering: BTreeSet<SocketAddr> = changes
                .lingering
                .keys()
                .copied()
                .chain(listeners.keys().copied())
                .collect();
            self.shared
                .routes
                .store(Arc::new(merge(routes, &previous, &lingering)));
        }
        self.shared.ready_once.lock().expect("ready lock").clear();
        if !self.shared.routes.load().health.is_empty() {
            super::health_probe::register();
            let shared = self.shared.clone();
            self.probing
                .get_or_init(|| tokio::spawn(probe_health(shared)));
        }
        for (address, listener) in bound {
            let (close, closed) = oneshot::channel();
            tokio::spawn(serve(listener, address, self.shared.clone(), closed));
            listeners.insert(address, close);
        }
        let closing: Vec<SocketAddr> = listeners
            .keys()
            .filter(|a| !keep.contains(a))
            .copied()
            .collect();
        for address in closing {
            if let Some(close) = listeners.remove(&address) {
                *self
                    .shared
                    .changes
                    .lock()
                    .expect("changes lock")
                    .lingering
                    .entry(address)
                    .or_default() += 1;
                tokio::spawn(linger(address, close, self.shared.clone()));
            }
        }
    }

    /// The DNS listeners are open: `/ready` may answer 200 from now on.
    pub fn dns_listening(&self) {
        self.shared
            .dns_listening
            .store(true, std::sync::atomic::Ordering::SeqCst);
    }

    /// `/ready` answers 503 from now on (first step of a SIGTERM shutdown).
    pub fn begin_shutdown(&self) {
        self.shared
            .shutting_down
            .store(true, std::sync::atomic::Ordering::SeqCst);
    }
}

/// Probes each `/health` the current routes serve, once a second.
async fn probe_health(shared: Arc<Shared>) {
    let mut tick = tokio::time::interval(Duration::from_secs(1));
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    tick.tick().await;
    loop {
        tick.tick().await;
        let addresses: Vec<SocketAddr> = shared.routes.load().health.iter().copied().collect();
        for address in addresses {
            super::health_probe::probe(address).await;
        }
    }
}

/// Route bookkeeping for lingering listeners.
#[derive(Default)]
struct Changes {
    /// The addresses the current configuration wants.
    wanted: BTreeSet<SocketAddr>,
    /// Addresses with listeners still lingering, and how many.
    lingering: HashMap<SocketAddr, usize>,
}

/// The new routes plus the previous routes of addresses still open.
fn merge(mut routes: HttpRoutes, previous: &HttpRoutes, open: &BTreeSet<SocketAddr>) -> HttpRoutes {
    let keep = routes.addresses();
    let old = |a: &&SocketAddr| open.contains(a) && !keep.contains(a);
    routes.health.extend(previous.health.iter().filter(old));
    routes.metrics.extend(previous.metrics.iter().filter(old));
    for (address, set) in previous.ready.iter().filter(|(a, _)| old(a)) {
        routes.ready.insert(*address, set.clone());
    }
    routes
}

/// Keeps a listener that is no longer configured answering for `LINGER`,
/// then closes it gracefully and drops its routes (unless wanted again).
async fn linger(address: SocketAddr, close: oneshot::Sender<()>, shared: Arc<Shared>) {
    tokio::time::sleep(LINGER).await;
    let _ = close.send(());
    let mut changes = shared.changes.lock().expect("changes lock");
    let remaining = changes.lingering.get_mut(&address).map(|n| {
        *n -= 1;
        *n
    });
    if remaining == Some(0) {
        changes.lingering.remove(&address);
    }
    if remaining.unwrap_or(0) > 0 || changes.wanted.contains(&address) {
        return;
    }
    let mut pruned = (*shared.routes.load_full()).clone();
    pruned.health.remove(&address);
    pruned.metrics.remove(&address);
    pruned.ready.remove(&address);
    shared.routes.store(Arc::new(pruned));
}

/// Binds `address`; `[::]` is bound dual-stack (IPv4 clients too), and
/// falls back to `0.0.0.0` on a machine without IPv6.
fn bind_reuse(address: SocketAddr) -> std::io::Result<tokio::net::TcpListener> {
    match bind_one(address) {
        Err(error) if address.ip().is_unspecified() && address.is_ipv6() => {
            bind_one(SocketAddr::from(([0, 0, 0, 0], address.port()))).map_err(|_| error)
        }
        other => other,
    }
}

fn bind_one(address: SocketAddr) -> std::io::Result<tokio::net::TcpListener> {
    use socket2::{Domain, Socket, Type};
    let socket = Socket::new(Domain::for_address(address), Type::STREAM, None)?;
    if address.is_ipv6() {
        socket.set_only_v6(false)?;
    }
    socket.set_reuse_address(true)?;
    // A port configured again while its old listener lingers binds beside it.
    socket.set_reuse_port(true)?;
    socket.set_nonblocking(true)?;
    socket.bind(&address.into())?;
    socket.listen(1024)?;
    tokio::net::TcpListener::from_std(socket.into())
}

#[derive(Clone)]
struct Endpoint {
    address: SocketAddr,
    shared: Arc<Shared>,
}

/// Connections one HTTP listener serves at once; a newcomer past it takes
/// the slot of the oldest connection (probes and scrapes are short).
const MAX_CONNECTIONS: usize = 256;
/// How long a client may take to send a request's headers, counted from
/// the connection's start or the end of the previous response.
const HEADER_READ_TIMEOUT: Duration = Duration::from_secs(5);
/// How long one connection may stay open, kept alive or not.
const CONNECTION_LIFETIME: Duration = Duration::from_secs(60);

/// Serves one listener until `closed` fires.
///
/// Why not `axum::serve`: it reads headers with no timeout and holds any
/// number of connections, so half-sent requests stayed open and, at the
/// descriptor limit, `/health` stopped answering and the kubelet restarted
/// a healthy pod. Each connection here has a slot in a bounded table
/// (`tcp_table`: the oldest gives way to a newcomer), a header-read
/// timeout, and a lifetime.
async fn serve(
    listener: tokio::net::TcpListener,
    address: SocketAddr,
    shared: Arc<Shared>,
    mut closed: oneshot::Receiver<()>,
) {
    let app = Router::new()
        .fallback(route)
        .with_state(Endpoint { address, shared });
    let table = Table::new(Limits {
        total: MAX_CONNECTIONS,
        per_source: MAX_CONNECTIONS,
    });
    loop {
        let accepted = tokio::select! {
            accepted = listener.accept() => accepted,
            _ = &mut closed => return,
        };
        let Ok((stream, peer)) = accepted else {
            tokio::time::sleep(Duration::from_millis(10)).await;
            continue;
        };
        let Some(slot) = table.admit(peer.ip()) else {
            continue;
        };
        tokio::spawn(serve_connection(stream, app.clone(), slot));
    }
}

async fn serve_connection(stream: tokio::net::TcpStream, app: Router, slot: Slot) {
    let service = hyper_util::service::TowerToHyperService::new(app);
    let mut http = hyper::server::conn::http1::Builder::new();
    http.timer(hyper_util::rt::TokioTimer::new())
        .header_read_timeout(HEADER_READ_TIMEOUT);
    let connection = http.serve_connection(hyper_util::rt::TokioIo::new(stream), service);
    tokio::select! {
        _ = connection => {}
        _ = slot.evict.notified() => {}
        _ = tokio::time::sleep(CONNECTION_LIFETIME) => {}
    }
}

async fn route(State(endpoint): State<Endpoint>, uri: Uri) -> axum::response::Response {
    let routes = endpoint.shared.routes.load();
    let address = endpoint.address;
    match uri.path() {
        "/health" if routes.health.contains(&address) => (StatusCode::OK, "OK").into_response(),
        "/ready" if routes.ready.contains_key(&address) => {
            ready(&endpoint.shared, &routes.ready[&address])
        }
        "/metrics" if routes.metrics.contains(&address) => metrics(),
        _ => (StatusCode::NOT_FOUND, "404 page not found\n").into_response(),
    }
}

fn ready(shared: &Shared, set: &ReadySet) -> axum::response::Response {
    if shared
        .shutting_down
        .load(std::sync::atomic::Ordering::SeqCst)
    {
        return (StatusCode::SERVICE_UNAVAILABLE, "Shutting down").into_response();
    }
    let mut once = shared.ready_once.lock().expect("ready lock");
    let mut waiting: Vec<&str> = Vec::new();
    for (name, plugin) in &set.plugins {
        if !set.continuously && once.contains(name) {
            continue;
        }
        if plugin.ready().unwrap_or(true) {
            once.insert(name.clone());
        } else {
            waiting.push(name);
        }
    }
    let listening = shared
        .dns_listening
        .load(std::sync::atomic::Ordering::SeqCst);
    if waiting.is_empty() && listening {
        return (StatusCode::OK, "OK").into_response();
    }
    if waiting.is_empty() {
        // Every plugin is ready and the sockets are opening: name them all.
        waiting = set.plugins.iter().map(|(name, _)| name.as_str()).collect();
    }
    waiting.sort();
    waiting.dedup();
    let names = waiting.join(",");
    crate::logging::info("ready", &format!("Plugins not ready: {names:?}"));
    (StatusCode::SERVICE_UNAVAILABLE, names).into_response()
}

fn metrics() -> axum::response::Response {
    let body = crate::metrics::global().render();
    (
        [("content-type", "text/plain; version=0.0.4; charset=utf-8")],
        body,
    )
        .into_response()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::dns::{Flow, Next, Plugin, Request};

    /// A plugin that reports itself ready.
    struct Synced;

    impl Plugin for Synced {
        fn name(&self) -> &'static str {
            "kubernetes"
        }
        fn serve(&self, req: Request, next: Next) -> Flow {
            next.serve(req)
        }
        fn ready(&self) -> Option<bool> {
            Some(true)
        }
    }

    fn ready_answer(hub: &HttpHub, set: &ReadySet) -> StatusCode {
        ready(&hub.shared, set).status()
    }

    #[test]
    fn ready_waits_for_the_dns_listeners_then_for_nothing_else() {
        let hub = HttpHub::default();
        let set = ReadySet {
            plugins: vec![(
                "kubernetes".to_string(),
                Arc::new(Synced) as Arc<dyn Plugin>,
            )],
            continuously: false,
        };
        assert_eq!(ready_answer(&hub, &set), StatusCode::SERVICE_UNAVAILABLE);
        hub.dns_listening();
        assert_eq!(ready_answer(&hub, &set), StatusCode::OK);
        hub.begin_shutdown();
        assert_eq!(ready_answer(&hub, &set), StatusCode::SERVICE_UNAVAILABLE);
    }
}
