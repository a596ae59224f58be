//! The `forward` directive: FROM, TO…, and the block options, with
//! CoreDNS's defaults and error texts.

use std::net::{IpAddr, SocketAddr};
use std::time::Duration;

use hickory_proto::op::ResponseCode;

use crate::corefile::{CorefileError, Dispenser};
use crate::duration::{format_go_duration, parse_go_duration};

pub(crate) use super::resolve::To;
use super::resolve::{HostEntry, host_entry, resolve};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Policy {
    Random,
    RoundRobin,
    Sequential,
}

#[derive(Debug, Clone)]
pub(crate) struct Options {
    pub from: String,
    pub to: Vec<To>,
    pub except: Vec<String>,
    pub force_tcp: bool,
    pub prefer_udp: bool,
    pub expire: Duration,
    pub max_fails: u32,
    pub policy: Policy,
    pub health_check: Duration,
    pub health_check_recursion: bool,
    pub health_check_domain: String,
    pub max_concurrent: usize,
    pub next: Vec<ResponseCode>,
    pub failover: Vec<ResponseCode>,
    pub failfast_all_unhealthy: bool,
    pub max_connect_attempts: Option<u32>,
    pub read_timeout: Duration,
    pub max_idle_conns: usize,
    /// The `tls` option's arguments: `[CERT KEY] [CA]`.
    pub tls: Vec<String>,
    pub tls_servername: Option<String>,
    /// A pooled connection older than this is not used again (0: no limit).
    pub max_age: Duration,
    /// The local address every upstream socket is bound to.
    pub source_address: Option<IpAddr>,
    /// A NOERROR reply without answers goes to the next plugin when that is
    /// another forward.
    pub next_on_nodata: bool,
    /// Where hostname TOs are looked up (empty: the system resolver).
    pub resolver: Vec<SocketAddr>,
}

const MAX_TO: usize = 15;

/// How many queries may wait on the upstreams at once when the Corefile
/// says nothing (`max_concurrent 0` lifts the ceiling, as CoreDNS has none).
///
/// Why 2 000: a pending exchange costs about 3.7 KB whatever the client's
/// EDNS size (measured: +14.7 MiB for 4 000 at a silent upstream), so the
/// ceiling keeps a silent upstream from taking more than ~7.5 MiB, well
/// inside the 170 MiB limit of `deploy/`. A healthy upstream needs far
/// fewer: 2 000 in flight at a 20 ms round trip is 100 000 forwarded
/// queries a second, more than one replica serves.
pub(crate) const DEFAULT_MAX_CONCURRENT: usize = 2_000;

/// Parses one `forward` occurrence (the dispenser is on the directive).
pub(crate) fn parse(d: &mut Dispenser, block_zones: &[String]) -> Result<Options, CorefileError> {
    let args = d.remaining_args();
    let Some((from, to)) = args.split_first() else {
        return Err(d.arg_err());
    };
    if to.is_empty() {
        return Err(d.arg_err());
    }
    let from = normalize_from(from, block_zones)?;
    let mut o = Options {
        from,
        to: Vec::new(),
        except: Vec::new(),
        force_tcp: false,
        prefer_udp: false,
        expire: Duration::from_secs(10),
        max_fails: 2,
        policy: Policy::Random,
        health_check: Duration::from_millis(500),
        health_check_recursion: true,
        health_check_domain: ".".into(),
        max_concurrent: DEFAULT_MAX_CONCURRENT,
        next: Vec::new(),
        failover: Vec::new(),
        failfast_all_unhealthy: false,
        max_connect_attempts: None,
        read_timeout: Duration::from_secs(2),
        max_idle_conns: 0,
        tls: Vec::new(),
        tls_servername: None,
        max_age: Duration::ZERO,
        source_address: None,
        next_on_nodata: false,
        resolver: Vec::new(),
    };
    while d.next_block() {
        block_option(d, &mut o)?;
    }
    if !o.max_age.is_zero() && o.max_age < o.expire {
        return Err(CorefileError::plain(format!(
            "max_age ({}) must not be less than expire ({})",
            format_go_duration(o.max_age),
            format_go_duration(o.expire)
        )));
    }
    // As in CoreDNS, TOs come after the block, which may name resolvers.
    let targets = to
        .iter()
        .map(|entry| target(entry))
        .collect::<Result<Vec<_>, _>>()?;
    o.to = expand(&targets, &o.resolver)?;
    let configured = targets.iter().filter(|t| !t.is_empty()).count();
    if configured > MAX_TO {
        return Err(CorefileError::plain(format!(
            "more than {MAX_TO} TOs configured: {configured}"
        )));
    }
    if o.to.is_empty() {
        return Err(CorefileError::plain("no valid upstream addresses found"));
    }
    if let (Some(forward_level), Some(to)) = (
        &o.tls_servername,
        o.to.iter().find(|to| to.server_name.is_some()),
    ) {
        return Err(CorefileError::plain(format!(
            "both forward ('{forward_level}') and proxy level ('{}') TLS servernames are set for upstream proxy 'tls://{}'",
            to.server_name.as_deref().unwrap_or_default(),
            to.address
        )));
    }
    Ok(o)
}

