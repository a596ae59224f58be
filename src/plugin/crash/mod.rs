//! crash (test-only, debug builds): panics on purpose so the tests can
//! show a panic ends only its query. `panic.<anything>` panics in the
//! chain; `panic-later.<anything>` panics inside a pending future; any
//! other name goes to the next plugin. It is not in release builds.

use crate::dns::{Flow, Next, Plugin, Request};

pub(crate) struct Crash;

impl Plugin for Crash {
    fn name(&self) -> &'static str {
        "crash"
    }

    fn serve(&self, req: Request, next: Next) -> Flow {
        if req.qname_lower.starts_with("panic.") {
            panic!("crash plugin: {}", req.qname_lower);
        }
        if req.qname_lower.starts_with("panic-later.") {
            return Flow::Pending(Box::pin(async move {
                tokio::task::yield_now().await;
                panic!("crash plugin, pending: {}", req.qname_lower);
            }));
        }
        next.serve(req)
    }
}

#[cfg(test)]
mod tests {
    use crate::plugin::pkg::test;
    use hickory_proto::rr::RecordType;

    #[test]
    fn other_names_pass_and_panic_names_panic() {
        let chain = test::chain(".:53 {\n crash\n whoami\n}\n");
        assert_eq!(
            test::ask(&chain, "fine.example.", RecordType::A)
                .additionals
                .len(),
            2
        );
        let ask =
            std::panic::AssertUnwindSafe(|| test::ask(&chain, "panic.example.", RecordType::A));
        let panicked = std::panic::catch_unwind(ask);
        assert!(panicked.is_err());
    }
}
