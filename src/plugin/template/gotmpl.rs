//! The part of Go's `text/template` that template's RR fragments use.
//!
//! CoreDNS builds each `answer`, `additional` and `authority` argument with
//! Go's text/template. Users write fields (`{{ .Name }}`, `{{ .Group.a }}`),
//! `index`, `parseInt` (template's own function), `printf`, pipes, and now
//! and then an `if`. That is what is read here; `range`, `with`,
//! variables, `define` and `.Message` are refused at setup with a clear message (see
//! README.md), never run differently.
//!
//! Values print as Go's `fmt.Sprint` prints them (a missing map key is
//! `<no value>`, `.Match` is `[a b]`), and errors that Go raises while
//! running a template (an index out of range, an unknown field) are raised
//! here too, so the query fails the same way.

use std::collections::BTreeMap;

mod exec;
mod lex;
mod printf;

pub(crate) use exec::{Data, Question};
use lex::{Token, action_tokens};

/// A parsed template.
#[derive(Debug)]
pub(crate) struct GoTemplate {
    nodes: Vec<Node>,
}

#[derive(Debug)]
enum Node {
    Text(String),
    Print(Pipe),
    If {
        cond: Pipe,
        then: Vec<Node>,
        otherwise: Vec<Node>,
    },
}

/// `cmd | cmd | …`: each command's value is the last argument of the next.
#[derive(Debug)]
struct Pipe(Vec<Cmd>);

#[derive(Debug)]
struct Cmd(Vec<Operand>);

#[derive(Debug)]
enum Operand {
    Dot,
    Field(Vec<String>),
    Func(Func),
    Str(String),
    Int(i64),
    Bool(bool),
    Sub(Pipe),
}

/// The functions a template may call: Go's builtins that make sense for an
/// RR, and template's `parseInt`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Func {
    Index,
    Len,
    Print,
    Printf,
    Println,
    ParseInt,
    Not,
    And,
    Or,
    Eq,
    Ne,
    Lt,
    Le,
    Gt,
    Ge,
}

/// Each function's name in a template.
const FUNCS: &[(&str, Func)] = &[
    ("index", Func::Index),
    ("len", Func::Len),
    ("print", Func::Print),
    ("printf", Func::Printf),
    ("println", Func::Println),
    ("parseInt", Func::ParseInt),
    ("not", Func::Not),
    ("and", Func::And),
    ("or", Func::Or),
    ("eq", Func::Eq),
    ("ne", Func::Ne),
    ("lt", Func::Lt),
    ("le", Func::Le),
    ("gt", Func::Gt),
    ("ge", Func::Ge),
];

fn func(name: &str) -> Result<Func, String> {
    if let Some((_, f)) = FUNCS.iter().find(|(n, _)| *n == name) {
        return Ok(*f);
    }
    if matches!(name, "html" | "js" | "urlquery" | "slice" | "call") {
        return Err(format!("function {name:?} is not supported by clusterdns"));
    }
    Err(format!("function {name:?} not defined"))
}

fn func_name(f: Func) -> &'static str {
    FUNCS
        .iter()
        .find(|(_, g)| *g == f)
        .map(|(n, _)| *n)
        .unwrap_or("?")
}

/// One `{{ … }}` of the source, with its trim markers applied.
enum Piece {
    Text(String),
    Action(Vec<Token>),
}

impl GoTemplate {
    /// Parses `text`; `name` prefixes errors as Go does (`template: answer:1: …`).
    pub(crate) fn parse(name: &str, text: &str) -> Result<GoTemplate, String> {
        let pieces = split(text).map_err(|e| format!("template: {name}:1: {e}"))?;
        let mut pieces = pieces.into_iter();
        let (nodes, end) =
            parse_nodes(&mut pieces).map_err(|e| format!("template: {name}:1: {e}"))?;
        match end {
            Stop::Eof => Ok(GoTemplate { nodes }),
            Stop::End => Err(format!("template: {name}:1: unexpected {{{{end}}}}")),
            Stop::Else | Stop::ElseIf(_) => {
                Err(format!("template: {name}:1: unexpected {{{{else}}}}"))
            }
        }
    }

    /// The template as Go's `Tree.Root.String()` writes it back (actions
    /// without padding), the `template` label of the failure metrics.
    pub(crate) fn render(&self) -> String {
        let mut out = String::new();
        render_nodes(&self.nodes, &mut out);
        out
    }

    /// Runs the template over `data`.
    pub(crate) fn execute(&self, data: &Data) -> Result<String, String> {
        let mut out = String::new();
        exec::run(&self.nodes, data, &mut out)?;
        Ok(out)
    }
}

