//! The Corefile language: lexer, parser and server-block addresses.
//!
//! Why a faithful copy of CoreDNS's grammar: operators keep their ConfigMap
//! unchanged when they swap the image, so every quirk of the Caddy-derived
//! lexer (no line continuation, `#` inside words, braces only as separate
//! tokens) and every error text must match what CoreDNS would say.

mod address;
mod dispenser;
mod env;
mod error;
mod lexer;
mod parser;

pub use address::{Address, Scheme, parse_address};
pub use dispenser::Dispenser;
pub use error::CorefileError;
pub use lexer::{Token, tokenize};
pub use parser::{ServerBlock, parse, parse_file};
