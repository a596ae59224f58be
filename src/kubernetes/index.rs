//! The immutable query index built from the store and swapped atomically.
//!
//! A write to the store reaches the index as a patch: the maps of the
//! changed kind are cloned shallowly (per namespace, per shard) and only the
//! changed objects are removed and added, so a write costs microseconds at
//! 5k Services or 100k endpoints. A relist, or more than `TRACKED_KEYS`
//! changes in one batch, rebuilds the kind instead.

use std::collections::HashSet;
use std::net::IpAddr;
use std::sync::Arc;

use super::model::{Pod, Service, ServiceKind, Slice};
pub(crate) use super::sharded::Map;
use super::sharded::Sharded;
use super::store::{Change, Changed, Store, Table};

type Set<K> = HashSet<K, foldhash::fast::RandomState>;

/// namespace → name → value; nested so lookups by `&str` allocate nothing,
/// and each namespace is its own `Arc`, so a patch copies only the
/// namespaces it changes.
pub(crate) type ByName<T> = Map<Arc<str>, Arc<Map<Arc<str>, T>>>;

/// The objects at one name or address. Shared rather than a `Vec`, so
/// copying a map for a patch costs a reference count per entry, not an
/// allocation; a patch replaces the one list it changes.
pub(crate) type List<T> = Arc<[Arc<T>]>;

pub(crate) type ServicesByIp = Sharded<IpAddr, List<Service>>;
pub(crate) type SlicesByIp = Sharded<IpAddr, List<Slice>>;
pub(crate) type PodsByIp = Sharded<Arc<str>, List<Pod>>;

#[derive(Debug, Default)]
pub(crate) struct Index {
    /// Services by namespace and name.
    pub services: Arc<ByName<Arc<Service>>>,
    /// Services by each cluster IP.
    pub cluster_ips: Arc<ServicesByIp>,
    /// Slices by namespace and `kubernetes.io/service-name` label.
    pub slices: Arc<ByName<List<Slice>>>,
    /// Slices by each ready address.
    pub endpoint_ips: Arc<SlicesByIp>,
    /// Pods by `status.podIP` text (verified mode).
    pub pods: Arc<PodsByIp>,
    pub namespaces: Arc<Set<Arc<str>>>,
    pub serial: u32,
    pub synced: bool,
}

impl Index {
    /// Builds every part from the store.
    pub(crate) fn build(store: &Store) -> Index {
        Index::assemble(
            store,
            built(&store.services),
            built(&store.slices),
            built(&store.pods),
            Arc::new(namespace_names(store)),
        )
    }

    /// The index after the `changed` kinds of the store changed, where
    /// `previous` is the index of the store before those changes: the
    /// changed kinds are patched (or rebuilt), the rest is shared. Why: a
    /// Service or endpoint write should not wait for 100k endpoints or Pods
    /// to be re-indexed; every write delays answers by the time this takes.
    pub(crate) fn rebuild(store: &Store, previous: &Index, changed: Changed) -> Index {
        let namespaces = match changed.namespaces {
            true => Arc::new(namespace_names(store)),
            false => previous.namespaces.clone(),
        };
        Index::assemble(
            store,
            remade_part::<Service>(store, previous, changed.services),
            remade_part::<Slice>(store, previous, changed.slices),
            remade_part::<Pod>(store, previous, changed.pods),
            namespaces,
        )
    }

    fn assemble(
        store: &Store,
        (services, cluster_ips): Parts<Service>,
        (slices, endpoint_ips): Parts<Slice>,
        (_, pods): Parts<Pod>,
        namespaces: Arc<Set<Arc<str>>>,
    ) -> Index {
        Index {
            services,
            cluster_ips,
            slices,
            endpoint_ips,
            pods,
            namespaces,
            serial: store.serial,
            synced: store.synced(),
        }
    }

    pub(crate) fn service(&self, namespace: &str, name: &str) -> Option<&Arc<Service>> {
        self.services.get(namespace)?.get(name)
    }

    pub(crate) fn service_slices(&self, namespace: &str, name: &str) -> &[Arc<Slice>] {
        self.slices
            .get(namespace)
            .and_then(|n| n.get(name))
            .map(|slices| &slices[..])
            .unwrap_or(&[])
    }
}

