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

/// A port free on 127.0.0.1 for both UDP and TCP at the time of the call,
/// and never handed out before in this test binary. (Servers bind with
/// SO_REUSEPORT, so two tests given the same port would share traffic.)
pub fn free_port() -> u16 {
    static GIVEN: std::sync::Mutex<Vec<u16>> = std::sync::Mutex::new(Vec::new());
    loop {
        let tcp = std::net::TcpListener::bind("127.0.0.1:0").expect("bind tcp");
        let port = tcp.local_addr().unwrap().port();
        let mut given = GIVEN.lock().unwrap();
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
