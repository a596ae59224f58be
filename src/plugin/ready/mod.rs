//! ready: `/ready` answers 200 `OK` once every plugin that reports readiness
//! is ready, else 503 with their sorted, comma-joined names.

use std::net::SocketAddr;

use super::health::{address_argument, parse_http_address};
use crate::corefile::{CorefileError, Dispenser};

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ReadyConfig {
    pub address: SocketAddr,
    pub continuously: bool,
}

pub fn setup(d: &mut Dispenser) -> Result<ReadyConfig, CorefileError> {
    let mut config = ReadyConfig {
        address: parse_http_address(":8181")?,
        continuously: false,
    };
    while d.next_once()? {
        address_argument(d, &mut config.address)?;
        while d.next_block() {
            if d.val() != "monitor" {
                return Err(d.unknown_property());
            }
            let args = d.remaining_args();
            config.continuously = match args.as_slice() {
                [mode] if mode == "until-ready" => false,
                [mode] if mode == "continuously" => true,
                [mode] => return Err(d.err(format!("monitor type '{mode}' not supported"))),
                _ => return Err(d.arg_err()),
            };
        }
    }
    Ok(config)
}