/// Splits the source into text and actions, applying `{{-` and `-}}` and
/// dropping comments.
fn split(text: &str) -> Result<Vec<Piece>, String> {
    let mut pieces = Vec::new();
    let mut rest = text;
    let mut trim_next = false;
    while let Some(open) = rest.find("{{") {
        let mut before = &rest[..open];
        if trim_next {
            before = before.trim_start();
        }
        let mut inner = &rest[open + 2..];
        if starts_trim(inner) {
            before = before.trim_end();
            inner = &inner[1..];
        }
        if !before.is_empty() {
            pieces.push(Piece::Text(before.to_string()));
        }
        let close = find_close(inner)?;
        let mut body = &inner[..close];
        trim_next = body.ends_with(" -") || body.ends_with("\t-") || body.ends_with("\n-");
        if trim_next {
            body = &body[..body.len() - 1];
        }
        rest = &inner[close + 2..];
        let trimmed = body.trim();
        if trimmed.starts_with("/*") {
            if !trimmed.ends_with("*/") {
                return Err("unclosed comment".into());
            }
            continue;
        }
        pieces.push(Piece::Action(action_tokens(body)?));
    }
    let rest = if trim_next { rest.trim_start() } else { rest };
    if !rest.is_empty() {
        pieces.push(Piece::Text(rest.to_string()));
    }
    Ok(pieces)
}

/// `{{-` is a trim marker only when a space follows the dash.
fn starts_trim(inner: &str) -> bool {
    let mut chars = inner.chars();
    chars.next() == Some('-') && chars.next().is_some_and(|c| c.is_ascii_whitespace())
}

/// Where the action's `}}` is, skipping quoted strings.
fn find_close(inner: &str) -> Result<usize, String> {
    let bytes = inner.as_bytes();
    let mut i = 0;
    let mut quote: Option<u8> = None;
    while i < bytes.len() {
        let b = bytes[i];
        match quote {
            Some(q) if b == b'\\' && q != b'`' => i += 1,
            Some(q) if b == q => quote = None,
            Some(_) => {}
            None if b == b'"' || b == b'`' || b == b'\'' => quote = Some(b),
            None if bytes[i..].starts_with(b"}}") => return Ok(i),
            None => {}
        }
        i += 1;
    }
    Err("unclosed action".into())
}

type Pieces = std::vec::IntoIter<Piece>;

/// What ended a run of nodes.
enum Stop {
    Eof,
    End,
    Else,
    /// `{{else if …}}`, with the condition's tokens.
    ElseIf(Vec<Token>),
}

/// Parses nodes up to an `else` or `end` or the end of input.
fn parse_nodes(pieces: &mut Pieces) -> Result<(Vec<Node>, Stop), String> {
    let mut nodes = Vec::new();
    while let Some(piece) = pieces.next() {
        let tokens = match piece {
            Piece::Text(text) => {
                nodes.push(Node::Text(text));
                continue;
            }
            Piece::Action(tokens) => tokens,
        };
        let keyword = match tokens.first() {
            Some(Token::Ident(word)) => word.as_str(),
            Some(_) => "",
            None => return Err("missing value for command".into()),
        };
        match keyword {
            "end" if tokens.len() == 1 => return Ok((nodes, Stop::End)),
            "else" if tokens.len() == 1 => return Ok((nodes, Stop::Else)),
            "else" if matches!(&tokens[1], Token::Ident(w) if w == "if") => {
                return Ok((nodes, Stop::ElseIf(tokens[2..].to_vec())));
            }
            "end" | "else" => return Err(format!("unexpected {:?} in {keyword}", tokens[1])),
            "if" => nodes.push(parse_if(&tokens[1..], pieces)?),
            word if is_unsupported_keyword(word) => {
                return Err(format!("{{{{{word}}}}} is not supported by clusterdns"));
            }
            _ => nodes.push(Node::Print(parse_pipe(&tokens)?)),
        }
    }
    Ok((nodes, Stop::Eof))
}

fn is_unsupported_keyword(word: &str) -> bool {
    matches!(
        word,
        "range" | "with" | "define" | "template" | "block" | "break" | "continue"
    )
}

