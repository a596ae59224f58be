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
    pub msg: Message,
    /// The plugin that wrote it (`plugin` label of `coredns_dns_responses_total`).
    pub plugin: &'static str,
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
}

impl Request {
    pub fn new(
        msg: Message,
        size: usize,
        src: SocketAddr,
        local: SocketAddr,
        proto: Proto,
        origin: Origin,
    ) -> Self {
        let qname_lower = msg
            .queries
            .first()
            .map(|q| lower_fqdn(q.name()))
            .unwrap_or_else(|| ".".to_string());
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
        self.reply = Some(Reply { msg, plugin });
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
pub fn lower_fqdn(name: &Name) -> String {
    let mut text = name.to_ascii();
    text.make_ascii_lowercase();
    if !text.ends_with('.') {
        text.push('.');
    }
    text
}
