//! The mutable side: the reduced objects of each kind, updated by watch
//! events (or a snapshot), from which immutable indexes are built.
//!
//! A relist (after a restart or 410 Gone) arrives as a whole new set that
//! replaces a kind at once, so answers keep coming from the old data until
//! the new list is complete.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::{SystemTime, UNIX_EPOCH};

use super::model::{Namespace, Pod, Service, Slice};

/// `namespace/name` (or the uid) of an object.
pub(crate) type Key = String;

/// How many changed keys a table tracks between index builds.
pub(crate) const TRACKED_KEYS: usize = 64;

/// The objects of one kind.
#[derive(Debug)]
pub(crate) struct Table<T> {
    objects: HashMap<Key, Arc<T>>,
    /// Whether the first full list has arrived.
    pub synced: bool,
    /// Whether the objects changed since the last `take_changed`.
    changed: bool,
    /// The keys changed since the last `take_changed`; `None` after a
    /// relist, or once more than [`TRACKED_KEYS`] changed (the index then
    /// rebuilds the kind instead of patching it).
    touched: Option<Vec<Change<T>>>,
    /// `touched` as of the last `take_changed`, for the index build.
    last_touched: Option<Vec<Change<T>>>,
}

/// A key changed since the last index build, with the object the index
/// holds for it (`None` if it held none): the patch removes that one and
/// adds what the table holds now.
#[derive(Debug)]
pub(crate) struct Change<T> {
    pub key: Key,
    pub before: Option<Arc<T>>,
}

impl<T> Default for Table<T> {
    fn default() -> Self {
        Table {
            objects: HashMap::new(),
            synced: false,
            changed: false,
            touched: Some(Vec::new()),
            last_touched: None,
        }
    }
}

impl<T: PartialEq> Table<T> {
    /// Adds or replaces (None removes, for objects that reduce to nothing).
    /// Returns whether the DNS-visible data changed.
    pub(crate) fn apply(&mut self, key: Key, value: Option<T>) -> bool {
        let changed = match value {
            Some(value) => match self.objects.get(&key) {
                Some(old) if **old == value => false,
                _ => {
                    let before = self.objects.insert(key.clone(), Arc::new(value));
                    self.mark(key, before);
                    true
                }
            },
            None => self.delete(&key),
        };
        self.changed |= changed;
        changed
    }

    /// Tracks a changed key, up to [`TRACKED_KEYS`]. Only its first change
    /// since the last build counts: `before` is what the index holds.
    fn mark(&mut self, key: Key, before: Option<Arc<T>>) {
        if let Some(touched) = &mut self.touched {
            if touched.iter().any(|change| change.key == key) {
                return;
            }
            if touched.len() < TRACKED_KEYS {
                touched.push(Change { key, before });
            } else {
                self.touched = None;
            }
        }
    }

    pub(crate) fn delete(&mut self, key: &str) -> bool {
        let before = self.objects.remove(key);
        let changed = before.is_some();
        if changed {
            self.mark(key.to_string(), before);
        }
        self.changed |= changed;
        changed
    }

    /// Replaces everything with a complete list; marks the kind synced.
    pub(crate) fn replace(&mut self, objects: impl IntoIterator<Item = (Key, T)>) -> bool {
        let fresh: HashMap<Key, Arc<T>> =
            objects.into_iter().map(|(k, v)| (k, Arc::new(v))).collect();
        let changed = fresh.len() != self.objects.len()
            || fresh
                .iter()
                .any(|(k, v)| self.objects.get(k).is_none_or(|old| old != v));
        self.objects = fresh;
        self.synced = true;
        self.changed |= changed;
        self.touched = None;
        changed
    }

    /// Whether anything changed since the last call; clears the mark.
    pub(crate) fn take_changed(&mut self) -> bool {
        self.last_touched = self.touched.replace(Vec::new());
        std::mem::take(&mut self.changed)
    }

    /// The keys that changed before the last `take_changed`, or `None` when
    /// a relist may have changed anything.
    pub(crate) fn last_touched(&self) -> Option<&[Change<T>]> {
        self.last_touched.as_deref()
    }

    pub(crate) fn get(&self, key: &str) -> Option<&Arc<T>> {
        self.objects.get(key)
    }

    pub(crate) fn values(&self) -> impl Iterator<Item = &Arc<T>> {
        self.objects.values()
    }
}

/// Every watched kind.
#[derive(Debug, Default)]
pub(crate) struct Store {
    pub services: Table<Service>,
    pub slices: Table<Slice>,
    pub pods: Table<Pod>,
    pub namespaces: Table<Namespace>,
    /// Unix seconds of the last DNS-relevant change (the SOA serial).
    pub serial: u32,
    /// Kinds not watched count as synced.
    pub watch_slices: bool,
    pub watch_pods: bool,
}

impl Store {
    pub(crate) fn new(watch_slices: bool, watch_pods: bool) -> Store {
        Store {
            watch_slices,
            watch_pods,
            ..Default::default()
        }
    }

    /// Records a DNS-relevant change (namespace events never count).
    pub(crate) fn touch(&mut self) {
        self.serial = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map(|d| d.as_secs() as u32)
            .unwrap_or(0);
    }

    pub(crate) fn synced(&self) -> bool {
        self.services.synced
            && self.namespaces.synced
            && (!self.watch_slices || self.slices.synced)
            && (!self.watch_pods || self.pods.synced)
    }

    /// The kinds changed since the last call (which clears the marks).
    pub(crate) fn take_changes(&mut self) -> Changed {
        Changed {
            services: self.services.take_changed(),
            slices: self.slices.take_changed(),
            pods: self.pods.take_changed(),
            namespaces: self.namespaces.take_changed(),
        }
    }
}

/// Which kinds changed since the last index was built.
#[derive(Debug, Clone, Copy, Default)]
pub(crate) struct Changed {
    pub services: bool,
    pub slices: bool,
    pub pods: bool,
    pub namespaces: bool,
}
