//! Log lines, metrics and the health/ready endpoints, over real sockets.

use crate::support;

use std::time::Duration;

use hickory_proto::rr::RecordType;
use regex::Regex;
use support::dns::{query, tcp, udp_expect_from, with_edns};
use support::process::Clusterdns;
use support::{free_port, http_get};

fn client_port() -> u16 {
    free_port()
}

/// Sends `msg` from 127.0.0.1:`port` and waits for the reply.
fn ask_from(server: &Clusterdns, port: u16, msg: &hickory_proto::op::Message) {
    let source = format!("127.0.0.1:{port}");
    if udp_expect_from(&source, server.addr(), &msg.to_vec().unwrap()).is_none() {
        panic!("no reply from {}: {:?}", server.addr(), server.lines());
    }
}

fn assert_line(line: &str, expected_prefix: &str) {
    let duration = Regex::new(r"^ \d+(\.\d+)?s$").unwrap();
    let rest = line
        .strip_prefix(expected_prefix)
        .unwrap_or_else(|| panic!("{line:?} does not start with {expected_prefix:?}"));
    assert!(duration.is_match(rest), "duration part {rest:?}");
}

#[test]
fn log_lines_match_coredns_byte_for_byte() {
    let server = Clusterdns::start(
        &(support::block(".", " log\n errors\n")
            + &support::block("example.org", " whoami\n log\n")),
    );
    // The seed's query shape: no EDNS, UDP.
    let port = client_port();
    let msg = query("kubernetes.default.svc.cluster.local.", RecordType::A);
    ask_from(&server, port, &msg);
    let id = msg.metadata.id;
    let line = server.wait_for_line(&format!(" - {id} "));
    assert_line(
        &line,
        &format!(
            "[INFO] 127.0.0.1:{port} - {id} \"A IN kubernetes.default.svc.cluster.local. udp 54 false 512\" SERVFAIL qr,rd 54"
        ),
    );

    // EDNS with DO, mixed case name (logged lower-case), answered by whoami.
    let port = client_port();
    let msg = with_edns(query("WWW.Example.ORG.", RecordType::AAAA), 1232, true);
    ask_from(&server, port, &msg);
    let id = msg.metadata.id;
    let line = server.wait_for_line(&format!(" - {id} "));
    assert_line(
        &line,
        &format!(
            "[INFO] 127.0.0.1:{port} - {id} \"AAAA IN www.example.org. udp 44 true 1232\" NOERROR qr,aa,rd 103"
        ),
    );

    // TCP reports 65535 as the buffer size.
    let msg = query("example.org.", RecordType::A);
    tcp(server.addr(), &msg);
    let id = msg.metadata.id;
    let line = server.wait_for_line(&format!(" - {id} "));
    let tcp_line = Regex::new(&format!(r#"^\[INFO\] 127\.0\.0\.1:\d+ - {id} "A IN example\.org\. tcp 29 false 65535" NOERROR qr,aa,rd 91 \d+(\.\d+)?s$"#)).unwrap();
    assert!(tcp_line.is_match(&line), "{line}");

    // The errors plugin reports the chain's error with the rcode number.
    // (The last plugin of that chain is `log`, so the error names it, as CoreDNS does.)
    server.wait_for_line("[ERROR] plugin/errors: 2 kubernetes.default.svc.cluster.local. A: plugin/log: no next plugin found");
}

#[test]
fn log_scopes_and_classes_filter_lines() {
    // The second block answers nothing: its queries are SERVFAIL, in
    // scope and of class error, the positive control.
    let server = Clusterdns::start(
        &(support::block(".", " log example.org {\n class error\n }\n whoami\n")
            + &support::block("fail.example.org", " log example.org {\n class error\n }\n")),
    );
    let ok = query("a.example.org.", RecordType::A);
    let other = query("a.example.net.", RecordType::A);
    let failing = query("x.fail.example.org.", RecordType::A);
    let (port_ok, port_other) = (client_port(), client_port());
    ask_from(&server, port_ok, &ok);
    ask_from(&server, port_other, &other);
    ask_from(&server, client_port(), &failing);
    // Lines are written in order: once the last query's is out, the
    // others' would be too.
    server.wait_for_line(&format!(" - {} ", failing.metadata.id));
    let lines = server.lines();
    assert!(
        !lines
            .iter()
            .any(|l| l.contains(&format!(" - {} ", ok.metadata.id))),
        "success is not in class error"
    );
    assert!(
        !lines
            .iter()
            .any(|l| l.contains(&format!(" - {} ", other.metadata.id))),
        "out of scope"
    );
}

#[test]
fn consolidate_folds_matching_errors_into_one_line_with_go_classes() {
    let server = Clusterdns::start(&support::block(
        ".",
        " errors {\n  consolidate 1s \"^\\d \\w+\\.example\\. A: \"\n }\n loadbalance\n",
    ));
    for name in ["one.example.", "two.example.", "three.example."] {
        let _ = support::dns::udp(server.addr(), &query(name, RecordType::A));
    }
    // An AAAA error does not match and is logged on its own.
    let _ = support::dns::udp(server.addr(), &query("four.example.", RecordType::AAAA));
    server.wait_for_line(
        r"[ERROR] plugin/errors: 3 errors like '^\d \w+\.example\. A: ' occurred in last 1s",
    );
    let own_lines = server
        .lines()
        .into_iter()
        .filter(|l| l.starts_with("[ERROR] plugin/errors: 2 "))
        .count();
    assert_eq!(own_lines, 1, "{:?}", server.lines());
}

fn metric_value(body: &str, name: &str, labels: &str) -> Option<f64> {
    let prefix = format!("{name}{{{labels}}} ");
    body.lines()
        .find_map(|l| l.strip_prefix(&prefix))
        .and_then(|v| v.parse().ok())
}

#[test]
fn metrics_count_queries_with_coredns_names_and_labels() {
    let metrics_port = free_port();
    let server = Clusterdns::start(&support::block(
        "example.org",
        &format!(" prometheus 127.0.0.1:{metrics_port}\n whoami\n"),
    ));
    for _ in 0..3 {
        ask_from(
            &server,
            client_port(),
            &query("a.example.org.", RecordType::A),
        );
    }
    ask_from(
        &server,
        client_port(),
        &with_edns(query("b.example.org.", RecordType::MX), 1232, true),
    );
    ask_from(
        &server,
        client_port(),
        &query("refused.net.", RecordType::A),
    );
    let (status, body) = http_get(metrics_port, "/metrics").expect("metrics answer");
    assert_eq!(status, 200);
    let server = format!("dns://127.0.0.1:{}", server.port);
    // Labels appear sorted by name, as in CoreDNS's exposition.
    let value = |name: &str, labels: String| metric_value(&body, name, &labels);
    let requests = |qtype: &str| {
        format!(
            "family=\"1\",proto=\"udp\",server=\"{server}\",type=\"{qtype}\",view=\"\",zone=\"example.org.\""
        )
    };
    assert_eq!(
        value("coredns_dns_requests_total", requests("A")),
        Some(3.0)
    );
    assert_eq!(
        value("coredns_dns_requests_total", requests("MX")),
        Some(1.0)
    );
    let zone = format!("server=\"{server}\",view=\"\",zone=\"example.org.\"");
    assert_eq!(
        value("coredns_dns_do_requests_total", zone.clone()),
        Some(1.0)
    );
    let responses = format!("plugin=\"whoami\",rcode=\"NOERROR\",{zone}");
    assert_eq!(value("coredns_dns_responses_total", responses), Some(4.0));
    let dropped =
        format!("plugin=\"\",rcode=\"REFUSED\",server=\"{server}\",view=\"\",zone=\"dropped\"");
    assert_eq!(value("coredns_dns_responses_total", dropped), Some(1.0));
    assert_eq!(
        value("coredns_dns_request_duration_seconds_count", zone.clone()),
        Some(4.0)
    );
    assert!(body.contains(&format!(
        "coredns_dns_request_duration_seconds_bucket{{{zone},le=\"0.00025\"}}"
    )));
    let sized = format!("proto=\"udp\",{zone},le=\"100\"");
    assert_eq!(
        value("coredns_dns_request_size_bytes_bucket", sized),
        Some(4.0)
    );
    let enabled = format!("name=\"whoami\",{zone}");
    assert_eq!(value("coredns_plugin_enabled", enabled), Some(1.0));
    assert!(body.contains("coredns_build_info{"));
    assert!(body.contains("coredns_panics_total 0"));
}

#[test]
fn health_and_ready_answer_ok_and_other_paths_404() {
    let (health_port, ready_port) = (free_port(), free_port());
    let server = Clusterdns::start(&support::block(
        ".",
        &format!(" health 127.0.0.1:{health_port}\n ready 127.0.0.1:{ready_port}\n whoami\n"),
    ));
    assert_eq!(
        http_get(health_port, "/health"),
        Some((200, "OK".to_string()))
    );
    assert_eq!(
        http_get(ready_port, "/ready"),
        Some((200, "OK".to_string()))
    );
    assert_eq!(http_get(health_port, "/other").map(|r| r.0), Some(404));
    assert_eq!(
        http_get(health_port, "/ready").map(|r| r.0),
        Some(404),
        "ready lives on its own address"
    );
    drop(server);
}

/// An address with no host (`health :PORT`, as `health` alone is `:8080`)
/// listens on IPv6 and IPv4 alike, as CoreDNS's Go listener does, so
/// probes and scrapes work on an IPv6-only cluster.
#[test]
fn http_listeners_without_a_host_answer_on_ipv6_and_ipv4() {
    let (health_port, ready_port, metrics_port) = (free_port(), free_port(), free_port());
    let _server = Clusterdns::start(&support::block(
        ".",
        &format!(
            " health :{health_port}\n ready :{ready_port}\n prometheus :{metrics_port}\n whoami\n"
        ),
    ));
    let client = reqwest::blocking::Client::builder()
        .timeout(Duration::from_secs(3))
        .build()
        .unwrap();
    let get = |url: String| client.get(url).send().ok().map(|r| r.status().as_u16());
    for (port, path) in [
        (health_port, "/health"),
        (ready_port, "/ready"),
        (metrics_port, "/metrics"),
    ] {
        assert_eq!(
            get(format!("http://[::1]:{port}{path}")),
            Some(200),
            "IPv6 {path}"
        );
        assert_eq!(
            get(format!("http://127.0.0.1:{port}{path}")),
            Some(200),
            "IPv4 {path}"
        );
    }
}

/// Half-sent requests (a slowloris client) are closed after the header
/// timeout, and `/health` keeps answering while more of them are held than
/// a listener has slots (they used to stay open, and at the descriptor
/// limit the kubelet's probe failed).
#[test]
fn half_sent_http_requests_are_closed_and_health_keeps_answering() {
    use std::io::{Read, Write};
    let health_port = free_port();
    let _server = Clusterdns::start(&support::block(
        ".",
        &format!(" health 127.0.0.1:{health_port}\n whoami\n"),
    ));
    let started = std::time::Instant::now();
    let mut held: Vec<std::net::TcpStream> = (0..300)
        .map(|_| {
            let mut stream = std::net::TcpStream::connect(("127.0.0.1", health_port)).unwrap();
            stream
                .write_all(b"GET /health HTTP/1.1\r\nHost: probe\r\n")
                .unwrap();
            stream
        })
        .collect();
    for _ in 0..5 {
        assert_eq!(
            http_get(health_port, "/health"),
            Some((200, "OK".to_string()))
        );
    }
    let last = held.last_mut().unwrap();
    last.set_read_timeout(Some(Duration::from_secs(10)))
        .unwrap();
    let mut buffer = [0u8; 64];
    let read = last.read(&mut buffer);
    assert!(
        matches!(read, Ok(0)) || read.is_err(),
        "closed, not answered: {read:?}"
    );
    let took = started.elapsed();
    assert!(
        took < Duration::from_secs(8),
        "closed after {took:?}; the header timeout is 5 s"
    );
    assert_eq!(
        http_get(health_port, "/health"),
        Some((200, "OK".to_string()))
    );
}

/// `health` probes itself once a second, as CoreDNS's does, into
/// `coredns_health_request_duration_seconds`; a probe that succeeds adds
/// nothing to `coredns_health_request_failures_total`.
#[test]
fn health_probes_itself_every_second_into_its_metrics() {
    let (health_port, metrics_port) = (free_port(), free_port());
    let _server = Clusterdns::start(&support::block(
        ".",
        &format!(" health :{health_port}\n prometheus 127.0.0.1:{metrics_port}\n whoami\n"),
    ));
    let value = |name: &str| -> Option<f64> {
        let (_, body) = http_get(metrics_port, "/metrics")?;
        body.lines()
            .find_map(|l| l.strip_prefix(&format!("{name} ")))
            .and_then(|v| v.parse().ok())
    };
    support::peers::eventually(Duration::from_secs(10), "three probes", || {
        (value("coredns_health_request_duration_seconds_count")? >= 3.0).then_some(())
    });
    assert_eq!(value("coredns_health_request_failures_total"), Some(0.0));
    let (_, body) = http_get(metrics_port, "/metrics").unwrap();
    assert!(
        body.contains("coredns_health_request_duration_seconds_bucket{le=\"0.00025\"}"),
        "CoreDNS's buckets"
    );
}

/// A stdout nobody reads (a stalled pipe to the container runtime) does
/// not stop DNS with `log` on: every query is answered, query lines past
/// the in-memory bound are dropped and counted, and once stdout moves the
/// queued lines come out in order with a warning naming the loss.
#[test]
fn a_stalled_stdout_drops_counted_query_lines_and_dns_keeps_answering() {
    use std::io::{BufRead, BufReader};
    let dir = tempfile::tempdir().unwrap();
    let (port, metrics_port) = (free_port(), free_port());
    let corefile = dir.path().join("Corefile");
    std::fs::write(
        &corefile,
        format!(".:{port} {{\n bind 127.0.0.1\n prometheus 127.0.0.1:{metrics_port}\n log\n whoami\n}}\n"),
    )
    .unwrap();
    let mut child = std::process::Command::new(support::process::binary())
        .arg("-conf")
        .arg(&corefile)
        .env("CLUSTERDNS_LOG_BUFFER_BYTES", "65536")
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::null())
        .spawn()
        .unwrap();
    let server = std::net::SocketAddr::from(([127, 0, 0, 1], port));
    support::peers::eventually(Duration::from_secs(10), "listening", || {
        std::net::TcpStream::connect(server).ok().map(|_| ())
    });
    // Nobody reads stdout: the pipe (64 KiB) and then the buffer fill.
    let socket = std::net::UdpSocket::bind("127.0.0.1:0").unwrap();
    socket
        .set_read_timeout(Some(Duration::from_secs(5)))
        .unwrap();
    // About 100 bytes a line: 6 000 lines are far more than the pipe plus
    // the two 64 KiB buffers (one being written, one filling) can hold.
    const QUERIES: u32 = 6000;
    let mut answered = 0;
    for n in 0..QUERIES {
        let packet = query(&format!("q{n}.example.org."), RecordType::A)
            .to_vec()
            .unwrap();
        socket.send_to(&packet, server).unwrap();
        let mut buffer = [0u8; 512];
        if socket.recv(&mut buffer).is_ok() {
            answered += 1;
        }
    }
    assert_eq!(answered, QUERIES, "DNS kept answering with stdout stalled");
    let (_, body) = http_get(metrics_port, "/metrics").unwrap();
    let dropped: f64 = body
        .lines()
        .find_map(|l| l.strip_prefix("clusterdns_log_dropped_lines_total "))
        .and_then(|v| v.parse().ok())
        .expect("the counter");
    assert!(dropped > 1000.0, "{dropped} lines dropped");
    // Stdout moves again: what was queued comes out, in order, and the
    // rest at exit (SIGTERM, no lameduck), after which stdout closes.
    let reader = BufReader::new(child.stdout.take().unwrap());
    let lines =
        std::thread::spawn(move || reader.lines().map_while(Result::ok).collect::<Vec<_>>());
    std::thread::sleep(Duration::from_millis(300));
    // SAFETY: kill(2) takes plain integers; the pid is our own child.
    unsafe { libc::kill(child.id() as i32, libc::SIGTERM) };
    let lines = lines.join().unwrap();
    let _ = child.wait();
    let warned = lines
        .iter()
        .any(|l| l.contains("query log lines dropped: stdout was not taking them"));
    let pattern = Regex::new(r#""A IN q(\d+)\.example\.org\. udp"#).unwrap();
    let numbers: Vec<u32> = lines
        .iter()
        .filter_map(|l| pattern.captures(l).map(|c| c[1].parse().unwrap()))
        .collect();
    assert!(warned, "the loss is reported");
    assert!(numbers.windows(2).all(|w| w[0] < w[1]), "in arrival order");
    assert!(
        numbers.len() as f64 + dropped >= f64::from(QUERIES),
        "{} written + {dropped} dropped",
        numbers.len()
    );
}

#[test]
fn sigterm_makes_ready_503_then_exits_after_lameduck() {
    let (health_port, ready_port) = (free_port(), free_port());
    let mut server = Clusterdns::start(&support::block(
        ".",
        &format!(
            " health 127.0.0.1:{health_port} {{\n lameduck 1s\n }}\n ready 127.0.0.1:{ready_port}\n whoami\n"
        ),
    ));
    // Fully started (signal handlers in place) once /ready answers 200.
    let deadline = std::time::Instant::now() + Duration::from_secs(10);
    while http_get(ready_port, "/ready").map(|r| r.0) != Some(200) {
        assert!(std::time::Instant::now() < deadline, "never ready");
        std::thread::sleep(Duration::from_millis(20));
    }
    let start = std::time::Instant::now();
    server.signal(libc::SIGTERM);
    server.wait_for_line("[INFO] plugin/health: Going into lameduck mode for 1s");
    assert_eq!(
        http_get(ready_port, "/ready"),
        Some((503, "Shutting down".to_string()))
    );
    assert_eq!(
        http_get(health_port, "/health").map(|r| r.0),
        Some(200),
        "health stays up during lameduck"
    );
    let reply = support::dns::udp(server.addr(), &query("example.org.", RecordType::A));
    assert_eq!(
        reply.metadata.response_code,
        hickory_proto::op::ResponseCode::NoError,
        "DNS answers during lameduck"
    );
    let status = server.child.wait().unwrap();
    assert!(status.success());
    assert!(
        start.elapsed() >= Duration::from_millis(900),
        "waited for lameduck"
    );
}
