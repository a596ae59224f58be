//! Corefile error values whose `Display` is CoreDNS's exact text.

use std::fmt;

/// An error while reading, parsing or setting up a Corefile.
///
/// The text is what CoreDNS prints, e.g.
/// `Corefile:3 - Error during parsing: Unknown directive 'foo'`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CorefileError(pub String);

impl CorefileError {
    /// `FILE:LINE - Error during parsing: MSG`.
    pub fn parsing(file: &str, line: usize, msg: impl fmt::Display) -> Self {
        CorefileError(format!("{file}:{line} - Error during parsing: {msg}"))
    }

    /// `FILE:LINE - Syntax error: Unexpected token 'TOK', expecting 'WANT'`.
    pub fn syntax(file: &str, line: usize, token: &str, expected: &str) -> Self {
        CorefileError(format!(
            "{file}:{line} - Syntax error: Unexpected token '{token}', expecting '{expected}'"
        ))
    }

    /// An error not tied to a line.
    pub fn plain(msg: impl fmt::Display) -> Self {
        CorefileError(msg.to_string())
    }

    /// Prefixes the error with `plugin/NAME: `, as plugin setup errors are.
    pub fn in_plugin(self, name: &str) -> Self {
        CorefileError(format!("plugin/{name}: {}", self.0))
    }
}

impl fmt::Display for CorefileError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for CorefileError {}
