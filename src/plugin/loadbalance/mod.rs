//! loadbalance: shuffles A/AAAA records (and MX) in every section of a
//! NOERROR reply, CNAMEs first, as CoreDNS's `round_robin` does.
//!
//! It sits above the cache, so cached replies are shuffled on every hit.

use hickory_proto::op::ResponseCode;
use hickory_proto::rr::{Record, RecordType};
use rand::seq::SliceRandom;

use crate::corefile::{CorefileError, Dispenser};
use crate::dns::Request;
use crate::dns::{Exchange, Flow, Next, Plugin};

pub(crate) struct LoadBalance;

pub(crate) fn setup(d: &mut Dispenser) -> Result<LoadBalance, CorefileError> {
    while d.next() {
        let args = d.remaining_args();
        match args.first().map(String::as_str) {
            None | Some("round_robin") if args.len() <= 1 => {}
            Some("weighted") => return Err(d.err("weighted load balancing is not supported")),
            Some(other) => return Err(d.err(format!("unknown policy: {other}"))),
            None => return Err(d.arg_err()),
        }
        if d.next_block() {
            if d.val() != "prefer" {
                return Err(d.unknown_property());
            }
            return Err(d.err("prefer is not supported"));
        }
    }
    Ok(LoadBalance)
}

impl Plugin for LoadBalance {
    fn name(&self) -> &'static str {
        "loadbalance"
    }

    /// Its only effect is the shuffle: a reply with nothing to shuffle is
    /// the same every time and may be remembered.
    fn memo_allows(&self, exchange: &Exchange) -> bool {
        exchange.req.reply.as_ref().is_none_or(|reply| {
            [
                &reply.msg.answers,
                &reply.msg.authorities,
                &reply.msg.additionals,
            ]
            .iter()
            .all(|section| !shuffles(section))
        })
    }

    fn serve(&self, req: Request, next: Next) -> Flow {
        next.serve(req).map(|mut exchange| {
            let qtype = exchange.req.qtype();
            if let Some(reply) = exchange.req.reply.as_mut()
                && reply.msg.metadata.response_code == ResponseCode::NoError
                && !matches!(qtype, RecordType::AXFR | RecordType::IXFR)
            {
                for section in [
                    &mut reply.msg.answers,
                    &mut reply.msg.authorities,
                    &mut reply.msg.additionals,
                ] {
                    round_robin(section);
                }
            }
            exchange
        })
    }
}

/// Whether `round_robin` could reorder the records differently each time:
/// more than one address record, or more than one MX.
fn shuffles(records: &[Record]) -> bool {
    let count = |wanted: &[RecordType]| {
        records
            .iter()
            .filter(|r| wanted.contains(&r.record_type()))
            .count()
    };
    count(&[RecordType::A, RecordType::AAAA]) > 1 || count(&[RecordType::MX]) > 1
}

/// `CNAMEs ++ others ++ shuffled A/AAAA ++ shuffled MX`.
pub(crate) fn round_robin(records: &mut Vec<Record>) {
    if records.len() < 2 {
        return;
    }
    let mut rng = rand::rng();
    let (mut cnames, mut addresses, mut mx, mut rest) =
        (Vec::new(), Vec::new(), Vec::new(), Vec::new());
    for record in records.drain(..) {
        match record.record_type() {
            RecordType::CNAME => cnames.push(record),
            RecordType::A | RecordType::AAAA => addresses.push(record),
            RecordType::MX => mx.push(record),
            _ => rest.push(record),
        }
    }
    addresses.shuffle(&mut rng);
    mx.shuffle(&mut rng);
    records.extend(cnames);
    records.extend(rest);
    records.extend(addresses);
    records.extend(mx);
}

#[cfg(test)]
mod tests {
    use crate::plugin::pkg::test;
    use hickory_proto::rr::RecordType;

    #[test]
    fn address_records_come_in_every_order_over_repeated_queries() {
        let chain = test::chain(&test::seed_corefile(" loadbalance", ""));
        let mut firsts = std::collections::BTreeSet::new();
        for _ in 0..64 {
            let reply = test::ask(&chain, "web.default.svc.cluster.local.", RecordType::A);
            assert_eq!(reply.answers.len(), 2, "{:?}", reply.answers);
            firsts.insert(reply.answers[0].data.to_string());
        }
        assert_eq!(firsts.len(), 2, "each address came first at least once");
    }

    #[test]
    fn only_round_robin_is_a_policy() {
        let error = test::setup_error(".:53 {\n loadbalance weighted\n}\n");
        assert!(
            error.ends_with("weighted load balancing is not supported"),
            "{error}"
        );
        let error = test::setup_error(".:53 {\n loadbalance random\n}\n");
        assert!(error.ends_with("unknown policy: random"), "{error}");
    }
}
