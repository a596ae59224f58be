//! The immutable query index built from the store and swapped atomically.

use std::collections::{HashMap, HashSet};
use std::net::IpAddr;
use std::sync::Arc;

use super::model::{Pod, Service, Slice};
use super::store::Store;

/// namespace → name → value; nested so lookups by `&str` allocate nothing.
type ByName<T> = HashMap<Arc<str>, HashMap<Arc<str>, T>>;

#[derive(Debug, Default)]
pub struct Index {
    /// Services by namespace and name.
    pub services: ByName<Arc<Service>>,
    /// Slices by namespace and `kubernetes.io/service-name` label.
    pub slices: ByName<Vec<Arc<Slice>>>,
    pub namespaces: HashSet<Arc<str>>,
    /// Services by each cluster IP.
    pub cluster_ips: HashMap<IpAddr, Vec<Arc<Service>>>,
    /// Slices by each ready address.
    pub endpoint_ips: HashMap<IpAddr, Vec<Arc<Slice>>>,
    /// Pods by `status.podIP` text (verified mode).
    pub pods: HashMap<Arc<str>, Vec<Arc<Pod>>>,
    pub serial: u32,
    pub synced: bool,
}

impl Index {
    pub fn build(store: &Store) -> Index {
        let mut index = Index {
            serial: store.serial,
            synced: store.synced(),
            ..Default::default()
        };
        for service in store.services.values() {
            if let super::model::ServiceKind::ClusterIp(ips) = &service.kind {
                for ip in ips {
                    index
                        .cluster_ips
                        .entry(*ip)
                        .or_default()
                        .push(service.clone());
                }
            }
            let names = index.services.entry(service.namespace.clone()).or_default();
            names.insert(service.name.clone(), service.clone());
        }
        for slice in store.slices.values() {
            let names = index.slices.entry(slice.namespace.clone()).or_default();
            names
                .entry(slice.service.clone())
                .or_default()
                .push(slice.clone());
            for address in &slice.addresses {
                let at = index.endpoint_ips.entry(address.ip).or_default();
                if !at.iter().any(|s| Arc::ptr_eq(s, slice)) {
                    at.push(slice.clone());
                }
            }
        }
        for pod in store.pods.values() {
            index
                .pods
                .entry(pod.ip.clone())
                .or_default()
                .push(pod.clone());
        }
        index.namespaces = store.namespaces.values().map(|n| n.name.clone()).collect();
        index
    }

    pub fn service(&self, namespace: &str, name: &str) -> Option<&Arc<Service>> {
        self.services.get(namespace)?.get(name)
    }

    pub fn service_slices(&self, namespace: &str, name: &str) -> &[Arc<Slice>] {
        self.slices
            .get(namespace)
            .and_then(|n| n.get(name))
            .map(Vec::as_slice)
            .unwrap_or(&[])
    }
}
