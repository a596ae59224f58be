//! kubernetes: answers cluster names from watched (or snapshotted) objects.
//!
//! The plugin only routes: it finds the zone, reads the current index (one
//! atomic load, no lock), asks `kubernetes::lookup` for the outcome, and
//! turns it into a reply the way CoreDNS's handler does (authoritative
//! answers, SOA in negative replies, fallthrough, SERVFAIL while unsynced).

mod lookup;
mod parse;
pub(crate) mod setup;

use std::net::IpAddr;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use hickory_proto::op::ResponseCode;
use hickory_proto::rr::{Name, Record, RecordType};

use crate::corefile::{CorefileError, Dispenser};
use crate::dns::Request;
use crate::dns::names::{is_subdomain, longest_match};
use crate::dns::{DataEpoch, Exchange, Flow, Next, Plugin, Status};
use crate::kubernetes::client::{self, Connection};
use crate::kubernetes::snapshot;
use crate::kubernetes::source::Shared;
use crate::kubernetes::store::Store;
use crate::kubernetes::watch::{WatchOptions, spawn_watches};
use crate::logging;
use lookup::{Outcome, Settings};
use setup::Options;

pub(crate) struct Kubernetes {
    settings: Arc<Settings>,
    fallthrough: Option<Vec<String>>,
    options: Options,
    shared: Arc<Shared>,
    /// The hash of the snapshot loaded at setup (snapshot source only).
    snapshot_hash: u64,
    tasks: Mutex<Vec<tokio::task::JoinHandle<()>>>,
}

/// Sets the plugin up without contacting anything (so `-check` can run it).
/// `local_ips` are our addresses for NS answers.
pub(crate) fn setup(
    d: &mut Dispenser,
    block_zones: &[String],
    local_ips: Vec<IpAddr>,
    epoch: &DataEpoch,
) -> Result<Kubernetes, CorefileError> {
    let options = setup::parse(d, block_zones)?;
    let primary_zone = options
        .zones
        .iter()
        .find(|z| !parse::is_reverse(z))
        .cloned()
        .unwrap_or_default();
    let settings = Settings {
        zones: options.zones.clone(),
        primary_zone,
        ttl: options.ttl,
        pods: options.pods,
        endpoint_pod_names: options.endpoint_pod_names,
        namespaces: options.namespaces.clone(),
        ignore_empty_service: options.ignore_empty_service,
        local_ips,
    };
    let store = Store::new(
        !options.noendpoints,
        options.pods == lookup::PodMode::Verified,
    );
    let shared = Shared::new(store);
    let epoch = epoch.clone();
    shared.on_publish(Box::new(move || epoch.bump()));
    let mut snapshot_hash = 0;
    if let Connection::Snapshot(path) = &options.connection {
        let (objects, hash) = snapshot::read(path).map_err(CorefileError::plain)?;
        shared.update(|store| snapshot::load_into(store, objects));
        shared.publish();
        snapshot_hash = hash;
    }
    Ok(Kubernetes {
        settings: Arc::new(settings),
        fallthrough: options.fallthrough.clone(),
        options,
        shared,
        snapshot_hash,
        tasks: Mutex::new(Vec::new()),
    })
}

impl Drop for Kubernetes {
    fn drop(&mut self) {
        for task in self.tasks.lock().expect("tasks lock").drain(..) {
            task.abort();
        }
    }
}

impl Kubernetes {
    /// What the other plugins of the block may read (`plugin/pkg/cluster.rs`).
    pub(crate) fn cluster(&self) -> crate::plugin::pkg::cluster::Cluster {
        crate::plugin::pkg::cluster::Cluster {
            shared: self.shared.clone(),
            zones: self.settings.zones.clone(),
            namespaces: self.settings.namespaces.clone(),
            ttl: self.settings.ttl,
            local_ips: self.settings.local_ips.clone(),
            endpoint_pod_names: self.settings.endpoint_pod_names,
        }
    }

    /// Whether the pod index is kept (`pods verified`).
    pub(crate) fn pods_verified(&self) -> bool {
        self.settings.pods == lookup::PodMode::Verified
    }

