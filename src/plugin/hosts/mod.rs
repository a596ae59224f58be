//! hosts: answers A, AAAA and PTR from a hosts(5) file and from entries
//! written in the Corefile (k3s serves its node names this way).
//!
//! The file is read at setup and then checked every `reload` period; it is
//! read again only when its modification time or size changed. A file that
//! disappears or cannot be read keeps the last entries; the inline entries
//! are always served. Each new read bumps the configuration's data epoch,
//! so replies remembered for names behind hosts are recomputed.

mod hostsfile;
mod metrics;
pub(crate) mod setup;

use std::net::IpAddr;
use std::sync::{Arc, Mutex};
use std::time::SystemTime;

use arc_swap::ArcSwap;
use hickory_proto::op::ResponseCode;
use hickory_proto::rr::rdata::{A, AAAA, PTR};
use hickory_proto::rr::{Name, RData, Record, RecordType};

use crate::corefile::{CorefileError, Dispenser};
use crate::dns::names::longest_match;
use crate::dns::{DataEpoch, Flow, Next, Plugin, Request, Status};
use crate::plugin::pkg::reverse::reverse_address;
pub(crate) use hostsfile::HostsMap;
use setup::Options;

/// What was read from the file last, and the stamp it was read at.
#[derive(Default)]
struct FileState {
    map: HostsMap,
    stamp: Option<(SystemTime, u64)>,
}

pub(crate) struct Hosts {
    data: Arc<Data>,
    task: Mutex<Option<tokio::task::JoinHandle<()>>>,
}

/// What the handler reads and the reload task writes.
struct Data {
    options: Options,
    inline: HostsMap,
    file: ArcSwap<FileState>,
    epoch: DataEpoch,
}

/// Parses the directive and reads the file once (nothing is contacted).
pub(crate) fn setup(
    d: &mut Dispenser,
    block_zones: &[String],
    epoch: &DataEpoch,
) -> Result<Hosts, CorefileError> {
    let options = setup::parse(d, block_zones)?;
    let inline = HostsMap::parse(
        options.inline.join("\n").as_bytes(),
        &options.origins,
        options.reverse,
    );
    let data = Data {
        options,
        inline,
        file: ArcSwap::default(),
        epoch: epoch.clone(),
    };
    if let Some(read) = read_if_changed(&data.options, None) {
        data.install(read);
    }
    Ok(Hosts {
        data: Arc::new(data),
        task: Mutex::new(None),
    })
}

impl Drop for Hosts {
    fn drop(&mut self) {
        if let Some(task) = self.task.lock().expect("task lock").take() {
            task.abort();
        }
    }
}

impl Data {
    fn install(&self, read: FileState) {
        let entries = self.inline.len() + read.map.len();
        if let Some((modified, _)) = read.stamp {
            metrics::file_read(&self.options.path.display().to_string(), entries, modified);
        }
        self.file.store(Arc::new(read));
        self.epoch.bump();
    }

    /// The addresses of `name` of one family, from the file then inline.
    fn addresses(&self, name: &str, qtype: RecordType) -> Vec<RData> {
        let file = self.file.load();
        match qtype {
            RecordType::A => [&file.map, &self.inline]
                .iter()
                .flat_map(|map| map.v4(name).iter().map(|ip| RData::A(A(*ip))))
                .collect(),
            RecordType::AAAA => [&file.map, &self.inline]
                .iter()
                .flat_map(|map| map.v6(name).iter().map(|ip| RData::AAAA(AAAA(*ip))))
                .collect(),
            _ => Vec::new(),
        }
    }

    /// The names listed for an address, from the file then inline.
    fn names(&self, address: IpAddr) -> Vec<RData> {
        let file = self.file.load();
        [&file.map, &self.inline]
            .iter()
            .flat_map(|map| map.names(address))
            .filter_map(|name| Name::from_ascii(name).ok())
            .map(|name| RData::PTR(PTR(name)))
            .collect()
    }

    fn known(&self, name: &str) -> bool {
        !self.addresses(name, RecordType::A).is_empty()
            || !self.addresses(name, RecordType::AAAA).is_empty()
    }

