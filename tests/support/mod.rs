//! Test support shared by the integration tests: the clusterdns process,
//! a small DNS client, and free loopback ports.
#![allow(dead_code, unreachable_pub)]

pub mod differential;
pub mod dns;
pub mod node;
pub mod peers;
pub mod process;
pub mod proxy;
pub mod tls_upstream;
pub mod upstream;

/// One server block on loopback: `ZONE:PORT { bind 127.0.0.1 BODY }`, where
/// `Clusterdns::start` fills in PORT and `body` holds the plugin lines (each
/// ending in a newline). Blocks concatenate into a multi-block Corefile.
pub fn block(zone: &str, body: &str) -> String {
    format!("{zone}:PORT {{\n bind 127.0.0.1\n{body}}}\n")
}

/// A port free on 127.0.0.1 for both UDP and TCP, and on every interface
/// for TCP, at the time of the call, and never handed out before in this
/// test binary. (Servers bind with SO_REUSEPORT, so two tests given the
/// same port would share traffic.)
///
/// Ports come from below the kernel's ephemeral range: a port the kernel
/// hands out (to a server's upstream socket, say) can then never take one a
/// test is about to listen on. Only when that range leaves no room below it
/// do they come from the kernel.
pub fn free_port() -> u16 {
    static GIVEN: std::sync::Mutex<Vec<u16>> = std::sync::Mutex::new(Vec::new());
    let mut given = GIVEN.lock().unwrap();
    let Some((low, high)) = below_ephemeral_range() else {
        return kernel_port(&mut given);
    };
    let span = u32::from(high - low);
    let start = std::process::id().wrapping_mul(7919) % span;
    for step in 0..span {
        let port = low + ((start + step) % span) as u16;
        if !given.contains(&port) && is_free(port) {
            given.push(port);
            return port;
        }
    }
    panic!("no free port in {low}..{high}");
}

/// `[20000, start of the ephemeral range)`, when that holds a few thousand ports.
fn below_ephemeral_range() -> Option<(u16, u16)> {
    const LOW: u16 = 20_000;
    let range = std::fs::read_to_string("/proc/sys/net/ipv4/ip_local_port_range").ok()?;
    let start: u16 = range.split_whitespace().next()?.parse().ok()?;
    (start >= LOW + 4_000).then_some((LOW, start))
}

fn is_free(port: u16) -> bool {
    let wildcard = match std::net::TcpListener::bind(("::", port)) {
        Ok(_) => true,
        Err(e) if e.kind() == std::io::ErrorKind::AddrInUse => false,
        // No IPv6 here: the IPv4 wildcard is every interface.
        Err(_) => std::net::TcpListener::bind(("0.0.0.0", port)).is_ok(),
    };
    wildcard
        && std::net::TcpListener::bind(("127.0.0.1", port)).is_ok()
        && std::net::UdpSocket::bind(("127.0.0.1", port)).is_ok()
}

/// The old way: a port the kernel picks, checked for UDP too.
fn kernel_port(given: &mut Vec<u16>) -> u16 {
    loop {
        let tcp = std::net::TcpListener::bind("127.0.0.1:0").expect("bind tcp");
        let port = tcp.local_addr().unwrap().port();
        if !given.contains(&port) && std::net::UdpSocket::bind(("127.0.0.1", port)).is_ok() {
            given.push(port);
            return port;
        }
    }
}

/// GET `http://127.0.0.1:PORT/PATH`, returning status and body.
pub fn http_get(port: u16, path: &str) -> Option<(u16, String)> {
    let client = reqwest::blocking::Client::builder()
        .timeout(std::time::Duration::from_secs(3))
        .build()
        .ok()?;
    let response = client
        .get(format!("http://127.0.0.1:{port}{path}"))
        .send()
        .ok()?;
    let status = response.status().as_u16();
    Some((status, response.text().unwrap_or_default()))
}
