//! The running process: reloads (polled or on SIGUSR1) and shutdown.
//!
//! A reload builds the whole new configuration while the old one serves,
//! then swaps it into the running server, which keeps every socket open.

use std::sync::Arc;
use std::time::Duration;

use prometheus::{IntCounter, IntGaugeVec, Opts};
use tokio::sync::Mutex;

use crate::app::{self, Source};
use crate::logging;
use crate::server::Server;

/// `coredns_reload_failed_total` and `coredns_reload_version_info`.
struct ReloadMetrics {
    failed: IntCounter,
    version: IntGaugeVec,
}

fn reload_metrics() -> &'static ReloadMetrics {
    static METRICS: std::sync::LazyLock<ReloadMetrics> = std::sync::LazyLock::new(|| {
        let failed = IntCounter::new(
            "coredns_reload_failed_total",
            "Counter of the number of failed reload attempts.",
        )
        .expect("valid metric");
        let version = IntGaugeVec::new(
            Opts::new("coredns_reload_version_info", "A metric with a constant '1' value labeled by hash, and value which type of hash generated."),
            &["hash", "value"],
        )
        .expect("valid metric");
        crate::metrics::global().register(&failed);
        crate::metrics::global().register(&version);
        ReloadMetrics { failed, version }
    });
    &METRICS
}

/// Reloads the server from its source.
pub struct Reloader {
    pub server: Arc<Mutex<Server>>,
    source: Source,
    dns_port: u16,
    hash: Mutex<String>,
    period: Mutex<Option<Duration>>,
}

impl Reloader {
    pub fn new(
        server: Server,
        source: Source,
        dns_port: u16,
        hash: String,
        period: Option<Duration>,
    ) -> Arc<Reloader> {
        if period.is_some() {
            logging::info("reload", &format!("Running configuration SHA512 = {hash}"));
            reload_metrics()
                .version
                .with_label_values(&["sha512", &hash])
                .set(1);
        }
        Arc::new(Reloader {
            server: Arc::new(Mutex::new(server)),
            source,
            dns_port,
            hash: Mutex::new(hash),
            period: Mutex::new(period),
        })
    }

    /// Polls the Corefile while the configuration has `reload`.
    pub async fn poll(self: Arc<Self>) {
        loop {
            let Some(period) = *self.period.lock().await else {
                tokio::time::sleep(Duration::from_secs(1)).await;
                continue;
            };
            tokio::time::sleep(period).await;
            if self.period.lock().await.is_some() {
                self.check().await;
            }
        }
    }

    /// One poll tick: reload if the parsed configuration changed.
    async fn check(&self) {
        let hash = match app::parse_source(&self.source, self.dns_port) {
            Ok((_, hash)) => hash,
            Err(error) => {
                if !error.0.starts_with("open ") {
                    logging::warning("reload", &format!("Corefile parse failed: {error}"));
                }
                return;
            }
        };
        let mut current = self.hash.lock().await;
        if *current == hash {
            return;
        }
        let metrics = reload_metrics();
        let _ = metrics.version.remove_label_values(&["sha512", &current]);
        metrics.version.with_label_values(&["sha512", &hash]).set(1);
        *current = hash;
        drop(current);
        self.reload().await;
    }

    /// Builds and applies the configuration now (SIGUSR1, or a changed file).
    pub async fn reload(&self) {
        logging::level("INFO", "Reloading");
        // Building may block (forward looks hostname TOs up), so it runs
        // off the runtime's workers.
        let (source, dns_port) = (self.source.clone(), self.dns_port);
        let built = tokio::task::spawn_blocking(move || app::load(&source, dns_port)).await;
        let instance = match built {
            Ok(Ok(instance)) => instance,
            Ok(Err(error)) => return self.failed(&error.to_string()),
            Err(error) => return self.failed(&error.to_string()),
        };
        let (hash, period) = (instance.hash.clone(), instance.reload);
        let applied = self.server.lock().await.apply(instance).await;
        match applied {
            Ok(()) => {
                *self.hash.lock().await = hash.clone();
                *self.period.lock().await = period;
                if period.is_some() {
                    logging::info("reload", &format!("Running configuration SHA512 = {hash}"));
                }
                logging::level("INFO", "Reloading complete");
            }
            Err(error) => self.failed(&error.to_string()),
        }
    }

    fn failed(&self, error: &str) {
        reload_metrics().failed.inc();
        logging::level("ERROR", &format!("Restart failed: {error}"));
        logging::error(
            "reload",
            &format!("Corefile changed but reload failed: {error}"),
        );
    }
}
