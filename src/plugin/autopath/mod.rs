//! autopath: walks the client pod's search path on the server, so a pod's
//! lookup of `example.com` (sent as `example.com.<ns>.svc.cluster.local.`
//! with `ndots:5`) costs one round trip instead of the whole walk.
//!
//! CoreDNS's algorithm (reference k8s-dns-behaviour.md §12): the client's
//! namespace comes from its source IP through `pods verified`; each
//! candidate goes through the rest of the chain (cache, kubernetes,
//! forward); the first reply that is not NXDOMAIN (or an unwritten error)
//! wins, with a CNAME from the original name prepended. NODATA stops the
//! walk, as in CoreDNS. Fixed on purpose (Q15): a query for exactly
//! `<podns>.svc.<zone>` passes through instead of failing.

use std::sync::{Arc, LazyLock};

use hickory_proto::op::ResponseCode;
use hickory_proto::rr::rdata::CNAME;
use hickory_proto::rr::{DNSClass, Name, RData, Record};
use prometheus::{IntCounter, IntCounterVec, Opts};

use crate::corefile::{CorefileError, Dispenser};
use crate::dns::Request;
use crate::dns::names::lower_fqdn;
use crate::dns::names::{is_subdomain, longest_match};
use crate::dns::{Exchange, Flow, Next, Plugin, Status};
use crate::plugin::pkg::cluster::ClusterLink;

/// Where the search path comes from.
enum Source {
    /// `@kubernetes`: the client pod's namespace plus the server's own
    /// resolv.conf search domains.
    Kubernetes {
        link: ClusterLink,
        resolv_search: Vec<String>,
    },
    /// A resolv.conf file's search domains, for every client.
    Fixed(Vec<String>),
}

pub(crate) struct AutoPath {
    zones: Vec<String>,
    source: Arc<Source>,
    success: IntCounter,
}

pub(crate) fn setup(
    d: &mut Dispenser,
    block_zones: &[String],
    servers: &[Arc<str>],
    link: ClusterLink,
) -> Result<AutoPath, CorefileError> {
    let mut parsed = None;
    while d.next() {
        let args = d.remaining_args();
        let Some((target, zones)) = args.split_last() else {
            return Err(d.arg_err());
        };
        let zones = if zones.is_empty() {
            block_zones.to_vec()
        } else {
            zones.iter().map(|z| fqdn(z)).collect()
        };
        parsed = Some((target.clone(), zones));
    }
    let (target, zones) = parsed.ok_or_else(|| d.arg_err())?;
    let source = match target.strip_prefix('@') {
        Some("kubernetes") => Source::Kubernetes {
            link,
            resolv_search: resolv_search("/etc/resolv.conf").unwrap_or_default(),
        },
        Some(other) => return Err(CorefileError::plain(format!("unknown plugin: {other}"))),
        None => Source::Fixed(resolv_search(&target).map_err(CorefileError::plain)?),
    };
    let success = counter().with_label_values(&[servers.first().map(|s| s.as_ref()).unwrap_or("")]);
    Ok(AutoPath {
        zones,
        source: Arc::new(source),
        success,
    })
}

fn counter() -> &'static IntCounterVec {
    static COUNTER: LazyLock<IntCounterVec> = LazyLock::new(|| {
        let vec = IntCounterVec::new(
            Opts::new(
                "coredns_autopath_success_total",
                "Counter of requests that did autopath.",
            ),
            &["server"],
        )
        .expect("valid metric");
        crate::metrics::global().register(&vec);
        vec
    });
    &COUNTER
}

/// The search domains of a resolv.conf file (lower-case FQDNs).
fn resolv_search(path: &str) -> Result<Vec<String>, String> {
    let data = std::fs::read(path).map_err(|e| format!("failed to parse {path:?}: {e}"))?;
    let (config, _) =
        hickory_resolver::system_conf::parse_resolv_conf(data).map_err(|e| e.to_string())?;
    Ok(config.search().iter().map(lower_fqdn).collect())
}

fn fqdn(text: &str) -> String {
    let mut name = text.to_ascii_lowercase();
    if !name.ends_with('.') {
        name.push('.');
    }
    name
}