/// One kind's two maps in the index (by name, by address), and how an
/// object is added to them or removed from them.
trait Indexed: Sized + PartialEq {
    type ByName: Clone + Default;
    type ByAddress: Clone + Default;
    fn table(store: &Store) -> &Table<Self>;
    /// The maps of `index`, shared.
    fn parts(index: &Index) -> Parts<Self>;
    fn add(by_name: &mut Self::ByName, by_ip: &mut Self::ByAddress, object: &Arc<Self>);
    /// Removes `old` (by identity); copies only what it changes.
    fn remove(by_name: &mut Self::ByName, by_ip: &mut Self::ByAddress, old: &Arc<Self>);
}

type Parts<T> = (Arc<<T as Indexed>::ByName>, Arc<<T as Indexed>::ByAddress>);

/// One kind's maps for the next index: the previous ones when the kind did
/// not change; when it did, a patch of them if the table knows which keys
/// changed, else a rebuild.
fn remade_part<T: Indexed>(store: &Store, previous: &Index, changed: bool) -> Parts<T> {
    if !changed {
        return T::parts(previous);
    }
    let table = T::table(store);
    match table.last_touched() {
        Some(changes) => patched::<T>(T::parts(previous), table, changes),
        None => built::<T>(table),
    }
}

fn namespace_names(store: &Store) -> Set<Arc<str>> {
    store.namespaces.values().map(|n| n.name.clone()).collect()
}

/// Shallow copies of the maps, with each changed key's old object removed
/// and its current one added.
fn patched<T: Indexed>(
    (by_name, by_ip): Parts<T>,
    table: &Table<T>,
    changes: &[Change<T>],
) -> Parts<T> {
    let (mut by_name, mut by_ip) = ((*by_name).clone(), (*by_ip).clone());
    for change in changes {
        if let Some(old) = &change.before {
            T::remove(&mut by_name, &mut by_ip, old);
        }
        if let Some(object) = table.get(&change.key) {
            T::add(&mut by_name, &mut by_ip, object);
        }
    }
    (Arc::new(by_name), Arc::new(by_ip))
}

fn built<T: Indexed>(table: &Table<T>) -> Parts<T> {
    let (mut by_name, mut by_ip) = (T::ByName::default(), T::ByAddress::default());
    for object in table.values() {
        T::add(&mut by_name, &mut by_ip, object);
    }
    (Arc::new(by_name), Arc::new(by_ip))
}

/// Removes `old` from the `name` entry of `namespace`, dropping emptied
/// entries; copies only that namespace's map.
fn remove_named<T: Clone>(
    by_name: &mut ByName<T>,
    namespace: &str,
    name: &str,
    remove: impl FnOnce(&mut T) -> bool,
) {
    let Some(names) = by_name.get_mut(namespace) else {
        return;
    };
    let names = Arc::make_mut(names);
    if let Some(value) = names.get_mut(name)
        && remove(value)
    {
        names.remove(name);
    }
    if names.is_empty() {
        by_name.remove(namespace);
    }
}

fn named_entry<'a, T: Clone + Default>(
    by_name: &'a mut ByName<T>,
    namespace: &Arc<str>,
    name: &Arc<str>,
) -> &'a mut T {
    let names = by_name.entry(namespace.clone()).or_default();
    Arc::make_mut(names).entry(name.clone()).or_default()
}

/// Adds an object to the list at `key`, unless it is there already.
fn add_at<K: std::hash::Hash + Eq + Clone, T>(
    by_ip: &mut Sharded<K, List<T>>,
    key: K,
    object: &Arc<T>,
) {
    let at = by_ip.entry_or_default(key);
    if !at.iter().any(|x| Arc::ptr_eq(x, object)) {
        *at = pushed(at, object);
    }
}

/// Removes one object (by identity) from the list at `key`.
fn remove_at<K: std::hash::Hash + Eq + Clone, T>(
    by_ip: &mut Sharded<K, List<T>>,
    key: &K,
    old: &Arc<T>,
) {
    by_ip.update(key, |at| *at = without(at, old), |at| !at.is_empty());
}

/// `list` and then `item`.
fn pushed<T>(list: &List<T>, item: &Arc<T>) -> List<T> {
    list.iter().chain([item]).cloned().collect()
}

