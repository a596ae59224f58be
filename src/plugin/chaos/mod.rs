//! chaos: answers the CH-class TXT questions operators and scanners ask a
//! server about itself (`version.bind`, `authors.bind`, `hostname.bind`).

use hickory_proto::rr::rdata::TXT;
use hickory_proto::rr::{DNSClass, RData, Record, RecordType};
use rand::seq::SliceRandom;

use crate::corefile::{CorefileError, Dispenser};
use crate::dns::{Flow, Next, Plugin, Request};

/// What `version.bind` answers without an argument: this server, not
/// CoreDNS (see README.md).
const DEFAULT_VERSION: &str = concat!("clusterdns-", env!("CARGO_PKG_VERSION"));
const DEFAULT_AUTHORS: &[&str] = &["clusterdns"];

pub(crate) struct Chaos {
    version: String,
    authors: Vec<String>,
}

/// `chaos [VERSION] [AUTHORS...]`; authors are deduplicated and sorted.
pub(crate) fn setup(d: &mut Dispenser) -> Result<Chaos, CorefileError> {
    let mut chaos = Chaos {
        version: DEFAULT_VERSION.to_string(),
        authors: DEFAULT_AUTHORS.iter().map(|a| a.to_string()).collect(),
    };
    if d.next() {
        let args = d.remaining_args();
        if let Some(version) = args.first() {
            chaos.version = if args.len() == 1 {
                trim(version)
            } else {
                version.clone()
            };
        }
        if args.len() > 1 {
            let mut authors: Vec<String> = args[1..].iter().map(|a| trim(a)).collect();
            authors.sort();
            authors.dedup();
            chaos.authors = authors;
        }
        if d.next_block() {
            return Err(d.err(format!("unknown property '{}'", d.val())));
        }
    }
    Ok(chaos)
}

/// A TXT string holds at most 255 bytes.
fn trim(text: &str) -> String {
    let mut end = text.len().min(255);
    while !text.is_char_boundary(end) {
        end -= 1;
    }
    text[..end].to_string()
}

/// This host's name as Go's `os.Hostname` reads it on Linux.
fn hostname() -> String {
    std::fs::read_to_string("/proc/sys/kernel/hostname")
        .map(|name| name.trim().to_string())
        .ok()
        .filter(|name| !name.is_empty())
        .unwrap_or_else(|| "localhost".to_string())
}

impl Plugin for Chaos {
    fn name(&self) -> &'static str {
        "chaos"
    }

    fn serve(&self, mut req: Request, next: Next) -> Flow {
        if req.qclass() != DNSClass::CH || req.qtype() != RecordType::TXT {
            return next.serve(req);
        }
        let texts: Vec<String> = match req.qname_lower.as_str() {
            "version.bind." | "version.server." => vec![self.version.clone()],
            "hostname.bind." | "id.server." => vec![trim(&hostname())],
            "authors.bind." => {
                let mut authors = self.authors.clone();
                authors.shuffle(&mut rand::rng());
                authors
            }
            _ => return next.serve(req),
        };
        let owner = req.qname().clone();
        let mut reply = req.reply_skeleton();
        reply.answers = texts
            .into_iter()
            .map(|text| {
                let mut record =
                    Record::from_rdata(owner.clone(), 0, RData::TXT(TXT::new(vec![text])));
                record.dns_class = DNSClass::CH;
                record
            })
            .collect();
        let status = req.write(reply, "chaos");
        Flow::done(req, status)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::dns::Proto;
    use crate::plugin::pkg::test;

    fn ask_ch(chain: &std::sync::Arc<crate::dns::Chain>, name: &str) -> hickory_proto::op::Message {
        let mut msg = test::query(name, RecordType::TXT);
        msg.queries[0].set_query_class(DNSClass::CH);
        test::reply_of(test::exchange(chain, msg, test::CLIENT, Proto::Udp))
    }

    fn texts(reply: &hickory_proto::op::Message) -> Vec<String> {
        reply
            .answers
            .iter()
            .map(|r| match &r.data {
                RData::TXT(txt) => txt.to_string(),
                other => panic!("{other:?}"),
            })
            .collect()
    }

    #[test]
    fn version_authors_and_hostname_are_answered_in_class_ch() {
        let chain = test::chain(".:53 {\n chaos Build-7 alice bob alice\n whoami\n}\n");
        let version = ask_ch(&chain, "Version.Bind.");
        assert_eq!(texts(&version), vec!["Build-7"]);
        assert_eq!(
            version.answers[0].name.to_ascii(),
            "Version.Bind.",
            "the question's spelling"
        );
        assert_eq!(version.answers[0].dns_class, DNSClass::CH);
        assert!(!version.metadata.authoritative);
        let mut authors = texts(&ask_ch(&chain, "authors.bind."));
        authors.sort();
        assert_eq!(authors, vec!["alice", "bob"]);
        assert_eq!(texts(&ask_ch(&chain, "id.server.")), vec![hostname()]);
    }

    #[test]
    fn other_names_types_and_classes_pass_on() {
        let chain = test::chain(".:53 {\n chaos\n whoami\n}\n");
        assert_eq!(ask_ch(&chain, "other.bind.").additionals.len(), 2, "whoami");
        let in_class = test::ask(&chain, "version.bind.", RecordType::TXT);
        assert_eq!(in_class.additionals.len(), 2, "class IN goes on");
        assert_eq!(
            texts(&ask_ch(&chain, "version.bind.")),
            vec![DEFAULT_VERSION]
        );
    }

    #[test]
    fn a_block_is_an_error() {
        let error = test::setup_error(".:53 {\n chaos v1 {\n  more\n }\n}\n");
        assert!(error.contains("unknown property 'more'"), "{error}");
    }
}
