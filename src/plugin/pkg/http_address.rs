//! The `[ADDRESS]` argument that health, ready and prometheus share.

use std::net::SocketAddr;

use crate::corefile::{CorefileError, Dispenser};

/// Reads the optional `ADDRESS` argument of health, ready and prometheus.
pub(crate) fn address_argument(
    d: &mut Dispenser,
    address: &mut SocketAddr,
) -> Result<(), CorefileError> {
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

/// Parses `HOST:PORT` for the HTTP listeners: an empty host means every
/// interface, IPv6 included (`[::]`, which the listener binds dual-stack,
/// as Go's `net.Listen(":8080")` does), `localhost` means 127.0.0.1.
pub(crate) fn parse_http_address(text: &str) -> Result<SocketAddr, CorefileError> {
    let missing_port = || CorefileError::plain(format!("address {text}: missing port in address"));
    let (host, port) = text.rsplit_once(':').ok_or_else(missing_port)?;
    let port: u16 = port
        .parse()
        .map_err(|_| CorefileError::plain(format!("address {text}: invalid port")))?;
    let host = host.trim_start_matches('[').trim_end_matches(']');
    let ip = match host {
        "" => std::net::Ipv6Addr::UNSPECIFIED.into(),
        "localhost" => std::net::Ipv4Addr::LOCALHOST.into(),
        other => other
            .parse()
            .map_err(|_| CorefileError::plain(format!("address {text}: no such host")))?,
    };
    Ok(SocketAddr::new(ip, port))
}
