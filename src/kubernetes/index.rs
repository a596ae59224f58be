//! The immutable query index built from the store and swapped atomically.

use std::collections::{HashMap, HashSet};
use std::net::IpAddr;
use std::sync::Arc;

use super::model::{Pod, Service, Slice};
use super::store::Store;

/// Every query hashes a name or an address into these maps; foldhash costs
/// a fraction of std's SipHash and is still seeded per process.
type Map<K, V> = HashMap<K, V, foldhash::fast::RandomState>;
type Set<K> = HashSet<K, foldhash::fast::RandomState>;

/// namespace → name → value; nested so lookups by `&str` allocate nothing.
type ByName<T> = Map<Arc<str>, Map<Arc<str>, T>>;

#[derive(Debug, Default)]
pub struct Index {
    /// Services by namespace and name.
    pub services: Arc<ByName<Arc<Service>>>,
    /// Services by each cluster IP.
    pub cluster_ips: Arc<Map<IpAddr, Vec<Arc<Service>>>>,
    /// Slices by namespace and `kubernetes.io/service-name` label.
    pub slices: Arc<ByName<Vec<Arc<Slice>>>>,
    /// Slices by each ready address.
    pub endpoint_ips: Arc<Map<IpAddr, Vec<Arc<Slice>>>>,
    /// Pods by `status.podIP` text (verified mode).
    pub pods: Arc<Map<Arc<str>, Vec<Arc<Pod>>>>,
    pub namespaces: Arc<Set<Arc<str>>>,
    pub serial: u32,
    pub synced: bool,
}

/// Which kinds changed since the last index was built.
#[derive(Debug, Clone, Copy, Default)]
pub struct Changed {
    pub services: bool,
    pub slices: bool,
    pub pods: bool,
    pub namespaces: bool,
    /// Whether `previous` is the index of the store before these changes,
    /// so a few changed Services may be patched into it.
    pub incremental: bool,
}

impl Changed {
    pub const ALL: Changed = Changed {
        services: true,
        slices: true,
        pods: true,
        namespaces: true,
        incremental: false,
    };
}

impl Index {
    /// Builds every part from the store.
    pub fn build(store: &Store) -> Index {
        Index::rebuild(store, &Index::default(), Changed::ALL)
    }

