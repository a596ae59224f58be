//! One query as it travels down the plugin chain, and the reply written
//! into it.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Instant;

use hickory_proto::op::{Message, ResponseCode};
use hickory_proto::rr::{DNSClass, Name, RecordType};

/// The client's transport.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Proto {
    Udp,
    Tcp,
}

impl Proto {
    pub fn as_str(self) -> &'static str {
        match self {
            Proto::Udp => "udp",
            Proto::Tcp => "tcp",
        }
    }
}

/// Where a query arrived: the listener and the server block that took it.
#[derive(Debug, Clone)]
pub struct Origin {
    /// `dns://:53` or `dns://127.0.0.1:53`, the `server` metrics label.
    pub server: Arc<str>,
    /// The keys of the server block that handles the query (lower-case FQDNs).
    pub block_zones: Arc<[String]>,
}

/// A reply some plugin wrote.
#[derive(Debug, Clone)]
pub struct Reply {
    /// The reply; with `undecoded`, only its header.
    pub msg: Message,
    /// The plugin that wrote it (`plugin` label of `coredns_dns_responses_total`).
    pub plugin: &'static str,
    /// An upstream reply passed on as received (see [`Request::undecoded_ok`]).
    pub undecoded: Option<Undecoded>,
}

/// A reply's bytes as they go to the client, never decoded.
#[derive(Debug, Clone)]
pub struct Undecoded {
    pub bytes: Vec<u8>,
    /// Its length with every name written out (what the metrics count).
    pub uncompressed_len: usize,
}

impl Reply {
    /// The reply's length with every name written out in full.
    pub fn uncompressed_len(&self) -> usize {
        match &self.undecoded {
            Some(undecoded) => undecoded.uncompressed_len,
            None => super::wire::uncompressed_len(&self.msg),
        }
    }
}

/// A query in flight.
#[derive(Debug, Clone)]
pub struct Request {
    pub msg: Message,
    /// The length of the query as received.
    pub size: usize,
    pub src: SocketAddr,
    pub local: SocketAddr,
    pub proto: Proto,
    pub origin: Origin,
    /// The question name in lower case, fully qualified (`a.b.`).
    pub qname_lower: String,
    pub reply: Option<Reply>,
    pub received: Instant,
    /// How many times this query was sent back through the server (an
    /// ExternalName target, autopath); bounded to stop loops.
    pub depth: u8,
    /// The listener's routing, for plugins that query the whole server again.
    pub server: Option<Arc<arc_swap::ArcSwap<super::routing::Routes>>>,
    /// Set by a plugin whose written reply depends only on the query bytes,
    /// its published data and the clock, so it may be remembered
    /// (`server::memo`) on these terms.
    pub memo: Option<super::memo::MemoTerms>,
    /// The query as received, kept when the chain may forward it: forward
    /// relays these bytes (under its own ID) instead of encoding `msg`
    /// again. Only the AD bit of `msg` may differ from them (cache sets it
    /// on a miss); forward copies that bit over.
    pub raw: Option<Arc<[u8]>>,
    /// Whether an upstream reply may be passed on without decoding it: set
    /// by the listener when no plugin in front of `forward` reads more of a
    /// reply than its rcode and size (`Chain::relays_undecoded`).
    pub undecoded_ok: bool,
}

impl Request {
    /// A query as it enters a chain; `qname_lower` is `lower_fqdn` of its
    /// question name, which the caller has already computed to route it.
    pub fn new(
        msg: Message,
        qname_lower: String,
        size: usize,
        src: SocketAddr,
        local: SocketAddr,
        proto: Proto,
        origin: Origin,
    ) -> Self {
        Request {
            msg,
            size,
            src,
            local,
            proto,
            origin,
            qname_lower,
            reply: None,
            received: Instant::now(),
            depth: 0,
            server: None,
            memo: None,
            raw: None,
            undecoded_ok: false,
        }
    }

    pub fn qname(&self) -> &Name {
        self.msg.queries[0].name()
    }

    pub fn qtype(&self) -> RecordType {
        self.msg.queries[0].query_type()
    }

    pub fn qclass(&self) -> DNSClass {
        self.msg.queries[0].query_class()
    }

    /// The EDNS DO bit of the query.
    pub fn do_bit(&self) -> bool {
        self.msg.edns.as_ref().is_some_and(|e| e.flags().dnssec_ok)
    }

    /// The client's buffer size as CoreDNS normalises it: 512 without EDNS or
    /// below 512, the EDNS size otherwise; 65535 over TCP.
    pub fn bufsize(&self) -> u16 {
        if self.proto == Proto::Tcp {
            return u16::MAX;
        }
        match &self.msg.edns {
            Some(edns) if edns.max_payload() >= 512 => edns.max_payload(),
            _ => 512,
        }
    }

