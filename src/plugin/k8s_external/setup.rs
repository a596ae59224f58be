//! `k8s_external [ZONES...] { apex APEX; ttl TTL; headless; fallthrough
//! [ZONES] }`,
//! read as CoreDNS reads it, with its error texts.

use crate::corefile::{CorefileError, Dispenser};
use crate::plugin::pkg::zones::{Fall, zones_from_args};

#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Options {
    pub(crate) zones: Vec<String>,
    /// The label under which the zone's name server lives (`dns`).
    pub(crate) apex: String,
    pub(crate) ttl: u32,
    /// Headless Services (and endpoint names) answer with their endpoints.
    pub(crate) headless: bool,
    pub(crate) fall: Fall,
}

pub(crate) fn parse(d: &mut Dispenser, block_zones: &[String]) -> Result<Options, CorefileError> {
    let mut o = Options {
        zones: block_zones.to_vec(),
        apex: "dns".into(),
        ttl: 5,
        headless: false,
        fall: Fall::default(),
    };
    while d.next() {
        o.zones = zones_from_args(d.remaining_args(), block_zones)?;
        while d.next_block() {
            option(d, &mut o)?;
        }
    }
    Ok(o)
}

fn option(d: &mut Dispenser, o: &mut Options) -> Result<(), CorefileError> {
    let name = d.val().to_string();
    match name.as_str() {
        "ttl" => {
            let args = d.remaining_args();
            let first = args.first().ok_or_else(|| d.arg_err())?;
            let ttl: i64 = first
                .parse()
                .map_err(|_| d.err(format!("strconv.Atoi: parsing {first:?}: invalid syntax")))?;
            if !(0..=3600).contains(&ttl) {
                return Err(d.err(format!("ttl must be in range [0, 3600]: {ttl}")));
            }
            o.ttl = ttl as u32;
        }
        "apex" => {
            let args = d.remaining_args();
            o.apex = args.first().ok_or_else(|| d.arg_err())?.clone();
        }
        "headless" => o.headless = true,
        "fallthrough" => o.fall = Fall::from_args(d.remaining_args())?,
        _ => return Err(d.err(format!("unknown property '{name}'"))),
    }
    Ok(())
}
