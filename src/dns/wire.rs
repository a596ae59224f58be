//! Wire-level rules applied around the plugin chain: which packets are
//! accepted, the replies written before a chain runs (FORMERR, NOTIMP,
//! BADVERS), and how every reply is fitted to the client (EDNS echo and
//! truncation). These follow miekg/dns and CoreDNS's `request` package.

use hickory_proto::op::{Edns, Message, OpCode, ResponseCode};
use hickory_proto::rr::rdata::opt::EdnsOption;
use hickory_proto::rr::{Name, RData, Record};
use hickory_proto::serialize::binary::{BinEncodable, BinEncoder};

use super::proto::Proto;

const HEADER_LEN: usize = 12;

/// What to do with a packet, decided from its header alone
/// (miekg's `DefaultMsgAcceptFunc`).
#[derive(Debug, PartialEq, Eq)]
pub(crate) enum Admission {
    Accept,
    /// Silently dropped: too short to hold a header, or a response.
    Ignore,
    /// FORMERR with empty sections.
    Reject,
    /// NOTIMP with empty sections.
    NotImplemented,
}

/// Checks a raw packet's header.
pub(crate) fn admit(packet: &[u8]) -> Admission {
    if packet.len() < HEADER_LEN {
        return Admission::Ignore;
    }
    let flags = u16::from_be_bytes([packet[2], packet[3]]);
    if flags & 0x8000 != 0 {
        return Admission::Ignore;
    }
    let opcode = (flags >> 11) & 0xF;
    if opcode != 0 && opcode != 4 {
        return Admission::NotImplemented;
    }
    let count = |at: usize| u16::from_be_bytes([packet[at], packet[at + 1]]);
    if count(4) != 1 || count(6) > 1 || count(8) > 1 || count(10) > 2 {
        return Admission::Reject;
    }
    Admission::Accept
}

/// The reply miekg writes for a rejected or unparsable query: the query's
/// header with QR set, AA cleared, the given rcode, and no sections.
pub(crate) fn header_only_reply(packet: &[u8], rcode: ResponseCode) -> Vec<u8> {
    let mut reply = packet[..HEADER_LEN].to_vec();
    let opcode_bits = if rcode == ResponseCode::NotImp {
        reply[2] & 0x78
    } else {
        0
    };
    // QR=1, keep RD and TC bits of byte 2 except AA; opcode QUERY unless NOTIMP.
    reply[2] = 0x80 | opcode_bits | (reply[2] & 0x03);
    reply[2] &= !0x04;
    // Z cleared, rcode set; RA, AD, CD kept as the client sent them.
    reply[3] = (reply[3] & 0xB0) | (u16::from(rcode) as u8 & 0x0F);
    reply[4..12].fill(0);
    reply
}

/// The BADVERS reply for an EDNS version other than 0 (CoreDNS's
/// `edns.Version`): no question, an OPT with version 0 and the extended rcode.
pub(crate) fn badvers_reply(query: &Message) -> Message {
    let mut reply = reply_to(query, ResponseCode::NoError);
    reply.queries.clear();
    let mut edns = Edns::new();
    edns.set_version(0);
    reply.set_edns(edns);
    reply.metadata.response_code = ResponseCode::BADVERS;
    reply
}

/// Option codes plugins added to the echoed ones (rewrite's `edns0 local`
/// codes), one bit per code.
static EXTRA_SUPPORTED: [std::sync::atomic::AtomicU64; 1024] =
    [const { std::sync::atomic::AtomicU64::new(0) }; 1024];

/// Adds `code` to the options replies echo, for the life of the process
/// (CoreDNS's `edns.SetSupportedOption`, which rewrite calls at setup).
pub(crate) fn support_option(code: u16) {
    let (word, bit) = (usize::from(code / 64), code % 64);
    EXTRA_SUPPORTED[word].fetch_or(1 << bit, std::sync::atomic::Ordering::Relaxed);
}

/// Options a reply may echo from the query's OPT (CoreDNS `edns.supportedOptions`).
fn supported_option(code: u16) -> bool {
    // NSID, EXPIRE, COOKIE, TCP-KEEPALIVE, PADDING
    if matches!(code, 3 | 9 | 10 | 11 | 12) {
        return true;
    }
    let (word, bit) = (usize::from(code / 64), code % 64);
    EXTRA_SUPPORTED[word].load(std::sync::atomic::Ordering::Relaxed) & (1 << bit) != 0
}

