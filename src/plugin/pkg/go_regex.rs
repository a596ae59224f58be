//! Compiles a pattern with Go's meaning of the Perl classes, for the
//! plugins whose Corefile arguments CoreDNS reads as Go regular expressions
//! (errors' `consolidate`, rewrite's `regex` rules).
//!
//! CoreDNS compiles these patterns with Go's `regexp`, where `\d`, `\w` and
//! `\s` (and their negations) are ASCII-only; the `regex` crate makes them
//! Unicode-wide. Rewriting them to their ASCII sets keeps the matches
//! CoreDNS makes, and also keeps compiling cheap: a Unicode `\W` is hundreds
//! of ranges, and a dozen of them in one pattern took a quarter of a second
//! to compile.
//!
//! A bare `[` inside a bracket class is a literal in Go but opens a nested
//! class in `regex`, so it is escaped; `[:alpha:]` keeps its meaning.

use regex::Regex;

/// The pattern with Go's semantics, compiled.
pub(crate) fn compile(pattern: &str) -> Result<Regex, regex::Error> {
    Regex::new(&rewrite(pattern))
}

/// The ASCII set a Perl class escape stands for, and whether it is negated.
fn perl_class(escape: char) -> Option<(&'static str, bool)> {
    match escape {
        'd' => Some(("0-9", false)),
        'D' => Some(("0-9", true)),
        'w' => Some(("0-9A-Za-z_", false)),
        'W' => Some(("0-9A-Za-z_", true)),
        's' => Some((r"\t\n\x0C\r ", false)),
        'S' => Some((r"\t\n\x0C\r ", true)),
        _ => None,
    }
}

fn rewrite(pattern: &str) -> String {
    let mut out = String::with_capacity(pattern.len() + 16);
    let mut chars = pattern.chars().peekable();
    // Some(n): inside a bracket class, n characters after its opening.
    let mut class: Option<usize> = None;
    while let Some(c) = chars.next() {
        match c {
            '\\' => match chars.next() {
                Some(escape) => match perl_class(escape) {
                    Some((set, negated)) => push_set(&mut out, set, negated, class.is_some()),
                    None => {
                        out.push('\\');
                        out.push(escape);
                    }
                },
                None => out.push('\\'),
            },
            '[' if class.is_none() => {
                out.push('[');
                class = Some(0);
                if chars.peek() == Some(&'^') {
                    out.push(chars.next().unwrap_or('^'));
                }
                continue;
            }
            '[' if chars.peek() == Some(&':') => {
                out.push('[');
                for inner in chars.by_ref() {
                    out.push(inner);
                    if inner == ']' {
                        break;
                    }
                }
            }
            '[' => out.push_str(r"\["),
            ']' if class.is_some_and(|n| n > 0) => {
                out.push(']');
                class = None;
                continue;
            }
            other => out.push(other),
        }
        if let Some(n) = class.as_mut() {
            *n += 1;
        }
    }
    out
}

/// `[set]` / `[^set]` outside a class; inside one, the positive set is
/// spliced in and the negated one nested.
fn push_set(out: &mut String, set: &str, negated: bool, in_class: bool) {
    if in_class && !negated {
        out.push_str(set);
        return;
    }
    out.push_str(if negated { "[^" } else { "[" });
    out.push_str(set);
    out.push(']');
}

#[cfg(test)]
mod tests {
    use super::compile;

    #[test]
    fn perl_classes_are_ascii_as_in_go() {
        assert!(!compile(r"^\w+$").unwrap().is_match("é"));
        assert!(compile(r"^\W$").unwrap().is_match("é"));
        assert!(!compile(r"^\d$").unwrap().is_match("٣"));
        assert!(compile(r"^\s$").unwrap().is_match("\t"));
        assert!(!compile(r"^\s$").unwrap().is_match("\u{a0}"));
        assert!(compile(r"^[\d.]+$").unwrap().is_match("10.0.0.1"));
        assert!(compile(r"^[x\W]+$").unwrap().is_match("x-é"));
        assert!(!compile(r"^[^\d]$").unwrap().is_match("7"));
    }

    #[test]
    fn escapes_brackets_and_posix_classes_keep_their_meaning() {
        assert!(compile(r"^\\w$").unwrap().is_match(r"\w"));
        assert!(compile(r"^[a[]+$").unwrap().is_match("a[a"));
        assert!(compile(r"^[]a]+$").unwrap().is_match("]a"));
        assert!(compile(r"^[[:digit:]x]+$").unwrap().is_match("4x2"));
        assert!(
            compile(r"i/o timeout$")
                .unwrap()
                .is_match("read: i/o timeout")
        );
        assert!(compile(r"(").is_err());
    }

    #[test]
    fn many_negated_classes_compile_quickly_and_match() {
        let pattern = r"\W".repeat(200);
        let regex = compile(&pattern).unwrap();
        assert!(regex.is_match(&"-".repeat(200)));
        assert!(!regex.is_match(&"-".repeat(199)));
    }
}
