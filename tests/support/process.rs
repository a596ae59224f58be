//! Runs the clusterdns binary on a Corefile, collects its stdout lines, and
//! kills it on drop.

use std::io::{BufRead, BufReader};
use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

pub struct Clusterdns {
    pub child: Child,
    pub dir: tempfile::TempDir,
    pub port: u16,
    lines: Arc<Mutex<Vec<String>>>,
}

impl Clusterdns {
    /// Starts clusterdns with `corefile`, in which `PORT` is replaced by a
    /// free port. Waits until it answers on 127.0.0.1.
    pub fn start(corefile: &str) -> Clusterdns {
        let port = super::free_port();
        Self::start_on(corefile, port)
    }

    /// `start` with extra environment variables.
    pub fn start_with_env(corefile: &str, env: &[(&str, &str)]) -> Clusterdns {
        Self::start_on_with_env(corefile, super::free_port(), env)
    }

    pub fn start_on(corefile: &str, port: u16) -> Clusterdns {
        Self::start_on_with_env(corefile, port, &[])
    }

    fn start_on_with_env(corefile: &str, port: u16, env: &[(&str, &str)]) -> Clusterdns {
        let dir = tempfile::tempdir().expect("temp dir");
        let path = dir.path().join("Corefile");
        std::fs::write(&path, corefile.replace("PORT", &port.to_string())).unwrap();
        let mut server = Self::spawn_with_env(&path, &[], dir, env);
        server.port = port;
        server.wait_until_listening();
        server
    }

    /// Spawns the binary with `-conf path` and extra flags, without waiting.
    pub fn spawn(path: &std::path::Path, extra: &[&str], dir: tempfile::TempDir) -> Clusterdns {
        Self::spawn_with_env(path, extra, dir, &[])
    }

    /// `spawn` with extra environment variables.
    pub fn spawn_with_env(
        path: &std::path::Path,
        extra: &[&str],
        dir: tempfile::TempDir,
        env: &[(&str, &str)],
    ) -> Clusterdns {
        let mut child = Command::new(binary())
            .envs(env.iter().copied())
            .arg("-conf")
            .arg(path)
            .args(extra)
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("spawn clusterdns");
        let lines = Arc::new(Mutex::new(Vec::new()));
        for stream in [
            Box::new(child.stdout.take().unwrap()) as Box<dyn std::io::Read + Send>,
            Box::new(child.stderr.take().unwrap()),
        ] {
            let lines = lines.clone();
            std::thread::spawn(move || {
                for line in BufReader::new(stream).lines().map_while(Result::ok) {
                    lines.lock().unwrap().push(line);
                }
            });
        }
        Clusterdns {
            child,
            dir,
            port: 0,
            lines,
        }
    }

    pub fn addr(&self) -> SocketAddr {
        SocketAddr::from(([127, 0, 0, 1], self.port))
    }

    fn wait_until_listening(&self) {
        let deadline = Instant::now() + Duration::from_secs(10);
        while Instant::now() < deadline {
            if std::net::TcpStream::connect(self.addr()).is_ok() {
                return;
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        panic!(
            "clusterdns did not listen on {}: {:?}",
            self.addr(),
            self.lines()
        );
    }

    /// Every line printed so far (stdout and stderr).
    pub fn lines(&self) -> Vec<String> {
        self.lines.lock().unwrap().clone()
    }

    /// Waits until a line containing `needle` appears.
    pub fn wait_for_line(&self, needle: &str) -> String {
        let deadline = Instant::now() + Duration::from_secs(10);
        while Instant::now() < deadline {
            if let Some(line) = self.lines().into_iter().find(|l| l.contains(needle)) {
                return line;
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        panic!("no line containing {needle:?} in {:?}", self.lines());
    }

    pub fn signal(&self, signal: i32) {
        // SAFETY: kill(2) takes plain integers; the pid is our own child.
        unsafe { libc::kill(self.child.id() as i32, signal) };
    }
}

impl Drop for Clusterdns {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

pub fn binary() -> PathBuf {
    PathBuf::from(env!("CARGO_BIN_EXE_clusterdns"))
}
