//! The tokens inside one `{{ … }}`, as Go's template lexer reads them.

#[derive(Debug, Clone, PartialEq)]
pub(crate) enum Token {
    /// `.` alone: the data.
    Dot,
    /// `.A.B`: a field chain.
    Field(Vec<String>),
    /// `$x`: read only to refuse it with a clear message.
    Variable(String),
    Ident(String),
    Str(String),
    Int(i64),
    Pipe,
    Open,
    Close,
}

/// The tokens of an action's body.
pub(crate) fn action_tokens(body: &str) -> Result<Vec<Token>, String> {
    let chars: Vec<char> = body.chars().collect();
    let mut tokens = Vec::new();
    let mut i = 0;
    while i < chars.len() {
        let c = chars[i];
        let (token, next) = match c {
            c if c.is_whitespace() => {
                i += 1;
                continue;
            }
            '|' => (Token::Pipe, i + 1),
            '(' => (Token::Open, i + 1),
            ')' => (Token::Close, i + 1),
            '"' => quoted(&chars, i)?,
            '`' => raw(&chars, i)?,
            '\'' => char_constant(&chars, i)?,
            '.' if chars.get(i + 1).is_some_and(|c| !c.is_ascii_digit())
                || i + 1 == chars.len() =>
            {
                field(&chars, i)
            }
            '$' => {
                let end = word_end(&chars, i + 1);
                (Token::Variable(chars[i..end].iter().collect()), end)
            }
            ':' | '=' => return Err("template variables are not supported by clusterdns".into()),
            c if c.is_ascii_digit() || c == '-' || c == '+' || c == '.' => number(&chars, i)?,
            c if c.is_alphabetic() || c == '_' => {
                let end = word_end(&chars, i);
                (Token::Ident(chars[i..end].iter().collect()), end)
            }
            other => return Err(format!("unrecognized character in action: {other:?}")),
        };
        tokens.push(token);
        i = next;
    }
    Ok(tokens)
}

fn word_end(chars: &[char], mut i: usize) -> usize {
    while i < chars.len() && (chars[i].is_alphanumeric() || chars[i] == '_') {
        i += 1;
    }
    i
}

/// `.` or `.A.B.C`, starting at the first dot.
fn field(chars: &[char], mut i: usize) -> (Token, usize) {
    let mut path = Vec::new();
    while i < chars.len() && chars[i] == '.' {
        let end = word_end(chars, i + 1);
        if end == i + 1 {
            break;
        }
        path.push(chars[i + 1..end].iter().collect());
        i = end;
    }
    if path.is_empty() {
        return (Token::Dot, i + 1);
    }
    (Token::Field(path), i)
}

/// A Go interpreted string literal.
fn quoted(chars: &[char], start: usize) -> Result<(Token, usize), String> {
    let mut out = String::new();
    let mut i = start + 1;
    while i < chars.len() {
        match chars[i] {
            '"' => return Ok((Token::Str(out), i + 1)),
            '\\' => {
                let (c, next) = escape(chars, i + 1)?;
                out.push(c);
                i = next;
            }
            '\n' => break,
            c => {
                out.push(c);
                i += 1;
            }
        }
    }
    Err("unterminated quoted string".into())
}

/// One escape after a backslash; the character and where it ends.
fn escape(chars: &[char], i: usize) -> Result<(char, usize), String> {
    let hex = |len: usize| -> Result<(char, usize), String> {
        let digits: String = chars
            .get(i + 1..i + 1 + len)
            .ok_or("bad escape")?
            .iter()
            .collect();
        let value = u32::from_str_radix(&digits, 16).map_err(|_| "bad escape")?;
        Ok((char::from_u32(value).ok_or("bad escape")?, i + 1 + len))
    };
    let simple = |c: char| Ok((c, i + 1));
    match chars.get(i) {
        Some('n') => simple('\n'),
        Some('t') => simple('\t'),
        Some('r') => simple('\r'),
        Some('a') => simple('\x07'),
        Some('b') => simple('\x08'),
        Some('f') => simple('\x0c'),
        Some('v') => simple('\x0b'),
        Some('\\') => simple('\\'),
        Some('"') => simple('"'),
        Some('\'') => simple('\''),
        Some('x') => hex(2),
        Some('u') => hex(4),
        Some('U') => hex(8),
        _ => Err("bad escape in quoted string".into()),
    }
}

fn raw(chars: &[char], start: usize) -> Result<(Token, usize), String> {
    let end = chars[start + 1..]
        .iter()
        .position(|c| *c == '`')
        .ok_or("unterminated raw quoted string")?;
    let text = chars[start + 1..start + 1 + end].iter().collect();
    Ok((Token::Str(text), start + end + 2))
}

/// `'a'`: a rune, which Go treats as an integer.
fn char_constant(chars: &[char], start: usize) -> Result<(Token, usize), String> {
    let (c, next) = match chars.get(start + 1) {
        Some('\\') => escape(chars, start + 2)?,
        Some(c) => (*c, start + 2),
        None => return Err("unterminated character constant".into()),
    };
    if chars.get(next) != Some(&'\'') {
        return Err("unterminated character constant".into());
    }
    Ok((Token::Int(i64::from(u32::from(c))), next + 1))
}

/// An integer: decimal, `0x`, `0o`/leading `0`, or `0b`, with a sign.
fn number(chars: &[char], start: usize) -> Result<(Token, usize), String> {
    let mut end = start;
    while end < chars.len()
        && (chars[end].is_ascii_alphanumeric() || matches!(chars[end], '-' | '+' | '.' | '_'))
    {
        end += 1;
    }
    let text: String = chars[start..end].iter().collect();
    let (negative, digits) = match text.as_bytes().first() {
        Some(b'-') => (true, &text[1..]),
        Some(b'+') => (false, &text[1..]),
        _ => (false, text.as_str()),
    };
    let digits = digits.replace('_', "");
    let parsed = if let Some(hex) = digits.strip_prefix("0x").or(digits.strip_prefix("0X")) {
        i64::from_str_radix(hex, 16)
    } else if let Some(bin) = digits.strip_prefix("0b").or(digits.strip_prefix("0B")) {
        i64::from_str_radix(bin, 2)
    } else if let Some(oct) = digits.strip_prefix("0o").or(digits.strip_prefix("0O")) {
        i64::from_str_radix(oct, 8)
    } else if digits.len() > 1 && digits.starts_with('0') {
        i64::from_str_radix(&digits[1..], 8)
    } else {
        digits.parse()
    };
    let value = parsed.map_err(|_| format!("bad number syntax: {text:?}"))?;
    Ok((Token::Int(if negative { -value } else { value }), end))
}
