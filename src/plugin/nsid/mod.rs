//! nsid: tells a client which server answered (RFC 5001). When a query
//! carries an NSID option, the reply's NSID option holds this server's
//! identifier: the hostname (the pod name in a cluster), or the text the
//! Corefile gives. As CoreDNS's `nsid`, it replaces an NSID option already
//! in the reply (an upstream's) and adds one otherwise. Queries without
//! NSID pass untouched.

use hickory_proto::rr::rdata::opt::{EdnsCode, EdnsOption, NSIDPayload};

use crate::corefile::{CorefileError, Dispenser};
use crate::dns::wire::echo_edns;
use crate::dns::{Flow, Next, Plugin, Request};

pub(crate) struct Nsid {
    payload: NSIDPayload,
}

/// `nsid [DATA...]`, once per block; the words of DATA joined by spaces.
pub(crate) fn setup(d: &mut Dispenser) -> Result<Nsid, CorefileError> {
    let mut data = hostname();
    while d.next_once()? {
        let args = d.remaining_args();
        if !args.is_empty() {
            data = args.join(" ");
        }
    }
    let payload = NSIDPayload::new(data.into_bytes()).map_err(|e| d.err(e))?;
    Ok(Nsid { payload })
}

/// The kernel's hostname, or `localhost` as CoreDNS falls back to.
fn hostname() -> String {
    std::fs::read_to_string("/proc/sys/kernel/hostname")
        .map(|h| h.trim().to_string())
        .ok()
        .filter(|h| !h.is_empty())
        .unwrap_or_else(|| "localhost".to_string())
}

fn asks_nsid(req: &Request) -> bool {
    req.msg.edns.as_ref().is_some_and(|e| {
        e.options()
            .options
            .iter()
            .any(|(code, _)| *code == EdnsCode::NSID)
    })
}

impl Plugin for Nsid {
    fn name(&self) -> &'static str {
        "nsid"
    }

    fn serve(&self, req: Request, next: Next) -> Flow {
        if !asks_nsid(&req) {
            return next.serve(req);
        }
        let payload = self.payload.clone();
        next.serve(req).map(move |mut exchange| {
            let req = &mut exchange.req;
            if let Some(reply) = req.reply.as_mut() {
                echo_edns(&req.msg, &mut reply.msg);
                if let Some(edns) = reply.msg.edns.as_mut() {
                    let options = &mut edns.options_mut().options;
                    let ours = (EdnsCode::NSID, EdnsOption::NSID(payload));
                    match options.iter_mut().find(|(code, _)| *code == EdnsCode::NSID) {
                        Some(existing) => *existing = ours,
                        None => options.push(ours),
                    }
                }
            }
            exchange
        })
    }
}

#[cfg(test)]
mod tests {
    use hickory_proto::op::Edns;
    use hickory_proto::rr::RecordType;
    use hickory_proto::rr::rdata::opt::{EdnsCode, EdnsOption, NSIDPayload};

    use crate::dns::Proto;
    use crate::plugin::pkg::test;

    fn nsid_of(corefile: &str, ask: bool) -> Option<Vec<u8>> {
        let chain = test::chain(corefile);
        let mut query = test::query("a.example.org.", RecordType::A);
        let mut edns = Edns::new();
        if ask {
            edns.options_mut().options.push((
                EdnsCode::NSID,
                EdnsOption::NSID(NSIDPayload::new(Vec::new()).unwrap()),
            ));
        }
        query.set_edns(edns);
        let reply = test::reply_of(test::exchange(&chain, query, test::CLIENT, Proto::Udp));
        reply
            .edns?
            .options()
            .options
            .iter()
            .find_map(|(code, option)| match option {
                EdnsOption::NSID(payload) if *code == EdnsCode::NSID => {
                    Some(payload.as_ref().to_vec())
                }
                _ => None,
            })
    }

    const HOSTS: &str = " hosts {\n  10.0.0.1 a.example.org\n }\n}\n";

    #[test]
    fn the_reply_names_the_server_only_when_asked() {
        let corefile = format!(".:53 {{\n nsid Use The Force\n{HOSTS}");
        assert_eq!(nsid_of(&corefile, true), Some(b"Use The Force".to_vec()));
        assert_eq!(nsid_of(&corefile, false), None);
        let hostname = format!(".:53 {{\n nsid\n{HOSTS}");
        assert!(
            !nsid_of(&hostname, true).unwrap().is_empty(),
            "the hostname by default"
        );
    }

    #[test]
    fn once_per_block() {
        let error = test::setup_error(&format!(".:53 {{\n nsid a\n nsid b\n{HOSTS}"));
        assert!(
            error.contains("can only be used once per Server Block"),
            "{error}"
        );
    }
}
