//! The plugin order, fixed in this one place, and each directive's setup.
//!
//! The order is CoreDNS v1.14.7's `plugin.cfg` (which moved `rewrite`,
//! `autopath` and `acl` above `cache`), restricted to the plugins this
//! server has. The order of directives in a Corefile never matters.

use std::net::IpAddr;
use std::sync::Arc;

use crate::corefile::{CorefileError, Dispenser, ServerBlock};
use crate::dns::{ChainTraits, DataEpoch, MemoRole, Plugin};

/// Every directive this server understands, in chain order. Directives that
/// are not in the query path (bind, reload, ready, health) are listed where
/// CoreDNS lists them.
pub const ORDER: &[&str] = &[
    "bind",
    "reload",
    "nsid",
    "bufsize",
    "ready",
    "health",
    "prometheus",
    "errors",
    "log",
    "local",
    "any",
    "chaos",
    "loadbalance",
    "rewrite",
    "autopath",
    "acl",
    "cache",
    "header",
    "minimal",
    "template",
    "hosts",
    "k8s_external",
    "kubernetes",
    "loop",
    "forward",
    "whoami",
];

/// Where `name` sits in [`ORDER`].
fn order_of(name: &str) -> usize {
    ORDER.iter().position(|n| *n == name).unwrap_or(usize::MAX)
}

/// Directives only debug builds have: `crash`, for the panic tests.
#[cfg(debug_assertions)]
const TEST_ONLY: &[&str] = &["crash"];
#[cfg(not(debug_assertions))]
const TEST_ONLY: &[&str] = &[];

/// Whether `name` is a directive this binary has.
pub fn is_known(name: &str) -> bool {
    ORDER.contains(&name) || TEST_ONLY.contains(&name)
}

/// Every value the `plugin` label of `coredns_dns_responses_total` can take.
pub(crate) fn plugin_label_values() -> Arc<[&'static str]> {
    let mut names: Vec<&'static str> = vec![""];
    names.extend(ORDER.iter().copied());
    names.into()
}

/// What one block's setup produced beyond its chain.
#[derive(Default)]
pub(crate) struct BlockExtras {
    pub bind: Vec<IpAddr>,
    pub health: Option<super::health::HealthConfig>,
    pub ready: Option<super::ready::ReadyConfig>,
    pub metrics: Option<std::net::SocketAddr>,
    /// The reload period, when the block has `reload`.
    pub reload: Option<std::time::Duration>,
}

/// What the setup of one block needs to know about where it is served.
pub(crate) struct BlockContext<'a> {
    pub block: &'a ServerBlock,
    /// The block's zones (lower-case FQDNs), in key order.
    pub zones: &'a [String],
    /// The `server` labels of the listeners this block is served on.
    pub servers: &'a [Arc<str>],
    /// The port of the block's first key.
    pub first_port: u16,
    /// What the block's data sources bump on every publish.
    pub epoch: &'a DataEpoch,
}

/// The plugins of one block in chain order, plus the non-chain settings.
pub(crate) struct BlockPlugins {
    pub chain: Vec<Arc<dyn Plugin>>,
    /// What the chain needs to know of its plugins.
    pub traits: ChainTraits,
    pub extras: BlockExtras,
}

/// Reads the `bind` directive of a block (needed before the server labels
/// are known).
pub(crate) fn bind_addresses(block: &ServerBlock) -> Result<Vec<IpAddr>, CorefileError> {
    let Some(tokens) = block.tokens("bind") else {
        return Ok(Vec::new());
    };
    let mut d = Dispenser::new(tokens);
    let mut addresses = Vec::new();
    while d.next() {
        let args = d.remaining_args();
        if args.is_empty() {
            return Err(d.arg_err().in_plugin("bind"));
        }
        for arg in args {
            let ip: IpAddr = arg.parse().map_err(|_| {
                CorefileError::plain(format!("not a valid IP address or interface name: {arg:?}"))
                    .in_plugin("bind")
            })?;
            addresses.push(ip);
        }
    }
    Ok(addresses)
}