/// `list` without `item` (by identity).
fn without<T>(list: &List<T>, item: &Arc<T>) -> List<T> {
    list.iter()
        .filter(|x| !Arc::ptr_eq(x, item))
        .cloned()
        .collect()
}

fn cluster_ips(service: &Service) -> &[IpAddr] {
    match &service.kind {
        ServiceKind::ClusterIp(ips) => ips,
        _ => &[],
    }
}

impl Indexed for Service {
    type ByName = ByName<Arc<Service>>;
    type ByAddress = ServicesByIp;

    fn table(store: &Store) -> &Table<Self> {
        &store.services
    }

    fn parts(index: &Index) -> Parts<Self> {
        (index.services.clone(), index.cluster_ips.clone())
    }

    fn add(by_name: &mut Self::ByName, by_ip: &mut ServicesByIp, service: &Arc<Service>) {
        for ip in cluster_ips(service) {
            add_at(by_ip, *ip, service);
        }
        let names = by_name.entry(service.namespace.clone()).or_default();
        Arc::make_mut(names).insert(service.name.clone(), service.clone());
    }

    fn remove(by_name: &mut Self::ByName, by_ip: &mut ServicesByIp, old: &Arc<Service>) {
        remove_named(by_name, &old.namespace, &old.name, |at| {
            Arc::ptr_eq(at, old)
        });
        for ip in cluster_ips(old) {
            remove_at(by_ip, ip, old);
        }
    }
}

impl Indexed for Slice {
    type ByName = ByName<List<Slice>>;
    type ByAddress = SlicesByIp;

    fn table(store: &Store) -> &Table<Self> {
        &store.slices
    }

    fn parts(index: &Index) -> Parts<Self> {
        (index.slices.clone(), index.endpoint_ips.clone())
    }

    fn add(by_name: &mut Self::ByName, by_ip: &mut SlicesByIp, slice: &Arc<Slice>) {
        let named = named_entry(by_name, &slice.namespace, &slice.service);
        *named = pushed(named, slice);
        for address in &slice.addresses {
            add_at(by_ip, address.ip, slice);
        }
    }

    fn remove(by_name: &mut Self::ByName, by_ip: &mut SlicesByIp, old: &Arc<Slice>) {
        remove_named(by_name, &old.namespace, &old.service, |at| {
            *at = without(at, old);
            at.is_empty()
        });
        for address in &old.addresses {
            remove_at(by_ip, &address.ip, old);
        }
    }
}

/// Pods are found by address only; `()` stands for the by-name map.
impl Indexed for Pod {
    type ByName = ();
    type ByAddress = PodsByIp;

    fn table(store: &Store) -> &Table<Self> {
        &store.pods
    }

    fn parts(index: &Index) -> Parts<Self> {
        (Arc::new(()), index.pods.clone())
    }

    fn add(_: &mut (), by_ip: &mut PodsByIp, pod: &Arc<Pod>) {
        add_at(by_ip, pod.ip.clone(), pod);
    }