impl AutoPath {
    /// Warns when `@kubernetes` cannot work (no kubernetes plugin in the
    /// block, or it does not run `pods verified`): autopath then passes
    /// every query through, as CoreDNS does, but not silently.
    pub(crate) fn check_kubernetes(&self, pods_verified: bool) {
        if let Source::Kubernetes { .. } = &*self.source
            && !pods_verified
        {
            crate::logging::warning(
                "autopath",
                "@kubernetes needs 'pods verified' in the kubernetes block to find the client's namespace; queries pass through unchanged",
            );
        }
    }

    /// The client's search path, or None when autopath does not apply.
    fn search_path(&self, req: &Request) -> Option<Vec<String>> {
        match &*self.source {
            Source::Fixed(search) => {
                let mut path = search.clone();
                path.push(String::new());
                Some(path)
            }
            Source::Kubernetes {
                link,
                resolv_search,
            } => {
                let cluster = link.get()?;
                let (shared, zones) = (&cluster.shared, &cluster.zones);
                let zone = longest_match(zones.iter().map(String::as_str), &req.qname_lower)?;
                let index = shared.index.load();
                let pod = index
                    .pods
                    .get(req.src.ip().to_string().as_str())?
                    .first()?
                    .clone();
                let namespace = pod.namespace.to_ascii_lowercase();
                let mut path = if zone == "." {
                    vec![
                        format!("{namespace}.svc."),
                        "svc.".to_string(),
                        ".".to_string(),
                    ]
                } else {
                    vec![
                        format!("{namespace}.svc.{zone}"),
                        format!("svc.{zone}"),
                        zone.to_string(),
                    ]
                };
                path.extend(resolv_search.iter().cloned());
                path.push(String::new());
                Some(path)
            }
        }
    }
}

impl Plugin for AutoPath {
    fn name(&self) -> &'static str {
        "autopath"
    }

    fn serve(&self, req: Request, next: Next) -> Flow {
        if longest_match(self.zones.iter().map(String::as_str), &req.qname_lower).is_none() {
            return next.serve(req);
        }
        let Some(path) = self.search_path(&req) else {
            return next.serve(req);
        };
        let first = &path[0];
        // Q15 fixed: exactly the first element has no base name to walk.
        if !is_subdomain(first, &req.qname_lower) || req.qname_lower == *first {
            return next.serve(req);
        }
        let original = req.qname().clone();
        let base_labels = req.qname().num_labels() as usize
            - first
                .trim_end_matches('.')
                .split('.')
                .filter(|l| !l.is_empty())
                .count();
        let Some(base) = leading_labels(&original, base_labels) else {
            return next.serve(req);
        };
        let walk = Walk {
            path: Arc::new(path),
            base,
            original,
            next,
            success: self.success.clone(),
        };
        walk.step(req, 0, None)
    }
}

/// The walk over the search path, one sub-query at a time.
#[derive(Clone)]
struct Walk {
    path: Arc<Vec<String>>,
    /// The labels the client typed, in its case (`svc-1-a`).
    base: String,
    original: Name,
    next: Next,
    success: IntCounter,
}

impl Walk {
    fn step(self, req: Request, index: usize, first: Option<Exchange>) -> Flow {
        let Some(suffix) = self.path.get(index) else {
            return Flow::Done(self.give_up(req, first));
        };
        let candidate = if suffix.is_empty() {
            format!("{}.", self.base)
        } else {
            format!("{}.{suffix}", self.base)
        };
        let Ok(name) = Name::from_ascii(&candidate) else {
            return self.clone().step(req, index + 1, first);
        };
        let mut sub = req.clone();
        sub.msg.queries[0].set_name(name);
        // Another question: the client's bytes no longer describe it.
        sub.raw = None;
        sub.qname_lower = candidate.to_ascii_lowercase();
        sub.reply = None;
        let walk = self.clone();
        self.next.clone().serve(sub).then(move |exchange| {
            let first = first.or_else(|| Some(copy_exchange(&exchange)));
            let answered = exchange.status.client_written()
                && exchange
                    .req
                    .reply
                    .as_ref()
                    .is_some_and(|r| r.msg.metadata.response_code != ResponseCode::NXDomain);
            if !answered {
                return walk.step(req, index + 1, first);
            }
            Flow::Done(walk.found(req, exchange))
        })
    }

