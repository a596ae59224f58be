//! reload: kubelet's ConfigMap update (the atomic `..data` rename), bad
//! edits that keep the old configuration serving, comment-only edits, and
//! queries and health probes that never fail across many reloads.

use crate::support;

use std::os::unix::fs::symlink;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::time::Duration;

use clusterdns::diff::{Proto, exchange};
use hickory_proto::op::ResponseCode;
use hickory_proto::rr::RecordType;
use support::dns::{query, udp};
use support::peers::eventually;
use support::process::Clusterdns;
use support::{free_port, http_get};

/// A ConfigMap volume as kubelet's AtomicWriter lays it out.
struct ConfigMapVolume {
    dir: PathBuf,
    version: usize,
}

impl ConfigMapVolume {
    fn new(dir: &Path, corefile: &str) -> ConfigMapVolume {
        let mut volume = ConfigMapVolume {
            dir: dir.to_path_buf(),
            version: 0,
        };
        let first = volume.write_version(corefile);
        symlink(&first, dir.join("..data")).unwrap();
        symlink("..data/Corefile", dir.join("Corefile")).unwrap();
        volume
    }

    fn write_version(&mut self, corefile: &str) -> String {
        self.version += 1;
        let name = format!("..2026_11_22_06_00_00.{:09}", self.version);
        std::fs::create_dir(self.dir.join(&name)).unwrap();
        std::fs::write(self.dir.join(&name).join("Corefile"), corefile).unwrap();
        name
    }

    /// New timestamped dir, `..data_tmp` symlink, rename over `..data`,
    /// remove the old dir: the exact AtomicWriter sequence.
    fn update(&mut self, corefile: &str) {
        let old = std::fs::read_link(self.dir.join("..data")).unwrap();
        let new = self.write_version(corefile);
        symlink(&new, self.dir.join("..data_tmp")).unwrap();
        std::fs::rename(self.dir.join("..data_tmp"), self.dir.join("..data")).unwrap();
        std::fs::remove_dir_all(self.dir.join(old)).unwrap();
    }

    fn corefile(&self) -> PathBuf {
        self.dir.join("Corefile")
    }
}

fn start_from(volume: &ConfigMapVolume, dir: tempfile::TempDir, port: u16) -> Clusterdns {
    let mut server = Clusterdns::spawn(&volume.corefile(), &[], dir);
    server.port = port;
    eventually(Duration::from_secs(10), "the server to listen", || {
        std::net::TcpStream::connect(server.addr()).ok().map(|_| ())
    });
    server
}

fn blocks(port: u16, zones: &[&str], extra: &str) -> String {
    zones
        .iter()
        .map(|zone| {
            format!("{zone}:{port} {{\n bind 127.0.0.1\n reload 2s 0\n whoami\n {extra}\n}}\n")
        })
        .collect()
}

fn rcode(server: &Clusterdns, name: &str) -> ResponseCode {
    udp(server.addr(), &query(name, RecordType::A))
        .metadata
        .response_code
}

#[test]
fn a_configmap_update_is_picked_up_by_polling() {
    let dir = tempfile::tempdir().unwrap();
    let port = free_port();
    let mut volume = ConfigMapVolume::new(dir.path(), &blocks(port, &["example.org"], ""));
    let server = start_from(&volume, dir, port);
    server.wait_for_line("[INFO] plugin/reload: Running configuration SHA512 = ");
    assert_eq!(rcode(&server, "example.net."), ResponseCode::Refused);

    volume.update(&blocks(port, &["example.org", "example.net"], ""));
    eventually(Duration::from_secs(8), "the new block", || {
        (rcode(&server, "example.net.") == ResponseCode::NoError).then_some(())
    });
    server.wait_for_line("[INFO] Reloading complete");
    let hashes: Vec<String> = server
        .lines()
        .into_iter()
        .filter(|l| l.contains("Running configuration SHA512 = "))
        .collect();
    assert_eq!(hashes.len(), 2, "{hashes:?}");
    assert_ne!(hashes[0], hashes[1]);
    assert_eq!(
        hashes[1].rsplit(' ').next().unwrap().len(),
        128,
        "a SHA-512 in hex"
    );
}

#[test]
fn a_bad_edit_keeps_the_old_configuration_and_is_counted() {
    let dir = tempfile::tempdir().unwrap();
    let (port, metrics) = (free_port(), free_port());
    let good = blocks(
        port,
        &["example.org"],
        &format!("prometheus 127.0.0.1:{metrics}"),
    );
    let mut volume = ConfigMapVolume::new(dir.path(), &good);
    let server = start_from(&volume, dir, port);

    volume.update(&format!("{good}\nexample.net:{port} {{\n nonsense\n}}\n"));
    server.wait_for_line("[WARNING] plugin/reload: Corefile parse failed: ");
    volume.update(&format!(
        "{good}\nexample.net:{port} {{\n bind 127.0.0.1\n whoami extra-argument\n}}\n"
    ));
    server.wait_for_line(
        "[ERROR] plugin/reload: Corefile changed but reload failed: plugin/whoami: ",
    );
    server.wait_for_line("[ERROR] Restart failed: plugin/whoami: ");
    assert_eq!(
        rcode(&server, "example.org."),
        ResponseCode::NoError,
        "the old configuration still serves"
    );
    let (_, body) = http_get(metrics, "/metrics").unwrap();
    assert!(
        body.lines().any(|l| l == "coredns_reload_failed_total 1"),
        "{body}"
    );
    assert!(body.contains("coredns_reload_version_info{hash=\"sha512\",value=\""));
}

