//! `rewrite edns0 local|nsid|subnet ACTION …`: rules that change the
//! query's EDNS options before the plugins after rewrite (and forward's
//! upstreams) see them, as CoreDNS's rewrite does.
//!
//! Actions: `set` replaces the option or adds it, `replace` only replaces,
//! `append` adds, `unset` removes it; `revert` puts the reply's option back
//! to what the client sent. Like CoreDNS, a rule gives the query an OPT
//! (4096 bytes) when it had none, even if it then changes nothing, and the
//! client's reply is fitted to that OPT. `local` codes join the options a
//! reply echoes.

use std::net::IpAddr;

use hickory_proto::op::Edns;
use hickory_proto::rr::rdata::opt::{EdnsCode, EdnsOption};
use hickory_proto::serialize::binary::{BinEncodable, BinEncoder};

use super::rules::{Outcome, ResponseRule};
use crate::dns::wire::support_option;
use crate::dns::{Proto, Request};
use crate::plugin::pkg::go_strconv::parse_uint;

const NSID: u16 = 3;
const SUBNET: u16 = 8;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum EdnsAction {
    Append,
    Replace,
    Set,
    Unset,
}

/// What a `local` option carries.
#[derive(Debug)]
pub(crate) enum LocalData {
    Bytes(Vec<u8>),
    Variable(Variable),
}

/// `{qname}`, `{client_ip}`, …; metadata names (`{a/b}`) have no value here
/// (there is no metadata plugin), so their rules change nothing.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Variable {
    Qname,
    Qtype,
    ClientIp,
    ClientPort,
    Protocol,
    ServerIp,
    ServerPort,
    Metadata,
}

#[derive(Debug)]
pub(crate) enum Edns0Rule {
    Local {
        action: EdnsAction,
        code: u16,
        data: LocalData,
        revert: bool,
    },
    Nsid {
        action: EdnsAction,
        revert: bool,
    },
    Subnet {
        action: EdnsAction,
        v4_bits: u8,
        v6_bits: u8,
        revert: bool,
    },
}

impl Edns0Rule {
    pub(crate) fn apply(&self, req: &mut Request) -> Outcome {
        match self {
            Edns0Rule::Local {
                action,
                code,
                data,
                revert,
            } => {
                let bytes = match data {
                    LocalData::Bytes(bytes) => bytes.clone(),
                    LocalData::Variable(variable) => match variable_data(*variable, req) {
                        Some(bytes) => bytes,
                        None => return Outcome::Ignored,
                    },
                };
                // A variable rule leaves an option it would only append to.
                let keep_existing = matches!(data, LocalData::Variable(_));
                let edns = opt(req);
                set_option(edns, *code, *action, bytes, *revert, keep_existing)
            }
            Edns0Rule::Nsid { action, revert } => {
                let edns = opt(req);
                set_option(edns, NSID, *action, Vec::new(), *revert, false)
            }
            Edns0Rule::Subnet {
                action,
                v4_bits,
                v6_bits,
                revert,
            } => {
                let bytes = subnet(req.src.ip(), *v4_bits, *v6_bits);
                let edns = opt(req);
                set_option(edns, SUBNET, *action, bytes, *revert, true)
            }
        }
    }
}

/// The query's OPT, made (4096 bytes, no DO) when it has none. The
/// client's bytes no longer describe the query.
fn opt(req: &mut Request) -> &mut Edns {
    req.raw = None;
    req.msg.edns.get_or_insert_with(|| {
        let mut edns = Edns::new();
        edns.set_max_payload(4096);
        edns
    })
}

/// Applies `action` for option `code`. With `keep_existing`, an existing
/// option makes `append` do nothing (CoreDNS's variable and subnet rules);
/// otherwise `append` adds another.
fn set_option(
    edns: &mut Edns,
    code: u16,
    action: EdnsAction,
    bytes: Vec<u8>,
    revert: bool,
    keep_existing: bool,
) -> Outcome {
    let options = &mut edns.options_mut().options;
    if action == EdnsAction::Unset {
        options.retain(|(c, _)| u16::from(*c) != code);
        return Outcome::Done(Vec::new());
    }
    if let Some(at) = options.iter().position(|(c, _)| u16::from(*c) == code) {
        match action {
            EdnsAction::Replace | EdnsAction::Set => {
                let old = option_bytes(&options[at].1);
                options[at] = (EdnsCode::from(code), EdnsOption::Unknown(code, bytes));
                // CoreDNS keys this revert on the decoded option's code
                // field, which its decoder leaves 0 for NSID and ECS: those
                // are never put back. Kept as CoreDNS does it.
                let restorable = code != NSID && code != SUBNET;
                let rules = if revert && restorable {
                    vec![ResponseRule::RestoreOption(code, old)]
                } else {
                    Vec::new()
                };
                return Outcome::Done(rules);
            }
            _ if keep_existing => return Outcome::Ignored,
            _ => {}
        }
    }
    if matches!(action, EdnsAction::Append | EdnsAction::Set) {
        options.push((EdnsCode::from(code), EdnsOption::Unknown(code, bytes)));
        let rules = if revert {
            vec![ResponseRule::RemoveOption(code)]
        } else {
            Vec::new()
        };
        return Outcome::Done(rules);
    }
    Outcome::Ignored
}

