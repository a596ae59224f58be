//! Cluster name grammar (CoreDNS `parseRequest`): the labels left of the
//! zone, read right to left as `[endpoint | _port._proto].service.namespace.(svc|pod)`.

use crate::plugin::pkg::service_labels::strip_underscore;

/// What a name below a kubernetes zone asks for. Empty fields were absent.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub(super) struct NameParts<'a> {
    /// `svc` or `pod`; empty for the apex, `svc.<zone>` and `pod.<zone>`.
    pub kind: &'a str,
    pub namespace: &'a str,
    pub service: &'a str,
    pub endpoint: &'a str,
    pub port: &'a str,
    pub protocol: &'a str,
}

/// Why a name is a name error before any lookup.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) struct Invalid;

/// Parses the lower-case `name` below the lower-case `zone` (the zone is
/// stripped by label count, as `dnsutil.TrimZone` does).
pub(super) fn parse<'a>(name: &'a str, zone: &str) -> Result<NameParts<'a>, Invalid> {
    let base = trim_zone(name, zone);
    if base.is_empty() || base == "svc" || base == "pod" {
        return Ok(NameParts::default());
    }
    let mut labels: Vec<&str> = base.split('.').collect();
    let kind = labels.pop().unwrap_or("");
    if kind != "svc" && kind != "pod" {
        return Err(Invalid);
    }
    let mut request = NameParts {
        kind,
        ..Default::default()
    };
    let Some(namespace) = labels.pop() else {
        return Ok(request);
    };
    request.namespace = namespace;
    let Some(service) = labels.pop() else {
        return Ok(request);
    };
    request.service = service;
    match labels.as_slice() {
        [] => {}
        [endpoint] => request.endpoint = endpoint,
        [port, protocol] => {
            request.port = strip_underscore(port);
            request.protocol = strip_underscore(protocol);
        }
        _ => return Err(Invalid),
    }
    Ok(request)
}

/// The labels of `name` left of `zone`, by label count (no trailing dot).
pub(super) fn trim_zone<'a>(name: &'a str, zone: &str) -> &'a str {
    let zone_labels = label_count(zone);
    let name_labels = label_count(name);
    if name_labels <= zone_labels {
        return "";
    }
    let keep = name_labels - zone_labels;
    let end = name
        .bytes()
        .enumerate()
        .filter(|&(_, byte)| byte == b'.')
        .nth(keep - 1)
        .map_or(0, |(index, _)| index);
    &name[..end]
}

/// Labels in an FQDN (`.` has none).
pub(super) fn label_count(name: &str) -> usize {
    if name == "." {
        0
    } else {
        name.trim_end_matches('.')
            .bytes()
            .filter(|&b| b == b'.')
            .count()
            + 1
    }
}

pub(super) use crate::plugin::pkg::reverse::reverse_address;

/// Whether a zone is a reverse zone.
pub(super) fn is_reverse(zone: &str) -> bool {
    zone.ends_with("in-addr.arpa.") || zone.ends_with("ip6.arpa.")
}

#[cfg(test)]
mod tests {
    use super::*;

    const Z: &str = "cluster.local.";

    #[test]
    fn decomposition() {
        assert_eq!(parse("cluster.local.", Z), Ok(NameParts::default()));
        assert_eq!(parse("svc.cluster.local.", Z), Ok(NameParts::default()));
        assert_eq!(parse("foo.cluster.local.", Z), Err(Invalid));
        let r = parse("ns.svc.cluster.local.", Z).unwrap();
        assert_eq!((r.kind, r.namespace, r.service), ("svc", "ns", ""));
        let r = parse("web.ns.svc.cluster.local.", Z).unwrap();
        assert_eq!(r.service, "web");
        let r = parse("ep.web.ns.svc.cluster.local.", Z).unwrap();
        assert_eq!(r.endpoint, "ep");
        let r = parse("_http._tcp.web.ns.svc.cluster.local.", Z).unwrap();
        assert_eq!((r.port, r.protocol), ("http", "tcp"));
        let r = parse("http.tcp.web.ns.svc.cluster.local.", Z).unwrap();
        assert_eq!(
            (r.port, r.protocol),
            ("http", "tcp"),
            "Q7: underscores optional"
        );
        assert_eq!(parse("a.b.c.web.ns.svc.cluster.local.", Z), Err(Invalid));
        let r = parse("_tcp.web.ns.svc.cluster.local.", Z).unwrap();
        assert_eq!(
            r.endpoint, "_tcp",
            "a single label is an endpoint, underscore kept"
        );
    }

    #[test]
    fn reverse_names() {
        assert_eq!(
            reverse_address("100.0.0.10.in-addr.arpa."),
            Some("10.0.0.100".parse().unwrap())
        );
        assert_eq!(reverse_address("0.0.10.in-addr.arpa."), None);
        let v6 = "1.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.d.c.b.a.4.3.2.1.ip6.arpa.";
        assert_eq!(reverse_address(v6), Some("1234:abcd::1".parse().unwrap()));
        assert_eq!(trim_zone("a.b.cluster.local.", Z), "a.b");
        assert_eq!(trim_zone("cluster.local.", Z), "");
    }
}