/// CoreDNS's `SizeAndDo`: when the query had EDNS, the reply carries an OPT
/// with version 0, the client's buffer size, the DO bit if the client set
/// it, and the supported options echoed.
pub(crate) fn echo_edns(query: &Message, reply: &mut Message) {
    let Some(client) = &query.edns else {
        return;
    };
    let mut edns = match reply.edns.take() {
        Some(existing) => existing,
        None => {
            let mut fresh = Edns::new();
            let echoed = client
                .options()
                .options
                .iter()
                .filter(|(code, _)| supported_option(u16::from(*code)))
                .cloned()
                .collect();
            *fresh.options_mut() = hickory_proto::rr::rdata::OPT::new(echoed);
            fresh
        }
    };
    edns.set_version(0);
    edns.set_max_payload(client.max_payload());
    edns.set_rcode_high(0);
    *edns.flags_mut() = Default::default();
    edns.set_dnssec_ok(client.flags().dnssec_ok);
    reply.set_edns(edns);
}

/// The largest payload one UDP datagram can carry over IPv4 (65535 less
/// the IP and UDP headers); IPv6 allows a little more.
pub(crate) const MAX_UDP_PAYLOAD: usize = 65_507;

/// The size a reply to the client must fit (CoreDNS `Request.Size`):
/// 65535 over TCP, else the EDNS size with a floor of 512, and never more
/// than a datagram can carry. CoreDNS follows the client's EDNS size even
/// past that, and the kernel then refuses to send the reply (EMSGSIZE):
/// here it is truncated with TC instead. A lower ceiling is the `bufsize`
/// plugin's job.
pub fn client_size(query: &Message, proto: Proto) -> usize {
    if proto == Proto::Tcp {
        return u16::MAX as usize;
    }
    query
        .edns
        .as_ref()
        .map(|e| e.max_payload().max(512) as usize)
        .unwrap_or(512)
        .min(MAX_UDP_PAYLOAD)
}

/// Encodes a reply so it fits `size` bytes, dropping records from the end
/// (answer, then authority, then additional) and setting TC when anything
/// was dropped, as miekg's `Msg.Truncate` does.
pub(crate) fn encode_fitted(reply: &mut Message, size: usize) -> Vec<u8> {
    if uncompressed_len(reply) <= size {
        return encode(reply);
    }
    let bytes = encode(reply);
    if bytes.len() <= size {
        return bytes;
    }
    truncate_to(reply, size);
    encode(reply)
}

fn truncate_to(reply: &mut Message, size: usize) {
    let total = reply.answers.len() + reply.authorities.len() + reply.additionals.len();
    let (mut low, mut high) = (0usize, total);
    // Largest record count whose encoding fits.
    while low < high {
        let middle = (low + high).div_ceil(2);
        let mut candidate = reply.clone();
        keep_first_records(&mut candidate, middle);
        if fits_whole(&candidate, middle, size) {
            low = middle;
        } else {
            high = middle - 1;
        }
    }
    keep_first_records(reply, low);
    reply.metadata.truncation = true;
}

/// Whether `msg`, holding `records` records, encodes within `size` bytes
/// with every record in it. Past 64 KiB the encoder itself drops records
/// (or fails), so its length alone would say "fits" for a message that
/// does not.
fn fits_whole(msg: &Message, records: usize, size: usize) -> bool {
    let Ok(bytes) = try_encode(msg) else {
        return false;
    };
    let count = |at: usize| usize::from(u16::from_be_bytes([bytes[at], bytes[at + 1]]));
    bytes.len() <= size && bytes.len() >= HEADER_LEN && count(6) + count(8) + count(10) >= records
}

fn keep_first_records(msg: &mut Message, mut keep: usize) {
    for section in [&mut msg.answers, &mut msg.authorities, &mut msg.additionals] {
        let here = keep.min(section.len());
        section.truncate(here);
        keep -= here;
    }
}

/// Encodes a message (with name compression); an impossible message
/// (e.g. > 65535 records) becomes a SERVFAIL for the same question.
pub fn encode(msg: &Message) -> Vec<u8> {
    try_encode(msg).unwrap_or_else(|_| {
        let mut failure =
            Message::error_msg(msg.metadata.id, OpCode::Query, ResponseCode::ServFail);
        failure.queries = msg.queries.clone();
        failure.to_vec().unwrap_or_default()
    })
}

/// Encodes a message with the own encoder, or hickory's for what it does
/// not cover; the bytes are the same either way.
pub(crate) fn try_encode(msg: &Message) -> Result<Vec<u8>, hickory_proto::ProtoError> {
    if let Some(bytes) = super::encoder::encode(msg) {
        return Ok(bytes);
    }
    let mut buffer = Vec::with_capacity(512);
    let mut encoder = BinEncoder::new(&mut buffer);
    msg.emit(&mut encoder)?;
    // When the message does not fit 64 KiB, hickory drops the records that
    // overflow and rolls its offset back, but not the buffer's length:
    // the bytes past the offset are what it had written of them.
    let end = encoder.offset();
    buffer.truncate(end);
    Ok(buffer)
}

