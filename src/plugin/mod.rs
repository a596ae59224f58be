//! One module per Corefile directive, and the registry that fixes their
//! order and builds each server block's chain.
//!
//! A plugin depends on the query contract (`crate::dns`), on the shared
//! helpers in `pkg`, and (kubernetes) on the data layer; never on the
//! server or on another plugin.

pub(crate) mod acl;
pub(crate) mod any;
pub(crate) mod autopath;
pub(crate) mod bufsize;
pub(crate) mod cache;
pub(crate) mod chaos;
#[cfg(debug_assertions)]
pub(crate) mod crash;
pub(crate) mod errors;
pub(crate) mod forward;
pub(crate) mod header;
pub(crate) mod health;
pub(crate) mod hosts;
pub(crate) mod k8s_external;
pub(crate) mod kubernetes;
pub(crate) mod loadbalance;
pub(crate) mod local;
pub(crate) mod log;
pub(crate) mod loop_detect;
pub(crate) mod minimal;
pub(crate) mod nsid;
pub(crate) mod pkg;
pub(crate) mod prometheus;
pub(crate) mod ready;
pub(crate) mod registry;
pub(crate) mod reload;
pub(crate) mod rewrite;
pub(crate) mod template;
pub(crate) mod whoami;

#[cfg(test)]
mod tests {
    use super::*;
    use crate::dns::{Chain, Flow, MemoRole, Next, Origin, Plugin, Proto, Request};
    use hickory_proto::op::{Message, MessageType, OpCode, Query};
    use hickory_proto::rr::{Name, RecordType};
    use std::sync::Arc;

    /// A plugin with a given memo role that answers (with this many A
    /// records) when it is a source and passes the query on otherwise.
    struct Role(MemoRole, u8);

    impl Plugin for Role {
        fn name(&self) -> &'static str {
            "role"
        }

        fn serve(&self, mut req: Request, next: Next) -> Flow {
            if self.0 != MemoRole::Source {
                return next.serve(req);
            }
            req.memo = Some(crate::dns::MemoTerms::until_data_changes("role"));
            let mut reply = req.reply_skeleton();
            for last in 1..=self.1 {
                let address = hickory_proto::rr::rdata::A::new(192, 0, 2, last);
                reply.add_answer(hickory_proto::rr::Record::from_rdata(
                    req.qname().clone(),
                    30,
                    hickory_proto::rr::RData::A(address),
                ));
            }
            let status = req.write(reply, "role");
            Flow::done(req, status)
        }
    }

    fn request(proto: Proto) -> Request {
        let mut msg = Message::new(1, MessageType::Query, OpCode::Query);
        msg.add_query(Query::query(
            Name::from_ascii("a.b.").unwrap(),
            RecordType::A,
        ));
        let origin = Origin {
            server: Arc::from("dns://:53"),
            block_zones: Arc::from([".".to_string()]),
        };
        let src = "127.0.0.1:5000".parse().unwrap();
        Request::new(msg, "a.b.".into(), 20, src, src, proto, origin)
    }

    fn remembers(roles: &[MemoRole], proto: Proto) -> bool {
        let plugins = roles
            .iter()
            .map(|role| Arc::new(Role(*role, 1)) as Arc<dyn Plugin>)
            .collect();
        remembers_chain(plugins, roles.to_vec(), proto)
    }

    fn remembers_chain(plugins: Vec<Arc<dyn Plugin>>, roles: Vec<MemoRole>, proto: Proto) -> bool {
        let traits = crate::dns::ChainTraits {
            memo_roles: roles,
            ..Default::default()
        };
        let chain = Chain::new(plugins, traits);
        let Flow::Done(exchange) = chain.serve(request(proto)) else {
            panic!("answered inline");
        };
        chain.memo_replays(&exchange).is_some()
    }

    #[test]
    fn only_a_source_behind_transparent_plugins_is_remembered_and_only_over_udp() {
        use MemoRole::{Opaque, Source, Transparent};
        assert!(remembers(&[Transparent, Source], Proto::Udp));
        assert!(remembers(&[Source, Opaque], Proto::Udp));
        assert!(!remembers(&[Source], Proto::Tcp));
        assert!(
            !remembers(&[Opaque, Source], Proto::Udp),
            "e.g. cache first"
        );
        assert!(!remembers(&[Transparent, Opaque, Source], Proto::Udp));
    }

    #[test]
    fn behind_loadbalance_only_a_reply_with_nothing_to_shuffle_is_remembered() {
        let behind = |addresses: u8| {
            let plugins: Vec<Arc<dyn Plugin>> = vec![
                Arc::new(loadbalance::LoadBalance),
                Arc::new(Role(MemoRole::Source, addresses)),
            ];
            let roles = vec![registry::memo_role("loadbalance"), MemoRole::Source];
            remembers_chain(plugins, roles, Proto::Udp)
        };
        assert!(behind(1), "one address: the same reply every time");
        assert!(!behind(2), "two addresses: shuffled on every reply");
    }
}