    /// A new index that rebuilds only the parts of the kinds that changed
    /// and shares the rest with `previous`. Why: at 100k Pods and endpoints
    /// a full rebuild takes tens of milliseconds, and a Service write (or a
    /// Pod's) should not wait for the endpoints to be re-indexed.
    pub fn rebuild(store: &Store, previous: &Index, changed: Changed) -> Index {
        let touched = store
            .services
            .last_touched()
            .filter(|_| changed.incremental);
        let (services, cluster_ips) = if let (true, Some(keys)) = (changed.services, touched) {
            let (by_name, by_ip) = services_patched(store, previous, keys);
            (Arc::new(by_name), Arc::new(by_ip))
        } else if changed.services {
            let (by_name, by_ip) = services_parts(store);
            (Arc::new(by_name), Arc::new(by_ip))
        } else {
            (previous.services.clone(), previous.cluster_ips.clone())
        };
        let (slices, endpoint_ips) = if changed.slices {
            let (by_name, by_ip) = slices_parts(store);
            (Arc::new(by_name), Arc::new(by_ip))
        } else {
            (previous.slices.clone(), previous.endpoint_ips.clone())
        };
        Index {
            services,
            cluster_ips,
            slices,
            endpoint_ips,
            pods: if changed.pods {
                Arc::new(pods_part(store))
            } else {
                previous.pods.clone()
            },
            namespaces: if changed.namespaces {
                Arc::new(store.namespaces.values().map(|n| n.name.clone()).collect())
            } else {
                previous.namespaces.clone()
            },
            serial: store.serial,
            synced: store.synced(),
        }
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

type ServicesByIp = Map<IpAddr, Vec<Arc<Service>>>;

/// The previous Service maps with the `touched` keys (`namespace/name`)
/// replaced by what the store holds now. The store tracks up to
/// `TRACKED_KEYS` of them; more (or a relist) rebuild the maps. Why: at 5k
/// Services a rebuild took 1.4–3 ms, which every Service write waited for.
fn services_patched(
    store: &Store,
    previous: &Index,
    touched: &[String],
) -> (ByName<Arc<Service>>, ServicesByIp) {
    let mut by_name = (*previous.services).clone();
    let mut by_ip = (*previous.cluster_ips).clone();
    for key in touched {
        let Some((namespace, name)) = key.split_once('/') else {
            continue;
        };
        let old = by_name
            .get_mut(namespace)
            .and_then(|names| names.remove(name));
        if by_name.get(namespace).is_some_and(|names| names.is_empty()) {
            by_name.remove(namespace);
        }
        if let Some(old) = old {
            remove_cluster_ips(&mut by_ip, &old);
        }
        if let Some(service) = store.services.get(key) {
            add_service(&mut by_name, &mut by_ip, service);
        }
    }
    (by_name, by_ip)
}

fn remove_cluster_ips(by_ip: &mut ServicesByIp, old: &Arc<Service>) {
    let super::model::ServiceKind::ClusterIp(ips) = &old.kind else {
        return;
    };
    for ip in ips {
        if let Some(services) = by_ip.get_mut(ip) {
            services.retain(|s| !Arc::ptr_eq(s, old));
            if services.is_empty() {
                by_ip.remove(ip);
            }
        }
    }
}

fn add_service(
    by_name: &mut ByName<Arc<Service>>,
    by_ip: &mut ServicesByIp,
    service: &Arc<Service>,
) {
    if let super::model::ServiceKind::ClusterIp(ips) = &service.kind {
        for ip in ips {
            by_ip.entry(*ip).or_default().push(service.clone());
        }
    }
    let names = by_name.entry(service.namespace.clone()).or_default();
    names.insert(service.name.clone(), service.clone());
}

fn services_parts(store: &Store) -> (ByName<Arc<Service>>, ServicesByIp) {
    let mut by_name: ByName<Arc<Service>> = Map::default();
    let mut by_ip: ServicesByIp = Map::default();
    for service in store.services.values() {
        add_service(&mut by_name, &mut by_ip, service);
    }
    (by_name, by_ip)
}

type SlicesByIp = Map<IpAddr, Vec<Arc<Slice>>>;

fn slices_parts(store: &Store) -> (ByName<Vec<Arc<Slice>>>, SlicesByIp) {
    let mut by_name: ByName<Vec<Arc<Slice>>> = Map::default();
    let mut by_ip: SlicesByIp = Map::default();
    for slice in store.slices.values() {
        let names = by_name.entry(slice.namespace.clone()).or_default();
        names
            .entry(slice.service.clone())
            .or_default()
            .push(slice.clone());
        for address in &slice.addresses {
            let at = by_ip.entry(address.ip).or_default();
            if !at.iter().any(|s| Arc::ptr_eq(s, slice)) {
                at.push(slice.clone());
            }
        }
    }
    (by_name, by_ip)
}

fn pods_part(store: &Store) -> Map<Arc<str>, Vec<Arc<Pod>>> {
    let mut by_ip: Map<Arc<str>, Vec<Arc<Pod>>> = Map::default();
    for pod in store.pods.values() {
        by_ip.entry(pod.ip.clone()).or_default().push(pod.clone());
    }
    by_ip
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::kubernetes::model::{Address, ServiceKind};

    fn service(name: &str, ip: [u8; 4]) -> Service {
        Service {
            namespace: "ns".into(),
            name: name.into(),
            kind: ServiceKind::ClusterIp(vec![IpAddr::from(ip)]),
            ports: Vec::new(),
        }
    }

    fn slice(service: &str, ip: [u8; 4]) -> Slice {
        Slice {
            namespace: "ns".into(),
            service: service.into(),
            ports: Vec::new(),
            addresses: vec![Address {
                ip: IpAddr::from(ip),
                text: IpAddr::from(ip).to_string().into(),
                hostname: None,
                pod_name: None,
            }],
        }
    }

    #[test]
    fn a_rebuild_shares_the_parts_of_unchanged_kinds_and_sees_the_changed_ones() {
        let mut store = Store::new(true, true);
        store
            .services
            .apply("ns/a".into(), Some(service("a", [10, 0, 0, 1])));
        store
            .slices
            .apply("ns/a-1".into(), Some(slice("a", [10, 1, 0, 1])));
        store.take_changes();
        let first = store.index();

        store
            .services
            .apply("ns/b".into(), Some(service("b", [10, 0, 0, 2])));
        let changed = store.take_changes();
        let second = Index::rebuild(&store, &first, changed);
        assert!(second.service("ns", "b").is_some(), "the new Service");
        assert!(
            second
                .cluster_ips
                .contains_key(&IpAddr::from([10, 0, 0, 2]))
        );
        assert!(Arc::ptr_eq(&first.slices, &second.slices), "slices shared");
        assert!(Arc::ptr_eq(&first.endpoint_ips, &second.endpoint_ips));
        assert!(Arc::ptr_eq(&first.pods, &second.pods));
        assert!(!Arc::ptr_eq(&first.services, &second.services));

        store.slices.delete("ns/a-1");
        let changed = store.take_changes();
        let third = Index::rebuild(&store, &second, changed);
        assert!(
            third.service_slices("ns", "a").is_empty(),
            "the slice is gone"
        );
        assert!(third.endpoint_ips.is_empty());
        assert!(
            Arc::ptr_eq(&second.services, &third.services),
            "services shared"
        );

        let changed = store.take_changes();
        let unchanged = Index::rebuild(&store, &third, changed);
        assert!(Arc::ptr_eq(&third.services, &unchanged.services));
        assert!(Arc::ptr_eq(&third.slices, &unchanged.slices));
    }

    /// The Service maps as comparable text: every namespace/name and every
    /// address with its Services' names, sorted.
    fn service_view(index: &Index) -> (Vec<String>, Vec<String>) {
        let mut names: Vec<String> = index
            .services
            .iter()
            .flat_map(|(ns, names)| {
                names
                    .iter()
                    .map(move |(name, s)| format!("{ns}/{name}={:?}", s.kind))
            })
            .collect();
        names.sort();
        let mut ips: Vec<String> = index
            .cluster_ips
            .iter()
            .map(|(ip, services)| {
                let mut owners: Vec<&str> = services.iter().map(|s| &*s.name).collect();
                owners.sort();
                format!("{ip}={owners:?}")
            })
            .collect();
        ips.sort();
        (names, ips)
    }

    #[test]
    fn a_few_changed_services_are_patched_into_the_same_maps_a_rebuild_makes() {
        let mut store = Store::new(true, true);
        for (name, last) in [("a", 1), ("b", 2), ("c", 3)] {
            store
                .services
                .apply(format!("ns/{name}"), Some(service(name, [10, 0, 0, last])));
        }
        let other = Service {
            namespace: "other".into(),
            ..service("x", [10, 0, 0, 9])
        };
        store.services.apply("other/x".into(), Some(other));
        store.take_changes();
        let mut index = store.index();
        type Step = Box<dyn Fn(&mut Store)>;
        let steps: Vec<Step> = vec![
            Box::new(|s| {
                s.services
                    .apply("ns/d".into(), Some(service("d", [10, 0, 0, 4])));
            }),
            Box::new(|s| {
                s.services
                    .apply("ns/a".into(), Some(service("a", [10, 0, 0, 2])));
            }),
            Box::new(|s| {
                s.services.delete("ns/b");
            }),
            Box::new(|s| {
                s.services.delete("other/x");
                s.services
                    .apply("ns/c".into(), Some(service("c", [10, 0, 0, 5])));
            }),
        ];
        for step in steps {
            step(&mut store);
            let changed = store.take_changes();
            let patched = Index::rebuild(&store, &index, changed);
            assert_eq!(service_view(&patched), service_view(&store.index()));
            index = patched;
        }
        assert!(index.service("ns", "b").is_none());
        assert!(
            index.services.get("other").is_none(),
            "an emptied namespace goes"
        );
        assert_eq!(
            index.cluster_ips[&IpAddr::from([10, 0, 0, 2])].len(),
            1,
            "a moved to b's old address, b is gone"
        );
    }
}
