//! The `cache` directive, with CoreDNS's defaults and limits.

use std::time::Duration;

use crate::corefile::{CorefileError, Dispenser};
use crate::duration::parse_go_duration;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum StaleMode {
    Immediate,
    Verify,
}

#[derive(Debug, Clone)]
pub(crate) struct Options {
    pub zones: Vec<String>,
    pub success_capacity: usize,
    pub success_ttl: Duration,
    pub success_min_ttl: Duration,
    pub denial_capacity: usize,
    pub denial_ttl: Duration,
    pub denial_min_ttl: Duration,
    pub prefetch: u32,
    pub prefetch_window: Duration,
    pub prefetch_percentage: u32,
    pub serve_stale: Option<(Duration, StaleMode)>,
    pub stale_ttl: u32,
    pub servfail_ttl: Duration,
    pub disable_success: Vec<String>,
    pub disable_denial: Vec<String>,
    pub keepttl: bool,
    /// Beyond CoreDNS: drop entries under kubernetes zones when the watched
    /// data changes (on by default; `watch_invalidation off` turns it off).
    pub watch_invalidation: bool,
}

const DEFAULT_CAPACITY: usize = 10_000;

pub(crate) fn parse(d: &mut Dispenser, block_zones: &[String]) -> Result<Options, CorefileError> {
    d.single(|d| parse_stanza(d, block_zones))
}

fn parse_stanza(d: &mut Dispenser, block_zones: &[String]) -> Result<Options, CorefileError> {
    let mut o = Options {
        zones: block_zones.to_vec(),
        success_capacity: DEFAULT_CAPACITY,
        success_ttl: Duration::from_secs(3600),
        success_min_ttl: Duration::from_secs(5),
        denial_capacity: DEFAULT_CAPACITY,
        denial_ttl: Duration::from_secs(1800),
        denial_min_ttl: Duration::from_secs(5),
        prefetch: 0,
        prefetch_window: Duration::from_secs(60),
        prefetch_percentage: 10,
        serve_stale: None,
        stale_ttl: 0,
        servfail_ttl: Duration::from_secs(5),
        disable_success: Vec::new(),
        disable_denial: Vec::new(),
        keepttl: false,
        watch_invalidation: true,
    };
    let args = d.remaining_args();
    if let Some((first, rest)) = args.split_first() {
        let (ttl_given, zones) = match first.parse::<i64>() {
            Ok(seconds) => {
                if seconds <= 0 {
                    return Err(CorefileError::plain(format!(
                        "cache TTL can not be zero or negative: {seconds}"
                    )));
                }
                o.success_ttl = Duration::from_secs(seconds as u64);
                o.denial_ttl = o.success_ttl;
                (true, rest)
            }
            Err(_) => (false, args.as_slice()),
        };
        let _ = ttl_given;
        if !zones.is_empty() {
            o.zones = zones.iter().map(|z| fqdn_lower(z)).collect();
        }
    }
    while d.next_block() {
        option(d, &mut o)?;
    }
    Ok(o)
}

fn option(d: &mut Dispenser, o: &mut Options) -> Result<(), CorefileError> {
    let property = d.val().to_string();
    let args = d.remaining_args();
    match property.as_str() {
        "success" | "denial" => {
            let (capacity, ttl, min_ttl) = capacity_ttls(d, &args)?;
            let (c, t, m) = if property == "success" {
                (
                    &mut o.success_capacity,
                    &mut o.success_ttl,
                    &mut o.success_min_ttl,
                )
            } else {
                (
                    &mut o.denial_capacity,
                    &mut o.denial_ttl,
                    &mut o.denial_min_ttl,
                )
            };
            *c = capacity;
            if let Some(ttl) = ttl {
                *t = ttl;
            }
            if let Some(min_ttl) = min_ttl {
                *m = min_ttl;
            }
        }
        "prefetch" => prefetch(d, &args, o)?,
        "serve_stale" => serve_stale(d, &args, o)?,
        "servfail" => {
            let [value] = args.as_slice() else {
                return Err(d.arg_err());
            };
            let ttl = parse_go_duration(value).map_err(CorefileError::plain)?;
            if ttl > Duration::from_secs(300) {
                return Err(CorefileError::plain(
                    "caching SERVFAIL responses over 5 minutes is not permitted",
                ));
            }
            o.servfail_ttl = ttl;
        }
        "disable" => {
            let Some((kind, zones)) = args.split_first() else {
                return Err(d.arg_err());
            };
            let zones: Vec<String> = if zones.is_empty() {
                vec![".".into()]
            } else {
                zones.iter().map(|z| fqdn_lower(z)).collect()
            };
            match kind.as_str() {
                "success" => o.disable_success = zones,
                "denial" => o.disable_denial = zones,
                _ => return Err(d.arg_err()),
            }
        }
        "keepttl" => o.keepttl = true,
        "serve_stale_policy" => {}
        "watch_invalidation" => {
            o.watch_invalidation = match args.as_slice() {
                [v] if v == "on" => true,
                [v] if v == "off" => false,
                _ => return Err(d.arg_err()),
            }
        }
        _ => return Err(d.err(format!("unknown property '{property}'"))),
    }
    Ok(())
}