    fn falls_through(&self, lower: &str) -> bool {
        self.fallthrough
            .as_ref()
            .is_some_and(|zones| zones.iter().any(|z| is_subdomain(z, lower)))
    }

    /// Builds the API client, retrying with backoff (an unreadable token
    /// file may appear later), then starts the watches.
    async fn connect(options: Options, shared: Arc<Shared>) -> Vec<tokio::task::JoinHandle<()>> {
        let client = client::connect_with_retry(&options.connection, |error| {
            logging::error("kubernetes", &error);
        })
        .await;
        if !options.noendpoints {
            crate::kubernetes::metrics::register();
        }
        let watch = WatchOptions {
            labels: options.labels.clone(),
            namespace_labels: options.namespace_labels.clone(),
            slices: !options.noendpoints,
            pods: options.pods == lookup::PodMode::Verified,
        };
        spawn_watches(client, &watch, &shared)
    }
}

impl Plugin for Kubernetes {
    fn name(&self) -> &'static str {
        "kubernetes"
    }

    fn ready(&self) -> Option<bool> {
        Some(self.shared.synced())
    }

    fn startup_timeout(&self) -> Option<Duration> {
        Some(self.options.startup_timeout)
    }

    fn start(&self) {
        let mut tasks = self.tasks.lock().expect("tasks lock");
        if !tasks.is_empty() {
            return;
        }
        tasks.push(tokio::spawn(self.shared.clone().run_publisher()));
        tasks.push(tokio::spawn(report_sync(
            self.shared.clone(),
            self.options.startup_timeout,
        )));
        match &self.options.connection {
            Connection::Snapshot(path) => tasks.push(tokio::spawn(snapshot::follow(
                path.clone(),
                self.shared.clone(),
                self.snapshot_hash,
            ))),
            _ => {
                let (options, shared) = (self.options.clone(), self.shared.clone());
                let handle = tokio::spawn(async move {
                    let watches = Kubernetes::connect(options, shared).await;
                    // Keep the watches alive as long as this task; abort them with it.
                    let _guard = AbortOnDrop(watches);
                    std::future::pending::<()>().await;
                });
                tasks.push(handle);
            }
        }
    }

    fn serve(&self, req: Request, next: Next) -> Flow {
        let zones = self.settings.zones.iter().map(String::as_str);
        let Some(zone_lower) = longest_match(zones, &req.qname_lower).map(str::to_string) else {
            return next.serve(req);
        };
        // Most clients send lower case, and then the spelling is the lower-case name.
        let zone = if crate::dns::names::has_upper(req.qname()) {
            zone_text(&req.qname().to_ascii(), &zone_lower)
        } else {
            zone_text(&req.qname_lower, &zone_lower)
        };
        let index = self.shared.index.load();
        let query = lookup::Query {
            qname: req.qname(),
            lower: &req.qname_lower,
            zone: &zone,
            zone_lower: &zone_lower,
            qtype: req.qtype(),
        };
        let outcome = lookup::resolve(&self.settings, &index, &query);
        match outcome {
            Outcome::Answer {
                answers,
                additionals,
            } => write_answer(memoizable(req), answers, additionals, false),
            Outcome::NoData => backend_error(
                memoizable(req),
                &self.settings,
                &index,
                &zone,
                ResponseCode::NoError,
            ),
            Outcome::NameError if self.falls_through(&req.qname_lower) => next.serve(req),
            Outcome::NameError if !index.synced => {
                backend_error(req, &self.settings, &index, &zone, ResponseCode::ServFail)
            }
            Outcome::NameError => backend_error(
                memoizable(req),
                &self.settings,
                &index,
                &zone,
                ResponseCode::NXDomain,
            ),
            Outcome::Refused => Flow::done(
                req,
                Status {
                    rcode: ResponseCode::Refused,
                    error: None,
                },
            ),
            Outcome::Chase {
                records,
                target,
                qtype,
            } => chase(req, records, target, qtype),
        }
    }
}

struct AbortOnDrop(Vec<tokio::task::JoinHandle<()>>);

impl Drop for AbortOnDrop {
    fn drop(&mut self) {
        for task in &self.0 {
            task.abort();
        }
    }
}