    fn answer(&self, mut req: Request, data: Vec<RData>) -> Flow {
        let Ok(owner) = Name::from_ascii(&req.qname_lower) else {
            return Flow::done(req, Status::written(ResponseCode::ServFail));
        };
        let mut reply = req.reply_skeleton();
        reply.metadata.authoritative = true;
        reply.answers = data
            .into_iter()
            .map(|rdata| Record::from_rdata(owner.clone(), self.options.ttl, rdata))
            .collect();
        let status = req.write(reply, "hosts");
        Flow::done(req, status)
    }
}

impl Plugin for Hosts {
    fn name(&self) -> &'static str {
        "hosts"
    }

    fn start(&self) {
        let mut task = self.task.lock().expect("task lock");
        if task.is_some() || self.data.options.reload.is_zero() {
            return;
        }
        *task = Some(tokio::spawn(watch(self.data.clone())));
    }

    fn serve(&self, req: Request, next: Next) -> Flow {
        self.data.serve(req, next)
    }
}

impl Data {
    fn serve(&self, req: Request, next: Next) -> Flow {
        let name = req.qname_lower.as_str();
        let qtype = req.qtype();
        let in_zone =
            longest_match(self.options.origins.iter().map(String::as_str), name).is_some();
        // PTR answers need no zone of their own.
        if !in_zone && qtype != RecordType::PTR {
            return next.serve(req);
        }
        let fall = &self.options.fall;
        let data = match qtype {
            RecordType::PTR => {
                let names = reverse_address(name)
                    .map(|ip| self.names(ip))
                    .unwrap_or_default();
                if names.is_empty() {
                    return next.serve(req);
                }
                names
            }
            RecordType::A | RecordType::AAAA => self.addresses(name, qtype),
            _ if self.options.fall_unsupported && fall.through(name) => return next.serve(req),
            _ => Vec::new(),
        };
        if data.is_empty() && !self.known(name) {
            if fall.through(name) {
                return next.serve(req);
            }
            // No SOA to write an NXDOMAIN with: CoreDNS answers SERVFAIL.
            return Flow::done(req, Status::written(ResponseCode::ServFail));
        }
        self.answer(req, data)
    }
}

/// Checks the file every `reload` period and installs what changed.
async fn watch(data: Arc<Data>) {
    let mut ticker = tokio::time::interval(data.options.reload);
    ticker.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    ticker.tick().await;
    loop {
        ticker.tick().await;
        let reading = data.clone();
        let read = tokio::task::spawn_blocking(move || {
            read_if_changed(&reading.options, reading.file.load().stamp)
        })
        .await;
        if let Ok(Some(read)) = read {
            data.install(read);
        }
    }
}

