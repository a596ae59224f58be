//! A map split into a fixed number of shards, each behind its own `Arc`.
//!
//! Why: the index is immutable and swapped whole, so a write used to copy
//! every map it touched. At 5k Services or 100k endpoints that copy is the
//! cost of a write (milliseconds). Cloning a `Sharded` copies only the shard
//! pointers; a patch then copies just the shards it changes (`Arc::make_mut`),
//! about 1/256 of the map, while the previous index keeps the old ones.

use std::borrow::Borrow;
use std::collections::HashMap;
use std::hash::{BuildHasher, Hash};
use std::sync::Arc;

/// Queries hash a name or an address into these maps; foldhash costs a
/// fraction of std's SipHash and is still seeded per process.
pub(crate) type Map<K, V> = HashMap<K, V, foldhash::fast::RandomState>;

const SHARDS: usize = 256;

#[derive(Debug, Clone)]
pub(crate) struct Sharded<K, V> {
    shards: Box<[Arc<Map<K, V>>]>,
}

impl<K, V> Default for Sharded<K, V> {
    fn default() -> Self {
        let empty = Arc::new(Map::default());
        Sharded {
            shards: (0..SHARDS).map(|_| empty.clone()).collect(),
        }
    }
}

/// The shard of a key. A fixed seed, since one process only ever compares
/// shards of its own maps; the per-map seed still guards each shard.
fn shard_of<Q: Hash + ?Sized>(key: &Q) -> usize {
    let hash = foldhash::fast::FixedState::with_seed(0x5eed).hash_one(key);
    (hash >> 56) as usize % SHARDS
}

impl<K: Hash + Eq + Clone, V: Clone> Sharded<K, V> {
    pub(crate) fn get<Q>(&self, key: &Q) -> Option<&V>
    where
        K: Borrow<Q>,
        Q: Hash + Eq + ?Sized,
    {
        self.shards[shard_of(key)].get(key)
    }

    #[cfg(test)]
    pub(crate) fn contains_key<Q>(&self, key: &Q) -> bool
    where
        K: Borrow<Q>,
        Q: Hash + Eq + ?Sized,
    {
        self.get(key).is_some()
    }

    /// The value at `key`, inserted as `V::default()` when absent. Copies
    /// the key's shard first if another index still shares it.
    pub(crate) fn entry_or_default(&mut self, key: K) -> &mut V
    where
        V: Default,
    {
        let shard = Arc::make_mut(&mut self.shards[shard_of(&key)]);
        shard.entry(key).or_default()
    }

    /// Changes the value at `key` (if any) and removes it when `keep`
    /// says it has become empty. Copies the shard only when the key is there.
    pub(crate) fn update(
        &mut self,
        key: &K,
        change: impl FnOnce(&mut V),
        keep: impl FnOnce(&V) -> bool,
    ) {
        let slot = &mut self.shards[shard_of(key)];
        if !slot.contains_key(key) {
            return;
        }
        let shard = Arc::make_mut(slot);
        if let Some(value) = shard.get_mut(key) {
            change(value);
            if !keep(value) {
                shard.remove(key);
            }
        }
    }

    #[cfg(test)]
    pub(crate) fn is_empty(&self) -> bool {
        self.shards.iter().all(|shard| shard.is_empty())
    }

    #[cfg(test)]
    pub(crate) fn len(&self) -> usize {
        self.shards.iter().map(|shard| shard.len()).sum()
    }

    #[cfg(test)]
    pub(crate) fn iter(&self) -> impl Iterator<Item = (&K, &V)> {
        self.shards.iter().flat_map(|shard| shard.iter())
    }

    /// Whether two maps share the shard of `key` (for tests of the sharing).
    #[cfg(test)]
    pub(crate) fn shares_shard_with<Q>(&self, other: &Self, key: &Q) -> bool
    where
        K: Borrow<Q>,
        Q: Hash + Eq + ?Sized,
    {
        let at = shard_of(key);
        Arc::ptr_eq(&self.shards[at], &other.shards[at])
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_clone_copies_only_the_shard_it_changes() {
        let mut first: Sharded<String, Vec<u32>> = Sharded::default();
        for k in 0..1000 {
            first.entry_or_default(format!("k{k}")).push(k);
        }
        let mut second = first.clone();
        second.entry_or_default("k7".to_string()).push(7000);
        assert_eq!(first.get("k7"), Some(&vec![7]), "the original is intact");
        assert_eq!(second.get("k7"), Some(&vec![7, 7000]));
        assert!(!second.shares_shard_with(&first, "k7"));
        let shared = (0..1000)
            .filter(|k| second.shares_shard_with(&first, format!("k{k}").as_str()))
            .count();
        assert!(shared > 900, "only k7's shard was copied: {shared} shared");
        assert_eq!(second.len(), 1000);
    }

    #[test]
    fn update_removes_emptied_values_and_ignores_absent_keys() {
        let mut map: Sharded<u32, Vec<u32>> = Sharded::default();
        map.entry_or_default(1).extend([1, 2]);
        let before = map.clone();
        map.update(&9, |v| v.clear(), |v| !v.is_empty());
        assert!(map.shares_shard_with(&before, &9), "nothing copied");
        map.update(&1, |v| v.retain(|x| *x != 1), |v| !v.is_empty());
        assert_eq!(map.get(&1), Some(&vec![2]));
        map.update(&1, |v| v.clear(), |v| !v.is_empty());
        assert!(map.is_empty());
        assert!(map.get(&1).is_none());
        assert_eq!(before.get(&1), Some(&vec![1, 2]));
    }
}
