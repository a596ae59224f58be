//! The open TCP connections of one listener, bounded in total and per
//! source address.
//!
//! Why a table and not a semaphore: with a plain cap, whoever fills it
//! first keeps it. One source holding 1 100 idle connections locked every
//! other client out of TCP, and a peer that never read held its slot
//! forever. Here a source may hold only so many connections, and when the
//! table is full a newcomer takes the slot of the connection that has been
//! idle longest (waiting between queries); only when none is idle is the
//! newcomer closed. Under pressure idle connections are also given less
//! time before they close.

use std::collections::HashMap;
use std::net::IpAddr;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use tokio::sync::Notify;

/// The table's limits.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Limits {
    pub total: usize,
    pub per_source: usize,
}

struct Entry {
    source: IpAddr,
    /// Since when the connection waits for a query; `None` while it works.
    idle_since: Option<Instant>,
    /// Told to close when its slot goes to a newcomer.
    evict: Arc<Notify>,
}

#[derive(Default)]
struct Slots {
    entries: HashMap<u64, Entry>,
    next_id: u64,
}

/// The connection table; clones share it.
#[derive(Clone)]
pub(crate) struct Table {
    limits: Limits,
    slots: Arc<Mutex<Slots>>,
}

/// A connection's place in the table, given up when dropped.
pub(crate) struct Slot {
    id: u64,
    slots: Arc<Mutex<Slots>>,
    pub evict: Arc<Notify>,
}

impl Table {
    pub(crate) fn new(limits: Limits) -> Table {
        Table {
            limits,
            slots: Arc::default(),
        }
    }

    /// A slot for a new connection from `source`, evicting the oldest idle
    /// connection (of that source when it is at its limit) to make room;
    /// `None` when no room can be made.
    pub(crate) fn admit(&self, source: IpAddr) -> Option<Slot> {
        let mut slots = self.slots.lock().expect("tcp table lock");
        let from_source = slots
            .entries
            .values()
            .filter(|e| e.source == source)
            .count();
        if from_source >= self.limits.per_source {
            evict_oldest_idle(&mut slots, Some(source))?;
        } else if slots.entries.len() >= self.limits.total {
            evict_oldest_idle(&mut slots, None)?;
        }
        let id = slots.next_id;
        slots.next_id += 1;
        let evict = Arc::new(Notify::new());
        slots.entries.insert(
            id,
            Entry {
                source,
                idle_since: Some(Instant::now()),
                evict: evict.clone(),
            },
        );
        Some(Slot {
            id,
            slots: self.slots.clone(),
            evict,
        })
    }

    /// How long an idle connection may wait for its next query now: the
    /// full `idle` while the table is under three quarters full, a tenth
    /// of it (at least 500 ms) beyond.
    pub(crate) fn idle_timeout(&self, idle: Duration) -> Duration {
        let open = self.slots.lock().expect("tcp table lock").entries.len();
        if open * 4 >= self.limits.total * 3 {
            (idle / 10).max(Duration::from_millis(500))
        } else {
            idle
        }
    }

    #[cfg(test)]
    pub(crate) fn len(&self) -> usize {
        self.slots.lock().expect("tcp table lock").entries.len()
    }
}

/// Takes the slot of the connection idle longest (of `source` only, when
/// given) and tells it to close; `None` when every such connection works.
fn evict_oldest_idle(slots: &mut Slots, source: Option<IpAddr>) -> Option<()> {
    let (&id, _) = slots
        .entries
        .iter()
        .filter(|(_, e)| source.is_none_or(|s| e.source == s))
        .filter_map(|(id, e)| e.idle_since.map(|since| (id, since)))
        .min_by_key(|(_, since)| *since)?;
    let entry = slots.entries.remove(&id)?;
    entry.evict.notify_one();
    Some(())
}

impl Slot {
    /// Marks the connection as waiting for a query (evictable) or working.
    pub(crate) fn set_idle(&self, idle: bool) {
        let mut slots = self.slots.lock().expect("tcp table lock");
        if let Some(entry) = slots.entries.get_mut(&self.id) {
            entry.idle_since = idle.then(Instant::now);
        }
    }
}

impl Drop for Slot {
    fn drop(&mut self) {
        self.slots
            .lock()
            .expect("tcp table lock")
            .entries
            .remove(&self.id);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ip(last: u8) -> IpAddr {
        IpAddr::from([127, 0, 0, last])
    }

    #[test]
    fn a_source_at_its_limit_gives_up_its_oldest_idle_connection() {
        let table = Table::new(Limits {
            total: 10,
            per_source: 2,
        });
        let first = table.admit(ip(1)).unwrap();
        let second = table.admit(ip(1)).unwrap();
        second.set_idle(false);
        let third = table.admit(ip(1)).expect("room made");
        assert_eq!(table.len(), 2);
        assert!(
            futures::FutureExt::now_or_never(first.evict.notified()).is_some(),
            "first told to close"
        );
        third.set_idle(false);
        assert!(table.admit(ip(1)).is_none(), "both working: no room");
        assert!(
            table.admit(ip(2)).is_some(),
            "another source is not held back"
        );
    }

    #[test]
    fn a_full_table_takes_the_slot_idle_longest() {
        let table = Table::new(Limits {
            total: 3,
            per_source: 3,
        });
        let old = table.admit(ip(1)).unwrap();
        std::thread::sleep(Duration::from_millis(5));
        let _newer = table.admit(ip(1)).unwrap();
        let _busy = table.admit(ip(3)).unwrap();
        _busy.set_idle(false);
        let _newcomer = table.admit(ip(2)).expect("room made");
        assert!(futures::FutureExt::now_or_never(old.evict.notified()).is_some());
        assert_eq!(table.len(), 3);
        drop(old);
        assert_eq!(table.len(), 3, "an evicted slot was already given up");
    }

    #[test]
    fn idle_time_shrinks_when_three_quarters_are_taken() {
        let table = Table::new(Limits {
            total: 4,
            per_source: 4,
        });
        let idle = Duration::from_secs(10);
        let _a = table.admit(ip(1));
        let _b = table.admit(ip(1));
        assert_eq!(table.idle_timeout(idle), idle);
        let _c = table.admit(ip(1));
        assert_eq!(table.idle_timeout(idle), Duration::from_secs(1));
    }
}