    /// Writes a reply (CoreDNS's `w.WriteMsg`). Returns the status to hand up.
    pub fn write(&mut self, msg: Message, plugin: &'static str) -> crate::plugin::Status {
        let rcode = msg.metadata.response_code;
        self.reply = Some(Reply {
            msg,
            plugin,
            undecoded: None,
        });
        crate::plugin::Status::written(rcode)
    }

    /// Writes an upstream reply passed on undecoded; `header` holds its
    /// header.
    pub fn write_undecoded(
        &mut self,
        header: Message,
        undecoded: Undecoded,
        plugin: &'static str,
    ) -> crate::plugin::Status {
        let rcode = header.metadata.response_code;
        self.reply = Some(Reply {
            msg: header,
            plugin,
            undecoded: Some(undecoded),
        });
        crate::plugin::Status::written(rcode)
    }

    /// A reply skeleton for this query (miekg's `SetReply`): same ID and
    /// opcode, QR set, RD and CD copied, the question copied.
    pub fn reply_skeleton(&self) -> Message {
        reply_to(&self.msg, ResponseCode::NoError)
    }
}

/// miekg's `SetRcode(req, rcode)`: a reply with the question, no records.
pub fn reply_to(query: &Message, rcode: ResponseCode) -> Message {
    let mut reply = Message::response(query.metadata.id, query.metadata.op_code);
    reply.metadata.recursion_desired = query.metadata.recursion_desired;
    reply.metadata.checking_disabled = query.metadata.checking_disabled;
    reply.metadata.response_code = rcode;
    if let Some(question) = query.queries.first() {
        reply.queries.push(question.clone());
    }
    reply
}

/// A name in lower case with the trailing dot.
///
/// Runs once per query, so the common case (labels of letters, digits, `-`
/// and `_`) is built straight from the label bytes; anything that needs
/// escaping goes through hickory's `to_ascii`, which the fast path matches.
pub fn lower_fqdn(name: &Name) -> String {
    plain_lower_fqdn(name).unwrap_or_else(|| {
        let mut text = name.to_ascii();
        text.make_ascii_lowercase();
        if !text.ends_with('.') {
            text.push('.');
        }
        text
    })
}

/// `lower_fqdn` for names whose labels need no escaping, else `None`.
fn plain_lower_fqdn(name: &Name) -> Option<String> {
    if name.is_root() {
        return Some(".".to_string());
    }
    let mut text = String::with_capacity(name.len() + 1);
    for label in name.iter() {
        if !is_plain_label(label) {
            return None;
        }
        // A plain label is ASCII, so this never fails.
        text.push_str(std::str::from_utf8(label).ok()?);
        text.push('.');
    }
    text.make_ascii_lowercase();
    Some(text)
}

/// Whether hickory prints the label as is: letters, digits, `_`, a `-`
/// after the first byte, or a lone leading `*`.
pub fn is_plain_label(label: &[u8]) -> bool {
    label.iter().enumerate().all(|(at, &byte)| {
        byte.is_ascii_alphanumeric()
            || byte == b'_'
            || (byte == b'-' && at > 0)
            || (byte == b'*' && at == 0)
    })
}

/// Whether a name has an upper-case ASCII letter anywhere.
pub fn has_upper(name: &Name) -> bool {
    name.iter()
        .any(|label| label.iter().any(u8::is_ascii_uppercase))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_fast_lower_fqdn_matches_hickorys_text() {
        let raw = |labels: &[&[u8]]| Name::from_labels(labels.iter().copied()).unwrap();
        let names = [
            Name::root(),
            Name::from_ascii("Kubernetes.Default.SVC.cluster.local.").unwrap(),
            Name::from_ascii("_http._tcp.svc-1.ns").unwrap(),
            Name::from_ascii("*.wild.example.").unwrap(),
            raw(&[b"a.b", b"example"]),
            raw(&[b"-lead", b"x"]),
            raw(&[b"sp ace", b"\x07"]),
            raw(&[b"mid*star", b"UP"]),
            raw(&[&[0xc3, 0xa9], b"x"]),
        ];
        for name in names {
            let mut slow = name.to_ascii();
            slow.make_ascii_lowercase();
            if !slow.ends_with('.') {
                slow.push('.');
            }
            assert_eq!(lower_fqdn(&name), slow, "{name:?}");
        }
    }

    #[test]
    fn upper_case_is_seen_in_any_label() {
        assert!(has_upper(&Name::from_ascii("a.B.c.").unwrap()));
        assert!(!has_upper(&Name::from_ascii("a.b-1.c.").unwrap()));
    }
}
