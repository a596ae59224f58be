//! Loading a configuration: where the Corefile comes from, parsing it, and
//! building an instance. Shared by startup, reload and `-check`.

use std::io::Read;
use std::path::{Path, PathBuf};

use crate::corefile::{CorefileError, ServerBlock, parse};
use crate::plugin::registry::is_known;
pub use crate::server::instance::Instance;
use crate::server::instance::build;

/// The Corefile CoreDNS runs when none is given: `.:PORT { whoami log }`.
pub fn default_corefile(dns_port: u16) -> String {
    format!(".:{dns_port} {{\n    whoami\n    log\n}}\n")
}

/// Where the Corefile is read from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Source {
    File(PathBuf),
    Stdin,
    BuiltIn,
}

impl Source {
    /// `-conf` as given; without it `./Corefile` if present, else the built-in default.
    pub fn from_flag(conf: Option<&str>) -> Source {
        match conf {
            Some("stdin") => Source::Stdin,
            Some(path) => Source::File(PathBuf::from(path)),
            None if Path::new("Corefile").exists() => Source::File(PathBuf::from("Corefile")),
            None => Source::BuiltIn,
        }
    }

    /// The name errors show for this source.
    pub fn display_name(&self) -> String {
        match self {
            Source::File(path) => path.display().to_string(),
            Source::Stdin => "stdin".to_string(),
            Source::BuiltIn => "Corefile".to_string(),
        }
    }

    /// Reads the text (stdin is read once; later reads return the same text).
    pub fn read(&self, dns_port: u16) -> Result<String, CorefileError> {
        match self {
            Source::File(path) => std::fs::read_to_string(path)
                .map_err(|e| CorefileError::plain(format!("open {}: {e}", path.display()))),
            Source::Stdin => {
                static STDIN: std::sync::OnceLock<String> = std::sync::OnceLock::new();
                Ok(STDIN
                    .get_or_init(|| {
                        let mut text = String::new();
                        let _ = std::io::stdin().read_to_string(&mut text);
                        text
                    })
                    .clone())
            }
            Source::BuiltIn => Ok(default_corefile(dns_port)),
        }
    }
}

/// Parses Corefile text; an empty file gives the built-in default.
pub fn parse_corefile(
    text: &str,
    name: &str,
    dns_port: u16,
) -> Result<Vec<ServerBlock>, CorefileError> {
    let blocks = parse(text, name, &is_known)?;
    if blocks.is_empty() {
        return parse(&default_corefile(dns_port), name, &is_known);
    }
    Ok(blocks)
}

/// Reads and parses a configuration; returns the blocks and their hash.
pub fn parse_source(
    source: &Source,
    dns_port: u16,
) -> Result<(Vec<ServerBlock>, String), CorefileError> {
    let text = source.read(dns_port)?;
    let blocks = parse_corefile(&text, &source.display_name(), dns_port)?;
    let hash = crate::plugin::reload::config_hash(&blocks);
    Ok((blocks, hash))
}

/// Reads, parses and builds a configuration, opening nothing.
pub fn load(source: &Source, dns_port: u16) -> Result<Instance, CorefileError> {
    let (blocks, hash) = parse_source(source, dns_port)?;
    let mut instance = build(&blocks, dns_port)?;
    instance.hash = hash;
    Ok(instance)
}
