//! The entries of a hosts file (hosts(5)): names to addresses, and
//! addresses back to names for PTR.
//!
//! Parsing never fails: a line that is not `ADDRESS NAME...` (a junk line,
//! bytes that are not UTF-8, an address that does not parse) is skipped, so
//! a damaged file still serves its good lines, as CoreDNS's scanner does.

use std::collections::HashMap;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

use crate::dns::names::longest_match;

/// The entries of one source (the file, or the Corefile's inline lines).
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub(crate) struct HostsMap {
    name4: HashMap<String, Vec<Ipv4Addr>>,
    name6: HashMap<String, Vec<Ipv6Addr>>,
    /// Owner names `*.zone.`: one label under `zone.`, never `zone.` itself.
    wild4: HashMap<String, Vec<Ipv4Addr>>,
    wild6: HashMap<String, Vec<Ipv6Addr>>,
    /// Each address's names, in file order, for PTR (no wildcards).
    names: HashMap<IpAddr, Vec<String>>,
}

impl HostsMap {
    /// Reads hosts-file text. Only names under one of `origins` are kept;
    /// `reverse` says whether addresses map back to their names.
    pub(crate) fn parse(text: &[u8], origins: &[String], reverse: bool) -> HostsMap {
        let mut map = HostsMap::default();
        for line in text.split(|&b| b == b'\n') {
            let line = line.split(|&b| b == b'#').next().unwrap_or_default();
            let mut fields = line
                .split(u8::is_ascii_whitespace)
                .filter(|f| !f.is_empty());
            let Some(address) = fields.next().and_then(parse_address) else {
                continue;
            };
            for field in fields {
                let Ok(name) = std::str::from_utf8(field) else {
                    continue;
                };
                map.add(address, &normalize(name), origins, reverse);
            }
        }
        map
    }

    fn add(&mut self, address: IpAddr, name: &str, origins: &[String], reverse: bool) {
        if longest_match(origins.iter().map(String::as_str), name).is_none() {
            return;
        }
        let wild = name.starts_with("*.");
        match (address, wild) {
            (IpAddr::V4(v4), false) => push(&mut self.name4, name, v4),
            (IpAddr::V6(v6), false) => push(&mut self.name6, name, v6),
            (IpAddr::V4(v4), true) => push(&mut self.wild4, name, v4),
            (IpAddr::V6(v6), true) => push(&mut self.wild6, name, v6),
        }
        if reverse && !wild {
            self.names
                .entry(address)
                .or_default()
                .push(name.to_string());
        }
    }

    /// The IPv4 addresses of a lower-case FQDN (its own, else a wildcard's).
    pub(crate) fn v4(&self, name: &str) -> &[Ipv4Addr] {
        lookup(&self.name4, &self.wild4, name)
    }

    /// The IPv6 addresses of a lower-case FQDN (its own, else a wildcard's).
    pub(crate) fn v6(&self, name: &str) -> &[Ipv6Addr] {
        lookup(&self.name6, &self.wild6, name)
    }

    /// The names an address was listed with.
    pub(crate) fn names(&self, address: IpAddr) -> &[String] {
        self.names.get(&address).map(Vec::as_slice).unwrap_or(&[])
    }

    /// The number of entries, counted as CoreDNS's `coredns_hosts_entries`
    /// counts them (every address of every name, plus every reverse name).
    pub(crate) fn len(&self) -> usize {
        fn total<T>(map: &HashMap<String, Vec<T>>) -> usize {
            map.values().map(Vec::len).sum()
        }
        total(&self.name4)
            + total(&self.name6)
            + total(&self.wild4)
            + total(&self.wild6)
            + self.names.values().map(Vec::len).sum::<usize>()
    }
}

fn push<T>(map: &mut HashMap<String, Vec<T>>, name: &str, value: T) {
    map.entry(name.to_string()).or_default().push(value);
}

