//! What a plugin hands back up the chain besides the request: CoreDNS's
//! `(rcode, err)` pair.

use std::sync::Arc;

use hickory_proto::op::ResponseCode;

/// CoreDNS's `(rcode int, err error)` return pair.
#[derive(Debug, Clone)]
pub struct Status {
    pub rcode: ResponseCode,
    pub error: Option<Arc<str>>,
}

impl Status {
    /// The reply was written by a plugin (rcode as written).
    pub fn written(rcode: ResponseCode) -> Self {
        Status { rcode, error: None }
    }

    /// Nothing written; the server writes an empty reply with `rcode`.
    pub fn failed(rcode: ResponseCode, error: impl Into<Arc<str>>) -> Self {
        Status {
            rcode,
            error: Some(error.into()),
        }
    }

    /// Whether a plugin wrote the reply (CoreDNS's `plugin.ClientWrite`).
    pub fn client_written(&self) -> bool {
        !matches!(
            self.rcode,
            ResponseCode::ServFail
                | ResponseCode::Refused
                | ResponseCode::FormErr
                | ResponseCode::NotImp
        )
    }
}
