//! Reduction of API objects (k8s-openapi types) to the compact model, done
//! once per object as it arrives; the API object is then dropped.

use std::sync::Arc;

use k8s_openapi::api::core::v1 as core;
use k8s_openapi::api::discovery::v1 as discovery;

use super::model::{Address, Namespace, Pod, Port, Service, ServiceKind, Slice};

const SERVICE_NAME_LABEL: &str = "kubernetes.io/service-name";

fn text(value: &Option<String>) -> Arc<str> {
    Arc::from(value.as_deref().unwrap_or(""))
}

/// A Service, or None when it has no name or no allocated address yet.
pub(crate) fn service(object: &core::Service) -> Option<Service> {
    let name = object.metadata.name.as_deref()?;
    let namespace = object.metadata.namespace.as_deref().unwrap_or("default");
    let spec = object.spec.as_ref()?;
    let kind = if spec.type_.as_deref() == Some("ExternalName") {
        ServiceKind::ExternalName(spec.external_name.clone().unwrap_or_default())
    } else {
        let ips: Vec<String> = match &spec.cluster_ips {
            Some(ips) if !ips.is_empty() => ips.clone(),
            _ => spec.cluster_ip.iter().cloned().collect(),
        };
        if ips.first().is_some_and(|ip| ip == "None") {
            ServiceKind::Headless
        } else {
            ServiceKind::ClusterIp(ips.iter().filter_map(|ip| ip.parse().ok()).collect())
        }
    };
    let mut ports: Vec<Port> = spec
        .ports
        .iter()
        .flatten()
        .map(|p| Port {
            name: text(&p.name),
            protocol: Arc::from(p.protocol.as_deref().unwrap_or("TCP")),
            port: p.port,
        })
        .collect();
    if ports.is_empty() {
        ports.push(Port::sentinel());
    }
    Some(Service {
        namespace: Arc::from(namespace),
        name: Arc::from(name),
        kind,
        ports,
        external: external_addresses(object),
    })
}

/// `spec.externalIPs`, then each LoadBalancer ingress's IP, or its
/// hostname when it has no IP.
fn external_addresses(object: &core::Service) -> Vec<Arc<str>> {
    let spec_ips = object
        .spec
        .iter()
        .flat_map(|spec| spec.external_ips.iter().flatten())
        .map(|ip| Arc::from(ip.as_str()));
    let ingress = object
        .status
        .iter()
        .flat_map(|status| status.load_balancer.iter())
        .flat_map(|lb| lb.ingress.iter().flatten())
        .map(|ingress| {
            let address = ingress.ip.as_deref().filter(|ip| !ip.is_empty());
            Arc::from(address.or(ingress.hostname.as_deref()).unwrap_or(""))
        });
    spec_ips.chain(ingress).collect()
}

/// An EndpointSlice with its ready addresses, or None without the
/// `kubernetes.io/service-name` label.
pub(crate) fn slice(object: &discovery::EndpointSlice) -> Option<Slice> {
    let service = object.metadata.labels.as_ref()?.get(SERVICE_NAME_LABEL)?;
    let namespace = object.metadata.namespace.as_deref().unwrap_or("default");
    let mut ports: Vec<Port> = object
        .ports
        .iter()
        .flatten()
        .map(|p| Port {
            name: text(&p.name),
            protocol: text(&p.protocol),
            port: p.port.unwrap_or(-1),
        })
        .collect();
    if ports.is_empty() {
        ports.push(Port::sentinel());
    }
    let addresses = object
        .endpoints
        .iter()
        .flatten()
        .filter(|e| e.conditions.as_ref().and_then(|c| c.ready) != Some(false))
        .flat_map(|e| {
            let hostname = e.hostname.as_deref().map(Arc::from);
            let pod_name = e
                .target_ref
                .as_ref()
                .and_then(|r| r.name.as_deref())
                .filter(|n| n.len() < 64)
                .map(Arc::from);
            e.addresses.iter().filter_map(move |text| {
                Some(Address {
                    ip: text.parse().ok()?,
                    text: Arc::from(text.as_str()),
                    hostname: hostname.clone(),
                    pod_name: pod_name.clone(),
                })
            })
        })
        .collect();
    Some(Slice {
        namespace: Arc::from(namespace),
        service: Arc::from(service.as_str()),
        ports,
        addresses,
    })
}

/// A pod with a primary IP, not being deleted and not finished (the same
/// filter as CoreDNS's field selector `status.phase!=Succeeded,…`).
pub(crate) fn pod(object: &core::Pod) -> Option<Pod> {
    if object.metadata.deletion_timestamp.is_some() {
        return None;
    }
    let status = object.status.as_ref()?;
    if matches!(
        status.phase.as_deref(),
        Some("Succeeded" | "Failed" | "Unknown")
    ) {
        return None;
    }
    let ip = status.pod_ip.as_deref().filter(|ip| !ip.is_empty())?;
    Some(Pod {
        namespace: Arc::from(object.metadata.namespace.as_deref().unwrap_or("default")),
        name: Arc::from(object.metadata.name.as_deref()?),
        ip: Arc::from(ip),
    })
}

pub(crate) fn namespace(object: &core::Namespace) -> Option<Namespace> {
    Some(Namespace {
        name: Arc::from(object.metadata.name.as_deref()?),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn external_addresses_are_spec_ips_then_each_ingress_ip_or_hostname() {
        let object: core::Service = serde_json::from_value(serde_json::json!({
            "metadata": {"name": "lb", "namespace": "shop"},
            "spec": {"type": "LoadBalancer", "clusterIP": "10.32.0.9",
                     "externalIPs": ["192.0.2.1"], "ports": [{"port": 80}]},
            "status": {"loadBalancer": {"ingress": [
                {"ip": "198.51.100.5", "hostname": "ignored.example"},
                {"hostname": "lb.example"}
            ]}}
        }))
        .unwrap();
        let service = service(&object).unwrap();
        let external: Vec<&str> = service.external.iter().map(|e| &**e).collect();
        assert_eq!(external, ["192.0.2.1", "198.51.100.5", "lb.example"]);
    }
}
