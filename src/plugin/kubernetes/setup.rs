//! The `kubernetes` directive's options, with CoreDNS's error texts.

use std::time::Duration;

use super::lookup::PodMode;
use super::parse::is_reverse;
use crate::corefile::{CorefileError, Dispenser};
use crate::kubernetes::client::Connection;
use crate::plugin::pkg::zones::zones_from_args;

#[derive(Debug, Clone)]
pub(crate) struct Options {
    pub zones: Vec<String>,
    pub connection: Connection,
    pub pods: PodMode,
    pub endpoint_pod_names: bool,
    pub namespaces: Vec<String>,
    pub namespace_labels: Option<String>,
    pub labels: Option<String>,
    pub ttl: u32,
    pub noendpoints: bool,
    /// None: no fallthrough; Some(zones): fall through for these ("." = all).
    pub fallthrough: Option<Vec<String>>,
    pub ignore_empty_service: bool,
    pub startup_timeout: Duration,
}

/// Parses the directive. `block_zones` are the server block's zones.
pub(crate) fn parse(d: &mut Dispenser, block_zones: &[String]) -> Result<Options, CorefileError> {
    d.single(|d| parse_stanza(d, block_zones))
}

fn parse_stanza(d: &mut Dispenser, block_zones: &[String]) -> Result<Options, CorefileError> {
    let zones = zones_from_args(d.remaining_args(), block_zones)?;
    if zones.iter().all(|z| is_reverse(z)) {
        return Err(CorefileError::plain("non-reverse zone name must be used"));
    }
    let mut o = Options {
        zones,
        connection: Connection::InCluster,
        pods: PodMode::Disabled,
        endpoint_pod_names: false,
        namespaces: Vec::new(),
        namespace_labels: None,
        labels: None,
        ttl: 5,
        noendpoints: false,
        fallthrough: None,
        ignore_empty_service: false,
        startup_timeout: Duration::from_secs(5),
    };
    let mut endpoint: Option<String> = None;
    let mut tls = None;
    while d.next_block() {
        let property = d.val().to_string();
        let args = d.remaining_args();
        match property.as_str() {
            "endpoint_pod_names" => {
                no_args(d, &args)?;
                o.endpoint_pod_names = true;
            }
            "pods" => o.pods = pod_mode(d, &args)?,
            "namespaces" => {
                if args.is_empty() {
                    return Err(d.arg_err());
                }
                o.namespaces = args;
            }
            "endpoint" => {
                let first = args.first().ok_or_else(|| d.arg_err())?;
                if args.len() > 1 {
                    crate::logging::warning(
                        "kubernetes",
                        "multiple endpoints have been deprecated, only the first specified endpoint will be used",
                    );
                }
                endpoint = Some(first.clone());
            }
            "tls" => match args.as_slice() {
                [cert, key, ca] => tls = Some((cert.clone(), key.clone(), ca.clone())),
                _ => return Err(d.arg_err()),
            },
            "labels" => o.labels = Some(one_arg(d, &args)?),
            "namespace_labels" => o.namespace_labels = Some(one_arg(d, &args)?),
            "fallthrough" => o.fallthrough = Some(zones_from_args(args, &[".".to_string()])?),
            "ttl" => o.ttl = ttl(d, &args)?,
            "noendpoints" => {
                no_args(d, &args)?;
                o.noendpoints = true;
            }
            "ignore" => match args.first().map(String::as_str) {
                None => {}
                Some("empty_service") => o.ignore_empty_service = true,
                Some(other) => {
                    return Err(CorefileError::plain(format!(
                        "unable to parse ignore value: '{other}'"
                    )));
                }
            },
            "kubeconfig" => match args.as_slice() {
                [path] => {
                    o.connection = Connection::Kubeconfig {
                        path: path.into(),
                        context: None,
                    }
                }
                [path, context] => {
                    o.connection = Connection::Kubeconfig {
                        path: path.into(),
                        context: Some(context.clone()),
                    }
                }
                _ => return Err(d.arg_err()),
            },
            "snapshot" => o.connection = Connection::Snapshot(one_arg(d, &args)?.into()),
            "startup_timeout" => {
                let text = args.first().ok_or_else(|| d.arg_err())?;
                o.startup_timeout = crate::duration::parse_go_duration(text).map_err(|e| {
                    CorefileError::plain(format!("failed to parse startup_timeout: {text}, {e}"))
                })?;
            }
            "apiserver_qps" | "apiserver_burst" | "apiserver_max_inflight" => {
                non_negative(d, &property, &args)?
            }
            _ => return Err(d.err(format!("unknown property '{property}'"))),
        }
    }
    if !o.namespaces.is_empty() && o.namespace_labels.is_some() {
        return Err(d.err("namespaces and namespace_labels cannot both be set"));
    }
    if let (Some(url), Connection::InCluster) = (endpoint, &o.connection) {
        o.connection = Connection::Endpoint { url, tls };
    }
    Ok(o)
}

fn no_args(d: &Dispenser, args: &[String]) -> Result<(), CorefileError> {
    if args.is_empty() {
        Ok(())
    } else {
        Err(d.arg_err())
    }
}

fn one_arg(d: &Dispenser, args: &[String]) -> Result<String, CorefileError> {
    match args {
        [value] => Ok(value.clone()),
        _ => Err(d.arg_err()),
    }
}

fn pod_mode(d: &Dispenser, args: &[String]) -> Result<PodMode, CorefileError> {
    match args {
        [mode] => match mode.as_str() {
            "disabled" => Ok(PodMode::Disabled),
            "insecure" => Ok(PodMode::Insecure),
            "verified" => Ok(PodMode::Verified),
            other => Err(CorefileError::plain(format!(
                "wrong value for pods: {other},  must be one of: disabled, verified, insecure"
            ))),
        },
        _ => Err(d.arg_err()),
    }
}

fn ttl(d: &Dispenser, args: &[String]) -> Result<u32, CorefileError> {
    let text = args.first().ok_or_else(|| d.arg_err())?;
    let value: i64 = text.parse().map_err(|_| {
        CorefileError::plain(format!("strconv.Atoi: parsing {text:?}: invalid syntax"))
    })?;
    if !(0..=3600).contains(&value) {
        return Err(d.err(format!("ttl must be in range [0, 3600]: {value}")));
    }
    Ok(value as u32)
}

fn non_negative(d: &Dispenser, property: &str, args: &[String]) -> Result<(), CorefileError> {
    let text = args.first().ok_or_else(|| d.arg_err())?;
    let value: f64 = text
        .parse()
        .map_err(|_| d.err(format!("invalid {property} {text:?}: invalid syntax")))?;
    if value < 0.0 {
        return Err(d.err(format!("{property} must be >= 0")));
    }
    Ok(())
}
