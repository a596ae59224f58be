//! health: `/health` answers 200 `OK` while the process runs; `lameduck`
//! delays the exit after SIGTERM so in-flight clients drain.

use std::net::SocketAddr;
use std::time::Duration;

use crate::corefile::{CorefileError, Dispenser};
use crate::plugin::pkg::http_address::{address_argument, parse_http_address};

/// The parsed `health` directive.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct HealthConfig {
    pub address: SocketAddr,
    pub lameduck: Duration,
}

pub(crate) fn setup(d: &mut Dispenser) -> Result<HealthConfig, CorefileError> {
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::plugin::pkg::test;

    fn parsed(corefile: &str) -> Result<HealthConfig, CorefileError> {
        let tokens = test::directive_tokens(corefile, "health");
        setup(&mut Dispenser::new(&tokens))
    }

    #[test]
    fn defaults_to_port_8080_without_lameduck() {
        let config = parsed(".:53 {\n health\n}\n").unwrap();
        assert_eq!(config.address.port(), 8080);
        assert!(config.address.ip().is_unspecified());
        assert_eq!(config.lameduck, Duration::ZERO);
    }

    #[test]
    fn reads_the_address_and_lameduck() {
        let config = parsed(".:53 {\n health 127.0.0.1:9090 {\n  lameduck 5s\n }\n}\n").unwrap();
        assert_eq!(config.address, "127.0.0.1:9090".parse().unwrap());
        assert_eq!(config.lameduck, Duration::from_secs(5));
    }

    #[test]
    fn rejects_an_unknown_property_and_a_bad_duration() {
        let unknown = parsed(".:53 {\n health {\n  slow 5s\n }\n}\n").unwrap_err();
        assert!(
            unknown.to_string().contains("unknown property 'slow'"),
            "{unknown}"
        );
        let bad = parsed(".:53 {\n health {\n  lameduck soon\n }\n}\n").unwrap_err();
        assert!(
            bad.to_string()
                .contains("unable to parse lameduck duration value: 'soon'"),
            "{bad}"
        );
    }
}
