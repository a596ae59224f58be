//! k8s_external: answers for Services from outside the cluster, under a
//! zone of their own, with their external addresses (`spec.externalIPs`
//! and LoadBalancer ingress), as CoreDNS's k8s_external does. kubespray
//! and operators who publish LoadBalancers in DNS use it.
//!
//! `svc.ns.ZONE` answers A, AAAA and SRV from the Service's external
//! addresses; an ingress hostname is a CNAME followed through the server.
//! The zone's apex has an SOA and an NS `ns1.APEX.ZONE`, whose addresses
//! are the external addresses of the Services in front of this server
//! (or this host's addresses). The data comes from the block's kubernetes
//! plugin through the cluster link, so this plugin needs one. With
//! `headless`, a headless Service without external addresses (or a name
//! with an endpoint label) answers with its ready endpoints instead.

mod answer;
mod setup;

use std::net::IpAddr;
use std::sync::Arc;

use hickory_proto::op::{Message, ResponseCode};
use hickory_proto::rr::rdata::{A, AAAA, NS, SOA};
use hickory_proto::rr::{Name, RData, Record, RecordType};

use crate::corefile::{CorefileError, Dispenser};
use crate::dns::names::{is_subdomain, longest_match};
use crate::dns::{Flow, Next, Plugin, Request, Status};
use crate::kubernetes::model::{Port, Service, ServiceKind, Slice, endpoint_hostname};
use crate::plugin::pkg::cluster::{Cluster, ClusterLink};
use crate::plugin::pkg::reverse::reverse_address;
use crate::plugin::pkg::service_labels::{matches, strip_underscore};
use setup::Options;

pub(crate) struct External {
    o: Options,
    /// `APEX.ZONE` for each zone, in lower case: where the name servers live.
    sub_apexes: Vec<String>,
    cluster: ClusterLink,
}

pub(crate) fn setup(
    d: &mut Dispenser,
    block_zones: &[String],
    cluster: ClusterLink,
) -> Result<External, CorefileError> {
    let o = setup::parse(d, block_zones)?;
    let apex = o.apex.to_ascii_lowercase();
    let sub_apexes = o.zones.iter().map(|z| format!("{apex}.{z}")).collect();
    Ok(External {
        o,
        sub_apexes,
        cluster,
    })
}

impl External {
    /// CoreDNS refuses to start without kubernetes in the block; the
    /// registry calls this once the whole block is set up.
    pub(crate) fn check_kubernetes(&self) -> Result<(), CorefileError> {
        match self.cluster.get() {
            Some(_) => Ok(()),
            None => Err(CorefileError::plain("kubernetes plugin not loaded")),
        }
    }
}

/// One external address of a Service (or an endpoint of a headless one),
/// as CoreDNS's `msg.Service`.
struct Target {
    /// An address, or a hostname (a CNAME).
    host: String,
    port: i32,
    /// `svc.ns` or `endpoint.svc.ns`: the SRV target, left of the zone.
    key: String,
}

/// What the data says about a name.
struct Found {
    targets: Vec<Target>,
    rcode: ResponseCode,
}

impl Plugin for External {
    fn name(&self) -> &'static str {
        "k8s_external"
    }

    fn serve(&self, req: Request, next: Next) -> Flow {
        let Some(zone) = longest_match(self.o.zones.iter().map(String::as_str), &req.qname_lower)
        else {
            return next.serve(req);
        };
        let zone = zone.to_string();
        let Some(cluster) = self.cluster.get() else {
            return next.serve(req);
        };
        for (z, sub_apex) in self.o.zones.iter().zip(&self.sub_apexes) {
            if req.qname_lower == *z {
                let reply = self.apex(cluster, &req, &zone);
                return self.write(req, reply);
            }
            if is_subdomain(sub_apex, &req.qname_lower) {
                let reply = self.sub_apex(cluster, &req, &zone);
                return self.write(req, reply);
            }
        }
        let found = self.find(cluster, &req, &zone);
        if found.targets.is_empty() {
            if self.o.fall.through(&req.qname_lower) && found.rcode == ResponseCode::NXDomain {
                return next.serve(req);
            }
            let mut reply = self.skeleton(&req);
            reply.metadata.response_code = found.rcode;
            reply.authorities = vec![self.soa(&zone)];
            return self.write(req, reply);
        }
        answer::records(self, req, found.targets, zone, cluster.ttl)
    }
}

impl External {
    fn skeleton(&self, req: &Request) -> Message {
        let mut reply = req.reply_skeleton();
        reply.metadata.authoritative = true;
        reply
    }

