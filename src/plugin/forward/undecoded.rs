//! Upstream replies passed on without decoding.
//!
//! Why: decoding an upstream reply into records, comparing its question
//! through those records and encoding it again was about a third of the
//! user-space work of a forwarded query. When no plugin in front of
//! `forward` reads records (`errors` and `prometheus` read only the rcode
//! and the size), the client can get the upstream's bytes under its own ID.
//!
//! What CoreDNS's writer would change in a relayed reply is changed in
//! place: the OPT record gets the client's buffer size, version 0 and only
//! the client's DO flag (its `SizeAndDo`). The metrics count the reply's
//! uncompressed length, as they do for a decoded one.
//!
//! Anything this walk does not understand goes the decoding way instead:
//! a question other than one plain name, a bad or forward-pointing
//! compression pointer, a record type whose data may hold a compressed name
//! it does not know, an extended rcode, an OPT record on one side only, or
//! a reply larger than the client's buffer (which CoreDNS would truncate).

/// What the walk learned of an upstream reply.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) struct Scan {
    /// Where the OPT record's class (the buffer size) sits, if there is one.
    opt_class_at: Option<usize>,
    /// The reply's length with every name written out in full.
    pub uncompressed_len: usize,
}

const HEADER: usize = 12;
const OPT: u16 = 41;
/// Whether a record type's data holds nothing but names at these places,
/// around fixed-size fields: (bytes before the first name, names, bytes after).
fn name_layout(rtype: u16) -> Option<(usize, usize, usize)> {
    match rtype {
        // CNAME, NS, PTR, DNAME: one name.
        5 | 2 | 12 | 39 => Some((0, 1, 0)),
        // MX: preference, exchange.
        15 => Some((2, 1, 0)),
        // SRV: priority, weight, port, target.
        33 => Some((6, 1, 0)),
        // SOA: mname, rname, five 32-bit numbers.
        6 => Some((0, 2, 20)),
        _ => None,
    }
}

/// Record types whose data holds no name, so its length is its
/// uncompressed length: A, AAAA, TXT.
fn is_nameless(rtype: u16) -> bool {
    matches!(rtype, 1 | 28 | 16)
}

/// Walks `reply` and checks that its question is `query`'s (the name
/// compared ignoring ASCII case). `None` when the reply must be decoded.
pub(super) fn scan(query: &[u8], reply: &[u8]) -> Option<Scan> {
    if query.len() < HEADER || reply.len() < HEADER {
        return None;
    }
    if count(query, 4) != 1 || count(reply, 4) != 1 {
        return None;
    }
    let question_end = same_question(query, reply)?;
    let mut at = question_end;
    let mut total = question_end;
    let records = [count(reply, 6), count(reply, 8), count(reply, 10)];
    let mut opt_class_at = None;
    for (section, &n) in records.iter().enumerate() {
        for _ in 0..n {
            let (end, owner_len) = name(reply, at)?;
            let fixed = reply.get(end..end + 10)?;
            let rtype = u16::from_be_bytes([fixed[0], fixed[1]]);
            let rdlength = usize::from(u16::from_be_bytes([fixed[8], fixed[9]]));
            let data_at = end + 10;
            let data_end = data_at + rdlength;
            if data_end > reply.len() {
                return None;
            }
            let data_len = if rtype == OPT {
                // One OPT, in the additional section, owned by the root,
                // with no extended rcode.
                if section != 2 || opt_class_at.is_some() || owner_len != 1 || fixed[4] != 0 {
                    return None;
                }
                opt_class_at = Some(end + 2);
                rdlength
            } else if is_nameless(rtype) {
                rdlength
            } else {
                let (before, names, after) = name_layout(rtype)?;
                names_len(reply, data_at, data_end, before, names, after)?
            };
            total += owner_len + 10 + data_len;
            at = data_end;
        }
    }
    (at == reply.len()).then_some(Scan {
        opt_class_at,
        uncompressed_len: total,
    })
}

/// Gives the reply the client's ID and EDNS (buffer size, version 0, only
/// the DO flag, as the client sent it). `client_edns` is the client's
/// `(buffer size, DO)`; `false` when the reply cannot be fitted in place
/// (the client sent OPT and the reply has none: CoreDNS would add one).
pub(super) fn fit(
    reply: &mut [u8],
    scan: &Scan,
    client_id: u16,
    client_edns: Option<(u16, bool)>,
) -> bool {
    match (scan.opt_class_at, client_edns) {
        // Without the client's OPT, CoreDNS leaves the reply's as it is.
        (_, None) => {}
        (Some(at), Some((size, dnssec_ok))) => {
            reply[at..at + 2].copy_from_slice(&size.to_be_bytes());
            let flags: u16 = if dnssec_ok { 0x8000 } else { 0 };
            // TTL: extended rcode, version, flags.
            reply[at + 2] = 0;
            reply[at + 3] = 0;
            reply[at + 4..at + 6].copy_from_slice(&flags.to_be_bytes());
        }
        _ => return false,
    }
    reply[..2].copy_from_slice(&client_id.to_be_bytes());
    true
}

