//! Reply types and classes (CoreDNS `response.Typify` and `Classify`), used
//! by `log`'s `class` filter and the `{/log/type}` label.

use hickory_proto::op::{Message, OpCode, ResponseCode};
use hickory_proto::rr::RecordType;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum ReplyType {
    NoError,
    NameError,
    ServerError,
    NoData,
    Delegation,
    Meta,
    Update,
    OtherError,
}

impl ReplyType {
    /// CoreDNS's `Type.String()`.
    pub(crate) fn text(self) -> &'static str {
        match self {
            ReplyType::NoError => "NOERROR",
            ReplyType::NameError => "NXDOMAIN",
            ReplyType::ServerError => "SERVERERROR",
            ReplyType::NoData => "NODATA",
            ReplyType::Delegation => "DELEGATION",
            ReplyType::Meta => "META",
            ReplyType::Update => "UPDATE",
            ReplyType::OtherError => "OTHERERROR",
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Class {
    All,
    Success,
    Denial,
    Error,
}

impl Class {
    pub(crate) fn parse(text: &str) -> Option<Class> {
        match text {
            "all" => Some(Class::All),
            "success" => Some(Class::Success),
            "denial" => Some(Class::Denial),
            "error" => Some(Class::Error),
            _ => None,
        }
    }
}

/// The type of a reply; no reply at all is `OtherError`.
pub(crate) fn typify(reply: Option<&Message>) -> ReplyType {
    let Some(m) = reply else {
        return ReplyType::OtherError;
    };
    match m.metadata.op_code {
        OpCode::Update => return ReplyType::Update,
        OpCode::Notify => return ReplyType::Meta,
        _ => {}
    }
    if m.queries
        .first()
        .is_some_and(|q| matches!(q.query_type(), RecordType::AXFR | RecordType::IXFR))
    {
        return ReplyType::Meta;
    }
    let rcode = m.metadata.response_code;
    if !m.answers.is_empty() {
        match rcode {
            ResponseCode::NoError => return ReplyType::NoError,
            ResponseCode::NXDomain => return ReplyType::OtherError,
            _ => {}
        }
    }
    let soa = m
        .authorities
        .iter()
        .any(|r| r.record_type() == RecordType::SOA);
    let ns = m
        .authorities
        .iter()
        .filter(|r| r.record_type() == RecordType::NS)
        .count();
    match rcode {
        ResponseCode::NoError if soa => ReplyType::NoData,
        ResponseCode::NXDomain => ReplyType::NameError,
        ResponseCode::ServFail | ResponseCode::NotImp => ReplyType::ServerError,
        ResponseCode::NoError if ns > 0 => ReplyType::Delegation,
        ResponseCode::NoError => ReplyType::NoError,
        _ => ReplyType::OtherError,
    }
}

pub(crate) fn classify(reply_type: ReplyType) -> Class {
    match reply_type {
        ReplyType::NoError | ReplyType::Delegation => Class::Success,
        ReplyType::NameError | ReplyType::NoData => Class::Denial,
        ReplyType::OtherError | ReplyType::ServerError => Class::Error,
        ReplyType::Meta | ReplyType::Update => Class::All,
    }
}
