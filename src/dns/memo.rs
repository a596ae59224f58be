//! What a plugin says about a reply it wrote so the listener may remember
//! it (send the same bytes again for the same query), and the epoch that
//! tells the listener when published data changed.
//!
//! The listener keeps the remembered replies (`server::memo`); plugins only
//! set terms on the request. A data source bumps its block's [`DataEpoch`]
//! on every publish, which forgets every remembered reply built from the
//! data before it.

use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

/// On what terms a written reply may be remembered; set by the plugin that
/// wrote it.
#[derive(Debug, Clone, Copy)]
pub struct MemoTerms {
    /// The plugin that set the terms (the chain checks it is its source).
    pub source: &'static str,
    /// A moment from which the reply must not be sent again.
    pub until: Option<Instant>,
    /// Rewrite every record's TTL to `ttl - whole seconds since stored`.
    pub ttl_clock: Option<TtlClock>,
}

/// The cache's clock of an item: stored at `stored` with TTL `ttl`.
#[derive(Debug, Clone, Copy)]
pub struct TtlClock {
    pub stored: Instant,
    pub ttl: u32,
}

impl TtlClock {
    /// Seconds left at `now`; zero or less once expired.
    pub fn left(&self, now: Instant) -> i64 {
        i64::from(self.ttl) - now.duration_since(self.stored).as_secs() as i64
    }

    /// The moment the item stops being fresh.
    pub fn expiry(&self) -> Instant {
        self.stored + Duration::from_secs(u64::from(self.ttl))
    }
}

impl MemoTerms {
    /// A reply valid until the published data changes.
    pub fn until_data_changes(source: &'static str) -> Self {
        MemoTerms {
            source,
            until: None,
            ttl_clock: None,
        }
    }
}

/// A counter bumped whenever an answer source publishes new data. One is
/// made per configuration and shared by its routing tables and sources.
#[derive(Debug, Clone, Default)]
pub struct DataEpoch(Arc<AtomicU64>);

impl DataEpoch {
    /// Every reply remembered before this call is stale.
    pub fn bump(&self) {
        self.0.fetch_add(1, Ordering::Release);
    }

    pub fn current(&self) -> u64 {
        self.0.load(Ordering::Acquire)
    }
}

/// One reply sent from memory: what it has of its own, beyond the
/// remembered exchange (always UDP: only UDP replies are remembered).
#[derive(Debug, Clone, Copy)]
pub struct MemoHit {
    pub src: SocketAddr,
    pub id: u16,
    pub request_size: usize,
    /// From the query's look-up in the memo to its reply.
    pub seconds: f64,
}

/// What a plugin does again, beyond metrics, for each reply sent from
/// memory (the `log` plugin's line).
pub trait HitObserver: Send + Sync {
    fn observe(&self, hit: &MemoHit);
}
