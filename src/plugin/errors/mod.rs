//! errors: logs the errors the plugins below it return.
//!
//! Line format (CoreDNS): `[ERROR] plugin/errors: RCODE QNAME QTYPE: ERR`,
//! RCODE as a number, QNAME lower-case. `consolidate` folds errors that match
//! a pattern into one summary line per period.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use regex::Regex;

use crate::corefile::{CorefileError, Dispenser};
use crate::dns::{Exchange, Flow, Next, Plugin};
use crate::logging;

/// One `consolidate DURATION REGEXP [LEVEL] [show_first]` rule.
struct Pattern {
    period: Duration,
    /// The pattern as written, which the summary line shows.
    source: String,
    regex: Regex,
    level: &'static str,
    show_first: bool,
    count: Mutex<u64>,
}

pub(crate) struct Errors {
    patterns: Arc<Vec<Arc<Pattern>>>,
}

pub(crate) fn setup(d: &mut Dispenser) -> Result<Errors, CorefileError> {
    let mut patterns = Vec::new();
    while d.next_once()? {
        let args = d.remaining_args();
        if args.len() > 1 || args.first().is_some_and(|a| a != "stdout") {
            return Err(d.arg_err());
        }
        while d.next_block() {
            match d.val() {
                "stacktrace" => {
                    if d.next_arg() {
                        return Err(d.arg_err());
                    }
                }
                "consolidate" => patterns.push(Arc::new(parse_consolidate(d)?)),
                _ => return Err(d.unknown_property()),
            }
        }
    }
    Ok(Errors {
        patterns: Arc::new(patterns),
    })
}

fn parse_consolidate(d: &mut Dispenser) -> Result<Pattern, CorefileError> {
    let args = d.remaining_args();
    if args.len() < 2 || args.len() > 4 {
        return Err(d.arg_err());
    }
    let period = crate::duration::parse_go_duration(&args[0])
        .map_err(|_| d.err(format!("invalid duration: '{}'", args[0])))?;
    if args[1].len() > 10_000 {
        return Err(d.err("regex length must not exceed 10000 characters"));
    }
    let regex =
        crate::plugin::pkg::go_regex::compile(&args[1]).map_err(|e| d.err(e.to_string()))?;
    let mut level = "ERROR";
    let mut show_first = false;
    for arg in &args[2..] {
        match arg.as_str() {
            "warning" => level = "WARNING",
            "error" => level = "ERROR",
            "info" => level = "INFO",
            "debug" => level = "DEBUG",
            "show_first" => show_first = true,
            other => {
                return Err(d.err(format!(
                    "unknown log level argument in consolidate: '{other}'"
                )));
            }
        }
    }
    Ok(Pattern {
        period,
        source: args[1].clone(),
        regex,
        level,
        show_first,
        count: Mutex::new(0),
    })
}

impl Plugin for Errors {
    fn name(&self) -> &'static str {
        "errors"
    }

    fn serve(&self, req: crate::dns::Request, next: Next) -> Flow {
        let patterns = self.patterns.clone();
        next.serve(req).map(move |exchange| {
            report(&patterns, &exchange);
            exchange
        })
    }
}

fn report(patterns: &[Arc<Pattern>], exchange: &Exchange) {
    let Some(text) = error_text(exchange) else {
        return;
    };
    match patterns.iter().find(|p| p.regex.is_match(&text)) {
        Some(pattern) => consolidate(pattern, &text),
        None => logging::error("errors", &text),
    }
}

/// `RCODE QNAME QTYPE: ERR` for an exchange that ended in an error.
fn error_text(exchange: &Exchange) -> Option<String> {
    let error = exchange.status.error.as_ref()?;
    let req = &exchange.req;
    Some(format!(
        "{} {} {}: {}",
        u16::from(exchange.status.rcode),
        req.qname_lower,
        crate::dns::names::type_text(req.qtype()),
        error
    ))
}

fn consolidate(pattern: &Arc<Pattern>, text: &str) {
    let mut count = pattern.count.lock().expect("errors count lock");
    *count += 1;
    if *count > 1 {
        return;
    }
    if pattern.show_first {
        logging::level(pattern.level, &format!("plugin/errors: {text}"));
    }
    let pattern = pattern.clone();
    if let Ok(runtime) = tokio::runtime::Handle::try_current() {
        runtime.spawn(async move {
            tokio::time::sleep(pattern.period).await;
            let seen = std::mem::take(&mut *pattern.count.lock().expect("errors count lock"));
            if let Some(line) = summary(&pattern, seen) {
                logging::level(pattern.level, &line);
            }
        });
    }
}

/// The line that ends a period in which `seen` errors matched `pattern`:
/// none when the only one was already shown.
fn summary(pattern: &Pattern, seen: u64) -> Option<String> {
    let shown = if pattern.show_first {
        seen.checked_sub(1).filter(|n| *n > 0)?
    } else {
        seen
    };
    Some(format!(
        "plugin/errors: {shown} errors like '{}' occurred in last {}",
        pattern.source,
        crate::duration::format_go_duration(pattern.period)
    ))
}

#[cfg(test)]
mod tests;
