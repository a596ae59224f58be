//! The Corefile lexer: CoreDNS's (Caddy v1) rules, character for character.
//!
//! - whitespace is the only separator; `{`, `}` and `,` are ordinary
//!   characters unless surrounded by whitespace;
//! - a token that starts with `"` runs to the next unescaped `"`; only `\"`
//!   is an escape, every other backslash is kept;
//! - `#` outside quotes starts a comment, even in the middle of a word;
//! - a leading BOM is dropped and `\r` is ignored.

use std::sync::Arc;

/// One token with the file and line it started on.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Token {
    pub text: String,
    pub file: Arc<str>,
    pub line: usize,
}

impl Token {
    /// The number of line breaks inside the token (quoted tokens may span lines).
    pub fn line_breaks(&self) -> usize {
        self.text.matches('\n').count()
    }
}

/// Splits Corefile text into tokens.
pub fn tokenize(input: &str, file: &str) -> Vec<Token> {
    let file: Arc<str> = Arc::from(file);
    let input = input.strip_prefix('\u{feff}').unwrap_or(input);
    let mut lexer = Lexer {
        tokens: Vec::new(),
        file,
        line: 1,
        value: String::new(),
        start: 1,
    };
    lexer.run(input);
    lexer.tokens
}

struct Lexer {
    tokens: Vec<Token>,
    file: Arc<str>,
    line: usize,
    value: String,
    start: usize,
}

impl Lexer {
    fn run(&mut self, input: &str) {
        let mut quoted = false;
        let mut escaped = false;
        let mut comment = false;
        let mut quoted_token = false;
        for ch in input.chars() {
            if quoted {
                if !escaped {
                    if ch == '\\' {
                        escaped = true;
                        continue;
                    }
                    if ch == '"' {
                        quoted = false;
                        self.emit(true);
                        quoted_token = false;
                        continue;
                    }
                }
                if ch == '\n' {
                    self.line += 1;
                }
                if escaped && ch != '"' {
                    self.value.push('\\');
                }
                self.value.push(ch);
                escaped = false;
                continue;
            }
            if ch.is_whitespace() {
                if ch == '\r' {
                    continue;
                }
                if ch == '\n' {
                    self.line += 1;
                    comment = false;
                }
                self.emit(false);
                continue;
            }
            if ch == '#' {
                comment = true;
            }
            if comment {
                continue;
            }
            if self.value.is_empty() && !quoted_token {
                self.start = self.line;
                if ch == '"' {
                    quoted = true;
                    quoted_token = true;
                    continue;
                }
            }
            self.value.push(ch);
        }
        self.emit(quoted_token);
    }

    /// Ends the current token. An empty quoted token (`""`) is still a token.
    fn emit(&mut self, force: bool) {
        if self.value.is_empty() && !force {
            return;
        }
        self.tokens.push(Token {
            text: std::mem::take(&mut self.value),
            file: self.file.clone(),
            line: self.start,
        });
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn texts(input: &str) -> Vec<String> {
        tokenize(input, "Corefile")
            .into_iter()
            .map(|t| t.text)
            .collect()
    }

    #[test]
    fn braces_split_only_with_whitespace() {
        assert_eq!(texts(".:53{\nwhoami}"), vec![".:53{", "whoami}"]);
        assert_eq!(
            texts(".:53 {\n whoami\n}"),
            vec![".:53", "{", "whoami", "}"]
        );
    }

    #[test]
    fn comments_cut_words_but_not_quotes() {
        assert_eq!(texts("foo#bar baz\nnext"), vec!["foo", "next"]);
        assert_eq!(texts("\"a#b\" c"), vec!["a#b", "c"]);
    }

    #[test]
    fn quoting_rules() {
        assert_eq!(texts(r#""a \"q\" b""#), vec![r#"a "q" b"#]);
        assert_eq!(texts(r#""a\b""#), vec![r"a\b"]);
        assert_eq!(texts(r#""\\""#), vec![r"\\"]);
        assert_eq!(texts(r#"a"b c""#), vec![r#"a"b"#, r#"c""#]);
        assert_eq!(texts(r#""" x"#), vec!["", "x"]);
    }

    #[test]
    fn bom_and_carriage_returns_are_dropped() {
        let tokens = tokenize("\u{feff}.:53 {\r\n  whoami\r\n}\r\n", "f");
        let lines: Vec<_> = tokens.iter().map(|t| (t.text.as_str(), t.line)).collect();
        assert_eq!(lines, vec![(".:53", 1), ("{", 1), ("whoami", 2), ("}", 3)]);
    }

    #[test]
    fn quoted_token_spanning_lines_keeps_its_start_line() {
        let tokens = tokenize("a \"x\ny\" b", "f");
        assert_eq!(tokens[1].line, 1);
        assert_eq!(tokens[1].line_breaks(), 1);
        assert_eq!(tokens[2].line, 2);
    }
}
