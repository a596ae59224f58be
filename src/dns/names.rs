//! Text forms of types, classes and names as miekg/dns prints them.

use hickory_proto::rr::{DNSClass, Name, RecordType};

/// `A`, `AAAA`, … or `TYPE65280` for a type with no mnemonic.
pub(crate) fn type_text(qtype: RecordType) -> String {
    match type_mnemonic(qtype) {
        Some(text) => text.to_string(),
        None => format!("TYPE{}", u16::from(qtype)),
    }
}

/// The mnemonic of a type, `None` for a type printed as `TYPE<number>`.
pub(crate) fn type_mnemonic(qtype: RecordType) -> Option<&'static str> {
    match qtype {
        RecordType::Unknown(_) => None,
        known => Some(<&'static str>::from(known)).filter(|t| !t.starts_with("Unknown")),
    }
}

/// `IN`, `CH`, … or `CLASS<number>`.
pub(crate) fn class_text(class: DNSClass) -> String {
    match class_mnemonic(class) {
        Some(text) => text.to_string(),
        None => format!("CLASS{}", u16::from(class)),
    }
}

/// The mnemonic of a class, `None` for a class printed as `CLASS<number>`.
pub(crate) fn class_mnemonic(class: DNSClass) -> Option<&'static str> {
    Some(match class {
        DNSClass::IN => "IN",
        DNSClass::CH => "CH",
        DNSClass::HS => "HS",
        DNSClass::NONE => "NONE",
        DNSClass::ANY => "ANY",
        _ => return None,
    })
}

/// Whether `name` is `zone` or below it (both lower-case FQDNs).
pub(crate) fn is_subdomain(zone: &str, name: &str) -> bool {
    if zone == "." {
        return true;
    }
    name == zone || (name.ends_with(zone) && name.as_bytes()[name.len() - zone.len() - 1] == b'.')
}

/// The longest of `zones` that `name` falls under.
pub(crate) fn longest_match<'z>(
    zones: impl IntoIterator<Item = &'z str>,
    name: &str,
) -> Option<&'z str> {
    zones
        .into_iter()
        .filter(|z| is_subdomain(z, name))
        .max_by_key(|z| z.len())
}

/// A name in lower case with the trailing dot.
///
/// Runs once per query, so the common case (labels of letters, digits, `-`
/// and `_`) is built straight from the label bytes; anything that needs
/// escaping goes through hickory's `to_ascii`, which the fast path matches.
pub(crate) fn lower_fqdn(name: &Name) -> String {
    plain_lower_fqdn(name).unwrap_or_else(|| {
        let mut text = name.to_ascii();
        text.make_ascii_lowercase();
        if !text.ends_with('.') {
            text.push('.');
        }
        text
    })
}

/// `lower_fqdn` for names whose labels need no escaping, else `None`.
fn plain_lower_fqdn(name: &Name) -> Option<String> {
    if name.is_root() {
        return Some(".".to_string());
    }
    let mut text = String::with_capacity(name.len() + 1);
    for label in name.iter() {
        if !is_plain_label(label) {
            return None;
        }
        // A plain label is ASCII, so this never fails.
        text.push_str(std::str::from_utf8(label).ok()?);
        text.push('.');
    }
    text.make_ascii_lowercase();
    Some(text)
}

/// Whether hickory prints the label as is: letters, digits, `_`, a `-`
/// after the first byte, or a lone leading `*`.
pub(crate) fn is_plain_label(label: &[u8]) -> bool {
    label.iter().enumerate().all(|(at, &byte)| {
        byte.is_ascii_alphanumeric()
            || byte == b'_'
            || (byte == b'-' && at > 0)
            || (byte == b'*' && at == 0)
    })
}

/// Whether a name has an upper-case ASCII letter anywhere.
pub(crate) fn has_upper(name: &Name) -> bool {
    name.iter()
        .any(|label| label.iter().any(u8::is_ascii_uppercase))
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

#[cfg(test)]
mod lower_case_tests {
    use super::*;

    #[test]
    fn the_fast_lower_fqdn_matches_hickorys_text() {
        let raw = |labels: &[&[u8]]| Name::from_labels(labels.iter().copied()).unwrap();
        let names = [
            Name::root(),
            Name::from_ascii("Kubernetes.Default.SVC.cluster.local.").unwrap(),
            Name::from_ascii("_http._tcp.svc-1.ns").unwrap(),
            Name::from_ascii("*.wild.example.").unwrap(),
            raw(&[b"a.b", b"example"]),
            raw(&[b"-lead", b"x"]),
            raw(&[b"sp ace", b"\x07"]),
            raw(&[b"mid*star", b"UP"]),
            raw(&[&[0xc3, 0xa9], b"x"]),
        ];
        for name in names {
            let mut slow = name.to_ascii();
            slow.make_ascii_lowercase();
            if !slow.ends_with('.') {
                slow.push('.');
            }
            assert_eq!(lower_fqdn(&name), slow, "{name:?}");
        }
    }

    #[test]
    fn upper_case_is_seen_in_any_label() {
        assert!(has_upper(&Name::from_ascii("a.B.c.").unwrap()));
        assert!(!has_upper(&Name::from_ascii("a.b-1.c.").unwrap()));
    }
}
