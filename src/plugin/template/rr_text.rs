//! One resource record from its zone-file text, as miekg's `dns.NewRR`
//! reads what a template printed: names relative to the root, TTL 3600
//! and class IN when left out, `( … )` spanning lines.
//!
//! The text comes from a query name, so it is never allowed to pull in a
//! file: `$INCLUDE` is refused, as `NewRR` refuses it.

use hickory_proto::rr::{Name, Record};
use hickory_proto::serialize::txt::Parser;

/// miekg's TTL for a record that names none.
const DEFAULT_TTL: u32 = 3600;

/// The first record `text` holds.
pub(crate) fn parse_rr(text: &str) -> Result<Record, String> {
    if text.to_ascii_uppercase().contains("$INCLUDE") {
        return Err("dns: $INCLUDE directive not allowed".into());
    }
    let input = format!("$TTL {DEFAULT_TTL}\n{text}\n");
    let (_, sets) = Parser::new(input, None, Some(Name::root()))
        .parse()
        .map_err(|e| format!("dns: {e}"))?;
    sets.into_values()
        .flat_map(|set| set.into_iter())
        .next()
        .ok_or_else(|| "dns: no resource record in the text".into())
}

#[cfg(test)]
mod tests {
    use super::*;
    use hickory_proto::rr::{DNSClass, RecordType};

    #[test]
    fn ttl_and_class_default_and_names_are_absolute() {
        let rr = parse_rr("a.example 60 IN A 10.0.0.1").unwrap();
        assert_eq!(rr.name.to_string(), "a.example.");
        assert_eq!(rr.ttl, 60);
        let bare = parse_rr("b.example. CNAME target.example").unwrap();
        assert_eq!(bare.ttl, 3600);
        assert_eq!(bare.dns_class, DNSClass::IN);
        assert_eq!(bare.record_type(), RecordType::CNAME);
        assert_eq!(bare.data.to_string(), "target.example.");
        let chaos = parse_rr("version.bind. 0 CH TXT \"x\"").unwrap();
        assert_eq!(chaos.dns_class, DNSClass::CH);
    }

    #[test]
    fn an_soa_may_span_parentheses() {
        let rr =
            parse_rr("invalid. 60 IN SOA ns.invalid. hostmaster.invalid. (1 60 60 60 60)").unwrap();
        assert_eq!(rr.record_type(), RecordType::SOA);
    }

    #[test]
    fn bad_text_and_includes_are_errors() {
        assert!(parse_rr("a.example. 60 IN A 10.0.0.256").is_err());
        assert!(parse_rr("").is_err());
        assert!(parse_rr("$INCLUDE /etc/passwd").is_err());
    }
}
