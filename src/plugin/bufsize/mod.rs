//! bufsize: lowers the UDP size a client advertises in EDNS to a ceiling,
//! so replies stay under a size that crosses the network unfragmented
//! (OpenShift runs `bufsize 1232`, the DNS Flag Day 2020 figure).
//!
//! It only rewrites the query's OPT record; a query without EDNS, or with
//! a size at or under the ceiling, passes unchanged.

use crate::corefile::{CorefileError, Dispenser};
use crate::dns::{Flow, Next, Plugin, Request};

/// The ceiling when the directive has no argument (DNS Flag Day 2020).
const DEFAULT_SIZE: u16 = 1232;

pub(crate) struct Bufsize {
    size: u16,
}

/// `bufsize [SIZE]`, SIZE within 512–4096 (RFC 6891's range).
pub(crate) fn setup(d: &mut Dispenser) -> Result<Bufsize, CorefileError> {
    if !d.next() {
        return Err(d.arg_err());
    }
    let args = d.remaining_args();
    let size = match args.as_slice() {
        [] => DEFAULT_SIZE,
        [text] => match text.parse::<u16>() {
            Ok(size) if (512..=4096).contains(&size) => size,
            _ => return Err(d.arg_err()),
        },
        _ => return Err(d.arg_err()),
    };
    Ok(Bufsize { size })
}

impl Plugin for Bufsize {
    fn name(&self) -> &'static str {
        "bufsize"
    }

    fn serve(&self, mut req: Request, next: Next) -> Flow {
        if let Some(edns) = req.msg.edns.as_mut()
            && edns.max_payload() > self.size
        {
            edns.set_max_payload(self.size);
        }
        next.serve(req)
    }
}

#[cfg(test)]
mod tests {
    use crate::dns::Proto;
    use crate::plugin::pkg::test;
    use hickory_proto::op::Edns;
    use hickory_proto::rr::RecordType;

    /// The EDNS size the plugin behind bufsize sees.
    fn seen_size(corefile: &str, advertised: Option<u16>) -> Option<u16> {
        let chain = test::chain(corefile);
        let mut msg = test::query("example.org.", RecordType::A);
        if let Some(size) = advertised {
            let mut edns = Edns::new();
            edns.set_max_payload(size);
            msg.set_edns(edns);
        }
        let exchange = test::exchange(&chain, msg, test::CLIENT, Proto::Udp);
        exchange.req.msg.edns.map(|e| e.max_payload())
    }

    #[test]
    fn a_larger_advertised_size_is_lowered_to_the_ceiling() {
        let corefile = ".:53 {\n bufsize 1000\n whoami\n}\n";
        assert_eq!(seen_size(corefile, Some(4096)), Some(1000));
        assert_eq!(seen_size(corefile, Some(800)), Some(800), "already under");
        assert_eq!(seen_size(corefile, None), None, "no EDNS is added");
        let default = ".:53 {\n bufsize\n whoami\n}\n";
        assert_eq!(seen_size(default, Some(4096)), Some(1232));
    }

    #[test]
    fn a_size_outside_512_to_4096_or_a_second_argument_is_an_error() {
        for args in ["511", "4097", "big", "1232 1232"] {
            let error = test::setup_error(&format!(".:53 {{\n bufsize {args}\n}}\n"));
            assert!(error.contains("Wrong argument count"), "{args}: {error}");
        }
    }
}