    fn write(&self, mut req: Request, reply: Message) -> Flow {
        req.write(reply, "k8s_external");
        Flow::done(req, Status::written(ResponseCode::NoError))
    }

    /// The zone's SOA, as CoreDNS writes it (the serial is the data's).
    fn soa(&self, zone: &str) -> Record {
        let serial = self
            .cluster
            .get()
            .map(|c| c.shared.index.load().serial)
            .unwrap_or(0);
        let join = |label: &str| name(&format!("{label}.{}.{zone}", self.o.apex));
        let data = SOA::new(
            join("ns1"),
            join("hostmaster"),
            serial,
            7200,
            1800,
            86400,
            self.o.ttl,
        );
        Record::from_rdata(name(zone), self.o.ttl, RData::SOA(data))
    }

    fn ns_name(&self, zone: &str) -> Name {
        name(&format!("ns1.{}.{zone}", self.o.apex))
    }

    /// SOA and NS at the apex (NS with the name server's addresses);
    /// NODATA for every other type.
    fn apex(&self, cluster: &Cluster, req: &Request, zone: &str) -> Message {
        let mut reply = self.skeleton(req);
        match req.qtype() {
            RecordType::SOA => reply.answers.push(self.soa(zone)),
            RecordType::NS => {
                let ns = self.ns_name(zone);
                reply.answers.push(Record::from_rdata(
                    name(zone),
                    self.o.ttl,
                    RData::NS(NS(ns.clone())),
                ));
                reply.additionals = self.addresses(cluster, &ns, None);
            }
            _ => reply.authorities.push(self.soa(zone)),
        }
        reply
    }

    /// Names under `APEX.ZONE`: `ns1.APEX.ZONE` has the name server's
    /// addresses, `APEX.ZONE` is an empty non-terminal, the rest NXDOMAIN.
    fn sub_apex(&self, cluster: &Cluster, req: &Request, zone: &str) -> Message {
        let mut reply = self.skeleton(req);
        let labels = labels_left_of(&req.qname_lower, zone);
        match labels.as_slice() {
            [_] => {}
            [first, _] if *first == "ns1" => {
                let wanted = match req.qtype() {
                    RecordType::A | RecordType::AAAA => Some(req.qtype()),
                    _ => None,
                };
                if wanted.is_some() {
                    reply.answers = self.addresses(cluster, req.qname(), wanted);
                }
            }
            _ => reply.metadata.response_code = ResponseCode::NXDomain,
        }
        if reply.answers.is_empty() {
            reply.authorities.push(self.soa(zone));
        }
        reply
    }

    /// The name server's addresses as records named `owner`: the external
    /// addresses of the Services whose endpoints are this server, else
    /// this host's own addresses (CoreDNS's `nsAddrs`).
    fn addresses(&self, cluster: &Cluster, owner: &Name, only: Option<RecordType>) -> Vec<Record> {
        let index = cluster.shared.index.load();
        let mut found = false;
        let mut ips: Vec<IpAddr> = Vec::new();
        for local in &cluster.local_ips {
            let slices = index
                .endpoint_ips
                .get(local)
                .map(|s| s.iter())
                .into_iter()
                .flatten();
            for slice in slices {
                found = true;
                let Some(service) = index.service(&slice.namespace, &slice.service) else {
                    continue;
                };
                if self.o.headless && service.kind == ServiceKind::Headless {
                    ips.extend(slice.addresses.iter().map(|a| a.ip));
                } else {
                    ips.extend(
                        service
                            .external
                            .iter()
                            .filter_map(|e| e.parse::<IpAddr>().ok()),
                    );
                }
            }
        }
        if !found {
            ips = cluster.local_ips.clone();
        }
        ips.into_iter()
            .filter_map(|ip| {
                let data = match ip {
                    IpAddr::V4(v4) => RData::A(A(v4)),
                    IpAddr::V6(v6) => RData::AAAA(AAAA(v6)),
                };
                only.is_none_or(|t| t == data.record_type())
                    .then(|| Record::from_rdata(owner.clone(), self.o.ttl, data))
            })
            .collect()
    }