fn count(message: &[u8], at: usize) -> u16 {
    u16::from_be_bytes([message[at], message[at + 1]])
}

/// Compares the questions of two messages (plain labels only); the offset
/// after the reply's question.
pub(super) fn same_question(query: &[u8], reply: &[u8]) -> Option<usize> {
    let mut at = HEADER;
    loop {
        let length = usize::from(*query.get(at)?);
        if length != usize::from(*reply.get(at)?) || length > 63 {
            return None;
        }
        let end = at + 1 + length;
        if !query
            .get(at + 1..end)?
            .eq_ignore_ascii_case(reply.get(at + 1..end)?)
        {
            return None;
        }
        at = end;
        if length == 0 {
            break;
        }
    }
    (query.get(at..at + 4)? == reply.get(at..at + 4)?).then_some(at + 4)
}

/// Reads a (possibly compressed) name at `at`: the offset after it, and
/// its length written out in full. Pointers must point backwards.
fn name(message: &[u8], at: usize) -> Option<(usize, usize)> {
    let (mut position, mut end, mut length) = (at, None, 0usize);
    loop {
        let byte = *message.get(position)?;
        match byte & 0xC0 {
            0x00 if byte == 0 => {
                length += 1;
                let end = end.unwrap_or(position + 1);
                return (length <= 255).then_some((end, length));
            }
            0x00 => {
                length += usize::from(byte) + 1;
                position += usize::from(byte) + 1;
                if length > 255 {
                    return None;
                }
            }
            0xC0 => {
                let target =
                    usize::from(u16::from_be_bytes([byte, *message.get(position + 1)?]) & 0x3FFF);
                if target >= position {
                    return None;
                }
                end.get_or_insert(position + 2);
                position = target;
            }
            _ => return None,
        }
    }
}

