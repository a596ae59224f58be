//! Log lines in CoreDNS's format: `[LEVEL] plugin/NAME: msg`, no timestamp,
//! on stdout.
//!
//! Why not `tracing`: dashboards and log pipelines parse CoreDNS's exact
//! lines, and a subscriber on the hot path costs throughput. Nothing here
//! runs per query unless the `log` plugin is on.

use std::io::Write;

/// Writes one line to stdout.
pub fn line(text: &str) {
    let mut out = std::io::stdout().lock();
    let _ = writeln!(out, "{text}");
}

pub fn info(plugin: &str, msg: &str) {
    line(&format!("[INFO] plugin/{plugin}: {msg}"));
}

pub fn warning(plugin: &str, msg: &str) {
    line(&format!("[WARNING] plugin/{plugin}: {msg}"));
}

pub fn error(plugin: &str, msg: &str) {
    line(&format!("[ERROR] plugin/{plugin}: {msg}"));
}

/// A line at LEVEL without a plugin prefix (e.g. `[INFO] Reloading`).
pub fn level(level: &str, msg: &str) {
    line(&format!("[{level}] {msg}"));
}

/// `[WARNING] msg`, used by the Corefile parser.
pub fn warning_raw(msg: &str) {
    level("WARNING", msg);
}
