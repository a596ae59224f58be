//! any: answers every ANY query itself with the single HINFO record of
//! RFC 8482 ("ANY obsoleted", "See RFC 8482", TTL 8482), as CoreDNS's `any`
//! does, so an ANY query never fans out to the plugins behind it or
//! upstream. Other types pass on untouched.

use hickory_proto::rr::rdata::HINFO;
use hickory_proto::rr::{DNSClass, RData, Record, RecordType};

use crate::corefile::{CorefileError, Dispenser};
use crate::dns::wire::reply_to;
use crate::dns::{Flow, Next, Plugin, Request, Status};

/// The TTL RFC 8482's examples use, as CoreDNS sets it.
const TTL: u32 = 8482;

pub(crate) struct Any;

/// `any`, with no arguments and no block.
pub(crate) fn setup(d: &mut Dispenser) -> Result<Any, CorefileError> {
    d.next();
    if d.next_arg() {
        return Err(d.arg_err());
    }
    if d.next_block() {
        return Err(d.unknown_property());
    }
    Ok(Any)
}

impl Plugin for Any {
    fn name(&self) -> &'static str {
        "any"
    }

    fn serve(&self, mut req: Request, next: Next) -> Flow {
        if req.qtype() != RecordType::ANY {
            return next.serve(req);
        }
        let mut reply = reply_to(&req.msg, hickory_proto::op::ResponseCode::NoError);
        let mut hinfo = Record::from_rdata(
            req.qname().clone(),
            TTL,
            RData::HINFO(HINFO::new("ANY obsoleted".into(), "See RFC 8482".into())),
        );
        hinfo.dns_class = DNSClass::IN;
        reply.answers.push(hinfo);
        let status: Status = req.write(reply, "any");
        Flow::done(req, status)
    }
}

#[cfg(test)]
mod tests {
    use crate::plugin::pkg::test::{self, Case};
    use hickory_proto::rr::RecordType::{A, ANY};

    #[test]
    fn any_gets_the_rfc_8482_hinfo_and_other_types_pass() {
        let chain = test::chain(".:53 {\n any\n hosts {\n  10.0.0.1 a.example.org\n }\n}\n");
        test::check(
            &chain,
            &[
                Case::answer(
                    "a.example.org.",
                    ANY,
                    &["a.example.org. 8482 IN HINFO ANY obsoleted See RFC 8482"],
                ),
                Case::answer("a.example.org.", A, &["a.example.org. 3600 IN A 10.0.0.1"]),
            ],
        );
    }

    #[test]
    fn arguments_are_refused() {
        let error = test::setup_error(".:53 {\n any extra\n}\n");
        assert!(error.contains("Wrong argument count"), "{error}");
        // A block opens on the directive's line: an argument to caddy too.
        let error = test::setup_error(".:53 {\n any {\n  x\n }\n}\n");
        assert!(
            error.contains("Unexpected token '{', expecting argument"),
            "{error}"
        );
    }
}