/// The length of a message without name compression (miekg's `Msg.Len()`
/// with compression off): what CoreDNS logs as `{rsize}` and observes in
/// the size histograms.
pub(crate) fn uncompressed_len(msg: &Message) -> usize {
    let questions: usize = msg.queries.iter().map(|q| name_len(q.name()) + 4).sum();
    let records: usize = msg
        .answers
        .iter()
        .chain(&msg.authorities)
        .chain(&msg.additionals)
        .map(record_len)
        .sum();
    let opt = msg.edns.as_ref().map(edns_len).unwrap_or(0);
    HEADER_LEN + questions + records + opt
}

fn edns_len(edns: &Edns) -> usize {
    11 + edns
        .options()
        .options
        .iter()
        .map(|(_, o)| 4 + option_len(o))
        .sum::<usize>()
}

fn option_len(option: &EdnsOption) -> usize {
    option.len() as usize
}

/// Wire length of a name, uncompressed.
pub(crate) fn name_len(name: &Name) -> usize {
    // `Name::len` is the dotted text length: each label plus one separator
    // byte, which is the wire length less the terminating root byte.
    if name.iter().len() == 0 {
        1
    } else {
        name.len() + 1
    }
}

fn record_len(record: &Record) -> usize {
    name_len(&record.name) + 10 + rdata_len(&record.data)
}

fn rdata_len(data: &RData) -> usize {
    match data {
        RData::A(_) => 4,
        RData::AAAA(_) => 16,
        RData::CNAME(name) => name_len(&name.0),
        RData::PTR(name) => name_len(&name.0),
        RData::NS(name) => name_len(&name.0),
        RData::SRV(srv) => 6 + name_len(&srv.target),
        RData::MX(mx) => 2 + name_len(&mx.exchange),
        RData::SOA(soa) => name_len(&soa.mname) + name_len(&soa.rname) + 20,
        other => {
            let mut buffer = Vec::new();
            let mut encoder = BinEncoder::new(&mut buffer);
            encoder.set_canonical_form(true);
            let _ = other.emit(&mut encoder);
            buffer.len()
        }
    }
}

