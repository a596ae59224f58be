//! The log line template: CoreDNS's replacer, compiled once.
//!
//! Parsing follows CoreDNS: find each `}`, back up to the nearest `{`; a
//! known label becomes a placeholder, `{/NAME}` a metadata lookup, and
//! anything else stays literal text.

use std::fmt::Write;
use std::net::IpAddr;

use hickory_proto::op::Metadata;

use super::Written;
use crate::dns::Request;
use crate::dns::names::{class_text, type_text};
use crate::metrics::rcode_label;

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

    pub(super) fn render(&self, req: &Request, written: &Written<'_>) -> String {
        let mut out = String::with_capacity(160);
        for part in &self.parts {
            match part {
                Part::Literal(text) => out.push_str(text),
                Part::Label(label) => append_label(&mut out, *label, req, written),
                Part::Metadata(name) => out.push_str(&metadata(name, written)),
            }
        }
        out
    }
}

fn metadata(name: &str, written: &Written<'_>) -> String {
    let reply_type = crate::dns::typify::typify(written.reply);
    match name {
        "log/type" => reply_type.text().to_string(),
        "log/class" => format!("{:?}", crate::dns::typify::classify(reply_type)).to_lowercase(),
        _ => "-".to_string(),
    }
}

fn append_label(out: &mut String, label: Label, req: &Request, written: &Written<'_>) {
    let _ = match label {
        Label::Type => write!(out, "{}", type_text(req.qtype())),
        Label::Name => write!(out, "{}", req.qname_lower),
        Label::Class => write!(out, "{}", class_text(req.qclass())),
        Label::Proto => write!(out, "{}", req.proto.as_str()),
        Label::Size => write!(out, "{}", req.size),
        Label::Remote => write!(out, "{}", bracketed(req.src.ip())),
        Label::Port => write!(out, "{}", req.src.port()),
        Label::Local => write!(out, "{}", bracketed(req.local.ip())),
        Label::Id => write!(out, "{}", req.msg.metadata.id),
        Label::Opcode => write!(out, "{}", u8::from(req.msg.metadata.op_code)),
        Label::Do => write!(out, "{}", req.do_bit()),
        Label::Bufsize => write!(out, "{}", req.bufsize()),
        Label::Rcode => match written.reply {
            Some(reply) => write!(out, "{}", rcode_label(reply.metadata.response_code)),
            None => write!(out, "-"),
        },
        Label::Rsize => write!(out, "{}", written.rsize),
        Label::Duration => write!(out, "{}s", written.start.elapsed().as_nanos() as f64 / 1e9),
        Label::Rflags => match written.reply {
            Some(reply) => write!(out, "{}", flags_text(&reply.metadata)),
            None => write!(out, "-"),
        },
    };
}

fn bracketed(ip: IpAddr) -> String {
    match ip {
        IpAddr::V4(v4) => v4.to_string(),
        IpAddr::V6(v6) => format!("[{v6}]"),
    }
}

/// `qr,aa,tc,rd,ra,z,ad,cd`, the set ones comma-joined.
pub(super) fn flags_text(m: &Metadata) -> String {
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
    flags
        .iter()
        .filter(|(set, _)| *set)
        .map(|(_, name)| *name)
        .collect::<Vec<_>>()
        .join(",")
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
