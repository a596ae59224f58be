//! The log line template: CoreDNS's replacer, compiled once.
//!
//! Parsing follows CoreDNS: find each `}`, back up to the nearest `{`; a
//! known label becomes a placeholder, `{/NAME}` a metadata lookup, and
//! anything else stays literal text.

use std::io::Write;
use std::net::IpAddr;

use hickory_proto::op::{Metadata, ResponseCode};

use super::Written;
use crate::dns::names::{class_mnemonic, type_mnemonic};
use crate::dns::{MemoHit, Request};
use crate::metrics::rcode_mnemonic;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Label {
    Type,
    Name,
    Class,
    Proto,
    Size,
    Remote,
    Port,
    Local,
    Id,
    Opcode,
    Do,
    Bufsize,
    Rcode,
    Rsize,
    Duration,
    Rflags,
}

#[derive(Debug, Clone, PartialEq, Eq)]
enum Part {
    Literal(String),
    Label(Label),
    Metadata(String),
}

#[derive(Debug, Clone)]
pub(super) struct Format {
    parts: Vec<Part>,
}

fn label(text: &str) -> Option<Label> {
    Some(match text {
        "{type}" => Label::Type,
        "{name}" => Label::Name,
        "{class}" => Label::Class,
        "{proto}" => Label::Proto,
        "{size}" => Label::Size,
        "{remote}" => Label::Remote,
        "{port}" => Label::Port,
        "{local}" => Label::Local,
        "{>id}" => Label::Id,
        "{>opcode}" => Label::Opcode,
        "{>do}" => Label::Do,
        "{>bufsize}" => Label::Bufsize,
        "{rcode}" => Label::Rcode,
        "{rsize}" => Label::Rsize,
        "{duration}" => Label::Duration,
        "{>rflags}" => Label::Rflags,
        _ => return None,
    })
}

impl Format {
    pub(super) fn compile(mut text: &str) -> Format {
        let mut parts = Vec::new();
        while let Some(close) = text.find('}') {
            let Some(open) = text[..close].rfind('{') else {
                parts.push(Part::Literal(text[..=close].to_string()));
                text = &text[close + 1..];
                continue;
            };
            let candidate = &text[open..=close];
            let part = if let Some(known) = label(candidate) {
                Some(Part::Label(known))
            } else {
                candidate
                    .strip_prefix("{/")
                    .map(|m| Part::Metadata(m[..m.len() - 1].to_string()))
            };
            match part {
                Some(part) => {
                    if open > 0 {
                        parts.push(Part::Literal(text[..open].to_string()));
                    }
                    parts.push(part);
                }
                None => parts.push(Part::Literal(text[..=close].to_string())),
            }
            text = &text[close + 1..];
        }
        if !text.is_empty() {
            parts.push(Part::Literal(text.to_string()));
        }
        Format { parts }
    }

    /// Appends the line for a finished exchange to `out`.
    pub(super) fn render(&self, out: &mut Vec<u8>, req: &Request, written: &Written<'_>) {
        let seconds = written.start.elapsed().as_nanos() as f64 / 1e9;
        for part in &self.parts {
            append_part(out, part, req, written, seconds);
        }
    }

    /// The line of a remembered exchange with every field fixed except
    /// those a reply from memory has of its own (see [`HitField`]).
    pub(super) fn template(&self, req: &Request, written: &Written<'_>) -> Template {
        let mut pieces = Vec::new();
        let mut text = Vec::new();
        for part in &self.parts {
            match part {
                Part::Label(label) if let Some(field) = HitField::of(*label) => {
                    if !text.is_empty() {
                        pieces.push(Piece::Text(std::mem::take(&mut text).into()));
                    }
                    pieces.push(Piece::Hit(field));
                }
                fixed => append_part(&mut text, fixed, req, written, 0.0),
            }
        }
        if !text.is_empty() {
            pieces.push(Piece::Text(text.into()));
        }
        Template {
            pieces: pieces.into(),
        }
    }
}

/// The fields a reply sent from memory does not share with the exchange
/// it was remembered from. The rest (the question, sizes, flags, rcode,
/// and the local address, as each socket keeps its own memo) are the same
/// bytes every time.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum HitField {
    Remote,
    Port,
    Id,
    Duration,
}

