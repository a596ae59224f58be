//! hosts's metrics: `coredns_hosts_entries{hostsfile}` and
//! `coredns_hosts_reload_timestamp_seconds`, set each time the file is read.

use std::sync::LazyLock;

use prometheus::{Gauge, GaugeVec, Opts};

use crate::metrics::global;

struct Gauges {
    entries: GaugeVec,
    reloaded: Gauge,
}

fn gauges() -> &'static Gauges {
    static GAUGES: LazyLock<Gauges> = LazyLock::new(|| {
        let entries = GaugeVec::new(
            Opts::new(
                "coredns_hosts_entries",
                "The combined number of entries in hosts and Corefile.",
            ),
            &["hostsfile"],
        )
        .expect("valid metric");
        global().register(&entries);
        let reloaded = Gauge::new(
            "coredns_hosts_reload_timestamp_seconds",
            "The timestamp of the last reload of hosts file.",
        )
        .expect("valid metric");
        global().register(&reloaded);
        Gauges { entries, reloaded }
    });
    &GAUGES
}

/// Records a read of `path`: its entry count (with the inline ones) and
/// the file's modification time.
pub(super) fn file_read(path: &str, entries: usize, modified: std::time::SystemTime) {
    let gauges = gauges();
    gauges
        .entries
        .with_label_values(&[path])
        .set(entries as f64);
    let seconds = modified
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs_f64())
        .unwrap_or(0.0);
    gauges.reloaded.set(seconds);
}