/// miekg's `SetRcode(req, rcode)`: a reply with the question, no records.
pub(crate) fn reply_to(query: &Message, rcode: ResponseCode) -> Message {
    let mut reply = Message::response(query.metadata.id, query.metadata.op_code);
    reply.metadata.recursion_desired = query.metadata.recursion_desired;
    reply.metadata.checking_disabled = query.metadata.checking_disabled;
    reply.metadata.response_code = rcode;
    if let Some(question) = query.queries.first() {
        reply.queries.push(question.clone());
    }
    reply
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A message decoded strictly: every byte belongs to it, and the
    /// header's counts are the records that follow.
    fn strict(bytes: &[u8]) -> Message {
        use hickory_proto::serialize::binary::{BinDecodable, BinDecoder};
        let mut decoder = BinDecoder::new(bytes);
        let msg = Message::read(&mut decoder).expect("decodes");
        assert_eq!(
            decoder.len(),
            0,
            "{} bytes after the message",
            decoder.len()
        );
        msg
    }

    #[test]
    fn a_reply_larger_than_64k_is_cut_at_its_last_whole_record() {
        use hickory_proto::op::{MessageType, Query};
        use hickory_proto::rr::rdata::{SRV, TXT};
        use hickory_proto::rr::{RData, RecordType};
        let owner = Name::from_ascii("_http._tcp.big.example.org.").unwrap();
        let mut msg = Message::new(7, MessageType::Response, OpCode::Query);
        msg.add_query(Query::query(owner.clone(), RecordType::SRV));
        for n in 0..700u16 {
            // Distinct targets defeat compression; TXT goes to hickory's encoder.
            let target = Name::from_ascii(format!("endpoint-{n}.big.example.org.")).unwrap();
            let srv = SRV::new(0, 100, 80, target);
            msg.add_answer(Record::from_rdata(owner.clone(), 30, RData::SRV(srv)));
            let text = TXT::new(vec![format!("{n:0>60}")]);
            msg.add_additional(Record::from_rdata(owner.clone(), 30, RData::TXT(text)));
        }
        let mut fitted = msg.clone();
        let bytes = encode_fitted(&mut fitted, u16::MAX as usize);
        assert!(bytes.len() <= u16::MAX as usize, "{} bytes", bytes.len());
        let decoded = strict(&bytes);
        assert!(decoded.metadata.truncation);
        assert!(decoded.answers.len() + decoded.additionals.len() < 1400);
        let whole = try_encode(&msg).unwrap();
        strict(&whole);
    }

    #[test]
    fn a_udp_reply_never_exceeds_what_a_datagram_can_carry() {
        let mut query = Message::new(1, hickory_proto::op::MessageType::Query, OpCode::Query);
        let mut edns = Edns::new();
        edns.set_max_payload(u16::MAX);
        query.set_edns(edns);
        assert_eq!(client_size(&query, Proto::Udp), MAX_UDP_PAYLOAD);
        assert_eq!(client_size(&query, Proto::Tcp), u16::MAX as usize);
        query.edns = None;
        assert_eq!(client_size(&query, Proto::Udp), 512);
    }

    #[test]
    fn name_len_is_the_uncompressed_wire_length() {
        for name in [
            Name::root(),
            Name::new(),
            Name::from_ascii("a.b.").unwrap(),
            Name::from_ascii("kubernetes.default.svc.cluster.local").unwrap(),
        ] {
            let wire: usize = name.iter().map(|label| label.len() + 1).sum::<usize>() + 1;
            assert_eq!(name_len(&name), wire, "{name:?}");
        }
    }

    fn header(flags: u16, counts: [u16; 4]) -> Vec<u8> {
        let mut packet = vec![0x12, 0x34];
        packet.extend_from_slice(&flags.to_be_bytes());
        for count in counts {
            packet.extend_from_slice(&count.to_be_bytes());
        }
        packet
    }

    #[test]
    fn admission_follows_miekg() {
        assert_eq!(admit(&[0u8; 11]), Admission::Ignore);
        assert_eq!(admit(&header(0x8000, [1, 0, 0, 0])), Admission::Ignore);
        assert_eq!(
            admit(&header(0x2800, [1, 0, 0, 0])),
            Admission::NotImplemented
        );
        assert_eq!(admit(&header(0x0100, [0, 0, 0, 0])), Admission::Reject);
        assert_eq!(admit(&header(0x0100, [2, 0, 0, 0])), Admission::Reject);
        assert_eq!(admit(&header(0x0100, [1, 0, 0, 3])), Admission::Reject);
        assert_eq!(admit(&header(0x0100, [1, 1, 1, 2])), Admission::Accept);
        assert_eq!(admit(&header(0x2000, [1, 0, 0, 0])), Admission::Accept);
    }

    fn big_reply(records: usize) -> Message {
        use hickory_proto::op::Query;
        use hickory_proto::rr::{RecordType, rdata::A};
        let mut reply = Message::response(7, OpCode::Query);
        let name = Name::from_ascii("svc.ns.svc.cluster.local.").unwrap();
        reply.add_query(Query::query(name, RecordType::A));
        for i in 0..records {
            let owner = Name::from_ascii(format!("host-{i}.example.net.")).unwrap();
            reply.add_answer(Record::from_rdata(
                owner,
                5,
                RData::A(A::new(10, 0, 0, i as u8)),
            ));
        }
        reply
    }

    #[test]
    fn oversized_replies_drop_records_and_set_tc() {
        let mut reply = big_reply(40);
        let bytes = encode_fitted(&mut reply, 512);
        assert!(bytes.len() <= 512);
        let parsed = Message::from_vec(&bytes).unwrap();
        assert!(parsed.metadata.truncation);
        assert!(!parsed.answers.is_empty() && parsed.answers.len() < 40);
        let mut fits = big_reply(3);
        let parsed = Message::from_vec(&encode_fitted(&mut fits, 512)).unwrap();
        assert!(!parsed.metadata.truncation);
        assert_eq!(parsed.answers.len(), 3);
    }

    #[test]
    fn uncompressed_length_counts_every_name_in_full() {
        // header 12 + question (26 + 4) + 4 × (owner 20 + 10 + A 4)
        assert_eq!(uncompressed_len(&big_reply(4)), 12 + 30 + 4 * 34);
        assert!(
            encode(&big_reply(4)).len() < 178,
            "the wire form is compressed"
        );
    }

    #[test]
    fn header_only_reply_sets_qr_and_rcode() {
        let reply = header_only_reply(&header(0x0500, [2, 0, 0, 0]), ResponseCode::FormErr);
        assert_eq!(&reply[..2], &[0x12, 0x34]);
        assert_eq!(reply[2], 0x81, "QR and RD, AA cleared");
        assert_eq!(reply[3] & 0x0F, 1);
        assert_eq!(&reply[4..], &[0u8; 8]);
        let notimp = header_only_reply(&header(0x2800, [1, 0, 0, 0]), ResponseCode::NotImp);
        assert_eq!(notimp[2], 0x80 | 0x28);
        assert_eq!(notimp[3] & 0x0F, 4);
    }
}
