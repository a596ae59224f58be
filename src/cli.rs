//! Command-line flags in Go's `flag` syntax (`-conf FILE`, `-conf=FILE`,
//! `--conf FILE`), with CoreDNS's names.

/// The parsed flags.
#[derive(Debug, Default)]
pub(crate) struct Flags {
    pub conf: Option<String>,
    pub dns_port: u16,
    pub version: bool,
    pub plugins: bool,
    pub quiet: bool,
    pub pidfile: Option<String>,
    /// Validate the Corefile and exit (beyond CoreDNS).
    pub check: bool,
}

const USAGE: &str = "Usage of clusterdns:
  -conf string       Corefile to load (default \"Corefile\"), or \"stdin\"
  -dns.port string   Default port (default \"53\"); also -p
  -check             Validate the Corefile (parse and set up every plugin) and exit
  -pidfile string    Path to write pid file
  -plugins           List installed plugins
  -quiet             Quiet mode (no initialization output)
  -version           Show version";

impl Flags {
    pub(crate) fn parse(args: impl IntoIterator<Item = String>) -> Result<Flags, String> {
        let mut flags = Flags {
            dns_port: 53,
            ..Default::default()
        };
        let mut args = args.into_iter();
        while let Some(arg) = args.next() {
            let trimmed = arg.trim_start_matches('-');
            if trimmed.len() == arg.len() {
                return Err(format!("unexpected argument {arg:?}\n{USAGE}"));
            }
            let (name, inline) = match trimmed.split_once('=') {
                Some((name, value)) => (name, Some(value.to_string())),
                None => (trimmed, None),
            };
            let mut value = || {
                inline
                    .clone()
                    .or_else(|| args.next())
                    .ok_or(format!("flag needs an argument: -{name}\n{USAGE}"))
            };
            match name {
                "conf" => flags.conf = Some(value()?),
                "dns.port" | "p" => {
                    let text = value()?;
                    flags.dns_port = text.parse().map_err(|_| format!("invalid port {text:?}"))?;
                }
                "pidfile" => flags.pidfile = Some(value()?),
                "version" => flags.version = bool_flag(&inline)?,
                "plugins" => flags.plugins = bool_flag(&inline)?,
                "quiet" => flags.quiet = bool_flag(&inline)?,
                "check" => flags.check = bool_flag(&inline)?,
                "h" | "help" => return Err(USAGE.to_string()),
                other => return Err(format!("flag provided but not defined: -{other}\n{USAGE}")),
            }
        }
        Ok(flags)
    }
}

fn bool_flag(inline: &Option<String>) -> Result<bool, String> {
    match inline.as_deref() {
        None | Some("true") | Some("1") => Ok(true),
        Some("false") | Some("0") => Ok(false),
        Some(other) => Err(format!("invalid boolean value {other:?}")),
    }
}

/// `clusterdns-0.1.0` and `linux/x86_64, rust, <revision>`, the shape of
/// CoreDNS's version lines.
pub(crate) fn version_lines() -> String {
    format!(
        "clusterdns-{}\n{}/{}, rust, {}",
        env!("CARGO_PKG_VERSION"),
        std::env::consts::OS,
        std::env::consts::ARCH,
        option_env!("CLUSTERDNS_REVISION").unwrap_or("dev")
    )
}
