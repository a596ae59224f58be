//! `printf` with the verbs an RR needs (`%s %v %d %x %X %o %b %c %q`),
//! flags `-` and `0`, width and precision, and Go's `%!v(MISSING)` marks.

use super::exec::Arg;

pub(crate) fn sprintf(format: &str, args: &[Arg]) -> String {
    let mut out = String::new();
    let mut args = args.iter();
    let mut chars = format.chars().peekable();
    while let Some(c) = chars.next() {
        if c != '%' {
            out.push(c);
            continue;
        }
        let mut spec = Spec::default();
        while let Some(&flag) = chars.peek() {
            match flag {
                '-' => spec.left = true,
                '0' => spec.zero = true,
                '+' | ' ' | '#' => {}
                _ => break,
            }
            chars.next();
        }
        spec.width = digits(&mut chars);
        if chars.peek() == Some(&'.') {
            chars.next();
            spec.precision = Some(digits(&mut chars).unwrap_or(0));
        }
        let Some(verb) = chars.next() else {
            out.push_str("%!(NOVERB)");
            break;
        };
        if verb == '%' {
            out.push('%');
            continue;
        }
        match args.next() {
            Some(arg) => out.push_str(&spec.pad(format_one(verb, arg, spec.precision), arg)),
            None => out.push_str(&format!("%!{verb}(MISSING)")),
        }
    }
    let extra: Vec<String> = args.map(debug).collect();
    if !extra.is_empty() {
        out.push_str(&format!("%!(EXTRA {})", extra.join(", ")));
    }
    out
}

#[derive(Default)]
struct Spec {
    left: bool,
    zero: bool,
    width: Option<usize>,
    precision: Option<usize>,
}

impl Spec {
    fn pad(&self, text: String, arg: &Arg) -> String {
        let Some(width) = self.width else {
            return text;
        };
        let len = text.chars().count();
        if len >= width {
            return text;
        }
        let fill = width - len;
        if self.left {
            return format!("{text}{}", " ".repeat(fill));
        }
        if self.zero && matches!(arg, Arg::Int(_)) {
            let (sign, rest) = match text.strip_prefix('-') {
                Some(rest) => ("-", rest),
                None => ("", text.as_str()),
            };
            return format!("{sign}{}{rest}", "0".repeat(fill));
        }
        format!("{}{text}", " ".repeat(fill))
    }
}

fn digits(chars: &mut std::iter::Peekable<std::str::Chars<'_>>) -> Option<usize> {
    let mut value: Option<usize> = None;
    while let Some(d) = chars.peek().and_then(|c| c.to_digit(10)) {
        value = Some(
            value
                .unwrap_or(0)
                .saturating_mul(10)
                .saturating_add(d as usize),
        );
        chars.next();
    }
    value
}

fn format_one(verb: char, arg: &Arg, precision: Option<usize>) -> String {
    match (verb, arg) {
        ('s' | 'v', Arg::Str(s)) => match precision {
            Some(p) => s.chars().take(p).collect(),
            None => s.clone(),
        },
        ('q', Arg::Str(s)) => format!("{s:?}"),
        ('x', Arg::Str(s)) => s.bytes().map(|b| format!("{b:02x}")).collect(),
        ('X', Arg::Str(s)) => s.bytes().map(|b| format!("{b:02X}")).collect(),
        ('d' | 'v', Arg::Int(n)) => n.to_string(),
        ('x', Arg::Int(n)) => signed(*n, |m| format!("{m:x}")),
        ('X', Arg::Int(n)) => signed(*n, |m| format!("{m:X}")),
        ('o', Arg::Int(n)) => signed(*n, |m| format!("{m:o}")),
        ('b', Arg::Int(n)) => signed(*n, |m| format!("{m:b}")),
        ('c', Arg::Int(n)) => u32::try_from(*n)
            .ok()
            .and_then(char::from_u32)
            .unwrap_or('\u{FFFD}')
            .to_string(),
        ('v' | 's', Arg::Other(printed, _)) => printed.clone(),
        (verb, arg) => format!("%!{verb}({})", debug(arg)),
    }
}

fn signed(n: i128, digits: impl Fn(u128) -> String) -> String {
    if n < 0 {
        format!("-{}", digits(n.unsigned_abs()))
    } else {
        digits(n as u128)
    }
}

/// `type=value`, as Go's bad-verb and EXTRA marks show an operand.
fn debug(arg: &Arg) -> String {
    match arg {
        Arg::Str(s) => format!("string={s}"),
        Arg::Int(n) => format!("int={n}"),
        Arg::Other(_, debug) => debug.clone(),
    }
}
