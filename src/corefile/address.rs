//! Server-block keys: `[SCHEME://]ZONE[:PORT]`, with CIDR keys expanded to
//! reverse zones.

use std::net::IpAddr;

use super::error::CorefileError;

/// The scheme (transport) a server block key asks for.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Scheme {
    Dns,
    Tls,
    Quic,
    Grpc,
    Https,
    Https3,
}

impl Scheme {
    pub fn scheme(self) -> &'static str {
        match self {
            Scheme::Dns => "dns",
            Scheme::Tls => "tls",
            Scheme::Quic => "quic",
            Scheme::Grpc => "grpc",
            Scheme::Https => "https",
            Scheme::Https3 => "https3",
        }
    }

    fn default_port(self, dns_port: u16) -> u16 {
        match self {
            Scheme::Dns => dns_port,
            Scheme::Tls | Scheme::Quic => 853,
            Scheme::Grpc | Scheme::Https | Scheme::Https3 => 443,
        }
    }
}

/// One normalised key: a fully qualified, lower-case zone and a port.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Address {
    pub scheme: Scheme,
    pub zone: String,
    pub port: u16,
}

/// Parses one key into one or more addresses (a CIDR can expand to several
/// reverse zones).
pub fn parse_address(key: &str, dns_port: u16) -> Result<Vec<Address>, CorefileError> {
    let (scheme, rest) = split_scheme(key);
    let (host, port) = split_port(rest, scheme.default_port(dns_port))?;
    let zones = match cidr_reverse_zones(host) {
        Some(zones) => zones?,
        None => vec![fqdn_zone(host)?],
    };
    Ok(zones
        .into_iter()
        .map(|zone| Address { scheme, zone, port })
        .collect())
}

fn split_scheme(key: &str) -> (Scheme, &str) {
    const SCHEMES: [(&str, Scheme); 6] = [
        ("dns://", Scheme::Dns),
        ("tls://", Scheme::Tls),
        ("quic://", Scheme::Quic),
        ("grpc://", Scheme::Grpc),
        ("https3://", Scheme::Https3),
        ("https://", Scheme::Https),
    ];
    for (prefix, scheme) in SCHEMES {
        if let Some(rest) = key.strip_prefix(prefix) {
            return (scheme, rest);
        }
    }
    (Scheme::Dns, key)
}

fn split_port(text: &str, default_port: u16) -> Result<(&str, u16), CorefileError> {
    let Some(colon) = text.rfind(':') else {
        return Ok((text, default_port));
    };
    let (host, port) = (&text[..colon], &text[colon + 1..]);
    if port.is_empty() {
        return Err(CorefileError::plain(format!(
            "expecting data after last colon: \"{text}\""
        )));
    }
    match port.parse::<u16>() {
        Ok(port) => Ok((host, port)),
        Err(_) => Ok((text, default_port)),
    }
}

fn fqdn_zone(host: &str) -> Result<String, CorefileError> {
    if host.is_empty() || host == "." {
        return Ok(".".to_string());
    }
    let mut zone = host.to_ascii_lowercase();
    if !zone.ends_with('.') {
        zone.push('.');
    }
    if zone.len() > 255 {
        return Err(CorefileError::plain(format!(
            "specified zone is too long: {} > 255",
            zone.len()
        )));
    }
    if zone.contains("..") || zone.starts_with('.') || zone.split('.').any(|l| l.len() > 63) {
        return Err(CorefileError::plain(format!(
            "zone is not a valid domain name: {host}"
        )));
    }
    Ok(zone)
}

/// Reverse zones for a CIDR, or `None` when `host` is not a CIDR.
fn cidr_reverse_zones(host: &str) -> Option<Result<Vec<String>, CorefileError>> {
    let (ip, bits) = host.split_once('/')?;
    let invalid = || CorefileError::plain(format!("invalid CIDR {host}"));
    let Ok(ip) = ip.parse::<IpAddr>() else {
        return Some(Err(invalid()));
    };
    let max = if ip.is_ipv4() { 32 } else { 128 };
    let bits = match bits.parse::<u32>() {
        Ok(bits) if bits <= max => bits,
        _ => return Some(Err(invalid())),
    };
    Some(Ok(reverse_zones(ip, bits)))
}

/// Expands a prefix to the reverse zones on label boundaries (8 bits for
/// IPv4, 4 bits for IPv6).
pub(super) fn reverse_zones(ip: IpAddr, bits: u32) -> Vec<String> {
    let (step, width, value) = match ip {
        IpAddr::V4(v4) => (8, 32, u32::from(v4) as u128),
        IpAddr::V6(v6) => (4, 128, u128::from(v6)),
    };
    let aligned = bits.div_ceil(step) * step;
    let network = if bits == 0 {
        0
    } else {
        value & (!0u128 << (width - bits))
    };
    let count = 1u128 << (aligned - bits);
    (0..count)
        .map(|i| {
            let base = if aligned == width {
                network + i
            } else {
                network + (i << (width - aligned))
            };
            reverse_zone_name(base, aligned, width, step)
        })
        .collect()
}

fn reverse_zone_name(value: u128, bits: u32, width: u32, step: u32) -> String {
    let labels = bits / step;
    let mut name = String::new();
    for i in (0..labels).rev() {
        let shift = width - step * (i + 1);
        let part = (value >> shift) & ((1u128 << step) - 1);
        if step == 8 {
            name.push_str(&format!("{part}."));
        } else {
            name.push_str(&format!("{part:x}."));
        }
    }
    name.push_str(if step == 8 {
        "in-addr.arpa."
    } else {
        "ip6.arpa."
    });
    name
}

#[cfg(test)]
mod tests {
    use super::*;

    fn zones(key: &str) -> Vec<(String, u16)> {
        parse_address(key, 53)
            .unwrap()
            .into_iter()
            .map(|a| (a.zone, a.port))
            .collect()
    }

    #[test]
    fn zone_and_port_forms() {
        assert_eq!(zones(".:53"), vec![(".".into(), 53)]);
        assert_eq!(zones(":1053"), vec![(".".into(), 1053)]);
        assert_eq!(zones("Example.ORG"), vec![("example.org.".into(), 53)]);
        assert_eq!(
            zones("dns://example.org:5353"),
            vec![("example.org.".into(), 5353)]
        );
        assert_eq!(parse_address("tls://example.org", 53).unwrap()[0].port, 853);
    }

    #[test]
    fn cidr_keys_become_reverse_zones() {
        assert_eq!(
            zones("10.0.0.0/24"),
            vec![("0.0.10.in-addr.arpa.".into(), 53)]
        );
        assert_eq!(
            zones("10.32.0.0/16:1053"),
            vec![("32.10.in-addr.arpa.".into(), 1053)]
        );
        let expanded = zones("10.0.0.0/23");
        assert_eq!(expanded.len(), 2);
        assert_eq!(expanded[1].0, "1.0.10.in-addr.arpa.");
        assert_eq!(zones("10.0.0.0/27").len(), 32);
        assert_eq!(zones("fd00::/8")[0].0, "d.f.ip6.arpa.");
    }

    #[test]
    fn errors_have_coredns_texts() {
        assert_eq!(
            parse_address("example.org:", 53).unwrap_err().0,
            "expecting data after last colon: \"example.org:\""
        );
        assert_eq!(
            parse_address("10.0.0.0/33", 53).unwrap_err().0,
            "invalid CIDR 10.0.0.0/33"
        );
        assert!(
            parse_address(&"a".repeat(300), 53)
                .unwrap_err()
                .0
                .contains("too long")
        );
    }
}
