//! The Corefile parser: server blocks, snippets, `import`, env replacement.
//!
//! It mirrors CoreDNS's Caddy v1 parser. The result groups each block's
//! tokens by directive name, so the order of directives in the file is lost
//! (the plugin order is fixed elsewhere, as in CoreDNS).

use std::collections::HashMap;
use std::path::{Path, PathBuf};

use super::env::replace_env;
use super::error::CorefileError;
use super::lexer::{Token, tokenize};

const MAX_SNIPPET_EXPANSIONS: usize = 10_000;
const MAX_FILE_IMPORTS: usize = 100_000;

/// One server block: its keys and its directives' tokens grouped by name, in
/// the order each name first appeared.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ServerBlock {
    pub keys: Vec<Token>,
    pub directives: Vec<(String, Vec<Token>)>,
}

impl ServerBlock {
    /// The tokens of every occurrence of directive `name`, joined in file order.
    pub fn tokens(&self, name: &str) -> Option<&[Token]> {
        self.directives
            .iter()
            .find(|(n, _)| n == name)
            .map(|(_, t)| t.as_slice())
    }

    fn push(&mut self, name: &str, token: Token) {
        match self.directives.iter_mut().find(|(n, _)| n == name) {
            Some((_, tokens)) => tokens.push(token),
            None => self.directives.push((name.to_string(), vec![token])),
        }
    }
}

/// Reads and parses the Corefile at `path`. `display` is the name used in
/// error messages (the `-conf` argument as given).
pub fn parse_file(
    path: &Path,
    display: &str,
    known: &dyn Fn(&str) -> bool,
) -> Result<Vec<ServerBlock>, CorefileError> {
    let text = std::fs::read_to_string(path).map_err(|e| CorefileError::plain(e.to_string()))?;
    parse(&text, display, known)
}

/// Parses Corefile text. `known` says whether a directive name is a plugin
/// compiled in (unknown names are errors, as in CoreDNS).
pub fn parse(
    text: &str,
    file: &str,
    known: &dyn Fn(&str) -> bool,
) -> Result<Vec<ServerBlock>, CorefileError> {
    let mut parser = Parser {
        tokens: tokenize(text, file),
        cursor: -1,
        known,
        snippets: HashMap::new(),
        snippet_expansions: 0,
        file_imports: 0,
        eof: false,
    };
    parser.parse_all()
}

struct Parser<'k> {
    tokens: Vec<Token>,
    cursor: isize,
    known: &'k dyn Fn(&str) -> bool,
    snippets: HashMap<String, Vec<Token>>,
    snippet_expansions: usize,
    file_imports: usize,
    eof: bool,
}