impl HitField {
    fn of(label: Label) -> Option<HitField> {
        Some(match label {
            Label::Remote => HitField::Remote,
            Label::Port => HitField::Port,
            Label::Id => HitField::Id,
            Label::Duration => HitField::Duration,
            _ => return None,
        })
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
enum Piece {
    Text(Box<[u8]>),
    Hit(HitField),
}

/// A log line prepared for a remembered reply.
#[derive(Debug, Clone)]
pub(super) struct Template {
    pieces: Box<[Piece]>,
}

impl Template {
    /// Appends the line of one reply sent from memory to `out`.
    pub(super) fn render(&self, out: &mut Vec<u8>, hit: &MemoHit) {
        for piece in &self.pieces {
            match piece {
                Piece::Text(text) => out.extend_from_slice(text),
                Piece::Hit(HitField::Remote) => append_ip(out, hit.src.ip()),
                Piece::Hit(HitField::Port) => append_decimal(out, u64::from(hit.src.port())),
                Piece::Hit(HitField::Id) => append_decimal(out, u64::from(hit.id)),
                Piece::Hit(HitField::Duration) => append_seconds(out, hit.seconds),
            }
        }
    }
}

fn append_part(out: &mut Vec<u8>, part: &Part, req: &Request, written: &Written<'_>, seconds: f64) {
    match part {
        Part::Literal(text) => out.extend_from_slice(text.as_bytes()),
        Part::Label(label) => append_label(out, *label, req, written, seconds),
        Part::Metadata(name) => append_metadata(out, name, written),
    }
}

fn append_metadata(out: &mut Vec<u8>, name: &str, written: &Written<'_>) {
    let reply_type = crate::dns::typify::typify(written.reply);
    match name {
        "log/type" => out.extend_from_slice(reply_type.text().as_bytes()),
        "log/class" => {
            let class = format!("{:?}", crate::dns::typify::classify(reply_type));
            out.extend_from_slice(class.to_lowercase().as_bytes());
        }
        _ => out.push(b'-'),
    }
}

/// One label; `seconds` is the query's duration so far.
fn append_label(
    out: &mut Vec<u8>,
    label: Label,
    req: &Request,
    written: &Written<'_>,
    seconds: f64,
) {
    match label {
        Label::Type => match type_mnemonic(req.qtype()) {
            Some(text) => out.extend_from_slice(text.as_bytes()),
            None => {
                out.extend_from_slice(b"TYPE");
                append_decimal(out, u64::from(u16::from(req.qtype())));
            }
        },
        Label::Name => out.extend_from_slice(req.qname_lower.as_bytes()),
        Label::Class => match class_mnemonic(req.qclass()) {
            Some(text) => out.extend_from_slice(text.as_bytes()),
            None => {
                out.extend_from_slice(b"CLASS");
                append_decimal(out, u64::from(u16::from(req.qclass())));
            }
        },
        Label::Proto => out.extend_from_slice(req.proto.as_str().as_bytes()),
        Label::Size => append_decimal(out, req.size as u64),
        Label::Remote => append_ip(out, req.src.ip()),
        Label::Port => append_decimal(out, u64::from(req.src.port())),
        Label::Local => append_ip(out, req.local.ip()),
        Label::Id => append_decimal(out, u64::from(req.msg.metadata.id)),
        Label::Opcode => append_decimal(out, u64::from(u8::from(req.msg.metadata.op_code))),
        Label::Do => out.extend_from_slice(if req.do_bit() { b"true" } else { b"false" }),
        Label::Bufsize => append_decimal(out, u64::from(req.bufsize())),
        Label::Rcode => match written.reply {
            Some(reply) => append_rcode(out, reply.metadata.response_code),
            None => out.push(b'-'),
        },
        Label::Rsize => append_decimal(out, written.rsize as u64),
        Label::Duration => append_seconds(out, seconds),
        Label::Rflags => match written.reply {
            Some(reply) => append_flags(out, &reply.metadata),
            None => out.push(b'-'),
        },
    }
}

fn append_rcode(out: &mut Vec<u8>, rcode: ResponseCode) {
    match rcode_mnemonic(rcode) {
        Some(text) => out.extend_from_slice(text.as_bytes()),
        None => append_decimal(out, u64::from(u16::from(rcode))),
    }
}

/// `n` in decimal, without the formatting machinery.
fn append_decimal(out: &mut Vec<u8>, mut n: u64) {
    let mut digits = [0u8; 20];
    let mut at = digits.len();
    loop {
        at -= 1;
        digits[at] = b'0' + (n % 10) as u8;
        n /= 10;
        if n == 0 {
            break;
        }
    }
    out.extend_from_slice(&digits[at..]);
}

/// An IPv4 address as dotted decimal, an IPv6 one in brackets.
fn append_ip(out: &mut Vec<u8>, ip: IpAddr) {
    match ip {
        IpAddr::V4(v4) => {
            for (i, octet) in v4.octets().into_iter().enumerate() {
                if i > 0 {
                    out.push(b'.');
                }
                append_decimal(out, u64::from(octet));
            }
        }
        IpAddr::V6(v6) => {
            let _ = write!(out, "[{v6}]");
        }
    }
}

/// Seconds as Go's `%v` of a float prints them (shortest exact form, no
/// exponent for the range a query takes), then `s`: the only float.
fn append_seconds(out: &mut Vec<u8>, seconds: f64) {
    let _ = write!(out, "{seconds}s");
}

/// `qr,aa,tc,rd,ra,z,ad,cd`, the set ones comma-joined.
fn append_flags(out: &mut Vec<u8>, m: &Metadata) {
    let flags = [
        (
            m.message_type == hickory_proto::op::MessageType::Response,
            "qr",
        ),
        (m.authoritative, "aa"),
        (m.truncation, "tc"),
        (m.recursion_desired, "rd"),
        (m.recursion_available, "ra"),
        (false, "z"),
        (m.authentic_data, "ad"),
        (m.checking_disabled, "cd"),
    ];
    let mut first = true;
    for (_, name) in flags.iter().filter(|(set, _)| *set) {
        if !first {
            out.push(b',');
        }
        out.extend_from_slice(name.as_bytes());
        first = false;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn unknown_placeholders_stay_literal() {
        let format = Format::compile("a {x} {type} } {/log/class}");
        assert_eq!(
            format.parts,
            vec![
                Part::Literal("a {x}".into()),
                Part::Literal(" ".into()),
                Part::Label(Label::Type),
                Part::Literal(" }".into()),
                Part::Literal(" ".into()),
                Part::Metadata("log/class".into()),
            ]
        );
    }
}
