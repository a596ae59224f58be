//! A DNS message encoder for the replies clusterdns writes most: header,
//! question, and A, AAAA, CNAME, PTR, NS, SRV, SOA and TXT records, with an
//! option-less OPT.
//!
//! Why: encoding with hickory-proto copies every label suffix of every name
//! into its own allocation to find compression targets, and that was a
//! third of the work of a locally answered query. This encoder makes the
//! same choices byte for byte (which names are compressed, which suffixes
//! become pointer targets, the same limits) but keeps the candidates as
//! ranges of one scratch buffer. Anything else (other record types, EDNS
//! options, TSIG, oversized messages) returns `None`, and the caller uses
//! hickory.

use hickory_proto::op::{Message, MessageType};
use hickory_proto::rr::{Name, RData, Record};

/// hickory's limits: suffixes remembered as pointer targets, names
/// compressed per message, and the offsets a pointer can reach.
const CANDIDATE_LIMIT: usize = 64;
const COMPRESSED_NAME_LIMIT: usize = 120;
const POINTER_REACH: usize = 0x3FFF;

/// Encodes `msg`, or `None` when it holds something this encoder leaves to
/// hickory.
pub fn encode(msg: &Message) -> Option<Vec<u8>> {
    if msg.signature.is_some() {
        return None;
    }
    if msg
        .edns
        .as_ref()
        .is_some_and(|edns| !edns.options().options.is_empty())
    {
        return None;
    }
    let mut writer = Writer {
        bytes: Vec::with_capacity(512),
        spelled: Vec::with_capacity(256),
        candidates: Vec::with_capacity(CANDIDATE_LIMIT),
        compressed_names: 0,
    };
    writer.header(msg)?;
    for query in &msg.queries {
        writer.name(query.name(), true)?;
        writer.u16(u16::from(query.query_type()));
        writer.u16(u16::from(query.query_class()));
    }
    for record in msg
        .answers
        .iter()
        .chain(&msg.authorities)
        .chain(&msg.additionals)
    {
        writer.record(record)?;
    }
    if let Some(edns) = &msg.edns {
        writer.bytes.push(0);
        writer.u16(41);
        writer.u16(edns.max_payload().max(512));
        let ttl = (u32::from(msg.metadata.response_code.high()) << 24)
            | (u32::from(edns.version()) << 16)
            | u32::from(u16::from(*edns.flags()));
        writer.u32(ttl);
        writer.u16(0);
    }
    (writer.bytes.len() <= usize::from(u16::MAX)).then_some(writer.bytes)
}

/// The message so far and the compression state.
struct Writer {
    bytes: Vec<u8>,
    /// Every name written, uncompressed (length-prefixed labels, no root byte).
    spelled: Vec<u8>,
    /// Pointer targets: offset in `bytes`, and the suffix's range in `spelled`.
    candidates: Vec<(usize, std::ops::Range<usize>)>,
    compressed_names: usize,
}

impl Writer {
    fn u16(&mut self, value: u16) {
        self.bytes.extend_from_slice(&value.to_be_bytes());
    }

    fn u32(&mut self, value: u32) {
        self.bytes.extend_from_slice(&value.to_be_bytes());
    }

    fn header(&mut self, msg: &Message) -> Option<()> {
        let meta = &msg.metadata;
        let count = |n: usize| u16::try_from(n).ok();
        let additionals = msg.additionals.len() + usize::from(msg.edns.is_some());
        self.u16(meta.id);
        let mut first = u8::from(meta.op_code) << 3;
        first |= if meta.message_type == MessageType::Response {
            0x80
        } else {
            0
        };
        first |= if meta.authoritative { 0x04 } else { 0 };
        first |= if meta.truncation { 0x02 } else { 0 };
        first |= if meta.recursion_desired { 0x01 } else { 0 };
        let mut second = meta.response_code.low();
        second |= if meta.recursion_available { 0x80 } else { 0 };
        second |= if meta.authentic_data { 0x20 } else { 0 };
        second |= if meta.checking_disabled { 0x10 } else { 0 };
        self.bytes.extend_from_slice(&[first, second]);
        for n in [
            msg.queries.len(),
            msg.answers.len(),
            msg.authorities.len(),
            additionals,
        ] {
            self.u16(count(n)?);
        }
        Some(())
    }

