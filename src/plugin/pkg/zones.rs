//! Zone arguments (`fallthrough in-addr.arpa ip6.arpa`, a plugin's own
//! ZONES) read as CoreDNS normalises them, and the fallthrough test.

use crate::corefile::{CorefileError, parse_address};
use crate::dns::names::longest_match;

/// `args` as lower-case FQDN zones (a CIDR gives its reverse zones), or
/// `default` when there are none.
pub(crate) fn zones_from_args(
    args: Vec<String>,
    default: &[String],
) -> Result<Vec<String>, CorefileError> {
    if args.is_empty() {
        return Ok(default.to_vec());
    }
    let mut zones = Vec::new();
    for arg in args {
        for address in parse_address(&arg, 53)? {
            zones.push(address.zone);
        }
    }
    Ok(zones)
}

/// CoreDNS's `fall.F`: `None` never falls through; `Some(zones)` falls
/// through for names under one of them (`.` for all).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub(crate) struct Fall(pub Option<Vec<String>>);

impl Fall {
    /// `fallthrough [ZONES...]`: all zones when none are given.
    pub(crate) fn from_args(args: Vec<String>) -> Result<Fall, CorefileError> {
        Ok(Fall(Some(zones_from_args(args, &[".".to_string()])?)))
    }

    pub(crate) fn is_set(&self) -> bool {
        self.0.is_some()
    }

    /// Whether a lower-case FQDN falls through.
    pub(crate) fn through(&self, name: &str) -> bool {
        self.0
            .as_ref()
            .is_some_and(|zones| longest_match(zones.iter().map(String::as_str), name).is_some())
    }
}