/// Marks a request whose reply will come from the index alone (not from a
/// chase through the server, not while unsynced): it may be remembered.
fn memoizable(mut req: Request) -> Request {
    req.memo = Some(crate::dns::MemoTerms::until_data_changes("kubernetes"));
    req
}

/// The zone as the client spelled it: the matching suffix of the qname.
fn zone_text(original: &str, zone_lower: &str) -> String {
    let original = if original.ends_with('.') {
        original.to_string()
    } else {
        format!("{original}.")
    };
    if zone_lower == "." {
        return ".".to_string();
    }
    original[original.len() - zone_lower.len()..].to_string()
}

fn write_answer(
    mut req: Request,
    answers: Vec<Record>,
    additionals: Vec<Record>,
    truncated: bool,
) -> Flow {
    let mut reply = req.reply_skeleton();
    reply.metadata.authoritative = true;
    reply.metadata.truncation = truncated;
    reply.answers = answers;
    reply.additionals = additionals;
    let status = req.write(reply, "kubernetes");
    Flow::done(req, status)
}

/// CoreDNS `BackendError`: an authoritative reply with the zone's SOA.
fn backend_error(
    mut req: Request,
    settings: &Settings,
    index: &crate::kubernetes::index::Index,
    zone: &str,
    rcode: ResponseCode,
) -> Flow {
    let mut reply = req.reply_skeleton();
    reply.metadata.response_code = rcode;
    reply.metadata.authoritative = true;
    reply.authorities = vec![lookup::soa(settings, index, zone)];
    req.write(reply, "kubernetes");
    Flow::done(req, Status::written(ResponseCode::NoError))
}

/// How often a list that has not arrived is reported once serving started.
const STALL_REPORT: Duration = Duration::from_secs(5);

/// Says what the first sync is doing: CoreDNS's lines while the server
/// holds its listeners for `startup_timeout` (after 500 ms unsynced, that
/// it waits; at the timeout, that it starts unsynced), and after that a
/// warning every 5 s until the objects are listed. Why the last: an API
/// server that accepts connections and never answers gives no watch
/// error, so without it nothing would say why names fail.
async fn report_sync(shared: Arc<Shared>, startup_timeout: Duration) {
    let started = tokio::time::Instant::now();
    let mut said_waiting = false;
    while started.elapsed() < startup_timeout {
        if shared.synced() {
            return;
        }
        if !said_waiting && started.elapsed() >= Duration::from_millis(500) {
            logging::info(
                "kubernetes",
                "waiting for Kubernetes API before starting server",
            );
            said_waiting = true;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    if shared.synced() {
        return;
    }
    logging::warning("kubernetes", "starting server with unsynced Kubernetes API");
    loop {
        tokio::time::sleep(STALL_REPORT).await;
        let waited = started.elapsed().as_secs();
        if shared.synced() {
            logging::info(
                "kubernetes",
                &format!("Kubernetes API synced after {waited}s"),
            );
            return;
        }
        logging::warning(
            "kubernetes",
            &format!(
                "Kubernetes API still not synced after {waited}s: the initial lists have not arrived"
            ),
        );
    }
}

/// An ExternalName outside the zone: the target goes through the whole
/// server again (cache, forward, …), and its answer section follows the
/// CNAME with its TC bit. As in CoreDNS the target's rcode is dropped: the
/// server always writes some reply (an error reply when no plugin did), so
/// an unanswerable target leaves the CNAME alone. Past the depth bound (a
/// loop of ExternalNames) the reply is NODATA.
fn chase(req: Request, mut records: Vec<Record>, target: Name, qtype: RecordType) -> Flow {
    let Some(sub) = req.internal(target, qtype) else {
        return write_answer(req, Vec::new(), Vec::new(), false);
    };
    let Some(upstream) = req.upstream.clone() else {
        return write_answer(req, Vec::new(), Vec::new(), false);
    };
    let Some(flow) = upstream.resolve(sub) else {
        return write_answer(req, records, Vec::new(), false);
    };
    flow.then(move |exchange: Exchange| {
        let (answers, truncated) = match exchange.req.reply {
            Some(reply) => (reply.msg.answers, reply.msg.metadata.truncation),
            None => (Vec::new(), false),
        };
        records.extend(answers);
        write_answer(req, records, Vec::new(), truncated)
    })
}
