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
//! [`crate::dns::MemoRole`]): only a reply the `kubernetes` plugin wrote
//! from its index, behind plugins that pass the reply on untouched
//! (`errors`, and `loadbalance` when the reply has nothing to shuffle) or
//! only observe it (`prometheus` and `log`, whose metrics and line are
//! replayed on every hit with the hit's own client, ID and duration).
//! Anything that depends on the client (`autopath`, `acl`, …) in front of
//! it turns remembering off for that zone.
//!
//! A `cache` hit is remembered too when `cache` is the first such plugin:
//! the entry then lives only as long as the cached item would be served
//! fresh, and every record's TTL is rewritten on each hit from the item's
//! clock, exactly as the cache computes it (all records carry the same
//! TTL there). The cache's request and hit counters are replayed.
//!
//! The key is the whole query after its ID, so the flags, the spelling of
//! the name, and the EDNS record (buffer size, DO) are all part of it. An
//! entry is valid for one routing table (a reload starts afresh) and one
//! answer generation, which every published index bumps. Each UDP socket
//! task owns its memo: no lock, no sharing.

use std::collections::HashMap;
use std::net::SocketAddr;
use std::time::Instant;

use super::routing::Routes;
use crate::dns::{MemoHit, MemoTerms, TtlClock};
use crate::metrics::Replay;

/// Queries longer than this are not remembered (a plain question with an
/// OPT record is well under it).
const MAX_QUERY: usize = 512;

/// Entries per memo, and the bytes their keys and replies may take; a full
/// memo gives up entries one at a time until the new one fits, so a flood
/// of distinct names (or of large answers) costs bounded memory without
/// forgetting every hot name at once.
const MAX_ENTRIES: usize = 4096;
const MAX_BYTES: usize = 1 << 20;

struct Entry {
    reply: Box<[u8]>,
    replays: Box<[Replay]>,
    until: Option<Instant>,
    ttl_clock: Option<TtlClock>,
    /// Where each record's TTL sits in `reply` (with a `ttl_clock`).
    ttl_offsets: Box<[u16]>,
}

impl Entry {
    /// The reply under `id` at `now`, or `None` once the entry has expired.
    fn reply(&self, id: &[u8], now: impl Fn() -> Instant) -> Option<Vec<u8>> {
        let now = (self.until.is_some() || self.ttl_clock.is_some()).then(now);
        if let (Some(until), Some(now)) = (self.until, now)
            && now >= until
        {
            return None;
        }
        let mut reply = self.reply.to_vec();
        reply[..2].copy_from_slice(id);
        if let (Some(clock), Some(now)) = (self.ttl_clock, now) {
            let left = clock.left(now);
            if left <= 0 {
                return None;
            }
            let ttl = (left as u32).to_be_bytes();
            for &offset in &self.ttl_offsets {
                let at = usize::from(offset);
                reply[at..at + 4].copy_from_slice(&ttl);
            }
        }
        Some(reply)
    }
}

/// The remembered replies of one UDP socket.
pub(crate) struct Memo {
    routes_id: u64,
    generation: u64,
    entries: HashMap<Box<[u8]>, Entry, foldhash::fast::RandomState>,
    /// Key and reply bytes held, against [`MAX_BYTES`].
    bytes: usize,
}

impl Default for Memo {
    fn default() -> Self {
        Memo {
            routes_id: u64::MAX,
            generation: 0,
            entries: HashMap::default(),
            bytes: 0,
        }
    }
}

impl Memo {
    /// The remembered reply to `packet`, with the query's ID, after
    /// replaying its observations; `None` when there is none.
    pub(crate) fn recall(
        &mut self,
        routes: &Routes,
        packet: &[u8],
        src: SocketAddr,
    ) -> Option<Vec<u8>> {
        if !(12..=MAX_QUERY).contains(&packet.len()) {
            return None;
        }
        self.validate(routes);
        let key = &packet[2..];
        let entry = self.entries.get(key)?;
        let start = (!entry.replays.is_empty()).then(Instant::now);
        let Some(reply) = entry.reply(&packet[..2], || start.unwrap_or_else(Instant::now)) else {
            self.forget(key);
            return None;
        };
        if let Some(start) = start {
            let hit = MemoHit {
                src,
                id: u16::from_be_bytes([packet[0], packet[1]]),
                request_size: packet.len(),
                seconds: start.elapsed().as_secs_f64(),
            };
            for replay in &entry.replays {
                replay.observe(&hit);
            }
        }
        Some(reply)
    }

