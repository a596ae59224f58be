//! The data a kubernetes plugin answers from: a store fed by a source
//! (watches or a snapshot file) and the index published from it.
//!
//! Writers mark the store dirty and wake the publisher; the publisher
//! rebuilds the index and swaps it in. Events that arrive while a build runs
//! are folded into the next build, so a burst costs one rebuild.

use std::sync::{Arc, Mutex};

use arc_swap::ArcSwap;
use tokio::sync::Notify;

use super::index::Index;
use super::store::Store;

/// The store, the published index, and the wake-up for the publisher.
pub(crate) struct Shared {
    pub index: ArcSwap<Index>,
    /// Bumped on every publish: caches compare it to drop stale cluster answers.
    generation: std::sync::atomic::AtomicU64,
    store: Mutex<Store>,
    dirty: Notify,
    /// Called after every publish (the server's memo epoch, for one).
    published: Mutex<Vec<Box<dyn Fn() + Send + Sync>>>,
}

impl Shared {
    pub(crate) fn new(mut store: Store) -> Arc<Shared> {
        store.take_changes();
        let index = Index::build(&store);
        Arc::new(Shared {
            index: ArcSwap::from_pointee(index),
            generation: Default::default(),
            store: Mutex::new(store),
            dirty: Notify::new(),
            published: Mutex::new(Vec::new()),
        })
    }

    /// Changes the store; when `change` reports a DNS-relevant change (or
    /// the sync state moved), the serial is bumped and a rebuild is queued.
    pub(crate) fn update(&self, change: impl FnOnce(&mut Store) -> bool) {
        let mut store = self.store.lock().expect("store lock");
        let was_synced = store.synced();
        let changed = change(&mut store);
        if changed {
            store.touch();
        }
        if changed || was_synced != store.synced() {
            drop(store);
            self.dirty.notify_one();
        }
    }

    /// Rebuilds and swaps the index now (used by the publisher and by
    /// sources that load everything at once).
    /// Only the objects that changed are patched in; the rest is shared.
    /// The store lock is held until the new index is stored: a second
    /// publish must build on this one, since each patch applies only the
    /// changes since the index it starts from.
    pub(crate) fn publish(&self) {
        let mut store = self.store.lock().expect("store lock");
        let changed = store.take_changes();
        let index = Index::rebuild(&store, &self.index.load(), changed);
        self.index.store(Arc::new(index));
        drop(store);
        self.generation
            .fetch_add(1, std::sync::atomic::Ordering::SeqCst);
        for hook in self.published.lock().expect("hooks lock").iter() {
            hook();
        }
    }

    /// Runs `hook` after every publish from now on.
    pub(crate) fn on_publish(&self, hook: Box<dyn Fn() + Send + Sync>) {
        self.published.lock().expect("hooks lock").push(hook);
    }

    /// Changes whenever a new index is published.
    pub(crate) fn generation(&self) -> u64 {
        self.generation.load(std::sync::atomic::Ordering::SeqCst)
    }

    /// Runs forever: publishes after each batch of changes.
    pub(crate) async fn run_publisher(self: Arc<Self>) {
        loop {
            self.dirty.notified().await;
            self.publish();
        }
    }

    pub(crate) fn synced(&self) -> bool {
        self.index.load().synced
    }
}