/// The uncompressed length of record data made of `before` fixed bytes,
/// `names` names and `after` fixed bytes, filling exactly `at..end`.
fn names_len(
    message: &[u8],
    at: usize,
    end: usize,
    before: usize,
    names: usize,
    after: usize,
) -> Option<usize> {
    let mut position = at + before;
    let mut total = before + after;
    for _ in 0..names {
        if position >= end {
            return None;
        }
        let (next, length) = name(message, position)?;
        total += length;
        position = next;
    }
    (position + after == end).then_some(total)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::dns::wire;
    use hickory_proto::op::{Edns, Message, MessageType, OpCode, Query, ResponseCode};
    use hickory_proto::rr::rdata::{A, CNAME, MX, SOA, SRV, TXT};
    use hickory_proto::rr::{Name, RData, Record, RecordType};

    fn name(text: &str) -> Name {
        Name::from_ascii(text).unwrap()
    }

    fn query(qname: &str, qtype: RecordType, edns: bool) -> Message {
        let mut query = Message::new(0x1234, MessageType::Query, OpCode::Query);
        query.add_query(Query::query(name(qname), qtype));
        if edns {
            let mut opt = Edns::new();
            opt.set_max_payload(1232);
            query.set_edns(opt);
        }
        query
    }

    fn reply_to(query: &Message, records: Vec<(u8, Record)>) -> Message {
        let mut reply = Message::response(0x9999, OpCode::Query);
        reply.queries = query.queries.clone();
        for (section, record) in records {
            match section {
                0 => reply.answers.push(record),
                1 => reply.authorities.push(record),
                _ => reply.additionals.push(record),
            }
        }
        if query.edns.is_some() {
            let mut opt = Edns::new();
            opt.set_max_payload(4096);
            opt.set_dnssec_ok(true);
            reply.set_edns(opt);
        }
        reply
    }

    fn record(owner: &str, data: RData) -> Record {
        Record::from_rdata(name(owner), 300, data)
    }

    /// Replies of every shape the walk accepts, encoded with compression.
    fn samples() -> Vec<(Message, Message)> {
        let q = query("Host1.Example.org.", RecordType::A, true);
        let a = reply_to(
            &q,
            vec![
                (
                    0,
                    record("host1.example.org.", RData::A(A::new(192, 0, 2, 1))),
                ),
                (
                    0,
                    record("host1.example.org.", RData::A(A::new(192, 0, 2, 2))),
                ),
            ],
        );
        let q2 = query("www.example.org.", RecordType::A, false);
        let chain = reply_to(
            &q2,
            vec![
                (
                    0,
                    record(
                        "www.example.org.",
                        RData::CNAME(CNAME(name("web.example.org."))),
                    ),
                ),
                (
                    0,
                    record("web.example.org.", RData::A(A::new(192, 0, 2, 3))),
                ),
                (
                    2,
                    record("web.example.org.", RData::TXT(TXT::new(vec!["x".into()]))),
                ),
            ],
        );
        let q3 = query("nope.example.org.", RecordType::MX, true);
        let mut negative = reply_to(
            &q3,
            vec![(
                1,
                record(
                    "example.org.",
                    RData::SOA(SOA::new(
                        name("ns.example.org."),
                        name("admin.example.org."),
                        1,
                        3600,
                        600,
                        86400,
                        60,
                    )),
                ),
            )],
        );
        negative.metadata.response_code = ResponseCode::NXDomain;
        let q4 = query("example.org.", RecordType::MX, false);
        let mx = reply_to(
            &q4,
            vec![
                (
                    0,
                    record(
                        "example.org.",
                        RData::MX(MX::new(10, name("mail.example.org."))),
                    ),
                ),
                (
                    2,
                    record(
                        "_x._tcp.example.org.",
                        RData::SRV(SRV::new(0, 5, 53, name("mail.example.org."))),
                    ),
                ),
            ],
        );
        vec![(q, a), (q2, chain), (q3, negative), (q4, mx)]
    }

    #[test]
    fn uncompressed_length_matches_the_decoded_messages() {
        for (query, reply) in samples() {
            let bytes = wire::encode(&reply);
            let scan = scan(&wire::encode(&query), &bytes).expect("walkable");
            let decoded = Message::from_vec(&bytes).unwrap();
            assert_eq!(
                scan.uncompressed_len,
                wire::uncompressed_len(&decoded),
                "{reply:?}"
            );
            assert!(scan.uncompressed_len > bytes.len() || reply.answers.len() < 2);
        }
    }

    #[test]
    fn fitting_sets_the_clients_id_and_edns_as_decoding_would() {
        for (query, reply) in samples() {
            let mut bytes = wire::encode(&reply);
            let scan = scan(&wire::encode(&query), &bytes).unwrap();
            let client = query
                .edns
                .as_ref()
                .map(|e| (e.max_payload(), e.flags().dnssec_ok));
            assert!(fit(&mut bytes, &scan, 0x4321, client));
            let mut expected = Message::from_vec(&wire::encode(&reply)).unwrap();
            expected.metadata.id = 0x4321;
            wire::echo_edns(&query, &mut expected);
            let fitted = Message::from_vec(&bytes).unwrap();
            assert_eq!(fitted, expected);
        }
    }

    #[test]
    fn other_questions_and_unknown_shapes_are_left_to_the_decoder() {
        let (query, reply) = samples().remove(0);
        let query_bytes = wire::encode(&query);
        let other = wire::encode(&self::query("host2.example.org.", RecordType::A, true));
        assert!(
            scan(&other, &wire::encode(&reply)).is_none(),
            "another name"
        );
        let aaaa = wire::encode(&self::query("host1.example.org.", RecordType::AAAA, true));
        assert!(scan(&aaaa, &wire::encode(&reply)).is_none(), "another type");
        let mut caa = reply.clone();
        caa.answers.push(record(
            "host1.example.org.",
            RData::CAA(hickory_proto::rr::rdata::CAA::new_issue(
                false,
                None,
                vec![],
            )),
        ));
        assert!(
            scan(&query_bytes, &wire::encode(&caa)).is_none(),
            "unknown type"
        );
        let bytes = wire::encode(&reply);
        for cut in 0..bytes.len() {
            assert!(scan(&query_bytes, &bytes[..cut]).is_none(), "cut at {cut}");
        }
        let mut looped = bytes.clone();
        // The first answer's owner: a pointer to itself.
        let at = 12 + query_bytes[12..].iter().position(|&b| b == 0).unwrap() + 1 + 4;
        looped[at] = 0xC0 | (at >> 8) as u8;
        looped[at + 1] = at as u8;
        assert!(scan(&query_bytes, &looped).is_none(), "self pointer");
    }

    #[test]
    fn a_reply_without_the_clients_opt_is_not_fitted_in_place() {
        let (query, reply) = samples().remove(1);
        assert!(query.edns.is_none() && reply.edns.is_none());
        let mut bytes = wire::encode(&reply);
        let scan = scan(&wire::encode(&query), &bytes).unwrap();
        assert!(!fit(&mut bytes, &scan, 1, Some((1232, false))));
        assert!(fit(&mut bytes, &scan, 1, None));
    }
}
