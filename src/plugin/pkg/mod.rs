//! Helpers shared by several plugins (CoreDNS's `plugin/pkg`): nothing here
//! is a plugin, and nothing here imports one.

pub(crate) mod cluster;
pub(crate) mod go_regex;
pub(crate) mod go_strconv;
pub(crate) mod http_address;
pub(crate) mod rcode;
pub(crate) mod reverse;
pub(crate) mod service_labels;
#[cfg(test)]
pub(crate) mod test;
pub(crate) mod zones;
