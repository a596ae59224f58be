//! ready: `/ready` answers 200 `OK` once every plugin that reports readiness
//! is ready, else 503 with their sorted, comma-joined names.

use std::net::SocketAddr;

use crate::corefile::{CorefileError, Dispenser};
use crate::plugin::pkg::http_address::{address_argument, parse_http_address};

#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct ReadyConfig {
    pub address: SocketAddr,
    pub continuously: bool,
}

pub(crate) fn setup(d: &mut Dispenser) -> Result<ReadyConfig, CorefileError> {
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::plugin::pkg::test;

    fn parsed(corefile: &str) -> Result<ReadyConfig, CorefileError> {
        let tokens = test::directive_tokens(corefile, "ready");
        setup(&mut Dispenser::new(&tokens))
    }

    #[test]
    fn defaults_to_port_8181_until_ready() {
        let config = parsed(".:53 {\n ready\n}\n").unwrap();
        assert_eq!(config.address.port(), 8181);
        assert!(!config.continuously);
    }

    #[test]
    fn monitor_continuously_is_read_and_other_modes_are_errors() {
        let config = parsed(".:53 {\n ready :8282 {\n  monitor continuously\n }\n}\n").unwrap();
        assert_eq!(config.address.port(), 8282);
        assert!(config.continuously);
        let error = parsed(".:53 {\n ready {\n  monitor sometimes\n }\n}\n").unwrap_err();
        assert!(
            error
                .to_string()
                .contains("monitor type 'sometimes' not supported"),
            "{error}"
        );
    }
}
