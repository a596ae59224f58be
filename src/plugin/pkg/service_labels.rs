//! The port and protocol labels of a Service name (`_port._proto.svc…`),
//! read as CoreDNS reads them for kubernetes and k8s_external alike.

/// A label without its leading underscore, if it has one.
pub(crate) fn strip_underscore(label: &str) -> &str {
    label.strip_prefix('_').unwrap_or(label)
}

/// Whether a port or protocol label fits a Service's: empty fits all,
/// otherwise compared without case.
pub(crate) fn matches(wanted: &str, value: &str) -> bool {
    wanted.is_empty() || wanted.eq_ignore_ascii_case(value)
}
