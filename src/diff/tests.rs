//! The checker finds every kind of difference and ignores what it should.

use hickory_proto::op::{Edns, Message, OpCode, Query, ResponseCode};
use hickory_proto::rr::rdata::{A, SOA};
use hickory_proto::rr::{Name, RData, Record, RecordType};

use super::*;

fn name(text: &str) -> Name {
    Name::from_ascii(text).unwrap()
}

fn a(owner: &str, ttl: u32, last: u8) -> Record {
    Record::from_rdata(name(owner), ttl, RData::A(A::new(10, 32, 0, last)))
}

fn soa(serial: u32) -> Record {
    let data = SOA::new(
        name("ns.dns.cluster.local."),
        name("hostmaster.cluster.local."),
        serial,
        7200,
        1800,
        86400,
        5,
    );
    Record::from_rdata(name("cluster.local."), 5, RData::SOA(data))
}

fn reply() -> Message {
    let mut m = Message::response(1, OpCode::Query);
    m.metadata.authoritative = true;
    m.metadata.recursion_desired = true;
    m.add_query(Query::query(
        name("svc.ns.svc.cluster.local."),
        RecordType::A,
    ));
    m.add_answer(a("svc.ns.svc.cluster.local.", 5, 1));
    m.add_answer(a("svc.ns.svc.cluster.local.", 5, 2));
    m.add_authority(soa(100));
    m
}

#[test]
fn identical_replies_modulo_id_order_and_serial_have_no_difference() {
    let expected = reply();
    let mut actual = reply();
    actual.metadata.id = 999;
    actual.answers.reverse();
    actual.authorities = vec![soa(12345)];
    assert_eq!(compare(&expected, &actual), vec![]);
}

#[test]
fn rcode_difference() {
    let mut actual = reply();
    actual.metadata.response_code = ResponseCode::NXDomain;
    let found = compare(&reply(), &actual);
    assert_eq!(found.len(), 1);
    assert_eq!(found[0].field, "rcode");
    assert_eq!(found[0].expected, "NOERROR");
    assert_eq!(found[0].actual, "NXDOMAIN");
}

#[test]
fn flag_differences() {
    for flip in 0..4 {
        let mut actual = reply();
        match flip {
            0 => actual.metadata.authoritative = false,
            1 => actual.metadata.truncation = true,
            2 => actual.metadata.recursion_available = true,
            _ => actual.metadata.checking_disabled = true,
        }
        let found = compare(&reply(), &actual);
        assert_eq!(found.len(), 1, "flip {flip}: {found:?}");
        assert_eq!(found[0].field, "flags");
    }
}

#[test]
fn ttl_is_compared_exactly() {
    let mut actual = reply();
    actual.answers[0].ttl = 4;
    let found = compare(&reply(), &actual);
    assert_eq!(found.len(), 2, "one record missing, one extra: {found:?}");
    assert!(found.iter().all(|d| d.field.starts_with("answer [")));
}

#[test]
fn missing_extra_and_duplicated_records_in_each_section() {
    let mut actual = reply();
    actual.answers.pop();
    let found = compare(&reply(), &actual);
    assert_eq!(found.len(), 1);
    assert_eq!(
        (found[0].expected.as_str(), found[0].actual.as_str()),
        ("1×", "0×")
    );

    let mut actual = reply();
    actual.add_answer(a("svc.ns.svc.cluster.local.", 5, 2));
    assert_eq!(
        compare(&reply(), &actual)[0].actual,
        "2×",
        "multiset, not set"
    );

    let mut actual = reply();
    actual.authorities.clear();
    assert!(
        compare(&reply(), &actual)[0]
            .field
            .starts_with("authority [")
    );

    let mut actual = reply();
    actual.add_additional(a("extra.", 5, 9));
    assert!(
        compare(&reply(), &actual)[0]
            .field
            .starts_with("additional [")
    );
}

#[test]
fn soa_fields_other_than_serial_count() {
    let mut actual = reply();
    let data = SOA::new(
        name("ns.dns.cluster.local."),
        name("hostmaster.cluster.local."),
        100,
        7200,
        1800,
        86400,
        30,
    );
    actual.authorities = vec![Record::from_rdata(
        name("cluster.local."),
        5,
        RData::SOA(data),
    )];
    assert_eq!(compare(&reply(), &actual).len(), 2);
}

#[test]
fn question_case_and_edns_differences() {
    let mut actual = reply();
    actual.queries = vec![Query::query(
        name("SVC.ns.svc.cluster.local."),
        RecordType::A,
    )];
    assert_eq!(compare(&reply(), &actual)[0].field, "question");

    let mut actual = reply();
    let mut edns = Edns::new();
    edns.set_max_payload(1232);
    actual.set_edns(edns);
    let found = compare(&reply(), &actual);
    assert_eq!(found[0].field, "edns");
    assert_eq!(found[0].expected, "none");
}

#[test]
fn several_differences_are_all_reported() {
    let mut actual = reply();
    actual.metadata.response_code = ResponseCode::ServFail;
    actual.metadata.authoritative = false;
    actual.answers.clear();
    let fields: Vec<String> = compare(&reply(), &actual)
        .into_iter()
        .map(|d| d.field)
        .collect();
    assert_eq!(fields.len(), 4, "{fields:?}");
}

#[test]
fn only_ttls_one_second_apart_are_worth_asking_again() {
    let expected = reply();
    let mut aged = reply();
    aged.answers[0].ttl = 4;
    assert!(ttl_off_by_one(&expected, &aged), "one TTL a second younger");
    let mut two = reply();
    two.answers[0].ttl = 3;
    assert!(!ttl_off_by_one(&expected, &two), "two seconds apart");
    let mut other = reply();
    other.answers[0].ttl = 4;
    other.metadata.response_code = ResponseCode::NXDomain;
    assert!(!ttl_off_by_one(&expected, &other), "and another difference");
    assert!(!ttl_off_by_one(&expected, &reply()), "no difference at all");
    let mut record = reply();
    record.answers[1] = a("svc.ns.svc.cluster.local.", 4, 9);
    assert!(!ttl_off_by_one(&expected, &record), "another record");
}