/// Runs every directive's setup for one block, in the fixed order.
pub(crate) fn setup_block(ctx: &BlockContext<'_>) -> Result<BlockPlugins, CorefileError> {
    let mut chain: Vec<Arc<dyn Plugin>> = Vec::new();
    let cluster: super::pkg::cluster::ClusterLink = Default::default();
    let mut autopath: Option<Arc<super::autopath::AutoPath>> = None;
    let mut external: Option<Arc<super::k8s_external::External>> = None;
    let mut pods_verified = false;
    let mut other_classes = false;
    let mut extras = BlockExtras {
        bind: bind_addresses(ctx.block)?,
        ..Default::default()
    };
    for name in ORDER {
        let Some(tokens) = ctx.block.tokens(name) else {
            continue;
        };
        let mut d = Dispenser::new(tokens);
        let wrap = |e: CorefileError| e.in_plugin(name);
        match *name {
            "bind" => {}
            "reload" => extras.reload = Some(super::reload::setup(&mut d).map_err(wrap)?),
            "ready" => extras.ready = Some(super::ready::setup(&mut d).map_err(wrap)?),
            "health" => extras.health = Some(super::health::setup(&mut d).map_err(wrap)?),
            "prometheus" => extras.metrics = Some(super::prometheus::setup(&mut d).map_err(wrap)?),
            "errors" => chain.push(Arc::new(super::errors::setup(&mut d).map_err(wrap)?)),
            "log" => chain.push(Arc::new(super::log::setup(&mut d).map_err(wrap)?)),
            "kubernetes" => {
                let local_ips = if extras.bind.is_empty() {
                    crate::net::interfaces::addresses()
                } else {
                    Vec::new()
                };
                let plugin = super::kubernetes::setup(&mut d, ctx.zones, local_ips, ctx.epoch)
                    .map_err(wrap)?;
                let _ = cluster.set(plugin.cluster());
                pods_verified = plugin.pods_verified();
                chain.push(Arc::new(plugin));
            }
            "loadbalance" => chain.push(Arc::new(super::loadbalance::setup(&mut d).map_err(wrap)?)),
            "loop" => {
                let zone = ctx.zones.first().map(String::as_str).unwrap_or(".");
                let plugin = super::loop_detect::setup(
                    &mut d,
                    zone,
                    ctx.first_port,
                    extras.bind.first().copied(),
                );
                chain.push(Arc::new(plugin.map_err(wrap)?));
            }
            "autopath" => {
                let plugin =
                    super::autopath::setup(&mut d, ctx.zones, ctx.servers, cluster.clone())
                        .map_err(wrap)?;
                let plugin = Arc::new(plugin);
                autopath = Some(plugin.clone());
                chain.push(plugin);
            }
            "cache" => {
                let plugin = super::cache::setup(&mut d, ctx.zones, ctx.servers, cluster.clone())
                    .map_err(wrap)?;
                chain.push(Arc::new(plugin));
            }
            "forward" => {
                // Each occurrence is its own instance, chained in file order.
                let occurrences = tokens.iter().filter(|t| t.text == "forward").count();
                for n in 0..occurrences {
                    d.next();
                    let next_is_forward = n + 1 < occurrences;
                    chain.push(Arc::new(
                        super::forward::setup(&mut d, ctx.zones, next_is_forward).map_err(wrap)?,
                    ));
                }
            }
            "hosts" => chain.push(Arc::new(
                super::hosts::setup(&mut d, ctx.zones, ctx.epoch).map_err(wrap)?,
            )),
            "bufsize" => chain.push(Arc::new(super::bufsize::setup(&mut d).map_err(wrap)?)),
            "nsid" => chain.push(Arc::new(super::nsid::setup(&mut d).map_err(wrap)?)),
            "header" => chain.push(Arc::new(super::header::setup(&mut d).map_err(wrap)?)),
            "local" => chain.push(Arc::new(super::local::setup(&mut d).map_err(wrap)?)),
            "acl" => chain.push(Arc::new(
                super::acl::setup(&mut d, ctx.zones, ctx.servers).map_err(wrap)?,
            )),
            "any" => chain.push(Arc::new(super::any::setup(&mut d).map_err(wrap)?)),
            "minimal" => chain.push(Arc::new(super::minimal::setup(&mut d).map_err(wrap)?)),
            "rewrite" => chain.push(Arc::new(super::rewrite::Rewrite::new(
                super::rewrite::setup(&mut d).map_err(wrap)?,
            ))),
            "chaos" => chain.push(Arc::new(super::chaos::setup(&mut d).map_err(wrap)?)),
            "k8s_external" => {
                let plugin =
                    super::k8s_external::setup(&mut d, ctx.zones, cluster.clone()).map_err(wrap)?;
                let plugin = Arc::new(plugin);
                external = Some(plugin.clone());
                chain.push(plugin);
            }
            "template" => {
                let plugin = super::template::setup(&mut d, ctx.zones).map_err(wrap)?;
                other_classes |= plugin.takes_other_classes();
                chain.push(Arc::new(plugin));
            }
            "whoami" => chain.push(Arc::new(super::whoami::setup(&mut d).map_err(wrap)?)),
            other => unreachable!("directive {other} in ORDER has no setup"),
        }
    }
    #[cfg(debug_assertions)]
    if ctx.block.tokens("crash").is_some() {
        // First, so it panics before any other plugin answers.
        chain.insert(0, Arc::new(super::crash::Crash));
    }
    if let Some(external) = &external {
        external
            .check_kubernetes()
            .map_err(|e| e.in_plugin("k8s_external"))?;
    }
    if let Some(autopath) = &autopath {
        autopath.check_kubernetes(pods_verified);
    }
    if extras.metrics.is_some() {
        // prometheus goes at its place in ORDER (only bufsize is before
        // it); CoreDNS 1.14.7 labels every written reply with the plugin
        // right after it (see its README).
        let at = chain
            .iter()
            .position(|p| order_of(p.name()) > order_of("prometheus"))
            .unwrap_or(chain.len());
        let writer_label = chain.get(at).map(|p| p.name()).unwrap_or("");
        let metrics = super::prometheus::Prometheus::new(
            ctx.servers,
            ctx.zones,
            plugin_label_values(),
            writer_label,
        );
        chain.insert(at, Arc::new(metrics));
    }
    let traits = ChainTraits {
        first_forward: chain.iter().position(|p| p.name() == "forward"),
        any_class: other_classes
            || chain
                .iter()
                .any(|p| matches!(p.name(), "forward" | "chaos")),
        memo_roles: chain.iter().map(|p| memo_role(p.name())).collect(),
        passes_undecoded: chain.iter().map(|p| passes_undecoded(p.name())).collect(),
    };
    Ok(BlockPlugins {
        chain,
        traits,
        extras,
    })
}