    /// Remembers `reply` as the answer to `packet`. `generation_seen` is
    /// the routes' data epoch read before the chain ran: if data was
    /// published since, the reply may come from the old data and is not kept.
    pub(crate) fn remember(
        &mut self,
        routes: &Routes,
        generation_seen: u64,
        packet: &[u8],
        reply: &[u8],
        terms: MemoTerms,
        replays: Vec<Replay>,
    ) {
        if !(12..=MAX_QUERY).contains(&packet.len()) || reply.len() < 12 {
            return;
        }
        let ttl_offsets = match terms.ttl_clock {
            Some(_) => match ttl_offsets(reply) {
                Some(offsets) => offsets,
                None => return,
            },
            None => Vec::new(),
        };
        let until = match (terms.until, terms.ttl_clock) {
            (Some(until), Some(clock)) => Some(until.min(clock.expiry())),
            (until, clock) => until.or(clock.map(|c| c.expiry())),
        };
        self.validate(routes);
        if self.generation != generation_seen {
            return;
        }
        let size = packet.len() + reply.len();
        if size > MAX_BYTES {
            return;
        }
        self.forget(&packet[2..]);
        while self.entries.len() >= MAX_ENTRIES || self.bytes + size > MAX_BYTES {
            self.evict_one();
        }
        self.bytes += size;
        self.entries.insert(
            packet[2..].into(),
            Entry {
                reply: reply.into(),
                replays: replays.into(),
                until,
                ttl_clock: terms.ttl_clock,
                ttl_offsets: ttl_offsets.into(),
            },
        );
    }

    /// Gives up one entry: whichever the map yields first, which for a
    /// hashed map is as good as a random pick (CoreDNS's cache evicts a
    /// random entry too).
    fn evict_one(&mut self) {
        let Some(key) = self.entries.keys().next().cloned() else {
            self.bytes = 0;
            return;
        };
        self.forget(&key);
    }

    fn forget(&mut self, key: &[u8]) {
        if let Some(entry) = self.entries.remove(key) {
            self.bytes = self.bytes.saturating_sub(key.len() + 2 + entry.reply.len());
        }
    }

    /// How many replies are remembered.
    #[cfg(test)]
    pub(crate) fn len(&self) -> usize {
        self.entries.len()
    }

    /// Forgets everything when the routing table or the data changed.
    fn validate(&mut self, routes: &Routes) {
        let now = routes.epoch.current();
        if self.routes_id != routes.id || self.generation != now {
            self.entries.clear();
            self.bytes = 0;
            self.routes_id = routes.id;
            self.generation = now;
        }
    }
}

/// The offsets of the TTL fields of every record in a reply, the OPT
/// pseudo-record (whose TTL field holds flags) excepted; `None` when the
/// bytes do not parse.
fn ttl_offsets(reply: &[u8]) -> Option<Vec<u16>> {
    let count = |at: usize| -> Option<usize> {
        Some(usize::from(u16::from_be_bytes([
            *reply.get(at)?,
            *reply.get(at + 1)?,
        ])))
    };
    let questions = count(4)?;
    let records = count(6)? + count(8)? + count(10)?;
    let mut at = 12;
    for _ in 0..questions {
        at = skip_name(reply, at)? + 4;
    }
    let mut offsets = Vec::with_capacity(records);
    for _ in 0..records {
        at = skip_name(reply, at)?;
        let rtype = count(at)?;
        let rdlength = count(at + 8)?;
        if rtype != 41 {
            offsets.push(u16::try_from(at + 4).ok()?);
        }
        at += 10 + rdlength;
    }
    (at <= reply.len()).then_some(offsets)
}