/// The file's entries when its stamp differs from `seen`; `None` when it
/// is unchanged or cannot be read (the last entries stay).
fn read_if_changed(options: &Options, seen: Option<(SystemTime, u64)>) -> Option<FileState> {
    let meta = std::fs::metadata(&options.path).ok()?;
    if !meta.is_file() {
        return None;
    }
    let stamp = (meta.modified().ok()?, meta.len());
    if seen == Some(stamp) {
        return None;
    }
    let text = std::fs::read(&options.path).ok()?;
    Some(FileState {
        map: HostsMap::parse(&text, &options.origins, options.reverse),
        stamp: Some(stamp),
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::plugin::pkg::test::{self, Case};
    use hickory_proto::rr::RecordType::{A as TA, AAAA as TAAAA, MX, PTR as TPTR};

    const INLINE: &str = ".:53 {\n hosts {\n  10.0.0.1 a.example.org alias.example.org\n  fd00::1 a.example.org\n  10.0.0.2 v4only.example.org\n  ttl 60\n  fallthrough example.net\n }\n whoami\n}\n";

    #[test]
    fn inline_entries_answer_a_aaaa_and_ptr_and_other_types_get_nodata() {
        let chain = test::chain(INLINE);
        test::check(
            &chain,
            &[
                Case::answer("a.example.org.", TA, &["a.example.org. 60 IN A 10.0.0.1"]),
                Case::answer("A.Example.ORG.", TA, &["a.example.org. 60 IN A 10.0.0.1"]),
                Case::answer(
                    "a.example.org.",
                    TAAAA,
                    &["a.example.org. 60 IN AAAA fd00::1"],
                ),
                Case::answer(
                    "1.0.0.10.in-addr.arpa.",
                    TPTR,
                    &[
                        "1.0.0.10.in-addr.arpa. 60 IN PTR a.example.org.",
                        "1.0.0.10.in-addr.arpa. 60 IN PTR alias.example.org.",
                    ],
                ),
                Case::answer("a.example.org.", MX, &[]),
                Case::answer("v4only.example.org.", TAAAA, &[]),
            ],
        );
        let reply = test::ask(&chain, "a.example.org.", MX);
        assert!(reply.metadata.authoritative, "NODATA is authoritative");
    }

    #[test]
    fn an_unknown_name_is_servfail_unless_its_zone_falls_through() {
        let chain = test::chain(INLINE);
        let unknown = test::ask(&chain, "nothere.example.org.", TA);
        assert_eq!(unknown.metadata.response_code, ResponseCode::ServFail);
        let passed = test::ask(&chain, "nothere.example.net.", TA);
        assert_eq!(passed.metadata.response_code, ResponseCode::NoError);
        assert_eq!(passed.additionals.len(), 2, "whoami answered");
        let ptr = test::ask(&chain, "9.9.9.10.in-addr.arpa.", TPTR);
        assert_eq!(ptr.additionals.len(), 2, "an unknown PTR always passes on");
    }

    #[test]
    fn names_outside_the_plugins_zones_pass_on() {
        let chain = test::chain(
            ".:53 {\n hosts /nonexistent/hosts example.org {\n  10.0.0.1 a.example.com\n  10.0.0.3 b.example.org\n }\n whoami\n}\n",
        );
        let other = test::ask(&chain, "a.example.com.", TA);
        assert_eq!(
            other.additionals.len(),
            2,
            "example.com is not hosts's zone"
        );
        test::check(
            &chain,
            &[Case::answer(
                "b.example.org.",
                TA,
                &["b.example.org. 3600 IN A 10.0.0.3"],
            )],
        );
    }

    #[test]
    fn the_file_is_read_again_only_when_it_changed_and_a_missing_file_keeps_the_last_entries() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("hosts");
        std::fs::write(&path, "10.1.1.1 node-1\n").unwrap();
        let corefile = format!(
            ".:53 {{\n hosts {} {{\n  10.9.9.9 inline\n }}\n}}\n",
            path.display()
        );
        let chain = test::chain(&corefile);
        test::check(
            &chain,
            &[Case::answer("node-1.", TA, &["node-1. 3600 IN A 10.1.1.1"])],
        );

        let tokens = test::directive_tokens(&corefile, "hosts");
        let options = setup::parse(&mut Dispenser::new(&tokens), &[".".into()]).unwrap();
        let first = read_if_changed(&options, None).expect("read");
        assert!(
            read_if_changed(&options, first.stamp).is_none(),
            "unchanged"
        );
        std::fs::write(&path, "10.1.1.1 node-1\n10.1.1.2 node-2\n").unwrap();
        let second = read_if_changed(&options, first.stamp).expect("size changed");
        assert_eq!(
            second.map.v4("node-2."),
            &["10.1.1.2".parse::<std::net::Ipv4Addr>().unwrap()]
        );
        std::fs::remove_file(&path).unwrap();
        assert!(
            read_if_changed(&options, second.stamp).is_none(),
            "gone: keep the last"
        );
    }

    #[test]
    fn setup_errors_read_as_coredns_writes_them() {
        let cases = [
            (" hosts {\n  ttl 0\n }", "ttl provided is invalid"),
            (" hosts {\n  ttl soon\n }", "ttl needs a number of second"),
            (
                " hosts {\n  reload\n }",
                "reload needs a duration (zero seconds to disable)",
            ),
            (
                " hosts {\n  reload -5s\n }",
                "invalid negative duration for reload '-5s'",
            ),
            (
                " hosts {\n  fallthrough_unsupported\n }",
                "fallthrough_unsupported requires fallthrough",
            ),
            (
                " hosts {\n  fallthrough\n  10.0.0.1 late\n }",
                "unknown property '10.0.0.1'",
            ),
            (
                " hosts\n hosts",
                "this plugin can only be used once per Server Block",
            ),
        ];
        for (lines, want) in cases {
            let error = test::setup_error(&format!(".:53 {{\n{lines}\n}}\n"));
            assert!(error.contains(want), "{lines:?}: {error}");
        }
    }
}
