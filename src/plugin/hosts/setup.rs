//! The `hosts` directive's options, with CoreDNS's error texts.

use std::path::PathBuf;
use std::time::Duration;

use crate::corefile::{CorefileError, Dispenser};
use crate::duration::parse_go_duration;
use crate::plugin::pkg::zones::{Fall, zones_from_args};

/// The parsed `hosts` directive.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Options {
    pub path: PathBuf,
    /// The zones answered (the block's when none are given).
    pub origins: Vec<String>,
    /// Lines written inside the block before any option.
    pub inline: Vec<String>,
    pub ttl: u32,
    /// How often the file is checked; zero never.
    pub reload: Duration,
    pub reverse: bool,
    pub fall: Fall,
    pub fall_unsupported: bool,
}

pub(crate) fn parse(d: &mut Dispenser, block_zones: &[String]) -> Result<Options, CorefileError> {
    let mut o = Options {
        path: PathBuf::from("/etc/hosts"),
        origins: block_zones.to_vec(),
        inline: Vec::new(),
        ttl: 3600,
        reload: Duration::from_secs(5),
        reverse: true,
        fall: Fall::default(),
        fall_unsupported: false,
    };
    while d.next_once()? {
        let mut args = d.remaining_args().into_iter();
        if let Some(path) = args.next() {
            o.path = PathBuf::from(path);
            check_file(d, &o.path)?;
        }
        o.origins = zones_from_args(args.collect(), block_zones)?;
        while d.next_block() {
            option(d, &mut o)?;
        }
    }
    if o.fall_unsupported && !o.fall.is_set() {
        return Err(d.err("fallthrough_unsupported requires fallthrough"));
    }
    Ok(o)
}

fn option(d: &mut Dispenser, o: &mut Options) -> Result<(), CorefileError> {
    let name = d.val().to_string();
    let args = d.remaining_args();
    match name.as_str() {
        "fallthrough" => o.fall = Fall::from_args(args)?,
        "fallthrough_unsupported" if args.is_empty() => o.fall_unsupported = true,
        "fallthrough_unsupported" => return Err(d.arg_err()),
        "no_reverse" => o.reverse = false,
        "ttl" => o.ttl = ttl(d, &args)?,
        "reload" => o.reload = reload(d, &args)?,
        // Anything else before a fallthrough is a line of inline entries.
        _ if !o.fall.is_set() => {
            let mut line = vec![name];
            line.extend(args);
            o.inline.push(line.join(" "));
        }
        other => return Err(d.err(format!("unknown property '{other}'"))),
    }
    Ok(())
}

fn ttl(d: &Dispenser, args: &[String]) -> Result<u32, CorefileError> {
    let first = args
        .first()
        .ok_or_else(|| d.err("ttl needs a time in second"))?;
    let ttl: i64 = first
        .parse()
        .map_err(|_| d.err("ttl needs a number of second"))?;
    if !(1..=65535).contains(&ttl) {
        return Err(d.err("ttl provided is invalid"));
    }
    Ok(ttl as u32)
}

fn reload(d: &Dispenser, args: &[String]) -> Result<Duration, CorefileError> {
    let [value] = args else {
        return Err(d.err("reload needs a duration (zero seconds to disable)"));
    };
    if value.starts_with('-') && parse_go_duration(&value[1..]).is_ok() {
        return Err(d.err(format!("invalid negative duration for reload '{value}'")));
    }
    parse_go_duration(value).map_err(|_| d.err(format!("invalid duration for reload '{value}'")))
}

/// A file that is missing is only a warning (it may appear later); one
/// that cannot be read for another reason is an error.
fn check_file(d: &Dispenser, path: &std::path::Path) -> Result<(), CorefileError> {
    match std::fs::metadata(path) {
        Ok(meta) if meta.is_dir() => {
            let text = format!("Hosts file {:?} is a directory", path.display().to_string());
            crate::logging::warning("hosts", &text);
            Ok(())
        }
        Ok(_) => Ok(()),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            let text = format!("File does not exist: {}", path.display());
            crate::logging::warning("hosts", &text);
            Ok(())
        }
        Err(e) => Err(d.err(format!(
            "unable to access hosts file '{}': {e}",
            path.display()
        ))),
    }
}
