//! header: sets or clears the `aa`, `ra` and `rd` flags of the query before
//! the plugins after it see it, or of the reply they write, as CoreDNS's
//! `header` does (users set `ra` for stub resolvers that insist on it).
//! Rules apply in the order written, so the last one for a flag wins.

use hickory_proto::op::Metadata;

use crate::corefile::{CorefileError, Dispenser};
use crate::dns::{Flow, Next, Plugin, Request};

/// A flag the plugin changes.
#[derive(Clone, Copy, Debug)]
enum Flag {
    Authoritative,
    RecursionAvailable,
    RecursionDesired,
}

#[derive(Clone, Copy, Debug)]
struct Rule {
    flag: Flag,
    state: bool,
}

fn apply(rules: &[Rule], header: &mut Metadata) {
    for rule in rules {
        match rule.flag {
            Flag::Authoritative => header.authoritative = rule.state,
            Flag::RecursionAvailable => header.recursion_available = rule.state,
            Flag::RecursionDesired => header.recursion_desired = rule.state,
        }
    }
}

pub(crate) struct Header {
    query: Vec<Rule>,
    response: Vec<Rule>,
}

/// `header { (query|response) (set|clear) FLAGS... }`, with CoreDNS's texts.
pub(crate) fn setup(d: &mut Dispenser) -> Result<Header, CorefileError> {
    while d.next() {
        let (mut query, mut response) = (Vec::new(), Vec::new());
        while d.next_block() {
            let selector = d.val().to_ascii_lowercase();
            let setting = |msg: String| d.err(format!("setting up rule: {msg}"));
            if selector != "query" && selector != "response" {
                return Err(setting(format!(
                    "invalid selector={selector} should be query or response"
                )));
            }
            let action = if d.next_arg() {
                d.val().to_string()
            } else {
                String::new()
            };
            let args = d.remaining_args();
            let rules =
                rules(&action, &args).map_err(|msg| d.err(format!("setting up rule: {msg}")))?;
            if selector == "response" {
                response.extend(rules);
            } else {
                query.extend(rules);
            }
        }
        if !query.is_empty() || !response.is_empty() {
            return Ok(Header { query, response });
        }
    }
    Err(d.arg_err())
}

fn rules(action: &str, flags: &[String]) -> Result<Vec<Rule>, String> {
    if action.is_empty() {
        return Err("no flag action provided".into());
    }
    if flags.is_empty() {
        return Err("invalid length for flags, at least one should be provided".into());
    }
    let state = match action.to_ascii_lowercase().as_str() {
        "set" => true,
        "clear" => false,
        other => {
            return Err(format!(
                "unknown flag action={other}, should be set or clear"
            ));
        }
    };
    flags
        .iter()
        .map(|flag| {
            let flag = match flag.to_ascii_lowercase().as_str() {
                "aa" => Flag::Authoritative,
                "ra" => Flag::RecursionAvailable,
                "rd" => Flag::RecursionDesired,
                other => return Err(format!("unknown/unsupported flag={other}")),
            };
            Ok(Rule { flag, state })
        })
        .collect()
}

impl Plugin for Header {
    fn name(&self) -> &'static str {
        "header"
    }

    fn serve(&self, mut req: Request, next: Next) -> Flow {
        if !self.query.is_empty() {
            apply(&self.query, &mut req.msg.metadata);
            // Another header: the client's bytes no longer describe it.
            req.raw = None;
        }
        if self.response.is_empty() {
            return next.serve(req);
        }
        let rules = self.response.clone();
        next.serve(req).map(move |mut exchange| {
            if let Some(reply) = exchange.req.reply.as_mut() {
                apply(&rules, &mut reply.msg.metadata);
            }
            exchange
        })
    }
}

#[cfg(test)]
mod tests {
    use crate::plugin::pkg::test;
    use hickory_proto::rr::RecordType::A;

    fn corefile(rules: &str) -> String {
        format!(".:53 {{\n header {{\n{rules}\n }}\n hosts {{\n  10.0.0.1 a.example.org\n }}\n}}\n")
    }

    #[test]
    fn response_flags_are_set_and_cleared_in_order() {
        let plain = test::ask(
            &test::chain(".:53 {\n hosts {\n  10.0.0.1 a.example.org\n }\n}\n"),
            "a.example.org.",
            A,
        );
        assert!(!plain.metadata.recursion_available);
        let chain = test::chain(&corefile("  response set ra aa\n  response clear aa"));
        let reply = test::ask(&chain, "a.example.org.", A);
        assert!(reply.metadata.recursion_available, "ra set");
        assert!(!reply.metadata.authoritative, "aa set, then cleared");
    }

    #[test]
    fn query_rules_change_what_the_next_plugins_see() {
        // hosts copies rd from the query into its reply.
        let chain = test::chain(&corefile("  query clear rd"));
        let reply = test::ask(&chain, "a.example.org.", A);
        assert!(!reply.metadata.recursion_desired);
    }

    #[test]
    fn setup_errors() {
        for (rules, message) in [
            (
                "  request set ra",
                "invalid selector=request should be query or response",
            ),
            (
                "  response toggle ra",
                "unknown flag action=toggle, should be set or clear",
            ),
            ("  response set ad", "unknown/unsupported flag=ad"),
            (
                "  response set",
                "invalid length for flags, at least one should be provided",
            ),
        ] {
            let error = test::setup_error(&corefile(rules));
            assert!(error.contains(message), "{rules}: {error}");
        }
        let empty = test::setup_error(".:53 {\n header\n}\n");
        assert!(empty.contains("Wrong argument count"), "{empty}");
    }
}
