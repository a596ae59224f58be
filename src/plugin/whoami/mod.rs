//! whoami: answers every query with the client's address and port.
//!
//! It is the plugin of the built-in default Corefile (`.:53 { whoami log }`),
//! so a server started with no configuration answers something useful.

use std::net::IpAddr;

use hickory_proto::rr::rdata::{A, AAAA, SRV};
use hickory_proto::rr::{Name, RData, Record};

use crate::corefile::{CorefileError, Dispenser};
use crate::dns::{Flow, Next, Plugin};
use crate::dns::{Proto, Request};

pub(crate) struct Whoami;

pub(crate) fn setup(d: &mut Dispenser) -> Result<Whoami, CorefileError> {
    d.next();
    if d.next_arg() {
        return Err(d.arg_err());
    }
    Ok(Whoami)
}

impl Plugin for Whoami {
    fn name(&self) -> &'static str {
        "whoami"
    }

    fn serve(&self, mut req: Request, _next: Next) -> Flow {
        let mut reply = req.reply_skeleton();
        reply.metadata.authoritative = true;
        let qname = req.qname().clone();
        let class = req.qclass();
        let address = match req.src.ip() {
            IpAddr::V4(v4) => RData::A(A(v4)),
            IpAddr::V6(v6) => RData::AAAA(AAAA(v6)),
        };
        let mut address_record = Record::from_rdata(qname.clone(), 0, address);
        address_record.dns_class = class;
        let proto_label = match req.proto {
            Proto::Udp => "_udp",
            Proto::Tcp => "_tcp",
        };
        let srv_name = Name::from_ascii(proto_label)
            .and_then(|label| label.append_domain(&qname))
            .unwrap_or_else(|_| qname.clone());
        let srv = SRV::new(0, 0, req.src.port(), Name::root());
        let mut srv_record = Record::from_rdata(srv_name, 0, RData::SRV(srv));
        srv_record.dns_class = class;
        reply.additionals = vec![address_record, srv_record];
        let status = req.write(reply, "whoami");
        Flow::done(req, status)
    }
}

#[cfg(test)]
mod tests {
    use crate::plugin::pkg::test::{self, Case};
    use hickory_proto::op::ResponseCode;
    use hickory_proto::rr::RecordType;

    #[test]
    fn answers_with_the_clients_address_and_port_in_the_additional_section() {
        let chain = test::chain(".:53 {\n whoami\n}\n");
        test::check(
            &chain,
            &[Case {
                qname: "example.org.",
                qtype: RecordType::A,
                rcode: ResponseCode::NoError,
                answer: &[],
                authority: &[],
                additional: &[
                    "example.org. 0 IN A 127.0.0.1",
                    "_udp.example.org. 0 IN SRV 0 0 40000 .",
                ],
            }],
        );
    }

    #[test]
    fn takes_no_arguments() {
        let error = test::setup_error(".:53 {\n whoami extra\n}\n");
        assert!(error.contains("Wrong argument count"), "{error}");
    }
}
