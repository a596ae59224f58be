//! `health` asks itself: once a second, a GET of each configured `/health`
//! address, timed into `coredns_health_request_duration_seconds`, and
//! counted in `coredns_health_request_failures_total` when it fails, as
//! CoreDNS's health plugin does (its `overloaded` loop).
//!
//! Why: the kubelet's liveness probe sees only pass or fail; a local probe
//! that slows down (the process starved of CPU, the listener crowded) shows
//! on the dashboards before the pod is killed.

use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::sync::LazyLock;
use std::time::{Duration, Instant};

use prometheus::{Histogram, HistogramOpts, IntCounter};
use tokio::io::{AsyncReadExt, AsyncWriteExt};

use crate::metrics::global;

/// How long one probe may take (CoreDNS's client timeout).
const PROBE_TIMEOUT: Duration = Duration::from_secs(3);
/// A local probe slower than this is logged.
const SLOW: Duration = Duration::from_secs(1);

struct ProbeMetrics {
    duration: Histogram,
    failures: IntCounter,
}

fn metrics() -> &'static ProbeMetrics {
    static METRICS: LazyLock<ProbeMetrics> = LazyLock::new(|| {
        // CoreDNS's SlimTimeBuckets: 0.25 ms to 2.5 s, times 10.
        let buckets = prometheus::exponential_buckets(0.00025, 10.0, 5).expect("buckets");
        let duration = Histogram::with_opts(
            HistogramOpts::new(
                "coredns_health_request_duration_seconds",
                "Histogram of the time (in seconds) each request took.",
            )
            .buckets(buckets),
        )
        .expect("valid metric");
        let failures = IntCounter::new(
            "coredns_health_request_failures_total",
            "The number of times the health check failed.",
        )
        .expect("valid metric");
        global().register(&duration);
        global().register(&failures);
        ProbeMetrics { duration, failures }
    });
    &METRICS
}

/// Registers the two metrics (so they show before the first probe).
pub(crate) fn register() {
    metrics();
}

/// Where a listener on `address` is asked: the address itself, or
/// 127.0.0.1 for an all-interfaces one (CoreDNS asks `localhost`).
pub(crate) fn target(address: SocketAddr) -> SocketAddr {
    if address.ip().is_unspecified() {
        SocketAddr::new(IpAddr::V4(Ipv4Addr::LOCALHOST), address.port())
    } else {
        address
    }
}

/// Probes `address` once and records the outcome.
pub(crate) async fn probe(address: SocketAddr) {
    let url = format!("http://{}/health", target(address));
    let started = Instant::now();
    let outcome = tokio::time::timeout(PROBE_TIMEOUT, get_health(target(address))).await;
    let took = started.elapsed();
    let metrics = metrics();
    metrics.duration.observe(took.as_secs_f64());
    match outcome {
        Ok(Ok(())) if took > SLOW => crate::logging::warning(
            "health",
            &format!("Local health request to {url:?} took more than 1s: {took:?}"),
        ),
        Ok(Ok(())) => {}
        Ok(Err(error)) => {
            metrics.failures.inc();
            crate::logging::warning(
                "health",
                &format!("Local health request to {url:?} failed: {error}"),
            );
        }
        Err(_) => {
            metrics.failures.inc();
            crate::logging::warning(
                "health",
                &format!("Local health request to {url:?} failed: timeout after {PROBE_TIMEOUT:?}"),
            );
        }
    }
}

/// One `GET /health`, which must answer 200.
async fn get_health(address: SocketAddr) -> std::io::Result<()> {
    let mut stream = tokio::net::TcpStream::connect(address).await?;
    let request = format!("GET /health HTTP/1.1\r\nHost: {address}\r\nConnection: close\r\n\r\n");
    stream.write_all(request.as_bytes()).await?;
    let mut head = Vec::with_capacity(128);
    (&mut stream).take(4096).read_to_end(&mut head).await?;
    if head.starts_with(b"HTTP/1.1 200") {
        Ok(())
    } else {
        let line = String::from_utf8_lossy(&head);
        let status = line.lines().next().unwrap_or("no reply");
        Err(std::io::Error::other(format!("status {status:?}")))
    }
}
