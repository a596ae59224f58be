//! Socket helpers below both the listeners and the plugins that open
//! sockets of their own (forward's upstream pool).

pub(crate) mod dgram;
pub(crate) mod interfaces;
