//! The `clusterdns` command, with CoreDNS's flags.

use std::process::ExitCode;

use clusterdns::Server;
use clusterdns::app::{self, Source};
use clusterdns::lifecycle::Reloader;
use clusterdns::logging;

mod cli;

/// mimalloc: returns freed memory to the system (a 100k-object snapshot
/// parse otherwise leaves glibc's heap fragmented) and allocates faster.
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

fn main() -> ExitCode {
    let code = serve_or_check();
    // Query log lines still queued in memory go out before the exit.
    logging::flush();
    code
}

fn serve_or_check() -> ExitCode {
    let flags = match cli::Flags::parse(std::env::args().skip(1)) {
        Ok(flags) => flags,
        Err(message) => {
            eprintln!("{message}");
            return ExitCode::from(2);
        }
    };
    if flags.version {
        println!("{}", cli::version_lines());
        return ExitCode::SUCCESS;
    }
    if flags.plugins {
        println!("Server types:\n  dns\n\nCaddyfile loaders:\n  flag\n  default\n\nOther plugins:");
        for name in clusterdns::ORDER {
            println!("  dns.{name}");
        }
        return ExitCode::SUCCESS;
    }
    let source = Source::from_flag(flags.conf.as_deref());
    let instance = match app::load(&source, flags.dns_port) {
        Ok(instance) => instance,
        Err(error) => {
            eprintln!("{error}");
            return ExitCode::from(1);
        }
    };
    if flags.check {
        println!("Corefile {} is valid", source.display_name());
        return ExitCode::SUCCESS;
    }
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .expect("tokio runtime");
    runtime.block_on(run(flags, source, instance))
}

async fn run(flags: cli::Flags, source: Source, instance: app::Instance) -> ExitCode {
    // Handlers first: a signal that arrives while the listeners are being
    // bound waits for the loop below instead of killing the process.
    let signals = Signals::install();
    let zone_lines = instance.zone_lines.clone();
    let (hash, period) = (instance.hash.clone(), instance.reload);
    let workers = std::thread::available_parallelism()
        .map(|n| n.get())
        .unwrap_or(1);
    let server = match Server::start(instance, workers).await {
        Ok(server) => server,
        Err(error) => {
            eprintln!("{error}");
            return ExitCode::from(1);
        }
    };
    if let Some(pidfile) = &flags.pidfile
        && let Err(error) = std::fs::write(pidfile, format!("{}\n", std::process::id()))
    {
        eprintln!("Could not write pidfile: {error}");
        return ExitCode::from(1);
    }
    if !flags.quiet {
        for line in &zone_lines {
            println!("{line}");
        }
    }
    let reloader = Reloader::new(server, source, flags.dns_port, hash, period);
    if !flags.quiet {
        println!("{}", cli::version_lines());
    }
    tokio::spawn(reloader.clone().poll());
    signals.serve(&reloader).await
}

/// The signals the server handles, registered once at startup.
struct Signals {
    term: tokio::signal::unix::Signal,
    interrupt: tokio::signal::unix::Signal,
    usr1: tokio::signal::unix::Signal,
    hangup: tokio::signal::unix::Signal,
}

impl Signals {
    fn install() -> Signals {
        use tokio::signal::unix::{SignalKind, signal};
        Signals {
            term: signal(SignalKind::terminate()).expect("SIGTERM handler"),
            interrupt: signal(SignalKind::interrupt()).expect("SIGINT handler"),
            usr1: signal(SignalKind::user_defined1()).expect("SIGUSR1 handler"),
            hangup: signal(SignalKind::hangup()).expect("SIGHUP handler"),
        }
    }

    /// SIGUSR1 reloads, SIGTERM shuts down with lameduck, SIGINT exits.
    async fn serve(mut self, reloader: &Reloader) -> ExitCode {
        loop {
            tokio::select! {
                _ = self.term.recv() => return shutdown(&*reloader.server.lock().await).await,
                _ = self.interrupt.recv() => return ExitCode::SUCCESS,
                _ = self.hangup.recv() => {}
                _ = self.usr1.recv() => reloader.reload().await,
            }
        }
    }
}

/// SIGTERM: `/ready` goes 503, DNS keeps answering for `lameduck`, exit 0.
async fn shutdown(server: &Server) -> ExitCode {
    server.http.begin_shutdown();
    let lameduck = server.lameduck();
    if !lameduck.is_zero() {
        let shown = clusterdns::format_go_duration(lameduck);
        logging::info("health", &format!("Going into lameduck mode for {shown}"));
        tokio::time::sleep(lameduck).await;
    }
    ExitCode::SUCCESS
}