fn block_option(d: &mut Dispenser, o: &mut Options) -> Result<(), CorefileError> {
    let property = d.val().to_string();
    let args = d.remaining_args();
    let one = |d: &Dispenser| -> Result<String, CorefileError> {
        match args.as_slice() {
            [value] => Ok(value.clone()),
            _ => Err(d.arg_err()),
        }
    };
    match property.as_str() {
        "except" => {
            if args.is_empty() {
                return Err(d.arg_err());
            }
            o.except = args.iter().map(|a| fqdn_lower(a)).collect();
        }
        "force_tcp" => o.force_tcp = true,
        "prefer_udp" => o.prefer_udp = true,
        "expire" => o.expire = non_negative_duration(&one(d)?, "expire")?,
        "max_age" => o.max_age = non_negative_duration(&one(d)?, "max_age")?,
        "source_address" => o.source_address = Some(source_address(d, &one(d)?)?),
        "next_on_nodata" => {
            if !args.is_empty() {
                return Err(d.arg_err());
            }
            o.next_on_nodata = true;
        }
        "max_fails" => o.max_fails = number(&one(d)?)?,
        "max_connect_attempts" => o.max_connect_attempts = Some(number(&one(d)?)?),
        "health_check" => health_check(d, &args, o)?,
        "policy" => {
            o.policy = match one(d)?.as_str() {
                "random" => Policy::Random,
                "round_robin" => Policy::RoundRobin,
                "sequential" => Policy::Sequential,
                other => return Err(d.err(format!("unknown policy '{other}'"))),
            }
        }
        "max_concurrent" => o.max_concurrent = number(&one(d)?)?,
        "next" => o.next = rcodes(d, &args)?,
        "failover" => {
            o.failover = rcodes(d, &args)?;
            if o.failover.contains(&ResponseCode::NoError) {
                return Err(CorefileError::plain("NoError cannot be used in failover"));
            }
        }
        "failfast_all_unhealthy_upstreams" => o.failfast_all_unhealthy = true,
        "read_timeout" => o.read_timeout = duration(&one(d)?, "read_timeout")?,
        "max_idle_conns" => o.max_idle_conns = number(&one(d)?)?,
        "tls" => {
            if args.len() > 3 {
                return Err(d.arg_err());
            }
            o.tls = args.clone();
        }
        "tls_servername" => o.tls_servername = Some(one(d)?),
        "resolver" => o.resolver = resolvers(d, &args)?,
        "doh_method" => {}
        _ => return Err(d.err(format!("unknown property '{property}'"))),
    }
    Ok(())
}