impl Parser<'_> {
    fn parse_all(&mut self) -> Result<Vec<ServerBlock>, CorefileError> {
        let mut blocks = Vec::new();
        while self.next() {
            let mut block = ServerBlock {
                keys: Vec::new(),
                directives: Vec::new(),
            };
            self.begin(&mut block)?;
            if !block.keys.is_empty() {
                blocks.push(block);
            }
        }
        Ok(blocks)
    }

    // --- cursor helpers (the Caddy Dispenser) ---

    fn next(&mut self) -> bool {
        if self.cursor < self.tokens.len() as isize - 1 {
            self.cursor += 1;
            true
        } else {
            false
        }
    }

    /// Moves to the next token only if it is on the same line.
    fn next_arg(&mut self) -> bool {
        if self.cursor < 0 || self.cursor as usize >= self.tokens.len() - 1 {
            return false;
        }
        let current = &self.tokens[self.cursor as usize];
        let next = &self.tokens[self.cursor as usize + 1];
        if current.file == next.file && current.line + current.line_breaks() == next.line {
            self.cursor += 1;
            return true;
        }
        false
    }

    fn token(&self) -> Option<&Token> {
        usize::try_from(self.cursor)
            .ok()
            .and_then(|i| self.tokens.get(i))
    }

    fn val(&self) -> &str {
        self.token().map(|t| t.text.as_str()).unwrap_or("")
    }

    fn is_new_line(&self) -> bool {
        if self.cursor < 1 {
            return true;
        }
        let i = self.cursor as usize;
        if i >= self.tokens.len() {
            return false;
        }
        let (prev, curr) = (&self.tokens[i - 1], &self.tokens[i]);
        prev.file != curr.file || prev.line + prev.line_breaks() < curr.line
    }

    fn err(&self, msg: impl std::fmt::Display) -> CorefileError {
        let (file, line) = self
            .token()
            .map(|t| (t.file.as_ref(), t.line))
            .unwrap_or(("", 0));
        CorefileError::parsing(file, line, msg)
    }

    fn syntax_err(&self, expected: &str) -> CorefileError {
        let (file, line) = self
            .token()
            .map(|t| (t.file.as_ref(), t.line))
            .unwrap_or(("", 0));
        CorefileError::syntax(file, line, self.val(), expected)
    }

    fn eof_err(&self) -> CorefileError {
        self.err("Unexpected EOF")
    }

    // --- grammar ---

    fn begin(&mut self, block: &mut ServerBlock) -> Result<(), CorefileError> {
        self.addresses(block)?;
        if self.eof {
            return Ok(());
        }
        if let Some(name) = snippet_name(block) {
            if self.snippets.contains_key(&name) {
                return Err(self.err(format!(
                    "redeclaration of previously declared snippet {name}"
                )));
            }
            let tokens = self.snippet_tokens()?;
            self.snippets.insert(name, tokens);
            block.keys.clear();
            return Ok(());
        }
        self.block_contents(block)
    }

    fn addresses(&mut self, block: &mut ServerBlock) -> Result<(), CorefileError> {
        let mut expecting_another = false;
        loop {
            let text = replace_env(self.val());
            if text == "import" && self.is_new_line() {
                self.do_import()?;
                if !self.next() {
                    self.eof = true;
                    return Ok(());
                }
                continue;
            }
            if text == "{" {
                if expecting_another {
                    return Err(
                        self.err("Expected another address but had '{' - check for extra comma")
                    );
                }
                return Ok(());
            }
            if !text.is_empty() {
                let key = match text.strip_suffix(',') {
                    Some(stripped) => {
                        expecting_another = true;
                        stripped.to_string()
                    }
                    None => {
                        expecting_another = false;
                        text
                    }
                };
                if !key.is_empty() {
                    let mut token = self.token().expect("cursor on a token").clone();
                    token.text = key;
                    block.keys.push(token);
                }
            }
            let has_next = self.next();
            if expecting_another && !has_next {
                return Err(self.eof_err());
            }
            if !has_next {
                self.eof = true;
                return Ok(());
            }
            if !expecting_another && self.is_new_line() {
                return Ok(());
            }
        }
    }

    fn snippet_tokens(&mut self) -> Result<Vec<Token>, CorefileError> {
        if self.val() != "{" {
            return Err(self.syntax_err("{"));
        }
        let mut depth = 1;
        let mut tokens = Vec::new();
        while self.next() {
            match self.val() {
                "}" => {
                    depth -= 1;
                    if depth == 0 {
                        break;
                    }
                }
                "{" => depth += 1,
                _ => {}
            }
            tokens.push(self.token().expect("cursor on a token").clone());
        }
        if depth != 0 {
            return Err(self.syntax_err("}"));
        }
        Ok(tokens)
    }

    fn block_contents(&mut self, block: &mut ServerBlock) -> Result<(), CorefileError> {
        let braced = self.val() == "{";
        if !braced {
            self.cursor -= 1;
        }
        self.directives(block)?;
        if braced && self.val() != "}" {
            return Err(self.syntax_err("}"));
        }
        Ok(())
    }

    fn directives(&mut self, block: &mut ServerBlock) -> Result<(), CorefileError> {
        while self.next() {
            if self.val() == "}" {
                break;
            }
            if self.val() == "import" {
                self.do_import()?;
                continue;
            }
            self.directive(block)?;
        }
        Ok(())
    }

    fn directive(&mut self, block: &mut ServerBlock) -> Result<(), CorefileError> {
        let name = replace_env(self.val());
        if !(self.known)(&name) {
            return Err(self.err(format!("Unknown directive '{name}'")));
        }
        let mut head = self.token().expect("cursor on a token").clone();
        head.text = name.clone();
        block.push(&name, head);
        let mut nesting = 0usize;
        while self.next() {
            let val = self.val();
            if val == "{" {
                nesting += 1;
            } else if self.is_new_line() && nesting == 0 {
                self.cursor -= 1;
                break;
            } else if val == "}" && nesting > 0 {
                nesting -= 1;
            } else if val == "}" {
                return Err(self.err("Unexpected '}' because no matching opening brace"));
            } else if val == "import" && self.is_new_line() {
                self.do_import()?;
                continue;
            }
            let mut token = self.token().expect("cursor on a token").clone();
            token.text = replace_env(&token.text);
            block.push(&name, token);
        }
        if nesting > 0 {
            return Err(self.eof_err());
        }
        Ok(())
    }

    /// Replaces `import PATTERN` (cursor on `import`) with the imported
    /// tokens, leaving the cursor just before the first of them.
    fn do_import(&mut self) -> Result<(), CorefileError> {
        let import_at = self.cursor as usize;
        if !self.next_arg() {
            return Err(self.err("Wrong argument count or unexpected line ending after 'import'"));
        }
        let pattern = replace_env(self.val());
        if pattern.is_empty() {
            return Err(self.err("Import requires a non-empty filepath"));
        }
        if self.next_arg() {
            return Err(self.err("Import takes only one argument (glob pattern or file)"));
        }
        let imported = match self.snippets.get(&pattern) {
            Some(tokens) => {
                self.snippet_expansions += 1;
                if self.snippet_expansions > MAX_SNIPPET_EXPANSIONS {
                    return Err(self.err(format!(
                        "maximum snippet import depth ({MAX_SNIPPET_EXPANSIONS}) exceeded"
                    )));
                }
                tokens.clone()
            }
            None => self.import_files(&pattern)?,
        };
        self.tokens.splice(import_at..import_at + 2, imported);
        self.cursor = import_at as isize - 1;
        Ok(())
    }

    fn import_files(&mut self, pattern: &str) -> Result<Vec<Token>, CorefileError> {
        let glob_pattern = self.resolve_import_path(pattern);
        let text = glob_pattern.to_string_lossy().to_string();
        let bracketed = text.contains('[') && text.contains(']');
        if text.matches('*').count() > 1 || text.matches('?').count() > 1 || bracketed {
            return Err(self.err(format!(
                "Glob pattern may only contain one wildcard (*), but has others: {text}"
            )));
        }
        let mut matches: Vec<PathBuf> = glob::glob(&text)
            .map_err(|e| self.err(format!("Failed to use import pattern {pattern}: {e}")))?
            .filter_map(Result::ok)
            .collect();
        matches.sort();
        if matches.is_empty() {
            if text.contains(['*', '?', '[', ']']) {
                crate::logging::warning_raw(&format!(
                    "No files matching import glob pattern: {pattern}"
                ));
            } else {
                return Err(self.err(format!("File to import not found: {pattern}")));
            }
        }
        let mut imported = Vec::new();
        for path in matches {
            self.file_imports += 1;
            if self.file_imports > MAX_FILE_IMPORTS {
                return Err(self.err(format!(
                    "maximum file import count ({MAX_FILE_IMPORTS}) exceeded"
                )));
            }
            imported.extend(self.single_import(&path)?);
        }
        Ok(imported)
    }

    fn resolve_import_path(&self, pattern: &str) -> PathBuf {
        let pattern_path = Path::new(pattern);
        if pattern_path.is_absolute() {
            return pattern_path.to_path_buf();
        }
        let current = self.token().map(|t| t.file.to_string()).unwrap_or_default();
        let absolute = std::path::absolute(&current).unwrap_or_else(|_| PathBuf::from(&current));
        absolute
            .parent()
            .unwrap_or(Path::new("/"))
            .join(pattern_path)
    }

    fn single_import(&self, path: &Path) -> Result<Vec<Token>, CorefileError> {
        let shown = path.display();
        if path.is_dir() {
            return Err(self.err(format!("Could not import {shown}: is a directory")));
        }
        let text = std::fs::read_to_string(path)
            .map_err(|e| self.err(format!("Could not import {shown}: {e}")))?;
        Ok(tokenize(&text, &path.to_string_lossy()))
    }
}

fn snippet_name(block: &ServerBlock) -> Option<String> {
    match block.keys.as_slice() {
        [key] if key.text.starts_with('(') && key.text.ends_with(')') && key.text.len() >= 2 => {
            Some(key.text[1..key.text.len() - 1].to_string())
        }
        _ => None,
    }
}
