//! Text forms of types, classes and names as miekg/dns prints them.

use hickory_proto::rr::{DNSClass, RecordType};

/// `A`, `AAAA`, … or `TYPE65280` for a type with no mnemonic.
pub fn type_text(qtype: RecordType) -> String {
    match qtype {
        RecordType::Unknown(value) => format!("TYPE{value}"),
        known => {
            let text = known.to_string();
            if text.starts_with("Unknown") {
                format!("TYPE{}", u16::from(known))
            } else {
                text
            }
        }
    }
}

/// `IN`, `CH`, `HS`, `NONE`, `ANY`, or `CLASS12` otherwise.
pub fn class_text(class: DNSClass) -> String {
    match class {
        DNSClass::IN => "IN".into(),
        DNSClass::CH => "CH".into(),
        DNSClass::HS => "HS".into(),
        DNSClass::NONE => "NONE".into(),
        DNSClass::ANY => "ANY".into(),
        other => format!("CLASS{}", u16::from(other)),
    }
}

/// Whether `name` is `zone` or below it (both lower-case FQDNs).
pub fn is_subdomain(zone: &str, name: &str) -> bool {
    if zone == "." {
        return true;
    }
    name == zone || (name.ends_with(zone) && name.as_bytes()[name.len() - zone.len() - 1] == b'.')
}

/// The longest of `zones` that `name` falls under.
pub fn longest_match<'z>(zones: impl IntoIterator<Item = &'z str>, name: &str) -> Option<&'z str> {
    zones
        .into_iter()
        .filter(|z| is_subdomain(z, name))
        .max_by_key(|z| z.len())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn subdomain_matching_is_label_aware() {
        assert!(is_subdomain("cluster.local.", "a.cluster.local."));
        assert!(is_subdomain("cluster.local.", "cluster.local."));
        assert!(!is_subdomain("cluster.local.", "xcluster.local."));
        assert!(is_subdomain(".", "anything."));
        assert_eq!(
            longest_match(["local.", "cluster.local.", "."], "a.cluster.local."),
            Some("cluster.local.")
        );
    }

    #[test]
    fn unknown_types_and_classes_use_generic_names() {
        assert_eq!(type_text(RecordType::A), "A");
        assert_eq!(type_text(RecordType::Unknown(65280)), "TYPE65280");
        assert_eq!(class_text(DNSClass::IN), "IN");
        assert_eq!(class_text(DNSClass::Unknown(12)), "CLASS12");
    }
}