type CapacityTtls = (usize, Option<Duration>, Option<Duration>);

fn capacity_ttls(d: &Dispenser, args: &[String]) -> Result<CapacityTtls, CorefileError> {
    if args.is_empty() || args.len() > 3 {
        return Err(d.arg_err());
    }
    let capacity: usize = args[0].parse().map_err(|_| {
        CorefileError::plain(format!(
            "strconv.Atoi: parsing {:?}: invalid syntax",
            args[0]
        ))
    })?;
    let seconds = |text: &String, what: &str| -> Result<Duration, CorefileError> {
        let value: i64 = text.parse().map_err(|_| {
            CorefileError::plain(format!("strconv.Atoi: parsing {text:?}: invalid syntax"))
        })?;
        if value < 0 {
            return Err(CorefileError::plain(format!(
                "cache {what} can not be negative: {value}"
            )));
        }
        Ok(Duration::from_secs(value as u64))
    };
    let ttl = args.get(1).map(|t| seconds(t, "TTL")).transpose()?;
    if ttl.is_some_and(|t| t.is_zero()) {
        return Err(CorefileError::plain(
            "cache TTL can not be zero or negative: 0",
        ));
    }
    let min_ttl = args.get(2).map(|t| seconds(t, "min TTL")).transpose()?;
    Ok((capacity, ttl, min_ttl))
}

fn prefetch(d: &Dispenser, args: &[String], o: &mut Options) -> Result<(), CorefileError> {
    let Some(amount) = args.first() else {
        return Err(d.arg_err());
    };
    o.prefetch = amount.parse().map_err(|_| d.arg_err())?;
    if o.prefetch == 0 {
        return Err(CorefileError::plain(format!(
            "prefetch amount should be positive: {amount}"
        )));
    }
    if let Some(window) = args.get(1) {
        o.prefetch_window = parse_go_duration(window).map_err(CorefileError::plain)?;
    }
    if let Some(percentage) = args.get(2) {
        let value: u32 = percentage
            .strip_suffix('%')
            .and_then(|p| p.parse().ok())
            .ok_or_else(|| {
                CorefileError::plain(format!(
                    "last character of percentage should be `%`, but is: {percentage}"
                ))
            })?;
        if !(10..=90).contains(&value) {
            return Err(CorefileError::plain(format!(
                "percentage should fall in range [10, 90]: {value}"
            )));
        }
        o.prefetch_percentage = value;
    }
    Ok(())
}

fn serve_stale(d: &Dispenser, args: &[String], o: &mut Options) -> Result<(), CorefileError> {
    let window = match args.first() {
        Some(text) => parse_go_duration(text).map_err(CorefileError::plain)?,
        None => Duration::from_secs(3600),
    };
    let mode = match args.get(1).map(String::as_str) {
        None | Some("immediate") => StaleMode::Immediate,
        Some("verify") => StaleMode::Verify,
        Some(other) => {
            return Err(CorefileError::plain(format!(
                "invalid value for serve_stale refresh mode: {other}"
            )));
        }
    };
    let ttl_index = if mode == StaleMode::Verify { 3 } else { 2 };
    if let Some(ttl) = args.get(ttl_index) {
        o.stale_ttl = ttl.parse().map_err(|_| d.arg_err())?;
    }
    o.serve_stale = Some((window, mode));
    Ok(())
}

fn fqdn_lower(text: &str) -> String {
    let mut name = text.to_ascii_lowercase();
    if !name.ends_with('.') {
        name.push('.');
    }
    name
}

/// CoreDNS's effective capacity: 256 shards of max(capacity/256, 4).
pub(crate) fn effective_capacity(capacity: usize) -> usize {
    (capacity / 256).max(4) * 256
}