fn health_check(d: &Dispenser, args: &[String], o: &mut Options) -> Result<(), CorefileError> {
    let Some((interval, rest)) = args.split_first() else {
        return Err(d.arg_err());
    };
    o.health_check = duration(interval, "health_check")?;
    let mut rest = rest.iter();
    while let Some(option) = rest.next() {
        match option.as_str() {
            "no_rec" => o.health_check_recursion = false,
            "domain" => {
                let domain = rest.next().ok_or_else(|| d.arg_err())?;
                o.health_check_domain = fqdn_lower(domain);
            }
            other => {
                return Err(CorefileError::plain(format!(
                    "health_check: unknown option {other}"
                )));
            }
        }
    }
    Ok(())
}

fn duration(text: &str, what: &str) -> Result<Duration, CorefileError> {
    parse_go_duration(text).map_err(|e| CorefileError::plain(format!("{what}: {e}")))
}

/// A duration that may be written negative (Go parses `-1s`), which
/// CoreDNS then refuses by name.
fn non_negative_duration(text: &str, what: &str) -> Result<Duration, CorefileError> {
    let Some(magnitude) = text.strip_prefix('-') else {
        return duration(text, what);
    };
    let value = duration(magnitude, what)?;
    if value.is_zero() {
        return Ok(value);
    }
    Err(CorefileError::plain(format!(
        "{what} can't be negative: -{}",
        format_go_duration(value)
    )))
}

/// Go's `net.ParseIP`: an IPv4-mapped IPv6 address is the IPv4 address.
fn source_address(d: &Dispenser, text: &str) -> Result<IpAddr, CorefileError> {
    match text.parse::<IpAddr>() {
        Ok(IpAddr::V6(v6)) => Ok(v6
            .to_ipv4_mapped()
            .map(IpAddr::V4)
            .unwrap_or(IpAddr::V6(v6))),
        Ok(ip) => Ok(ip),
        Err(_) => Err(d.err(format!("invalid IP address: {text}"))),
    }
}

fn number<T: std::str::FromStr>(text: &str) -> Result<T, CorefileError> {
    text.parse().map_err(|_| {
        CorefileError::plain(format!("strconv.Atoi: parsing {text:?}: invalid syntax"))
    })
}

fn rcodes(d: &Dispenser, args: &[String]) -> Result<Vec<ResponseCode>, CorefileError> {
    if args.is_empty() {
        return Err(d.arg_err());
    }
    args.iter()
        .map(|text| {
            (0u8..=15)
                .map(ResponseCode::from_low)
                .find(|code| crate::metrics::rcode_label(*code).eq_ignore_ascii_case(text))
                .ok_or_else(|| CorefileError::plain(format!("{text} is not a valid rcode")))
        })
        .collect()
}

fn fqdn_lower(text: &str) -> String {
    let mut name = text.to_ascii_lowercase();
    if !name.ends_with('.') {
        name.push('.');
    }
    name
}

fn normalize_from(from: &str, block_zones: &[String]) -> Result<String, CorefileError> {
    let _ = block_zones;
    let addresses = crate::corefile::parse_address(from, 53)
        .map_err(|_| CorefileError::plain(format!("unable to normalize '{from}'")))?;
    Ok(addresses[0].zone.clone())
}

/// What one TO names before any lookup.
#[derive(Debug)]
pub(crate) enum Target {
    /// Addresses, or a resolv.conf file's nameservers (maybe none).
    Static(Vec<To>),
    /// A hostname, looked up at setup.
    Host(HostEntry),
}

impl Target {
    /// A resolv.conf without nameservers counts for nothing, as in CoreDNS.
    fn is_empty(&self) -> bool {
        matches!(self, Target::Static(tos) if tos.is_empty())
    }
}