    fn remove(_: &mut (), by_ip: &mut PodsByIp, old: &Arc<Pod>) {
        remove_at(by_ip, &old.ip, old);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::kubernetes::model::Address;

    fn service(name: &str, ip: [u8; 4]) -> Service {
        Service {
            namespace: "ns".into(),
            name: name.into(),
            kind: ServiceKind::ClusterIp(vec![IpAddr::from(ip)]),
            ports: Vec::new(),
            external: Vec::new(),
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
        let first = Index::build(&store);

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
        let mut index = Index::build(&store);
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
            assert_eq!(service_view(&patched), service_view(&Index::build(&store)));
            index = patched;
        }
        assert!(index.service("ns", "b").is_none());
        assert!(
            index.services.get("other").is_none(),
            "an emptied namespace goes"
        );
        assert_eq!(
            index
                .cluster_ips
                .get(&IpAddr::from([10, 0, 0, 2]))
                .map(|at| at.len()),
            Some(1),
            "a moved to b's old address, b is gone"
        );
    }

    /// Slices and Pods as comparable text: each service's slice addresses,
    /// each address's service names, each Pod address's names; sorted.
    fn endpoint_view(index: &Index) -> Vec<String> {
        let mut view: Vec<String> = index
            .slices
            .iter()
            .flat_map(|(ns, names)| {
                names.iter().map(move |(name, slices)| {
                    let mut ips: Vec<String> = slices
                        .iter()
                        .flat_map(|s| s.addresses.iter().map(|a| a.text.to_string()))
                        .collect();
                    ips.sort();
                    format!("slices {ns}/{name}={ips:?}")
                })
            })
            .collect();
        for (ip, slices) in index.endpoint_ips.iter() {
            let mut owners: Vec<&str> = slices.iter().map(|s| &*s.service).collect();
            owners.sort();
            view.push(format!("endpoint {ip}={owners:?}"));
        }
        for (ip, pods) in index.pods.iter() {
            let mut names: Vec<&str> = pods.iter().map(|p| &*p.name).collect();
            names.sort();
            view.push(format!("pod {ip}={names:?}"));
        }
        view.sort();
        view
    }

    fn pod(name: &str, ip: &str) -> Pod {
        Pod {
            namespace: "ns".into(),
            name: name.into(),
            ip: ip.into(),
        }
    }

    #[test]
    fn changed_slices_and_pods_are_patched_into_the_same_maps_a_rebuild_makes() {
        let mut store = Store::new(true, true);
        store
            .slices
            .apply("ns/a-1".into(), Some(slice("a", [10, 1, 0, 1])));
        store
            .slices
            .apply("ns/a-2".into(), Some(slice("a", [10, 1, 0, 2])));
        store
            .slices
            .apply("ns/b-1".into(), Some(slice("b", [10, 1, 0, 1])));
        store.pods.apply("ns/p".into(), Some(pod("p", "10.2.0.1")));
        store.pods.apply("ns/q".into(), Some(pod("q", "10.2.0.1")));
        store.take_changes();
        let mut index = Index::build(&store);
        type Step = Box<dyn Fn(&mut Store)>;
        let steps: Vec<Step> = vec![
            Box::new(|s| {
                s.slices
                    .apply("ns/a-1".into(), Some(slice("a", [10, 1, 0, 3])));
            }),
            Box::new(|s| {
                s.slices.delete("ns/b-1");
                s.pods.delete("ns/p");
            }),
            Box::new(|s| {
                // Changed twice in one batch: the index held the first value.
                s.slices
                    .apply("ns/c-1".into(), Some(slice("c", [10, 1, 0, 9])));
                s.slices
                    .apply("ns/c-1".into(), Some(slice("c", [10, 1, 0, 8])));
                s.pods.apply("ns/q".into(), Some(pod("q", "10.2.0.2")));
                s.pods.apply("ns/r".into(), Some(pod("r", "10.2.0.2")));
            }),
            Box::new(|s| {
                s.slices.delete("ns/a-1");
                s.slices.delete("ns/a-2");
            }),
        ];
        for step in steps {
            step(&mut store);
            let changed = store.take_changes();
            let patched = Index::rebuild(&store, &index, changed);
            assert_eq!(
                endpoint_view(&patched),
                endpoint_view(&Index::build(&store))
            );
            index = patched;
        }
        assert!(index.service_slices("ns", "a").is_empty());
        assert!(index.slices.get("ns").is_some_and(|n| n.contains_key("c")));
        assert!(
            !index
                .endpoint_ips
                .contains_key(&IpAddr::from([10, 1, 0, 9]))
        );
        assert_eq!(index.pods.get("10.2.0.2").map(|at| at.len()), Some(2));
        assert!(index.pods.get("10.2.0.1").is_none());
    }

    #[test]
    fn a_patch_copies_only_the_namespace_it_writes_to() {
        let mut store = Store::new(true, true);
        store
            .services
            .apply("ns/a".into(), Some(service("a", [10, 0, 0, 1])));
        let other = Service {
            namespace: "other".into(),
            ..service("x", [10, 0, 0, 9])
        };
        store.services.apply("other/x".into(), Some(other));
        store.take_changes();
        let first = Index::build(&store);
        store
            .services
            .apply("ns/b".into(), Some(service("b", [10, 0, 0, 2])));
        let changed = store.take_changes();
        let second = Index::rebuild(&store, &first, changed);
        assert!(Arc::ptr_eq(
            &first.services["other"],
            &second.services["other"]
        ));
        assert!(!Arc::ptr_eq(&first.services["ns"], &second.services["ns"]));
        assert!(
            first.service("ns", "b").is_none(),
            "the old index is intact"
        );
        assert!(second.service("ns", "b").is_some());
    }
}