fn lookup<'m, T>(
    exact: &'m HashMap<String, Vec<T>>,
    wild: &'m HashMap<String, Vec<T>>,
    name: &str,
) -> &'m [T] {
    if let Some(found) = exact.get(name) {
        return found;
    }
    match name.split_once('.') {
        Some((_, parent)) if !parent.is_empty() => wild
            .get(&format!("*.{parent}"))
            .map(Vec::as_slice)
            .unwrap_or(&[]),
        _ => &[],
    }
}

/// An address field: IPv4 or IPv6, a `%zone` suffix dropped, an
/// IPv4-mapped IPv6 address read as the IPv4 address it maps (as Go's
/// `net.ParseIP` does).
fn parse_address(field: &[u8]) -> Option<IpAddr> {
    let text = std::str::from_utf8(field).ok()?;
    let text = text.split('%').next()?;
    match text.parse::<IpAddr>().ok()? {
        IpAddr::V6(v6) => Some(v6.to_ipv4_mapped().map_or(IpAddr::V6(v6), IpAddr::V4)),
        v4 => Some(v4),
    }
}

/// A name as CoreDNS normalises it: lower case, fully qualified.
fn normalize(name: &str) -> String {
    let mut name = name.to_ascii_lowercase();
    if !name.ends_with('.') {
        name.push('.');
    }
    name
}

#[cfg(test)]
mod tests {
    use super::*;

    fn all() -> Vec<String> {
        vec![".".to_string()]
    }

    #[test]
    fn names_and_aliases_map_to_their_addresses_and_back() {
        let text = b"127.0.0.1 localhost\n192.168.1.10 Example.com example # a comment\n::1 localhost ip6-localhost\n";
        let map = HostsMap::parse(text, &all(), true);
        assert_eq!(map.v4("example.com."), &[Ipv4Addr::new(192, 168, 1, 10)]);
        assert_eq!(map.v4("example."), &[Ipv4Addr::new(192, 168, 1, 10)]);
        assert_eq!(map.v6("localhost."), &[Ipv6Addr::LOCALHOST]);
        assert_eq!(
            map.names("192.168.1.10".parse().unwrap()),
            &["example.com.".to_string(), "example.".to_string()]
        );
        assert_eq!(map.len(), 5 + 5, "five name entries, five reverse names");
    }

    #[test]
    fn junk_lines_and_bytes_that_are_not_utf8_are_skipped() {
        let text = b"garbage\n10.0.0.1\n\xff\xfe 10.0.0.2\n10.0.0.3 good \xff.bad\nnot-an-ip name\n10.0.0.4%eth0 zoned\n";
        let map = HostsMap::parse(text, &all(), true);
        assert_eq!(map.v4("good."), &[Ipv4Addr::new(10, 0, 0, 3)]);
        assert_eq!(map.v4("zoned."), &[Ipv4Addr::new(10, 0, 0, 4)]);
        assert_eq!(map.len(), 4);
    }

    #[test]
    fn a_wildcard_matches_one_label_below_and_makes_no_ptr() {
        let map = HostsMap::parse(
            b"192.168.1.10 *.example.com\n192.168.1.11 a.example.com\n",
            &all(),
            true,
        );
        assert_eq!(
            map.v4("apps.example.com."),
            &[Ipv4Addr::new(192, 168, 1, 10)]
        );
        assert_eq!(map.v4("a.example.com."), &[Ipv4Addr::new(192, 168, 1, 11)]);
        assert!(map.v4("example.com.").is_empty());
        assert!(map.v4("deep.apps.example.com.").is_empty());
        assert!(map.names("192.168.1.10".parse().unwrap()).is_empty());
    }

    #[test]
    fn only_names_under_the_origins_are_kept_and_mapped_addresses_are_ipv4() {
        let origins = vec!["example.org.".to_string()];
        let map = HostsMap::parse(
            b"::ffff:10.1.2.3 a.example.org b.example.net\n",
            &origins,
            false,
        );
        assert_eq!(map.v4("a.example.org."), &[Ipv4Addr::new(10, 1, 2, 3)]);
        assert!(map.v4("b.example.net.").is_empty());
        assert!(
            map.names("10.1.2.3".parse().unwrap()).is_empty(),
            "no_reverse"
        );
    }
}