#[test]
fn comment_and_whitespace_edits_do_not_reload() {
    let dir = tempfile::tempdir().unwrap();
    let port = free_port();
    let config = blocks(port, &["example.org"], "");
    let mut volume = ConfigMapVolume::new(dir.path(), &config);
    let server = start_from(&volume, dir, port);
    volume.update(&format!(
        "# a comment\n\n{}",
        config.replace("whoami", "whoami   # trailing")
    ));
    std::thread::sleep(Duration::from_millis(4500));
    assert!(
        !server.lines().iter().any(|l| l == "[INFO] Reloading"),
        "{:?}",
        server.lines()
    );
    // Positive control: polling was alive, a real edit reloads.
    volume.update(&config.replace("whoami", "whoami\n log"));
    server.wait_for_line("[INFO] Reloading");
}

#[test]
fn fifty_reloads_lose_no_query_and_health_never_goes_down() {
    let dir = tempfile::tempdir().unwrap();
    let (port, health_a, health_b) = (free_port(), free_port(), free_port());
    let config = |health: u16, zone: &str| {
        format!(
            ".:{port} {{\n bind 127.0.0.1\n health 127.0.0.1:{health}\n whoami\n}}\n{zone}:{port} {{\n bind 127.0.0.1\n whoami\n}}\n"
        )
    };
    let file = dir.path().join("Corefile");
    std::fs::write(&file, config(health_a, "example.org")).unwrap();
    let path = file.clone();
    let mut server = Clusterdns::spawn(&path, &[], dir);
    server.port = port;
    eventually(Duration::from_secs(10), "listening", || {
        std::net::TcpStream::connect(server.addr()).ok().map(|_| ())
    });

    let stop = Arc::new(AtomicBool::new(false));
    let (answered, lost, health_down) = (
        Arc::new(AtomicUsize::new(0)),
        Arc::new(AtomicUsize::new(0)),
        Arc::new(AtomicUsize::new(0)),
    );
    let addr = server.addr();
    let querier = {
        let (stop, answered, lost) = (stop.clone(), answered.clone(), lost.clone());
        std::thread::spawn(move || {
            while !stop.load(Ordering::SeqCst) {
                match exchange(
                    addr,
                    &query("q.example.org.", RecordType::A),
                    Proto::Udp,
                    Duration::from_secs(1),
                ) {
                    Ok(reply) if reply.metadata.response_code == ResponseCode::NoError => {
                        answered.fetch_add(1, Ordering::SeqCst)
                    }
                    _ => lost.fetch_add(1, Ordering::SeqCst),
                };
            }
        })
    };
    let prober = {
        let (stop, health_down) = (stop.clone(), health_down.clone());
        std::thread::spawn(move || {
            while !stop.load(Ordering::SeqCst) {
                // Both ports probed at the same instant: one must answer.
                let a = std::thread::spawn(move || health_up(health_a));
                let b = std::thread::spawn(move || health_up(health_b));
                if !a.join().unwrap() & !b.join().unwrap() {
                    health_down.fetch_add(1, Ordering::SeqCst);
                }
                std::thread::sleep(Duration::from_millis(5));
            }
        })
    };
    let mut bad = 0;
    for i in 0..50 {
        let text = match i % 5 {
            // Bad edits: an unknown directive, and a plugin setup error.
            1 => {
                bad += 1;
                format!(
                    "{}\nbroken:{port} {{\n nonsense\n}}\n",
                    config(health_a, "example.org")
                )
            }
            3 => {
                bad += 1;
                format!(
                    "{}\nbroken:{port} {{\n whoami x\n}}\n",
                    config(health_b, "example.org")
                )
            }
            // Moves the health port.
            2 => config(health_b, "example.org"),
            _ => config(
                health_a,
                if i % 2 == 0 {
                    "example.org"
                } else {
                    "example.net"
                },
            )
            .replace("example.net:", "example.org:"),
        };
        std::fs::write(&path, text).unwrap();
        server.signal(libc::SIGUSR1);
        std::thread::sleep(Duration::from_millis(60));
    }
    std::thread::sleep(Duration::from_millis(300));
    stop.store(true, Ordering::SeqCst);
    querier.join().unwrap();
    prober.join().unwrap();
    let (answered, lost, down) = (
        answered.load(Ordering::SeqCst),
        lost.load(Ordering::SeqCst),
        health_down.load(Ordering::SeqCst),
    );
    println!(
        "reload load test: 50 reloads ({bad} bad), {answered} queries answered, {lost} lost, health down {down} times"
    );
    let outcomes = || {
        let lines = server.lines();
        let completed = lines
            .iter()
            .filter(|l| *l == "[INFO] Reloading complete")
            .count();
        let failed = lines
            .iter()
            .filter(|l| l.starts_with("[ERROR] Restart failed: "))
            .count();
        (completed, failed)
    };
    // The last reloads may still be finishing or on their way through the pipe.
    let deadline = std::time::Instant::now() + Duration::from_secs(10);
    while outcomes().0 + outcomes().1 < 50 && std::time::Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(50));
    }
    let (completed, failed) = outcomes();
    assert_eq!(completed + failed, 50, "every SIGUSR1 reloaded");
    assert_eq!(failed, bad);
    assert!(answered > 200, "{answered}");
    assert_eq!(lost, 0);
    assert_eq!(down, 0);
}

fn health_up(port: u16) -> bool {
    http_get(port, "/health").is_some_and(|(status, _)| status == 200)
}
