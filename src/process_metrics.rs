//! The `process_*` metrics, with CPU time in fractions of a second.
//!
//! Why not the prometheus crate's collector as it is: it divides the clock
//! ticks by the tick rate in integers, so `process_cpu_seconds_total`
//! moves in whole seconds (0 where CoreDNS's Go collector showed 0.07
//! under the same load) and a rate over it is useless. This collector
//! reports the crate's other process metrics unchanged and the CPU time
//! from the same ticks as a float.

use prometheus::core::{Collector, Desc};
use prometheus::process_collector::ProcessCollector;
use prometheus::proto::MetricFamily;
use prometheus::{Counter, Opts};

const CPU: &str = "process_cpu_seconds_total";

pub(crate) struct ProcessMetrics {
    inner: ProcessCollector,
    cpu: Counter,
    ticks_per_second: f64,
}

impl ProcessMetrics {
    pub(crate) fn for_self() -> ProcessMetrics {
        // SAFETY: sysconf reads a constant of the running system; it takes
        // no pointers and has no preconditions.
        let ticks = unsafe { libc::sysconf(libc::_SC_CLK_TCK) };
        ProcessMetrics {
            inner: ProcessCollector::for_self(),
            cpu: Counter::with_opts(Opts::new(
                CPU,
                "Total user and system CPU time spent in seconds.",
            ))
            .expect("valid metric"),
            ticks_per_second: if ticks > 0 { ticks as f64 } else { 100.0 },
        }
    }

    /// User plus system CPU seconds of this process, from /proc/self/stat.
    fn cpu_seconds(&self) -> Option<f64> {
        let stat = std::fs::read_to_string("/proc/self/stat").ok()?;
        // The command name is in parentheses and may hold spaces; utime and
        // stime are the 12th and 13th fields after it.
        let fields: Vec<&str> = stat.rsplit_once(')')?.1.split_whitespace().collect();
        let utime: f64 = fields.get(11)?.parse().ok()?;
        let stime: f64 = fields.get(12)?.parse().ok()?;
        Some((utime + stime) / self.ticks_per_second)
    }
}

impl Collector for ProcessMetrics {
    fn desc(&self) -> Vec<&Desc> {
        self.inner.desc()
    }

    fn collect(&self) -> Vec<MetricFamily> {
        if let Some(total) = self.cpu_seconds() {
            let past = self.cpu.get();
            if total > past {
                self.cpu.inc_by(total - past);
            }
        }
        let mut families: Vec<MetricFamily> = self
            .inner
            .collect()
            .into_iter()
            .filter(|family| family.name() != CPU)
            .collect();
        families.extend(self.cpu.collect());
        families
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cpu_time_has_a_fraction_and_the_other_process_metrics_stay() {
        let metrics = ProcessMetrics::for_self();
        let cpu_now = || {
            let families = metrics.collect();
            let cpu = families.iter().find(|f| f.name() == CPU).expect("cpu");
            cpu.get_metric()[0].get_counter().value()
        };
        // Spin until a reading falls between two whole seconds (the
        // crate's own collector can only ever report whole ones).
        let spin = std::time::Instant::now();
        let mut fractional = None;
        while fractional.is_none() && spin.elapsed() < std::time::Duration::from_secs(3) {
            std::hint::black_box(spin.elapsed());
            let value = cpu_now();
            fractional = (value.fract() != 0.0).then_some(value);
        }
        assert!(fractional.is_some(), "never a fraction: {}", cpu_now());
        let families = metrics.collect();
        for name in [
            "process_resident_memory_bytes",
            "process_open_fds",
            "process_start_time_seconds",
        ] {
            assert!(families.iter().any(|f| f.name() == name), "{name}");
        }
        assert_eq!(families.iter().filter(|f| f.name() == CPU).count(), 1);
    }
}
