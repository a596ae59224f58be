//! health: `/health` answers 200 `OK` while the process runs; `lameduck`
//! delays the exit after SIGTERM so in-flight clients drain.

use std::net::SocketAddr;
use std::time::Duration;

use crate::corefile::{CorefileError, Dispenser};

/// The parsed `health` directive.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HealthConfig {
    pub address: SocketAddr,
    pub lameduck: Duration,
}

pub fn setup(d: &mut Dispenser) -> Result<HealthConfig, CorefileError> {
    let mut config = HealthConfig {
        address: parse_http_address(":8080")?,
        lameduck: Duration::ZERO,
    };
    while d.next() {
        address_argument(d, &mut config.address)?;
        while d.next_block() {
            if d.val() != "lameduck" {
                return Err(d.unknown_property());
            }
            let args = d.remaining_args();
            let [value] = args.as_slice() else {
                return Err(d.arg_err());
            };
            config.lameduck = crate::duration::parse_go_duration(value).map_err(|e| {
                CorefileError::plain(format!(
                    "unable to parse lameduck duration value: '{value}': {e}"
                ))
            })?;
        }
    }
    Ok(config)
}

/// Reads the optional `ADDRESS` argument of health, ready and prometheus.
pub fn address_argument(d: &mut Dispenser, address: &mut SocketAddr) -> Result<(), CorefileError> {
    let args = d.remaining_args();
    match args.as_slice() {
        [] => Ok(()),
        [text] => {
            *address = parse_http_address(text)?;
            Ok(())
        }
        _ => Err(d.arg_err()),
    }
}

/// Parses `HOST:PORT` for the HTTP listeners: an empty host means all IPv4
/// interfaces, `localhost` means 127.0.0.1.
pub fn parse_http_address(text: &str) -> Result<SocketAddr, CorefileError> {
    let missing_port = || CorefileError::plain(format!("address {text}: missing port in address"));
    let (host, port) = text.rsplit_once(':').ok_or_else(missing_port)?;
    let port: u16 = port
        .parse()
        .map_err(|_| CorefileError::plain(format!("address {text}: invalid port")))?;
    let host = host.trim_start_matches('[').trim_end_matches(']');
    let ip = match host {
        "" => std::net::Ipv4Addr::UNSPECIFIED.into(),
        "localhost" => std::net::Ipv4Addr::LOCALHOST.into(),
        other => other
            .parse()
            .map_err(|_| CorefileError::plain(format!("address {text}: no such host")))?,
    };
    Ok(SocketAddr::new(ip, port))
}