/// An option's value as it goes on the wire.
pub(super) fn option_bytes(option: &EdnsOption) -> Vec<u8> {
    let mut bytes = Vec::new();
    let mut encoder = BinEncoder::new(&mut bytes);
    let _ = option.emit(&mut encoder);
    bytes
}

/// The ECS value for the client's address: family, source prefix, scope 0,
/// and the masked address cut to the prefix's bytes.
fn subnet(client: IpAddr, v4_bits: u8, v6_bits: u8) -> Vec<u8> {
    let (family, bits, address): (u16, u8, Vec<u8>) = match client {
        IpAddr::V4(v4) => (1, v4_bits, v4.octets().to_vec()),
        IpAddr::V6(v6) => match v6.to_ipv4_mapped() {
            Some(v4) => (1, v4_bits, v4.octets().to_vec()),
            None => (2, v6_bits, v6.octets().to_vec()),
        },
    };
    let mut value = family.to_be_bytes().to_vec();
    value.extend([bits, 0]);
    let keep = usize::from(bits).div_ceil(8);
    value.extend(address.iter().take(keep).enumerate().map(|(i, byte)| {
        let bits_here = usize::from(bits).saturating_sub(i * 8).min(8);
        byte & (0xffu16 << (8 - bits_here)) as u8
    }));
    value
}

/// The bytes a variable stands for, from this query.
fn variable_data(variable: Variable, req: &Request) -> Option<Vec<u8>> {
    let client_v4 = match req.src.ip() {
        IpAddr::V4(_) => true,
        IpAddr::V6(v6) => v6.to_ipv4_mapped().is_some(),
    };
    let ip_bytes = |ip: IpAddr| -> Option<Vec<u8>> {
        match (client_v4, ip) {
            (true, IpAddr::V4(v4)) => Some(v4.octets().to_vec()),
            (true, IpAddr::V6(v6)) => v6.to_ipv4_mapped().map(|v4| v4.octets().to_vec()),
            (false, IpAddr::V4(v4)) => Some(v4.to_ipv6_mapped().octets().to_vec()),
            (false, IpAddr::V6(v6)) => Some(v6.octets().to_vec()),
        }
    };
    Some(match variable {
        Variable::Qname => req.qname().to_ascii().into_bytes(),
        Variable::Qtype => u16::from(req.qtype()).to_be_bytes().to_vec(),
        Variable::ClientIp => ip_bytes(req.src.ip())?,
        Variable::ServerIp => ip_bytes(req.local.ip())?,
        Variable::ClientPort => req.src.port().to_be_bytes().to_vec(),
        Variable::ServerPort => req.local.port().to_be_bytes().to_vec(),
        Variable::Protocol => match req.proto {
            Proto::Udp => b"udp".to_vec(),
            Proto::Tcp => b"tcp".to_vec(),
        },
        Variable::Metadata => return None,
    })
}

/// `edns0 TYPE ACTION ARGS… [revert]` (the arguments after `edns0`), with
/// CoreDNS's error texts.
pub(super) fn parse(args: &[String]) -> Result<Edns0Rule, String> {
    if args.len() < 2 {
        return Err("too few arguments for an EDNS0 rule".into());
    }
    let kind = args[0].to_ascii_lowercase();
    let action = match args[1].to_ascii_lowercase().as_str() {
        "append" => EdnsAction::Append,
        "replace" => EdnsAction::Replace,
        "set" => EdnsAction::Set,
        "unset" => return parse_unset(&kind, args),
        other => return Err(format!("invalid action: {other:?}")),
    };
    let (args, revert) = match args.split_last() {
        Some((last, rest)) if last == "revert" => (rest, true),
        _ => (args, false),
    };
    match kind.as_str() {
        "local" if args.len() != 4 => Err("EDNS0 local rules require three or four args".into()),
        "local" => {
            let code = parse_code(&args[2])?;
            support_option(code);
            let data = if args[3].starts_with('{') && args[3].ends_with('}') {
                LocalData::Variable(variable(&args[3])?)
            } else {
                LocalData::Bytes(local_bytes(&args[3])?)
            };
            Ok(Edns0Rule::Local {
                action,
                code,
                data,
                revert,
            })
        }
        "nsid" if args.len() != 2 => Err("EDNS0 NSID rules can accept no more than one arg".into()),
        "nsid" => Ok(Edns0Rule::Nsid { action, revert }),
        "subnet" if args.len() != 4 => Err("EDNS0 subnet rules require three or four args".into()),
        "subnet" => Ok(Edns0Rule::Subnet {
            action,
            v4_bits: mask_len(&args[2], 32, "IPv4")?,
            v6_bits: mask_len(&args[3], 128, "IPv6")?,
            revert,
        }),
        _ => Err(format!("invalid rule type {kind:?}")),
    }
}