    fn record(&mut self, record: &Record) -> Option<()> {
        self.name(&record.name, true)?;
        self.u16(u16::from(record.record_type()));
        self.u16(u16::from(record.dns_class));
        self.u32(record.ttl);
        let length_at = self.bytes.len();
        self.u16(0);
        match &record.data {
            RData::A(a) => self.bytes.extend_from_slice(&a.0.octets()),
            RData::AAAA(aaaa) => self.bytes.extend_from_slice(&aaaa.0.octets()),
            RData::CNAME(name) => self.name(&name.0, true)?,
            RData::PTR(name) => self.name(&name.0, true)?,
            RData::NS(name) => self.name(&name.0, true)?,
            RData::SRV(srv) => {
                self.u16(srv.priority);
                self.u16(srv.weight);
                self.u16(srv.port);
                self.name(&srv.target, false)?;
            }
            RData::SOA(soa) => {
                self.name(&soa.mname, true)?;
                self.name(&soa.rname, true)?;
                self.u32(soa.serial);
                for field in [soa.refresh, soa.retry, soa.expire] {
                    self.bytes.extend_from_slice(&field.to_be_bytes());
                }
                self.u32(soa.minimum);
            }
            RData::TXT(txt) => {
                for text in txt.txt_data.iter() {
                    self.bytes.push(u8::try_from(text.len()).ok()?);
                    self.bytes.extend_from_slice(text);
                }
            }
            _ => return None,
        }
        let length = u16::try_from(self.bytes.len() - length_at - 2).ok()?;
        self.bytes[length_at..length_at + 2].copy_from_slice(&length.to_be_bytes());
        Some(())
    }

    /// Writes a name as hickory does: with `compress`, the first label
    /// suffix already written becomes a pointer; every suffix not replaced
    /// is remembered as a target for later names.
    fn name(&mut self, name: &Name, compress: bool) -> Option<()> {
        let compress = compress && self.compressed_names < COMPRESSED_NAME_LIMIT;
        if compress {
            self.compressed_names += 1;
        }
        let spelled_start = self.spelled.len();
        // Where each label starts within the name (a name is at most 255 bytes).
        let mut label_starts = [0u8; 128];
        let mut labels = 0;
        for label in name.iter() {
            if label.len() > 63 || labels == label_starts.len() {
                return None;
            }
            label_starts[labels] = u8::try_from(self.spelled.len() - spelled_start).ok()?;
            labels += 1;
            self.spelled.push(label.len() as u8);
            self.spelled.extend_from_slice(label);
        }
        let spelled_end = self.spelled.len();
        let written_start = self.bytes.len();
        // hickory checks the reach at the end of the labels as written.
        let labels_end = written_start + (spelled_end - spelled_start);
        for &start in &label_starts[..labels] {
            let start = usize::from(start);
            let suffix = spelled_start + start..spelled_end;
            if compress
                && let Some(target) = self.find(&suffix)
                && target < 0x4000
            {
                self.bytes
                    .extend_from_slice(&self.spelled[spelled_start..spelled_start + start]);
                self.bytes
                    .extend_from_slice(&(0xC000u16 | target as u16).to_be_bytes());
                return self.check_length(written_start);
            }
            if labels_end < POINTER_REACH && self.candidates.len() < CANDIDATE_LIMIT {
                self.candidates.push((written_start + start, suffix));
            }
        }
        self.bytes
            .extend_from_slice(&self.spelled[spelled_start..spelled_end]);
        self.bytes.push(0);
        self.check_length(written_start)
    }

    fn find(&self, suffix: &std::ops::Range<usize>) -> Option<usize> {
        let wanted = &self.spelled[suffix.clone()];
        self.candidates
            .iter()
            .find(|(_, range)| &self.spelled[range.clone()] == wanted)
            .map(|(offset, _)| *offset)
    }

