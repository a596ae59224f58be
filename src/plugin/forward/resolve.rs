//! Hostname TOs, resolved once at setup as CoreDNS (≥1.14.4) does.
//!
//! A TO that is neither an address nor a file but a valid domain name
//! (`my-dns.ns.svc.cluster.local`, `tls://dns.example%dns.example`,
//! `host:5353`) becomes one upstream per address found: A records first,
//! then AAAA. With `resolver IP[:PORT]...` the names are asked of those
//! servers in turn (2 s per query); without it, of the system resolver.
//! Nothing follows the name afterwards: a changed address takes a reload,
//! as in CoreDNS.

use std::net::{IpAddr, SocketAddr, ToSocketAddrs, UdpSocket};
use std::time::{Duration, Instant};

use hickory_proto::op::{Message, MessageType, OpCode, Query};
use hickory_proto::rr::{Name, RData, RecordType};

use crate::corefile::CorefileError;

/// How long one resolver query waits for its reply.
const QUERY_TIMEOUT: Duration = Duration::from_secs(2);

/// A hostname TO before resolution.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct HostEntry {
    pub hostname: String,
    pub port: u16,
    pub tls: bool,
    /// The `%NAME` of a `tls://` TO.
    pub server_name: Option<String>,
}

/// Reads `entry` as a hostname TO, if it is one: `[dns://|tls://]NAME[%ZONE][:PORT]`
/// where NAME is a valid domain name and not an IP address.
pub(super) fn host_entry(entry: &str) -> Option<HostEntry> {
    let (tls, rest) = match entry.split_once("://") {
        None => (false, entry),
        Some(("dns", rest)) => (false, rest),
        Some(("tls", rest)) => (true, rest),
        Some(_) => return None,
    };
    let (host, server_name) = split_zone(rest);
    let default_port = if tls { 853 } else { 53 };
    let (hostname, port) = split_host_port(&host, default_port)?;
    let valid = is_domain_name(hostname) && hostname.parse::<IpAddr>().is_err();
    valid.then(|| HostEntry {
        hostname: hostname.to_string(),
        port,
        tls,
        server_name,
    })
}

/// `name:port`, `[name]:port`, `[name]` or `name`, as Go's
/// `net.SplitHostPort` reads it (a bare name takes `default_port`).
fn split_host_port(host: &str, default_port: u16) -> Option<(&str, u16)> {
    if let Some(inner) = host.strip_prefix('[') {
        let (name, rest) = inner.split_once(']')?;
        return match rest.strip_prefix(':') {
            Some(port) => Some((name, port.parse().ok()?)),
            None if rest.is_empty() => Some((name, default_port)),
            None => None,
        };
    }
    match host.split_once(':') {
        Some((name, port)) if !port.contains(':') => Some((name, port.parse().ok()?)),
        _ => Some((host, default_port)),
    }
}

/// `host%zone:port` → (`host:port`, zone).
fn split_zone(text: &str) -> (String, Option<String>) {
    let Some((host, tail)) = text.rsplit_once('%') else {
        return (text.to_string(), None);
    };
    match tail.rsplit_once(':') {
        Some((zone, port)) => (format!("{host}:{port}"), Some(zone.to_string())),
        None => (host.to_string(), Some(tail.to_string())),
    }
}

/// Go's `dns.IsDomainName` as far as TOs need it: non-empty labels of at
/// most 63 bytes, at most 255 bytes in all.
fn is_domain_name(text: &str) -> bool {
    let trimmed = text.strip_suffix('.').unwrap_or(text);
    !trimmed.is_empty()
        && trimmed.len() < 255
        && trimmed
            .split('.')
            .all(|label| !label.is_empty() && label.len() <= 63)
}

/// The upstreams `entry` names, in the order found.
pub(super) fn resolve(
    entry: &HostEntry,
    resolvers: &[SocketAddr],
) -> Result<Vec<To>, CorefileError> {
    let addresses = lookup(&entry.hostname, resolvers).map_err(|e| {
        CorefileError::plain(format!("failed to resolve {:?}: {e}", entry.hostname))
    })?;
    Ok(addresses
        .into_iter()
        .map(|ip| To {
            address: SocketAddr::new(ip, entry.port),
            tls: entry.tls,
            server_name: entry.server_name.clone(),
        })
        .collect())
}

/// The system resolver, or the `resolver` addresses when there are some.
#[cfg(not(fuzzing))]
fn lookup(hostname: &str, resolvers: &[SocketAddr]) -> Result<Vec<IpAddr>, String> {
    if resolvers.is_empty() {
        system_lookup(hostname)
    } else {
        dns_lookup(hostname, resolvers)
    }
}

/// Fuzz builds (`cargo fuzz` sets `cfg(fuzzing)`) send no packet: every
/// hostname is 127.0.0.1, except that a name starting with `nx` is not
/// found, so both paths of forward's setup run.
#[cfg(fuzzing)]
fn lookup(hostname: &str, _resolvers: &[SocketAddr]) -> Result<Vec<IpAddr>, String> {
    if hostname.starts_with("nx") {
        return Err(format!("no addresses found for {hostname:?}"));
    }
    Ok(vec![IpAddr::from([127, 0, 0, 1])])
}

#[cfg_attr(fuzzing, allow(dead_code))]
fn system_lookup(hostname: &str) -> Result<Vec<IpAddr>, String> {
    let found = (hostname, 0)
        .to_socket_addrs()
        .map_err(|e| format!("lookup {hostname}: {e}"))?;
    let mut addresses: Vec<IpAddr> = Vec::new();
    for address in found {
        if !addresses.contains(&address.ip()) {
            addresses.push(address.ip());
        }
    }
    if addresses.is_empty() {
        return Err(format!("no addresses found for {hostname:?}"));
    }
    Ok(addresses)
}