fn parse_unset(kind: &str, args: &[String]) -> Result<Edns0Rule, String> {
    let action = EdnsAction::Unset;
    match kind {
        "local" if args.len() != 3 => {
            Err("local unset action requires exactly two arguments".into())
        }
        "local" => {
            let code = parse_code(&args[2])?;
            support_option(code);
            Ok(Edns0Rule::Local {
                action,
                code,
                data: LocalData::Bytes(Vec::new()),
                revert: false,
            })
        }
        "nsid" if args.len() != 2 => Err("nsid unset action requires exactly one argument".into()),
        "nsid" => Ok(Edns0Rule::Nsid {
            action,
            revert: false,
        }),
        "subnet" if args.len() != 2 => {
            Err("subnet unset action requires exactly one argument".into())
        }
        "subnet" => Ok(Edns0Rule::Subnet {
            action,
            v4_bits: 0,
            v6_bits: 0,
            revert: false,
        }),
        _ => Err(format!("invalid rule type {kind:?}")),
    }
}

/// An option code as Go's `strconv.ParseUint(text, 0, 16)` reads it.
fn parse_code(text: &str) -> Result<u16, String> {
    parse_uint(text, 0, 16).map(|code| code as u16)
}

/// The data of a `local` rule: `0x…` is hex, anything else its bytes.
fn local_bytes(text: &str) -> Result<Vec<u8>, String> {
    let Some(hex) = text.strip_prefix("0x") else {
        return Ok(text.as_bytes().to_vec());
    };
    if let Some(bad) = hex.chars().find(|c| !c.is_ascii_hexdigit()) {
        return Err(format!(
            "encoding/hex: invalid byte: U+{:04X} {bad:?}",
            bad as u32
        ));
    }
    if hex.len() % 2 == 1 {
        return Err("encoding/hex: odd length hex string".into());
    }
    Ok((0..hex.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(&hex[i..i + 2], 16).unwrap_or(0))
        .collect())
}

fn variable(text: &str) -> Result<Variable, String> {
    Ok(match text {
        "{qname}" => Variable::Qname,
        "{qtype}" => Variable::Qtype,
        "{client_ip}" => Variable::ClientIp,
        "{client_port}" => Variable::ClientPort,
        "{protocol}" => Variable::Protocol,
        "{server_ip}" => Variable::ServerIp,
        "{server_port}" => Variable::ServerPort,
        _ if is_metadata_label(&text[1..text.len() - 1]) => Variable::Metadata,
        _ => return Err(format!("unsupported variable name {text:?}")),
    })
}

/// A metadata name, `plugin/name`, as CoreDNS's `metadata.IsLabel` allows.
fn is_metadata_label(label: &str) -> bool {
    let Some((plugin, name)) = label.split_once('/') else {
        return false;
    };
    !plugin.is_empty() && !name.is_empty() && !name.contains('/')
}

fn mask_len(text: &str, max: u8, family: &str) -> Result<u8, String> {
    let value = parse_code(text)?;
    if value > u16::from(max) {
        return Err(format!("invalid {family} bit mask length {value}"));
    }
    Ok(value as u8)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn subnet_values_are_masked_and_cut_to_the_prefix() {
        let v4: IpAddr = "192.0.2.130".parse().unwrap();
        assert_eq!(subnet(v4, 24, 56), [0, 1, 24, 0, 192, 0, 2]);
        assert_eq!(subnet(v4, 25, 56), [0, 1, 25, 0, 192, 0, 2, 128]);
        assert_eq!(subnet(v4, 0, 56), [0, 1, 0, 0]);
        let v6: IpAddr = "2001:db8:ffff::1".parse().unwrap();
        assert_eq!(
            subnet(v6, 24, 36),
            [0, 2, 36, 0, 0x20, 0x01, 0x0d, 0xb8, 0xf0]
        );
    }

    #[test]
    fn codes_read_as_go_reads_them() {
        assert_eq!(parse_code("0xffee"), Ok(0xffee));
        assert_eq!(parse_code("65001"), Ok(65001));
        assert_eq!(parse_code("010"), Ok(8));
        assert!(parse_code("65536").is_err());
        assert!(parse_code("x").is_err());
        assert_eq!(local_bytes("0x6162"), Ok(b"ab".to_vec()));
        assert_eq!(local_bytes("ab"), Ok(b"ab".to_vec()));
        assert!(local_bytes("0x616").is_err());
    }
}
