//! minimal: trims a successful reply to its answer section, dropping the
//! authority and additional sections, as CoreDNS's `minimal` does: smaller
//! replies, less to cache and to send. NXDOMAIN, NODATA, errors and
//! delegations pass whole (their authority section is what they say).

use crate::corefile::{CorefileError, Dispenser};
use crate::dns::typify::{ReplyType, typify};
use crate::dns::{Flow, Next, Plugin, Request};

pub(crate) struct Minimal;

/// `minimal`, with no arguments.
pub(crate) fn setup(d: &mut Dispenser) -> Result<Minimal, CorefileError> {
    d.next();
    if d.next_arg() {
        return Err(d.arg_err());
    }
    Ok(Minimal)
}

impl Plugin for Minimal {
    fn name(&self) -> &'static str {
        "minimal"
    }

    fn serve(&self, req: Request, next: Next) -> Flow {
        next.serve(req).map(|mut exchange| {
            if let Some(reply) = exchange.req.reply.as_mut()
                && typify(Some(&reply.msg)) == ReplyType::NoError
            {
                reply.msg.authorities.clear();
                reply.msg.additionals.clear();
            }
            exchange
        })
    }
}

#[cfg(test)]
mod tests {
    use crate::plugin::pkg::test;
    use hickory_proto::rr::RecordType::SRV;

    const SRV_NAME: &str = "_dns._udp.kube-dns.kube-system.svc.cluster.local.";

    #[test]
    fn a_successful_reply_keeps_only_its_answer() {
        let plain = test::ask(&test::chain(&test::seed_corefile("", "")), SRV_NAME, SRV);
        assert!(
            !plain.additionals.is_empty(),
            "the SRV reply has additionals to drop"
        );
        let trimmed = test::ask(
            &test::chain(&test::seed_corefile(" minimal", "")),
            SRV_NAME,
            SRV,
        );
        assert_eq!(
            test::section(&trimmed.answers),
            test::section(&plain.answers)
        );
        assert!(trimmed.authorities.is_empty() && trimmed.additionals.is_empty());
    }

    #[test]
    fn denial_passes_whole() {
        let name = "missing.default.svc.cluster.local.";
        let plain = test::ask(&test::chain(&test::seed_corefile("", "")), name, SRV);
        let trimmed = test::ask(
            &test::chain(&test::seed_corefile(" minimal", "")),
            name,
            SRV,
        );
        assert!(!plain.authorities.is_empty(), "NXDOMAIN carries the SOA");
        assert_eq!(
            test::section(&trimmed.authorities),
            test::section(&plain.authorities)
        );
    }

    #[test]
    fn arguments_are_refused() {
        let error = test::setup_error(".:53 {\n minimal extra\n}\n");
        assert!(error.contains("Wrong argument count"), "{error}");
    }
}