    /// A non-NXDOMAIN reply: the original question, and a CNAME to the
    /// first answer whose owner differs from it.
    fn found(&self, mut req: Request, exchange: Exchange) -> Exchange {
        let Some(mut reply) = exchange.req.reply else {
            return Exchange {
                req,
                status: exchange.status,
            };
        };
        if let Some(target) = reply
            .msg
            .answers
            .iter()
            .find(|r| !same_name(&r.name, &self.original))
        {
            let mut cname = Record::from_rdata(
                self.original.clone(),
                target.ttl,
                RData::CNAME(CNAME(target.name.clone())),
            );
            cname.dns_class = DNSClass::IN;
            reply.msg.answers.insert(0, cname);
        }
        reply.msg.queries[0].set_name(self.original.clone());
        self.success.inc();
        let status = req.write(reply.msg, reply.plugin);
        Exchange {
            req,
            status: Status {
                rcode: status.rcode,
                error: exchange.status.error,
            },
        }
    }

    /// Every candidate failed: the reply to the first one, if written.
    fn give_up(&self, mut req: Request, first: Option<Exchange>) -> Exchange {
        let Some(first) = first else {
            return Exchange {
                req,
                status: Status::failed(ResponseCode::ServFail, "autopath: empty search path"),
            };
        };
        match first.req.reply {
            Some(mut reply) if first.status.client_written() => {
                reply.msg.queries[0].set_name(self.original.clone());
                req.write(reply.msg, reply.plugin);
                Exchange {
                    req,
                    status: first.status,
                }
            }
            _ => Exchange {
                req,
                status: first.status,
            },
        }
    }
}

fn copy_exchange(exchange: &Exchange) -> Exchange {
    Exchange {
        req: exchange.req.clone(),
        status: exchange.status.clone(),
    }
}

fn same_name(a: &Name, b: &Name) -> bool {
    a.to_ascii().eq_ignore_ascii_case(&b.to_ascii())
}

/// The first `count` labels of a name as text, in the client's case.
fn leading_labels(name: &Name, count: usize) -> Option<String> {
    if count == 0 {
        return None;
    }
    let text = name.to_ascii();
    let labels: Vec<&str> = text.trim_end_matches('.').split('.').collect();
    (count <= labels.len()).then(|| labels[..count].join("."))
}

#[cfg(test)]
mod tests {
    use crate::dns::Proto;
    use crate::plugin::pkg::test;
    use hickory_proto::op::ResponseCode;
    use hickory_proto::rr::RecordType;

    fn seed_chain() -> std::sync::Arc<crate::dns::Chain> {
        test::chain(&test::seed_corefile(
            " autopath @kubernetes",
            "pods verified",
        ))
    }

    fn ask_from(client: &str, name: &str) -> hickory_proto::op::Message {
        let exchange = test::exchange(
            &seed_chain(),
            test::query(name, RecordType::A),
            client,
            Proto::Udp,
        );
        test::reply_of(exchange)
    }

    #[test]
    fn a_pods_search_path_is_walked_on_the_server_and_answered_with_a_cname() {
        // busybox (10.200.0.11) lives in `default`: its first search
        // domain is default.svc.cluster.local.
        let reply = ask_from(
            "10.200.0.11:5353",
            "kubernetes.default.default.svc.cluster.local.",
        );
        assert_eq!(reply.metadata.response_code, ResponseCode::NoError);
        assert_eq!(
            test::section(&reply.answers),
            vec![
                "kubernetes.default.default.svc.cluster.local. 5 IN CNAME kubernetes.default.svc.cluster.local.",
                "kubernetes.default.svc.cluster.local. 5 IN A 10.32.0.1",
            ]
        );
    }

    #[test]
    fn a_client_that_is_no_pod_gets_the_plain_answer() {
        let reply = ask_from(
            "127.0.0.1:5353",
            "kubernetes.default.default.svc.cluster.local.",
        );
        assert_eq!(reply.metadata.response_code, ResponseCode::NXDomain);
        assert!(reply.answers.is_empty());
    }

    #[test]
    fn needs_a_resolv_conf_or_a_plugin_name() {
        let error = test::setup_error(".:53 {\n autopath\n}\n");
        assert!(error.contains("Wrong argument count"), "{error}");
    }
}
