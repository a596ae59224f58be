//! Helpers shared by several plugins (CoreDNS's `plugin/pkg`): nothing here
//! is a plugin, and nothing here imports one.

pub mod cluster;
pub mod go_regex;
pub mod go_strconv;
pub mod http_address;
pub mod rcode;
pub mod reverse;
pub mod service_labels;
#[cfg(test)]
pub mod test;
pub mod zones;
