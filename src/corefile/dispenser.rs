//! The Dispenser: how a plugin's setup walks its directive's tokens, with
//! CoreDNS's argument-error texts and `FILE:LINE` positions.

use super::error::CorefileError;
use super::lexer::Token;

/// A cursor over the tokens of one directive name in one server block.
pub struct Dispenser<'a> {
    tokens: &'a [Token],
    cursor: isize,
    nesting: usize,
    occurrences: usize,
}

impl<'a> Dispenser<'a> {
    pub fn new(tokens: &'a [Token]) -> Self {
        Dispenser {
            tokens,
            cursor: -1,
            nesting: 0,
            occurrences: 0,
        }
    }

    /// Moves to the next token, wherever it is (Caddy's `Next`).
    #[allow(clippy::should_implement_trait)]
    pub fn next(&mut self) -> bool {
        if self.cursor < self.tokens.len() as isize - 1 {
            self.cursor += 1;
            true
        } else {
            false
        }
    }

    /// `next()` for a plugin that may appear once per server block: a second
    /// occurrence is CoreDNS's `plugin.ErrOnce`.
    pub fn next_once(&mut self) -> Result<bool, CorefileError> {
        if !self.next() {
            return Ok(false);
        }
        self.occurrences += 1;
        if self.occurrences > 1 {
            return Err(CorefileError::plain(
                "this plugin can only be used once per Server Block",
            ));
        }
        Ok(true)
    }

    /// Parses the single occurrence of a once-per-block directive.
    pub fn single<T>(
        &mut self,
        mut parse: impl FnMut(&mut Self) -> Result<T, CorefileError>,
    ) -> Result<T, CorefileError> {
        let mut value = None;
        while self.next_once()? {
            value = Some(parse(self)?);
        }
        value.ok_or_else(|| self.arg_err())
    }

    /// Moves to the next token only if it is on the same line.
    pub fn next_arg(&mut self) -> bool {
        if self.cursor < 0 || self.cursor as usize + 1 >= self.tokens.len() {
            return false;
        }
        let (current, next) = (
            &self.tokens[self.cursor as usize],
            &self.tokens[self.cursor as usize + 1],
        );
        if current.file == next.file && current.line + current.line_breaks() == next.line {
            self.cursor += 1;
            return true;
        }
        false
    }

    /// Walks the lines inside a `{ … }` block after the directive's arguments.
    /// Returns false at the closing brace.
    pub fn next_block(&mut self) -> bool {
        if self.nesting > 0 {
            if !self.next() {
                return false;
            }
            if self.val() == "}" {
                self.nesting -= 1;
                return false;
            }
            return true;
        }
        if !self.next_arg() {
            return false;
        }
        if self.val() != "{" {
            self.cursor -= 1;
            return false;
        }
        if !self.next() {
            return false;
        }
        if self.val() == "}" {
            return false;
        }
        self.nesting += 1;
        true
    }

    /// The rest of the arguments on this line.
    pub fn remaining_args(&mut self) -> Vec<String> {
        let mut args = Vec::new();
        while self.next_arg() {
            if self.val() == "{" {
                self.cursor -= 1;
                break;
            }
            args.push(self.val().to_string());
        }
        args
    }

    /// The current token's text.
    pub fn val(&self) -> &str {
        self.token().map(|t| t.text.as_str()).unwrap_or("")
    }

    pub fn line(&self) -> usize {
        self.token().map(|t| t.line).unwrap_or(0)
    }

    /// The file of the current token (for an error reported later, at a
    /// line read earlier).
    pub fn file(&self) -> &str {
        self.token().map(|t| t.file.as_ref()).unwrap_or("")
    }

    fn token(&self) -> Option<&Token> {
        usize::try_from(self.cursor)
            .ok()
            .and_then(|i| self.tokens.get(i))
    }

    /// `FILE:LINE - Error during parsing: MSG`.
    pub fn err(&self, msg: impl std::fmt::Display) -> CorefileError {
        let file = self.token().map(|t| t.file.as_ref()).unwrap_or("");
        CorefileError::parsing(file, self.line(), msg)
    }

    /// The Dispenser's `ArgErr`.
    pub fn arg_err(&self) -> CorefileError {
        if self.val() == "{" {
            return self.err("Unexpected token '{', expecting argument");
        }
        self.err(format!(
            "Wrong argument count or unexpected line ending after '{}'",
            self.val()
        ))
    }

    /// `unknown property 'x'`, as health, ready, log, forward and kubernetes say.
    pub fn unknown_property(&self) -> CorefileError {
        self.err(format!("unknown property '{}'", self.val()))
    }
}