    fn check_length(&self, written_start: usize) -> Option<()> {
        (self.bytes.len() - written_start <= 255).then_some(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use hickory_proto::op::{Edns, OpCode, Query, ResponseCode};
    use hickory_proto::rr::rdata::{A, AAAA, CNAME, NS, PTR, SOA, SRV, TXT};
    use hickory_proto::rr::{DNSClass, RecordType};
    use hickory_proto::serialize::binary::BinEncodable;

    fn name(text: &str) -> Name {
        Name::from_ascii(text).unwrap()
    }

    fn hickory(msg: &Message) -> Vec<u8> {
        msg.to_vec().unwrap()
    }

    fn reply(qname: &str, qtype: RecordType) -> Message {
        let mut msg = Message::response(0x1234, OpCode::Query);
        msg.metadata.authoritative = true;
        msg.metadata.recursion_desired = true;
        msg.add_query(Query::query(name(qname), qtype));
        msg
    }

    #[test]
    fn cluster_answers_match_hickory_byte_for_byte() {
        let mut a = reply("Svc1.TestNS.svc.cluster.local.", RecordType::A);
        for last in 1..=4u8 {
            a.answers.push(Record::from_rdata(
                name("Svc1.TestNS.svc.cluster.local."),
                5,
                RData::A(A::new(10, 0, 0, last)),
            ));
        }
        let mut srv = reply("_http._tcp.multi.ns.svc.cluster.local.", RecordType::SRV);
        for host in [
            "a.multi.ns.svc.cluster.local.",
            "b.multi.ns.svc.cluster.local.",
        ] {
            srv.answers.push(Record::from_rdata(
                name("_http._tcp.multi.ns.svc.cluster.local."),
                5,
                RData::SRV(SRV::new(0, 50, 80, name(host))),
            ));
            srv.additionals.push(Record::from_rdata(
                name(host),
                5,
                RData::AAAA(AAAA::new(0xfd00, 0, 0, 0, 0, 0, 0, 1)),
            ));
        }
        let mut nx = reply("nothere.ns.svc.cluster.local.", RecordType::A);
        nx.metadata.response_code = ResponseCode::NXDomain;
        nx.authorities.push(Record::from_rdata(
            name("cluster.local."),
            5,
            RData::SOA(SOA::new(
                name("ns.dns.cluster.local."),
                name("hostmaster.cluster.local."),
                1_700_000_000,
                7200,
                1800,
                86400,
                5,
            )),
        ));
        let mut edns = Edns::new();
        edns.set_max_payload(1232);
        edns.set_dnssec_ok(true);
        nx.edns = Some(edns);
        let mut other = reply("1.0.32.10.in-addr.arpa.", RecordType::PTR);
        other.metadata.recursion_available = true;
        other.metadata.checking_disabled = true;
        other.answers.push(Record::from_rdata(
            name("1.0.32.10.in-addr.arpa."),
            5,
            RData::PTR(PTR(name("kubernetes.default.svc.cluster.local."))),
        ));
        other.answers.push(Record::from_rdata(
            name("ext.ns.svc.cluster.local."),
            5,
            RData::CNAME(CNAME(name("example.com."))),
        ));
        other.authorities.push(Record::from_rdata(
            name("cluster.local."),
            5,
            RData::NS(NS(name("ns.dns.cluster.local."))),
        ));
        other.additionals.push(Record::from_rdata(
            name("dns-version.cluster.local."),
            5,
            RData::TXT(TXT::new(vec!["1.1.0".into(), String::new()])),
        ));
        let mut chaos = Record::from_rdata(name("x."), 0, RData::A(A::new(1, 2, 3, 4)));
        chaos.dns_class = DNSClass::CH;
        other.additionals.push(chaos);
        let empty = reply(".", RecordType::NS);
        for msg in [a, srv, nx, other, empty] {
            assert_eq!(encode(&msg).unwrap(), hickory(&msg), "{msg:?}");
        }
    }

    #[test]
    fn many_names_reach_the_candidate_and_compression_limits_as_hickory_does() {
        let mut msg = reply("q.example.", RecordType::A);
        for i in 0..150 {
            let owner = name(&format!("host{i}.zone{}.example.", i % 7));
            msg.answers.push(Record::from_rdata(
                owner,
                1,
                RData::A(A::new(10, 0, 0, i as u8)),
            ));
        }
        assert_eq!(encode(&msg).unwrap(), hickory(&msg));
    }

    #[test]
    fn what_it_does_not_know_goes_to_hickory() {
        let mut msg = reply("mx.example.", RecordType::MX);
        msg.answers.push(Record::from_rdata(
            name("mx.example."),
            1,
            RData::MX(hickory_proto::rr::rdata::MX::new(10, name("mail.example."))),
        ));
        assert!(encode(&msg).is_none());
        let mut with_option = reply("a.example.", RecordType::A);
        let mut edns = Edns::new();
        edns.options_mut()
            .insert(hickory_proto::rr::rdata::opt::EdnsOption::Unknown(
                65001,
                vec![1, 2],
            ));
        with_option.edns = Some(edns);
        assert!(encode(&with_option).is_none());
    }

    #[test]
    fn the_output_decodes_to_the_same_message() {
        let mut msg = reply("a.b.example.", RecordType::A);
        msg.answers.push(Record::from_rdata(
            name("a.b.example."),
            30,
            RData::A(A::new(192, 0, 2, 1)),
        ));
        let decoded = Message::from_vec(&encode(&msg).unwrap()).unwrap();
        assert_eq!(decoded.answers, msg.answers);
        assert_eq!(decoded.queries, msg.queries);
        assert!(BinEncodable::to_bytes(&msg).is_ok());
    }
}
