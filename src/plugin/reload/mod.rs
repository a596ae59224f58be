//! reload: polls the Corefile and swaps in a changed configuration.
//!
//! The change test is the SHA-512 of the *parsed* configuration (imports,
//! snippets and env expanded), so it follows kubelet's ConfigMap updates
//! (an atomic rename of the `..data` symlink) and changes to imported files.
//! A bad file is logged and counted; the old configuration keeps serving,
//! and DNS sockets and HTTP listeners stay open across every swap.

use std::time::Duration;

use rand::Rng;
use sha2::{Digest, Sha512};

use crate::corefile::{CorefileError, Dispenser, ServerBlock};
use crate::duration::parse_go_duration;

const DEFAULT_INTERVAL: Duration = Duration::from_secs(30);
const DEFAULT_JITTER: Duration = Duration::from_secs(15);
const MIN_INTERVAL: Duration = Duration::from_secs(2);
const MIN_JITTER: Duration = Duration::from_secs(1);

/// Parses `reload [INTERVAL] [JITTER]` (only the first occurrence counts)
/// and returns the period, with the jitter drawn once: INTERVAL ±JITTER/2.
pub(crate) fn setup(d: &mut Dispenser) -> Result<Duration, CorefileError> {
    d.next();
    let args = d.remaining_args();
    if args.len() > 2 {
        return Err(d.arg_err());
    }
    let parse = |text: &String| parse_go_duration(text).map_err(CorefileError::plain);
    let interval = args
        .first()
        .map(parse)
        .transpose()?
        .unwrap_or(DEFAULT_INTERVAL);
    if interval < MIN_INTERVAL {
        return Err(CorefileError::plain(
            "interval value must be greater or equal to 2s",
        ));
    }
    let mut jitter = args
        .get(1)
        .map(parse)
        .transpose()?
        .unwrap_or(DEFAULT_JITTER);
    if !jitter.is_zero() && jitter < MIN_JITTER {
        return Err(CorefileError::plain(
            "jitter value must be 0 or greater or equal to 1s",
        ));
    }
    jitter = jitter.min(interval / 2);
    if jitter.is_zero() {
        return Ok(interval);
    }
    let nanos = jitter.as_nanos() as i128;
    let offset = rand::rng().random_range(0..nanos) - nanos / 2;
    Ok(Duration::from_nanos(
        (interval.as_nanos() as i128 + offset) as u64,
    ))
}

/// The SHA-512 of parsed server blocks: keys, directive names and argument
/// texts (line breaks inside a directive are kept as token boundaries), so
/// comments and whitespace never count.
pub(crate) fn config_hash(blocks: &[ServerBlock]) -> String {
    let mut hasher = Sha512::new();
    for block in blocks {
        hasher.update(b"block\0");
        for key in &block.keys {
            hasher.update(key.text.as_bytes());
            hasher.update(b"\0");
        }
        let mut directives: Vec<_> = block.directives.iter().collect();
        directives.sort_by(|a, b| a.0.cmp(&b.0));
        for (name, tokens) in directives {
            hasher.update(b"directive\0");
            hasher.update(name.as_bytes());
            for token in tokens {
                hasher.update(b"\0");
                hasher.update(token.text.as_bytes());
            }
        }
    }
    hex::encode(hasher.finalize())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::plugin::pkg::test;

    fn parsed(corefile: &str) -> Result<Duration, CorefileError> {
        let tokens = test::directive_tokens(corefile, "reload");
        setup(&mut Dispenser::new(&tokens))
    }

    #[test]
    fn the_period_is_the_interval_plus_or_minus_half_the_jitter() {
        for _ in 0..20 {
            let period = parsed(".:53 {\n reload 10s 4s\n}\n").unwrap();
            assert!(
                (Duration::from_secs(8)..=Duration::from_secs(12)).contains(&period),
                "{period:?}"
            );
        }
        let default = parsed(".:53 {\n reload\n}\n").unwrap();
        assert!((Duration::from_millis(22_500)..=Duration::from_millis(37_500)).contains(&default));
    }

    #[test]
    fn an_interval_under_two_seconds_is_an_error() {
        let error = parsed(".:53 {\n reload 1s\n}\n").unwrap_err();
        assert!(
            error
                .to_string()
                .contains("interval value must be greater or equal to 2s"),
            "{error}"
        );
    }
}
