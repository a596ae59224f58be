//! Remembered replies: the bytes of a locally computed answer, sent again
//! for the next identical query without decoding, running the chain, or
//! encoding.
//!
//! Why: a cluster name's answer is a pure function of the query bytes and
//! the published Kubernetes index, and pods ask the same few names (and
//! the same search-path misses) over and over. Decoding, the chain and
//! encoding are most of the user-space cost of such a query; a remembered
//! reply costs a hash look-up and a copy.
//!
//! When a reply may be remembered is decided by the chain (see
//! [`crate::plugin::MemoRole`]): only a reply the `kubernetes` plugin wrote
//! from its index, behind plugins that pass the reply on untouched
//! (`errors`) or only observe it (`prometheus`, whose observation is
//! replayed on every hit). Anything that shuffles, ages TTLs, or depends on
//! the client (`loadbalance`, `cache`, `autopath`, `log`, …) in front of it
//! turns remembering off for that zone.
//!
//! The key is the whole query after its ID, so the flags, the spelling of
//! the name, and the EDNS record (buffer size, DO) are all part of it. An
//! entry is valid for one routing table (a reload starts afresh) and one
//! answer generation, which every published index bumps. Each UDP socket
//! task owns its memo: no lock, no sharing.

use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Instant;

use super::request::Proto;
use super::routing::Routes;
use crate::metrics::Replay;

/// Bumped whenever any answer source publishes new data.
static GENERATION: AtomicU64 = AtomicU64::new(0);

/// Called after a new index is published: every remembered reply is stale.
pub fn invalidate() {
    GENERATION.fetch_add(1, Ordering::Release);
}

fn generation() -> u64 {
    GENERATION.load(Ordering::Acquire)
}

/// Queries longer than this are not remembered (a plain question with an
/// OPT record is well under it).
const MAX_QUERY: usize = 512;

/// Entries per memo; a full memo is emptied, so a flood of distinct names
/// costs bounded memory and the hot names come back at once.
const MAX_ENTRIES: usize = 4096;

struct Entry {
    reply: Box<[u8]>,
    replays: Box<[Replay]>,
}

/// The remembered replies of one UDP socket.
pub struct Memo {
    routes_id: u64,
    generation: u64,
    entries: HashMap<Box<[u8]>, Entry, foldhash::fast::RandomState>,
}

impl Default for Memo {
    fn default() -> Self {
        Memo {
            routes_id: u64::MAX,
            generation: 0,
            entries: HashMap::default(),
        }
    }
}

impl Memo {
    /// The remembered reply to `packet`, with the query's ID, after
    /// replaying its observations; `None` when there is none.
    pub fn recall(&mut self, routes: &Routes, packet: &[u8], src: SocketAddr) -> Option<Vec<u8>> {
        if !(12..=MAX_QUERY).contains(&packet.len()) {
            return None;
        }
        self.validate(routes);
        let entry = self.entries.get(&packet[2..])?;
        let start = (!entry.replays.is_empty()).then(Instant::now);
        let mut reply = entry.reply.to_vec();
        reply[..2].copy_from_slice(&packet[..2]);
        if let Some(start) = start {
            let seconds = start.elapsed().as_secs_f64();
            for replay in &entry.replays {
                replay.observe(Proto::Udp, src.is_ipv6(), packet.len(), seconds);
            }
        }
        Some(reply)
    }

    /// Remembers `reply` as the answer to `packet`. `generation_seen` is
    /// [`Memo::generation_now`] read before the chain ran: if data was
    /// published since, the reply may come from the old data and is not kept.
    pub fn remember(
        &mut self,
        routes: &Routes,
        generation_seen: u64,
        packet: &[u8],
        reply: &[u8],
        replays: Vec<Replay>,
    ) {
        if !(12..=MAX_QUERY).contains(&packet.len()) || reply.len() < 12 {
            return;
        }
        self.validate(routes);
        if self.generation != generation_seen {
            return;
        }
        if self.entries.len() >= MAX_ENTRIES {
            self.entries.clear();
        }
        self.entries.insert(
            packet[2..].into(),
            Entry {
                reply: reply.into(),
                replays: replays.into(),
            },
        );
    }

    /// The answer generation to pass to [`Memo::remember`].
    pub fn generation_now() -> u64 {
        generation()
    }

    /// How many replies are remembered.
    pub fn len(&self) -> usize {
        self.entries.len()
    }

    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }

    /// Forgets everything when the routing table or the data changed.
    fn validate(&mut self, routes: &Routes) {
        let now = generation();
        if self.routes_id != routes.id || self.generation != now {
            self.entries.clear();
            self.routes_id = routes.id;
            self.generation = now;
        }
    }
}