    /// The Services a name stands for, as CoreDNS's `External` finds them.
    fn find(&self, cluster: &Cluster, req: &Request, zone: &str) -> Found {
        if req.qtype() == RecordType::PTR
            && let Some(ip) = reverse_address(&req.qname_lower)
        {
            return self.find_reverse(cluster, ip);
        }
        let labels = labels_left_of(&req.qname_lower, zone);
        let nothing = |rcode| Found {
            targets: Vec::new(),
            rcode,
        };
        let Some((namespace, rest)) = labels.split_last() else {
            return nothing(ResponseCode::ServFail);
        };
        if !cluster.exposes(namespace) {
            return nothing(ResponseCode::NXDomain);
        }
        let Some((service, rest)) = rest.split_last() else {
            return nothing(ResponseCode::NoError);
        };
        let (endpoint, port, protocol) = match rest {
            [] => ("", "", ""),
            [endpoint] => (strip_underscore(endpoint), "", ""),
            [port, protocol] => ("", strip_underscore(port), strip_underscore(protocol)),
            _ => return nothing(ResponseCode::NXDomain),
        };
        let wanted = Wanted {
            endpoint,
            port,
            protocol,
        };
        let mut found = nothing(ResponseCode::NXDomain);
        let index = cluster.shared.index.load();
        if let Some(svc) = index.service(namespace, service) {
            let key = format!("{service}.{namespace}");
            let endpoints = self.o.headless
                && svc.external.is_empty()
                && (svc.kind == ServiceKind::Headless || !endpoint.is_empty());
            if endpoints {
                let slices = index.service_slices(namespace, service);
                endpoint_targets(cluster, slices, &wanted, &key, &mut found);
            } else {
                external_targets(svc, &wanted, &key, &mut found);
            }
        }
        if req.qtype() == RecordType::PTR {
            found.targets.clear();
        }
        found
    }

    /// Services with the external address `ip`, for PTR.
    fn find_reverse(&self, cluster: &Cluster, ip: IpAddr) -> Found {
        let text = ip.to_string();
        let index = cluster.shared.index.load();
        let mut targets = Vec::new();
        for (_, services) in index.services.iter() {
            for (_, svc) in services.iter() {
                if !svc.external.iter().any(|e| **e == *text) {
                    continue;
                }
                if !cluster.namespaces.is_empty() && !cluster.exposes(&svc.namespace) {
                    continue;
                }
                let key = format!("{}.{}", svc.name, svc.namespace);
                targets.push(Target {
                    host: key.clone(),
                    port: 0,
                    key,
                });
            }
        }
        let rcode = if targets.is_empty() {
            ResponseCode::NXDomain
        } else {
            ResponseCode::NoError
        };
        Found { targets, rcode }
    }
}

/// The endpoint, port and protocol labels of a name (empty: any).
struct Wanted<'a> {
    endpoint: &'a str,
    port: &'a str,
    protocol: &'a str,
}

impl Wanted<'_> {
    fn port(&self, p: &Port) -> bool {
        matches(self.port, &p.name) && matches(self.protocol, &p.protocol)
    }
}

/// Each external address with each port the name allows.
fn external_targets(svc: &Service, wanted: &Wanted<'_>, key: &str, found: &mut Found) {
    for host in &svc.external {
        for p in svc.ports.iter().filter(|p| wanted.port(p)) {
            found.rcode = ResponseCode::NoError;
            found.targets.push(Target {
                host: host.to_string(),
                port: p.port,
                key: key.to_string(),
            });
        }
    }
}

/// Each ready endpoint the name allows, with each port it allows
/// (`headless`).
fn endpoint_targets(
    cluster: &Cluster,
    slices: &[Arc<Slice>],
    wanted: &Wanted<'_>,
    key: &str,
    found: &mut Found,
) {
    for slice in slices {
        for address in &slice.addresses {
            let hostname = endpoint_hostname(address, cluster.endpoint_pod_names);
            if !wanted.endpoint.is_empty() && !wanted.endpoint.eq_ignore_ascii_case(&hostname) {
                continue;
            }
            for p in slice.ports.iter().filter(|p| wanted.port(p)) {
                found.rcode = ResponseCode::NoError;
                found.targets.push(Target {
                    host: address.text.to_string(),
                    port: p.port,
                    key: format!("{hostname}.{key}"),
                });
            }
        }
    }
}

/// The labels of `name` left of `zone`, outermost last.
fn labels_left_of<'a>(name: &'a str, zone: &str) -> Vec<&'a str> {
    let base = if zone == "." {
        name
    } else {
        &name[..name.len().saturating_sub(zone.len())]
    };
    base.trim_end_matches('.')
        .split('.')
        .filter(|l| !l.is_empty())
        .collect()
}

fn name(text: &str) -> Name {
    Name::from_ascii(text).unwrap_or_else(|_| Name::root())
}

#[cfg(test)]
mod tests;