/// Reads one TO: an address or file, else a hostname.
pub(crate) fn target(entry: &str) -> Result<Target, CorefileError> {
    match upstreams(entry) {
        Ok(tos) => Ok(Target::Static(tos)),
        Err(error) => match (host_entry(entry), error) {
            (Some(host), _) => Ok(Target::Host(host)),
            (None, NotStatic::Unsupported(error)) => Err(error),
            (None, NotStatic::NeitherAddressNorFile) => Err(CorefileError::plain(format!(
                "not an IP address, file, or valid domain: {entry:?}"
            ))),
        },
    }
}

/// Every target's upstreams in order, hostnames looked up, each address once.
fn expand(targets: &[Target], resolvers: &[SocketAddr]) -> Result<Vec<To>, CorefileError> {
    let mut all: Vec<To> = Vec::new();
    for target in targets {
        let found = match target {
            Target::Static(tos) => tos.clone(),
            Target::Host(host) => resolve(host, resolvers)?,
        };
        for to in found {
            if !all.iter().any(|seen| seen.address == to.address) {
                all.push(to);
            }
        }
    }
    Ok(all)
}

/// `resolver IP[:PORT]...`: bare addresses on port 53.
fn resolvers(d: &Dispenser, args: &[String]) -> Result<Vec<SocketAddr>, CorefileError> {
    if args.is_empty() {
        return Err(d.arg_err());
    }
    args.iter()
        .map(|arg| {
            arg.parse::<SocketAddr>()
                .ok()
                .or_else(|| Some(SocketAddr::new(arg.parse().ok()?, 53)))
                .ok_or_else(|| {
                    CorefileError::plain(format!(
                        "resolver must be an IP address or IP:port: {arg:?}"
                    ))
                })
        })
        .collect()
}

/// Why a TO is not an address or file.
#[derive(Debug)]
pub(crate) enum NotStatic {
    /// Neither: it may still be a hostname.
    NeitherAddressNorFile,
    /// A scheme or form that is an error whatever follows.
    Unsupported(CorefileError),
}

/// One TO: `IP`, `IP:PORT`, `[v6]:PORT`, `dns://…`, `tls://IP[%NAME][:PORT]`,
/// or a resolv.conf file.
pub(crate) fn upstreams(entry: &str) -> Result<Vec<To>, NotStatic> {
    let unsupported = |text: String| Err(NotStatic::Unsupported(CorefileError::plain(text)));
    let (scheme, rest) = match entry.split_once("://") {
        Some((scheme, rest)) if SCHEMES.contains(&scheme) => (scheme, rest),
        _ => ("dns", entry),
    };
    if rest.is_empty() {
        return unsupported(format!("invalid address: {entry:?}"));
    }
    match scheme {
        "dns" => dns_upstreams(rest),
        "tls" => tls_upstream(rest).map(|to| vec![to]),
        "https" if rest.contains('/') => unsupported(format!(
            "paths are not allowed in HTTPS upstream addresses (the /dns-query path is used by default): {entry}"
        )),
        "unix" => unsupported(not_supported(scheme, rest)),
        _ => {
            let port = if scheme == "quic" { 853 } else { 443 };
            let address = socket_address(rest, port).ok_or(NotStatic::NeitherAddressNorFile)?;
            unsupported(not_supported(scheme, &address.to_string()))
        }
    }
}

/// The schemes CoreDNS reads off a TO; only `dns` and `tls` are served here.
const SCHEMES: [&str; 6] = ["dns", "tls", "https", "quic", "grpc", "unix"];

/// CoreDNS's error for a scheme it knows but forward does not serve.
fn not_supported(scheme: &str, host: &str) -> String {
    format!("'{scheme}' is not supported as a destination protocol in forward: {scheme}://{host}")
}

/// A plain DNS TO: an address (port 53 unless given) or a resolv.conf file.
fn dns_upstreams(text: &str) -> Result<Vec<To>, NotStatic> {
    let plain = |address| To {
        address,
        tls: false,
        server_name: None,
    };
    if let Some(address) = socket_address(text, 53) {
        return Ok(vec![plain(address)]);
    }
    if std::path::Path::new(text).is_file() {
        let servers = resolv_conf(text).map_err(NotStatic::Unsupported)?;
        return Ok(servers.into_iter().map(plain).collect());
    }
    Err(NotStatic::NeitherAddressNorFile)
}

