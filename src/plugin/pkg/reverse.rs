//! Reverse names (`in-addr.arpa.`, `ip6.arpa.`) back to addresses, for the
//! plugins that answer PTR queries from their own data.

use std::net::IpAddr;

/// The IP of a full reverse name (4 octets under in-addr.arpa, 32 nibbles
/// under ip6.arpa), or None.
pub(crate) fn reverse_address(name: &str) -> Option<IpAddr> {
    if let Some(rest) = name.strip_suffix(".in-addr.arpa.") {
        let octets: Vec<&str> = rest.split('.').collect();
        if octets.len() != 4 {
            return None;
        }
        let text: Vec<&str> = octets.into_iter().rev().collect();
        return text
            .join(".")
            .parse::<std::net::Ipv4Addr>()
            .ok()
            .map(IpAddr::V4);
    }
    let rest = name.strip_suffix(".ip6.arpa.")?;
    let nibbles: Vec<&str> = rest.split('.').collect();
    if nibbles.len() != 32 || nibbles.iter().any(|n| n.len() != 1) {
        return None;
    }
    let hex: String = nibbles.into_iter().rev().collect();
    u128::from_str_radix(&hex, 16)
        .ok()
        .map(|v| IpAddr::V6(v.into()))
}
