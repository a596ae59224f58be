//! Side by side with a real CoreDNS 1.14.7 on the same real kube-apiserver
//! state: the core plugins, forward, the plugins distributions add, every
//! distribution's default Corefile, and Corefile error messages.
//!
//! One test binary, so the tests share one etcd + kube-apiserver (each
//! test that writes objects makes its own namespace) and `tests/support`
//! is compiled once.

#[path = "../support/mod.rs"]
mod support;

mod corefile_errors_vs_coredns;
mod differential_core;
mod differential_forward;
mod differential_plugins;
mod distributions;