/// How each directive stands to remembered replies (see `MemoRole`).
/// A directive not listed is `Opaque`: the memo stops at it.
pub(crate) fn memo_role(directive: &str) -> MemoRole {
    match directive {
        // They answer from their published data and the clock only, and
        // mark such replies with memo terms.
        "kubernetes" | "cache" => MemoRole::Source,
        // They record every query, and replay that record for a reply sent
        // from memory.
        "log" | "prometheus" => MemoRole::Observer,
        // Nothing per query once the reply is made: bufsize and any act on
        // the query bytes (part of the memo key), errors only on an error
        // (never remembered), hosts and template answer or pass on as a
        // function of the query and their data epoch, and loadbalance is
        // asked per reply (`memo_allows`: nothing to shuffle).
        "bufsize" | "any" | "errors" | "hosts" | "template" | "loadbalance" => {
            MemoRole::Transparent
        }
        _ => MemoRole::Opaque,
    }
}

/// Whether a directive, in front of `forward`, reads no more of a reply
/// than its rcode and size, so forward may pass upstream bytes on
/// undecoded. Every directive not listed (among them loadbalance, which
/// reorders records, and cache, which stores them) takes the decoded reply.
fn passes_undecoded(directive: &str) -> bool {
    matches!(
        directive,
        "bufsize"
            | "prometheus"
            | "errors"
            | "any"
            | "loop"
            | "hosts"
            | "template"
            | "kubernetes"
            | "forward"
    )
}

/// The plugins one `/ready` endpoint reports on.
#[derive(Clone, Default)]
pub struct ReadySet {
    pub plugins: Vec<(String, Arc<dyn Plugin>)>,
    pub continuously: bool,
}

/// The ready set of one block: its plugins that report readiness.
pub(crate) fn ready_plugins(chain: &[Arc<dyn Plugin>]) -> ReadySet {
    let plugins = chain
        .iter()
        .filter(|p| p.ready().is_some())
        .map(|p| (p.name().to_string(), p.clone()))
        .collect();
    ReadySet {
        plugins,
        continuously: false,
    }
}

#[cfg(test)]
mod tests {
    use crate::plugin::pkg::test::chain;

    #[test]
    fn forward_relays_bytes_only_behind_plugins_that_read_rcode_and_size() {
        let behind = |plugins: &str| {
            chain(&format!(
                ".:53 {{\n{plugins} forward . 127.0.0.1:5300\n}}\n"
            ))
            .relays_undecoded()
        };
        assert!(behind(""));
        assert!(behind(
            " errors\n prometheus 127.0.0.1:9153\n bufsize 1232\n loop\n"
        ));
        assert!(!behind(" cache 30\n"), "cache stores records");
        assert!(!behind(" loadbalance\n"), "loadbalance reorders them");
        assert!(!behind(" log\n"));
        assert!(
            !chain(".:53 {\n whoami\n}\n").relays_undecoded(),
            "no forward"
        );
    }
}