/// `{{if pipe}} … [{{else}} … | {{else if pipe}} …] {{end}}`.
fn parse_if(cond: &[Token], pieces: &mut Pieces) -> Result<Node, String> {
    let cond = parse_pipe(cond)?;
    let (then, end) = parse_nodes(pieces)?;
    let otherwise = match end {
        Stop::End => Vec::new(),
        Stop::Else => match parse_nodes(pieces)? {
            (nodes, Stop::End) => nodes,
            _ => return Err("expected end; found EOF".into()),
        },
        Stop::ElseIf(cond) => vec![parse_if(&cond, pieces)?],
        Stop::Eof => return Err("unexpected EOF".into()),
    };
    Ok(Node::If {
        cond,
        then,
        otherwise,
    })
}

/// A pipeline from an action's tokens.
fn parse_pipe(tokens: &[Token]) -> Result<Pipe, String> {
    if tokens.iter().any(|t| matches!(t, Token::Variable(_))) {
        return Err("template variables are not supported by clusterdns".into());
    }
    let mut cmds = Vec::new();
    let mut current = Vec::new();
    let mut i = 0;
    while i < tokens.len() {
        match &tokens[i] {
            Token::Pipe => {
                if current.is_empty() {
                    return Err("missing command in pipeline".into());
                }
                cmds.push(Cmd(std::mem::take(&mut current)));
            }
            Token::Open => {
                let close = matching_paren(tokens, i)?;
                current.push(Operand::Sub(parse_pipe(&tokens[i + 1..close])?));
                i = close;
            }
            Token::Close => return Err("unexpected right paren".into()),
            token => current.push(operand(token)?),
        }
        i += 1;
    }
    if current.is_empty() {
        return Err("missing value for command".into());
    }
    cmds.push(Cmd(current));
    for (n, cmd) in cmds.iter().enumerate() {
        if n > 0 && !matches!(cmd.0[0], Operand::Func(_) | Operand::Field(_)) {
            return Err("non executable command in pipeline stage".into());
        }
    }
    Ok(Pipe(cmds))
}

fn matching_paren(tokens: &[Token], open: usize) -> Result<usize, String> {
    let mut depth = 0;
    for (i, token) in tokens.iter().enumerate().skip(open) {
        match token {
            Token::Open => depth += 1,
            Token::Close => {
                depth -= 1;
                if depth == 0 {
                    return Ok(i);
                }
            }
            _ => {}
        }
    }
    Err("unclosed left paren".into())
}

fn operand(token: &Token) -> Result<Operand, String> {
    Ok(match token {
        Token::Dot => Operand::Dot,
        Token::Field(path) if path[0] == "Message" => {
            return Err(".Message is not supported by clusterdns".into());
        }
        Token::Field(path) => Operand::Field(path.clone()),
        Token::Str(s) => Operand::Str(s.clone()),
        Token::Int(n) => Operand::Int(*n),
        Token::Ident(word) if word == "true" || word == "false" => Operand::Bool(word == "true"),
        Token::Ident(word) if word == "nil" => return Err("nil is not a command".into()),
        Token::Ident(word) if matches!(word.as_str(), "if" | "else" | "end") => {
            return Err(format!("unexpected <{word}> in command"));
        }
        Token::Ident(word) => Operand::Func(func(word)?),
        other => return Err(format!("unexpected {other:?} in command")),
    })
}

fn render_nodes(nodes: &[Node], out: &mut String) {
    for node in nodes {
        match node {
            Node::Text(text) => out.push_str(text),
            Node::Print(pipe) => out.push_str(&format!("{{{{{}}}}}", render_pipe(pipe))),
            Node::If {
                cond,
                then,
                otherwise,
            } => {
                out.push_str(&format!("{{{{if {}}}}}", render_pipe(cond)));
                render_nodes(then, out);
                if !otherwise.is_empty() {
                    out.push_str("{{else}}");
                    render_nodes(otherwise, out);
                }
                out.push_str("{{end}}");
            }
        }
    }
}

fn render_pipe(pipe: &Pipe) -> String {
    let cmds: Vec<String> = pipe
        .0
        .iter()
        .map(|cmd| {
            let operands: Vec<String> = cmd.0.iter().map(render_operand).collect();
            operands.join(" ")
        })
        .collect();
    cmds.join(" | ")
}

fn render_operand(operand: &Operand) -> String {
    match operand {
        Operand::Dot => ".".into(),
        Operand::Field(path) => format!(".{}", path.join(".")),
        Operand::Func(f) => func_name(*f).into(),
        Operand::Str(s) => format!("{s:?}"),
        Operand::Int(n) => n.to_string(),
        Operand::Bool(b) => b.to_string(),
        Operand::Sub(pipe) => format!("({})", render_pipe(pipe)),
    }
}

/// Go's map printing order: keys sorted.
pub(crate) type Groups = BTreeMap<String, String>;

#[cfg(test)]
mod tests;