/// The offset just past the (possibly compressed) name at `at`.
fn skip_name(bytes: &[u8], mut at: usize) -> Option<usize> {
    loop {
        let length = *bytes.get(at)?;
        match length {
            0 => return Some(at + 1),
            l if l & 0xC0 == 0xC0 => return Some(at + 2),
            l if l & 0xC0 == 0 => at += 1 + usize::from(l),
            _ => return None,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::dns::TtlClock;
    use hickory_proto::op::{Edns, Message, MessageType, OpCode, Query};
    use hickory_proto::rr::{Name, RData, Record, RecordType, rdata};
    use std::time::Duration;

    #[test]
    fn ttl_offsets_find_every_record_but_opt() {
        let name = Name::from_ascii("a.example.org.").unwrap();
        let mut msg = Message::new(7, MessageType::Response, OpCode::Query);
        msg.add_query(Query::query(name.clone(), RecordType::A));
        for (ttl, last) in [(300, 1), (200, 2)] {
            let address = rdata::A::new(192, 0, 2, last);
            msg.add_answer(Record::from_rdata(name.clone(), ttl, RData::A(address)));
        }
        msg.set_edns(Edns::new());
        let bytes = msg.to_vec().unwrap();
        let offsets = ttl_offsets(&bytes).unwrap();
        assert_eq!(offsets.len(), 2, "two answers; the OPT record is skipped");
        let ttls: Vec<u32> = offsets
            .iter()
            .map(|&o| {
                let o = usize::from(o);
                u32::from_be_bytes(bytes[o..o + 4].try_into().unwrap())
            })
            .collect();
        assert_eq!(ttls, vec![300, 200]);
        assert_eq!(ttl_offsets(&bytes[..bytes.len() - 3]), None, "cut short");
    }

    #[test]
    fn a_clocked_entry_counts_its_ttl_down_and_expires() {
        let name = Name::from_ascii("a.example.org.").unwrap();
        let mut msg = Message::new(7, MessageType::Response, OpCode::Query);
        msg.add_query(Query::query(name.clone(), RecordType::A));
        let address = rdata::A::new(192, 0, 2, 1);
        msg.add_answer(Record::from_rdata(name, 30, RData::A(address)));
        let bytes = msg.to_vec().unwrap();
        let stored = Instant::now();
        let entry = Entry {
            ttl_offsets: ttl_offsets(&bytes).unwrap().into(),
            reply: bytes.into(),
            replays: Box::new([]),
            until: None,
            ttl_clock: Some(TtlClock { stored, ttl: 30 }),
        };
        let at = |seconds: f64| {
            entry
                .reply(&[0, 9], || stored + Duration::from_secs_f64(seconds))
                .map(|r| Message::from_vec(&r).unwrap())
        };
        let reply = at(10.5).unwrap();
        assert_eq!(reply.metadata.id, 9);
        assert_eq!(reply.answers[0].ttl, 20, "30 less 10 whole seconds");
        assert_eq!(at(29.9).unwrap().answers[0].ttl, 1);
        assert!(at(30.0).is_none(), "expired: back to the chain");
    }

    #[test]
    fn a_full_memo_gives_up_single_entries_and_keeps_the_rest() {
        let routes = Routes::new(
            Default::default(),
            std::sync::Arc::from("dns://:53"),
            Default::default(),
        );
        let mut memo = Memo::default();
        let packet = |n: u16| {
            let mut packet = vec![0u8; 40];
            packet[12..14].copy_from_slice(&n.to_be_bytes());
            packet
        };
        let reply = vec![0u8; 100];
        let remember = |memo: &mut Memo, n: u16| {
            let terms = MemoTerms::until_data_changes("test");
            let generation = routes.epoch.current();
            memo.remember(&routes, generation, &packet(n), &reply, terms, Vec::new());
        };
        for n in 0..MAX_ENTRIES as u16 {
            remember(&mut memo, n);
        }
        assert_eq!(memo.len(), MAX_ENTRIES);
        remember(&mut memo, u16::MAX);
        assert_eq!(memo.len(), MAX_ENTRIES, "one out, one in");
        let src = "127.0.0.1:5000".parse().unwrap();
        let kept = (0..MAX_ENTRIES as u16)
            .filter(|&n| memo.recall(&routes, &packet(n), src).is_some())
            .count();
        assert_eq!(kept, MAX_ENTRIES - 1, "only one of the old entries went");
        assert!(memo.recall(&routes, &packet(u16::MAX), src).is_some());
    }

    #[test]
    fn large_replies_are_bounded_by_bytes_not_only_by_count() {
        let routes = Routes::new(
            Default::default(),
            std::sync::Arc::from("dns://:53"),
            Default::default(),
        );
        let mut memo = Memo::default();
        let reply = vec![0u8; 4000];
        let mut kept = 0;
        for n in 0..1000u16 {
            let mut packet = vec![0u8; 40];
            packet[12..14].copy_from_slice(&n.to_be_bytes());
            let terms = MemoTerms::until_data_changes("test");
            let generation = routes.epoch.current();
            memo.remember(&routes, generation, &packet, &reply, terms, Vec::new());
            kept = kept.max(memo.len());
        }
        assert!(memo.bytes <= MAX_BYTES, "held {} bytes", memo.bytes);
        assert!(
            kept < 1000 && kept > 100,
            "kept at most {kept} entries of 4 KB"
        );
    }
}
