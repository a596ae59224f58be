//! The compact DNS form of the watched objects: only what answers need.

use std::net::IpAddr;
use std::sync::Arc;

/// A named port of a Service or an EndpointSlice. `port` is -1 for the
/// "no ports" sentinel CoreDNS uses.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Port {
    pub name: Arc<str>,
    pub protocol: Arc<str>,
    pub port: i32,
}

impl Port {
    /// The sentinel for an object with no ports: matches any request with
    /// no port or protocol, and never yields an SRV record.
    pub(crate) fn sentinel() -> Port {
        Port {
            name: Arc::from(""),
            protocol: Arc::from(""),
            port: -1,
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum ServiceKind {
    /// ClusterIP, NodePort or LoadBalancer: the cluster IPs.
    ClusterIp(Vec<IpAddr>),
    /// `clusterIP: None`: answered from ready endpoints.
    Headless,
    /// A CNAME to this name (not yet made fully qualified).
    ExternalName(String),
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Service {
    pub namespace: Arc<str>,
    pub name: Arc<str>,
    pub kind: ServiceKind,
    pub ports: Vec<Port>,
    /// `spec.externalIPs`, then each LoadBalancer ingress's IP or hostname,
    /// as CoreDNS keeps them for k8s_external.
    pub external: Vec<Arc<str>>,
}

/// One ready address of an EndpointSlice.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Address {
    pub ip: IpAddr,
    /// The address exactly as the slice wrote it (dashed names use it).
    pub text: Arc<str>,
    pub hostname: Option<Arc<str>>,
    /// `targetRef.name` when shorter than 64 characters.
    pub pod_name: Option<Arc<str>>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Slice {
    pub namespace: Arc<str>,
    /// The `kubernetes.io/service-name` label.
    pub service: Arc<str>,
    pub ports: Vec<Port>,
    /// Ready addresses only (`conditions.ready` unset or true).
    pub addresses: Vec<Address>,
}

/// A pod, for `pods verified`: only its primary IP and where it lives.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Pod {
    pub namespace: Arc<str>,
    pub name: Arc<str>,
    /// `status.podIP` exactly as written.
    pub ip: Arc<str>,
}

/// A namespace and its labels (for `namespace_labels`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Namespace {
    pub name: Arc<str>,
}

/// The name an endpoint address answers to: its hostname, the pod name
/// with `endpoint_pod_names`, or the dashed IP.
pub(crate) fn endpoint_hostname(address: &Address, pod_names: bool) -> String {
    if let Some(hostname) = &address.hostname {
        return hostname.to_string();
    }
    if pod_names && let Some(pod) = &address.pod_name {
        return pod.to_string();
    }
    dashed_ip(&address.text)
}

/// `10.11.12.13` → `10-11-12-13`; `5678:abcd::1` → `5678-abcd--1`; a
/// trailing `-` gets a `0` appended.
pub(crate) fn dashed_ip(text: &str) -> String {
    if text.contains(':') {
        let mut dashed = text.replace(':', "-");
        if dashed.ends_with('-') {
            dashed.push('0');
        }
        dashed
    } else {
        text.replace('.', "-")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dashed_forms() {
        assert_eq!(dashed_ip("10.11.12.13"), "10-11-12-13");
        assert_eq!(dashed_ip("5678:abcd::1"), "5678-abcd--1");
        assert_eq!(dashed_ip("2001:db8::"), "2001-db8--0");
        assert_eq!(dashed_ip("::1"), "--1");
    }
}
