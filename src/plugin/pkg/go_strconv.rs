//! Go's `strconv.ParseUint`, with its error texts.
//!
//! Why here: CoreDNS parses numbers with it in more than one plugin
//! (`rewrite`'s EDNS0 option codes, `template`'s `parseInt`-style
//! helpers), and what it accepts is part of what a Corefile means:
//! base prefixes (`0x`, `0o`, `0b`, and a bare leading `0` for octal),
//! `_` between digits when the base comes from the prefix, and a range
//! check against the bit size. One implementation keeps the plugins
//! agreeing with each other and with CoreDNS.

/// `strconv.ParseUint(s, base, bits)`: base 0 reads the prefix, 2–36 is
/// taken as given; bits 0 means 64. Errors read as Go's do.
pub(crate) fn parse_uint(s: &str, base: i128, bits: i128) -> Result<u64, String> {
    let error = |what: &str| format!("strconv.ParseUint: parsing {s:?}: {what}");
    if s.is_empty() {
        return Err(error("invalid syntax"));
    }
    let from_prefix = base == 0;
    let (base, digits) = match base {
        0 => prefixed_base(s),
        2..=36 => (base as u32, s),
        _ => return Err(error(&format!("invalid base {base}"))),
    };
    let max = match bits {
        0 | 64 => u64::MAX,
        1..=63 => (1u64 << bits) - 1,
        _ => return Err(error(&format!("invalid bit size {bits}"))),
    };
    let mut value: u64 = 0;
    let mut underscores = false;
    for c in digits.chars() {
        if c == '_' && from_prefix {
            underscores = true;
            continue;
        }
        let digit = c.to_digit(base).ok_or_else(|| error("invalid syntax"))?;
        value = value
            .checked_mul(u64::from(base))
            .and_then(|v| v.checked_add(u64::from(digit)))
            .filter(|v| *v <= max)
            .ok_or_else(|| error("value out of range"))?;
    }
    if underscores && !underscores_between_digits(s) {
        return Err(error("invalid syntax"));
    }
    Ok(value)
}

/// The base a literal's prefix names, and the digits after it: `0b`,
/// `0o`, `0x` need a digit after them to count as a prefix; a bare
/// leading `0` is octal; anything else is decimal.
fn prefixed_base(s: &str) -> (u32, &str) {
    let bytes = s.as_bytes();
    if bytes[0] != b'0' {
        return (10, s);
    }
    match bytes.get(1).map(u8::to_ascii_lowercase) {
        Some(b'b') if s.len() >= 3 => (2, &s[2..]),
        Some(b'o') if s.len() >= 3 => (8, &s[2..]),
        Some(b'x') if s.len() >= 3 => (16, &s[2..]),
        _ => (8, &s[1..]),
    }
}

/// Go's rule for `_` in a base-0 literal: each one stands between two
/// digits, a base prefix counting as a digit.
fn underscores_between_digits(s: &str) -> bool {
    let bytes = s.as_bytes();
    let mut rest = bytes;
    let mut hex = false;
    // What the last character was: a digit, `_`, something else, or nothing.
    let mut last = b'^';
    if let [b'0', kind, tail @ ..] = bytes
        && matches!(kind.to_ascii_lowercase(), b'b' | b'o' | b'x')
    {
        hex = kind.eq_ignore_ascii_case(&b'x');
        rest = tail;
        last = b'0';
    }
    for &c in rest {
        if c.is_ascii_digit() || (hex && c.is_ascii_hexdigit()) {
            last = b'0';
        } else if c == b'_' {
            if last != b'0' {
                return false;
            }
            last = b'_';
        } else {
            if last == b'_' {
                return false;
            }
            last = b'!';
        }
    }
    last != b'_'
}

#[cfg(test)]
mod tests {
    use super::parse_uint;

    fn syntax(s: &str) -> Result<u64, String> {
        Err(format!("strconv.ParseUint: parsing {s:?}: invalid syntax"))
    }

    fn range(s: &str) -> Result<u64, String> {
        Err(format!(
            "strconv.ParseUint: parsing {s:?}: value out of range"
        ))
    }

    #[test]
    fn prefixes_pick_the_base() {
        let cases = [
            ("0xffee", 0xffee),
            ("0XFF", 255),
            ("0b101", 5),
            ("0o17", 15),
            ("010", 8),
            ("0", 0),
            ("65001", 65001),
        ];
        for (text, value) in cases {
            assert_eq!(parse_uint(text, 0, 64), Ok(value), "{text}");
        }
        assert_eq!(parse_uint("ff", 16, 64), Ok(255));
        assert_eq!(parse_uint("z", 36, 64), Ok(35));
    }

    #[test]
    fn underscores_only_between_digits_and_only_for_base_zero() {
        assert_eq!(parse_uint("1_000", 0, 64), Ok(1000));
        assert_eq!(parse_uint("0x_1f", 0, 64), Ok(31));
        assert_eq!(parse_uint("1_000", 10, 64), syntax("1_000"));
        for bad in ["_1", "1__0", "1_", "0x"] {
            assert_eq!(parse_uint(bad, 0, 64), syntax(bad), "{bad}");
        }
    }

    #[test]
    fn ranges_and_bad_arguments_are_go_errors() {
        assert_eq!(parse_uint("65535", 0, 16), Ok(65535));
        assert_eq!(parse_uint("65536", 0, 16), range("65536"));
        assert_eq!(
            parse_uint("18446744073709551616", 0, 0),
            range("18446744073709551616")
        );
        // Go stops at the overflow, before it sees the bad character.
        let long = "99999999999999999999x";
        assert_eq!(parse_uint(long, 10, 64), range(long));
        assert_eq!(parse_uint("", 0, 64), syntax(""));
        assert_eq!(parse_uint("12a", 10, 64), syntax("12a"));
        assert_eq!(
            parse_uint("1", 1, 64),
            Err("strconv.ParseUint: parsing \"1\": invalid base 1".into())
        );
        assert_eq!(
            parse_uint("1", 10, 65),
            Err("strconv.ParseUint: parsing \"1\": invalid bit size 65".into())
        );
    }
}