/// A, then AAAA, from each resolver in turn until one gives addresses. A
/// failed AAAA query still returns the A records found.
#[cfg_attr(fuzzing, allow(dead_code))]
fn dns_lookup(hostname: &str, resolvers: &[SocketAddr]) -> Result<Vec<IpAddr>, String> {
    let name = Name::from_ascii(hostname)
        .map(|mut name| {
            name.set_fqdn(true);
            name
        })
        .map_err(|e| e.to_string())?;
    let mut last_error = None;
    for &resolver in resolvers {
        let mut addresses = match ask(resolver, &name, RecordType::A) {
            Ok(found) => found,
            Err(e) => {
                last_error = Some(e);
                continue;
            }
        };
        match ask(resolver, &name, RecordType::AAAA) {
            Ok(found) => addresses.extend(found),
            Err(_) if !addresses.is_empty() => return Ok(addresses),
            Err(e) => {
                last_error = Some(e);
                continue;
            }
        }
        if !addresses.is_empty() {
            return Ok(addresses);
        }
    }
    Err(match last_error {
        Some(error) => format!("no addresses found for {hostname:?}: {error}"),
        None => format!("no addresses found for {hostname:?}"),
    })
}

/// One UDP query; the addresses of that type in the answer section.
#[cfg_attr(fuzzing, allow(dead_code))]
fn ask(resolver: SocketAddr, name: &Name, qtype: RecordType) -> Result<Vec<IpAddr>, String> {
    let mut query = Message::new(rand::random(), MessageType::Query, OpCode::Query);
    query.metadata.recursion_desired = true;
    query.add_query(Query::query(name.clone(), qtype));
    let bytes = query.to_vec().map_err(|e| e.to_string())?;
    let local: SocketAddr = match resolver {
        SocketAddr::V4(_) => ([0, 0, 0, 0], 0).into(),
        SocketAddr::V6(_) => "[::]:0".parse().expect("v6 any"),
    };
    let socket = UdpSocket::bind(local).map_err(|e| format!("dial udp {resolver}: {e}"))?;
    socket
        .connect(resolver)
        .map_err(|e| format!("dial udp {resolver}: {e}"))?;
    let here = socket
        .local_addr()
        .map(|a| a.to_string())
        .unwrap_or_default();
    let io = |op: &str, e: std::io::Error| format!("{op} udp {here}->{resolver}: {e}");
    socket.send(&bytes).map_err(|e| io("write", e))?;
    let deadline = Instant::now() + QUERY_TIMEOUT;
    let mut buffer = vec![0u8; 65535];
    loop {
        let left = deadline.saturating_duration_since(Instant::now());
        if left.is_zero() {
            return Err(format!("read udp {here}->{resolver}: i/o timeout"));
        }
        socket
            .set_read_timeout(Some(left))
            .map_err(|e| io("read", e))?;
        let length = match socket.recv(&mut buffer) {
            Ok(length) => length,
            Err(e)
                if matches!(
                    e.kind(),
                    std::io::ErrorKind::WouldBlock | std::io::ErrorKind::TimedOut
                ) =>
            {
                return Err(format!("read udp {here}->{resolver}: i/o timeout"));
            }
            Err(e) => return Err(io("read", e)),
        };
        let Ok(reply) = Message::from_vec(&buffer[..length]) else {
            continue;
        };
        if reply.metadata.id != query.metadata.id {
            continue;
        }
        return Ok(reply
            .answers
            .iter()
            .filter_map(|record| match &record.data {
                RData::A(a) if qtype == RecordType::A => Some(IpAddr::V4(a.0)),
                RData::AAAA(aaaa) if qtype == RecordType::AAAA => Some(IpAddr::V6(aaaa.0)),
                _ => None,
            })
            .collect());
    }
}

/// One upstream as the Corefile names it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct To {
    pub address: SocketAddr,
    /// `tls://`: DNS over TLS.
    pub tls: bool,
    /// The name after `%` in a `tls://` TO (the certificate's name).
    pub server_name: Option<String>,
}

#[cfg(test)]
mod tests {
    use super::*;

    fn host(hostname: &str, port: u16, tls: bool, name: Option<&str>) -> Option<HostEntry> {
        Some(HostEntry {
            hostname: hostname.into(),
            port,
            tls,
            server_name: name.map(str::to_string),
        })
    }

    #[test]
    fn hostname_tos_take_a_scheme_a_zone_and_a_port() {
        assert_eq!(
            host_entry("dns.example"),
            host("dns.example", 53, false, None)
        );
        assert_eq!(
            host_entry("dns://dns.example:5353"),
            host("dns.example", 5353, false, None)
        );
        assert_eq!(
            host_entry("tls://dns.example%dns.test"),
            host("dns.example", 853, true, Some("dns.test"))
        );
        assert_eq!(
            host_entry("tls://dns.example%dns.test:8853"),
            host("dns.example", 8853, true, Some("dns.test"))
        );
        assert_eq!(
            host_entry("my-dns.ns.svc.cluster.local."),
            host("my-dns.ns.svc.cluster.local.", 53, false, None)
        );
    }

    #[test]
    fn addresses_and_broken_names_are_not_hostnames() {
        for entry in [
            "127.0.0.1",
            "::1",
            "[::1]:53",
            "a..b",
            "",
            "quic://dns.example",
            "x:notaport",
        ] {
            assert_eq!(host_entry(entry), None, "{entry}");
        }
        assert_eq!(host_entry(&"a".repeat(64)), None, "label over 63 bytes");
    }
}