fn socket_address(text: &str, default_port: u16) -> Option<SocketAddr> {
    if let Ok(address) = text.parse::<SocketAddr>() {
        return Some(address);
    }
    let ip: IpAddr = text
        .trim_start_matches('[')
        .trim_end_matches(']')
        .split('%')
        .next()?
        .parse()
        .ok()?;
    Some(SocketAddr::new(ip, default_port))
}

/// `IP[%NAME][:PORT]` or `[IPv6%NAME]:PORT` after `tls://`; port 853 unless given.
fn tls_upstream(rest: &str) -> Result<To, NotStatic> {
    let (host, server_name) = match rest.rsplit_once('%') {
        None => (rest.to_string(), None),
        Some((host, tail)) => {
            let (name, port) = match tail.split_once("]:").or_else(|| tail.split_once(':')) {
                Some((name, port)) => (name.trim_end_matches(']'), Some(port)),
                None => (tail.trim_end_matches(']'), None),
            };
            let host = match (host.starts_with('['), port) {
                (true, Some(port)) => format!("{host}]:{port}"),
                (true, None) => format!("{host}]"),
                (false, Some(port)) => format!("{host}:{port}"),
                (false, None) => host.to_string(),
            };
            (host, Some(name.to_string()).filter(|n| !n.is_empty()))
        }
    };
    let address = socket_address(&host, 853).ok_or(NotStatic::NeitherAddressNorFile)?;
    Ok(To {
        address,
        tls: true,
        server_name,
    })
}

/// The `nameserver` lines of a resolv.conf file, on port 53.
fn resolv_conf(path: &str) -> Result<Vec<SocketAddr>, CorefileError> {
    let data = std::fs::read(path)
        .map_err(|e| CorefileError::plain(format!("not an IP address or file: {path:?}: {e}")))?;
    let (config, _) = hickory_resolver::system_conf::parse_resolv_conf(data)
        .map_err(|e| CorefileError::plain(format!("{path}: {e}")))?;
    Ok(config
        .name_servers()
        .iter()
        .map(|server| SocketAddr::new(server.ip, 53))
        .collect())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn tls(address: &str, name: Option<&str>) -> To {
        To {
            address: address.parse().unwrap(),
            tls: true,
            server_name: name.map(str::to_string),
        }
    }

    #[test]
    fn tls_upstreams_take_a_name_and_a_port_853_by_default() {
        let one = |entry: &str| upstreams(entry).unwrap().remove(0);
        assert_eq!(one("tls://9.9.9.9"), tls("9.9.9.9:853", None));
        assert_eq!(one("tls://127.0.0.1:8853"), tls("127.0.0.1:8853", None));
        assert_eq!(
            one("tls://1.1.1.1%cloudflare-dns.com"),
            tls("1.1.1.1:853", Some("cloudflare-dns.com"))
        );
        assert_eq!(
            one("tls://127.0.0.1%dns.test:8853"),
            tls("127.0.0.1:8853", Some("dns.test"))
        );
        assert_eq!(
            one("tls://[::1%dns.test]:8853"),
            tls("[::1]:8853", Some("dns.test"))
        );
        assert_eq!(one("tls://[::1]"), tls("[::1]:853", None));
        assert!(!one("dns://127.0.0.1").tls);
        assert!(matches!(
            upstreams("tls://not-an-ip"),
            Err(NotStatic::NeitherAddressNorFile)
        ));
        assert!(matches!(
            target("tls://not..an-ip"),
            Err(e) if e.to_string().contains("valid domain")
        ));
        assert!(matches!(
            target("tls://dns.example"),
            Ok(Target::Host(host)) if host.tls && host.port == 853
        ));
    }
}
