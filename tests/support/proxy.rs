//! A TCP relay on loopback that can make its open connections go silent
//! while new ones still flow: what a client sees when a NAT entry or a
//! middlebox forgets a long-lived connection (a watch) without a reset.

use std::io::{ErrorKind, Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::Duration;

#[derive(Default)]
struct State {
    next_connection: AtomicU64,
    silent_below: AtomicU64,
    stopped: AtomicBool,
}

impl State {
    fn is_silent(&self, connection: u64) -> bool {
        connection < self.silent_below.load(Ordering::SeqCst)
    }
}

/// The relay; it stops (and closes everything) when dropped.
pub struct StallingProxy {
    pub port: u16,
    state: Arc<State>,
}

impl StallingProxy {
    pub fn start(target: SocketAddr) -> StallingProxy {
        let listener = TcpListener::bind("127.0.0.1:0").expect("bind proxy");
        listener.set_nonblocking(true).unwrap();
        let port = listener.local_addr().unwrap().port();
        let state = Arc::new(State::default());
        let accepting = state.clone();
        std::thread::spawn(move || accept_loop(listener, target, accepting));
        StallingProxy { port, state }
    }

    /// Every connection open now stops relaying in both directions, for
    /// good, without being closed; connections opened later relay normally.
    pub fn silence_open_connections(&self) {
        let next = self.state.next_connection.load(Ordering::SeqCst);
        self.state.silent_below.store(next, Ordering::SeqCst);
    }
}

impl Drop for StallingProxy {
    fn drop(&mut self) {
        self.state.stopped.store(true, Ordering::SeqCst);
    }
}

fn accept_loop(listener: TcpListener, target: SocketAddr, state: Arc<State>) {
    while !state.stopped.load(Ordering::SeqCst) {
        match listener.accept() {
            Ok((client, _)) => {
                let id = state.next_connection.fetch_add(1, Ordering::SeqCst);
                if let Ok(server) = TcpStream::connect(target) {
                    relay_both_ways(id, client, server, &state);
                }
            }
            Err(error) if error.kind() == ErrorKind::WouldBlock => {
                std::thread::sleep(Duration::from_millis(10));
            }
            Err(_) => return,
        }
    }
}

fn relay_both_ways(id: u64, client: TcpStream, server: TcpStream, state: &Arc<State>) {
    client.set_nonblocking(false).unwrap();
    let pairs = [
        (client.try_clone().unwrap(), server.try_clone().unwrap()),
        (server, client),
    ];
    for (from, to) in pairs {
        let state = state.clone();
        std::thread::spawn(move || relay(id, from, to, &state));
    }
}

/// Copies `from` to `to` until either side closes, the proxy stops, or
/// the connection is silenced (then it holds both open, relaying nothing).
fn relay(id: u64, mut from: TcpStream, mut to: TcpStream, state: &State) {
    from.set_read_timeout(Some(Duration::from_millis(100)))
        .unwrap();
    let mut buffer = vec![0u8; 64 * 1024];
    while !state.stopped.load(Ordering::SeqCst) {
        if state.is_silent(id) {
            std::thread::sleep(Duration::from_millis(100));
            continue;
        }
        match from.read(&mut buffer) {
            Ok(0) => break,
            Ok(n) if !state.is_silent(id) => {
                if to.write_all(&buffer[..n]).is_err() {
                    break;
                }
            }
            Ok(_) => {}
            Err(error) if matches!(error.kind(), ErrorKind::WouldBlock | ErrorKind::TimedOut) => {}
            Err(_) => break,
        }
    }
    let _ = to.shutdown(std::net::Shutdown::Write);
}
