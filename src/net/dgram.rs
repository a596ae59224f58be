//! UDP sockets registered with the reactor for readability only.
//!
//! Why not `tokio::net::UdpSocket`: it registers for writability too, and
//! the kernel raises a fresh (edge-triggered) writable event each time a
//! sent datagram's buffer space comes back, which on loopback is every
//! datagram. Each such event costs an extra `epoll_wait` round for nothing.
//! A UDP send almost never blocks, so sends are plain non-blocking calls,
//! retried briefly in the rare case the send buffer is full.

use std::io;
use std::time::Duration;

use tokio::io::Interest;
use tokio::io::unix::AsyncFd;

/// A non-blocking UDP socket watched for readability only.
pub(crate) type ReadableUdp = AsyncFd<std::net::UdpSocket>;

/// Registers a socket (made non-blocking here) with the reactor.
pub(crate) fn register(socket: std::net::UdpSocket) -> io::Result<ReadableUdp> {
    socket.set_nonblocking(true)?;
    // SAFETY: the `UdpSocket` owns its descriptor and moves into the
    // `AsyncFd`, so the descriptor stays open and the same until it drops.
    let registered = unsafe { AsyncFd::register_with_interest(socket, Interest::READABLE) };
    Ok(registered?)
}

/// The largest datagram UDP can carry, and the size of the scratch buffer
/// every receive lands in first.
const MAX_DATAGRAM: usize = 65_536;

thread_local! {
    /// One receive buffer per thread, used only inside the non-blocking
    /// `recv` call: no pending exchange holds a buffer while it waits.
    static SCRATCH: std::cell::RefCell<Box<[u8]>> =
        std::cell::RefCell::new(vec![0u8; MAX_DATAGRAM].into_boxed_slice());
}

/// Receives one datagram from a connected socket, waiting for it, and
/// returns exactly its bytes.
///
/// Why a scratch buffer: the size of a reply is unknown until it arrives,
/// and a buffer sized for the largest one a client allows (its EDNS size,
/// up to 64 KiB) held by every pending exchange made a few thousand
/// exchanges pending at a silent upstream cost hundreds of MiB. The
/// datagram is read into the thread's buffer and copied out at its size.
///
/// It wakes on an error too: an ICMP port unreachable for a connected
/// socket is queued as a socket error (ECONNREFUSED) with no datagram, and
/// only the error readiness announces it. Waiting for readability alone
/// would sit out the whole timeout for an upstream that already refused.
pub(crate) async fn recv_exact(socket: &ReadableUdp) -> io::Result<Vec<u8>> {
    loop {
        let mut ready = socket.ready(Interest::READABLE | Interest::ERROR).await?;
        let received = ready.try_io(|inner| {
            SCRATCH.with_borrow_mut(|scratch| {
                let length = inner.get_ref().recv(scratch)?;
                Ok(scratch[..length].to_vec())
            })
        });
        match received {
            Ok(result) => return result,
            Err(_would_block) => continue,
        }
    }
}

/// Forgets the socket's readiness once the awaited reply was taken, so
/// the socket's next exchange waits for its own reply at once instead of
/// first receiving nothing (about every other forwarded query paid that
/// extra `recvfrom`). Safe because anything still queued is stale by then:
/// a later reply raises a new readiness event, and `recv_exact` then reads the
/// stale datagram first and the reply after it.
pub(crate) fn forget_readiness(socket: &ReadableUdp) {
    use futures::FutureExt;
    if let Some(Ok(mut ready)) = socket.readable().now_or_never() {
        ready.clear_ready();
    }
}

/// How long a datagram waits, at most, for room in a full send buffer.
const SEND_PATIENCE: Duration = Duration::from_millis(50);

/// Runs a non-blocking `send`; while the send buffer is full, tries again
/// every millisecond for up to [`SEND_PATIENCE`], then gives up with the
/// `WouldBlock` error (the datagram is dropped, as the kernel drops one at
/// a full queue). There is no writable event to await (see the module).
pub(crate) async fn send_soon(mut send: impl FnMut() -> io::Result<usize>) -> io::Result<()> {
    let deadline = tokio::time::Instant::now() + SEND_PATIENCE;
    loop {
        match send() {
            Err(error) if error.kind() == io::ErrorKind::WouldBlock => {
                if tokio::time::Instant::now() >= deadline {
                    return Err(error);
                }
            }
            other => return other.map(|_| ()),
        }
        tokio::time::sleep(Duration::from_millis(1)).await;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn a_registered_socket_sends_and_receives() {
        let server = std::net::UdpSocket::bind("127.0.0.1:0").unwrap();
        let client = std::net::UdpSocket::bind("127.0.0.1:0").unwrap();
        client.connect(server.local_addr().unwrap()).unwrap();
        let client = register(client).unwrap();
        send_soon(|| client.get_ref().send(b"ping")).await.unwrap();
        let mut buffer = [0u8; 16];
        let (length, from) = server.recv_from(&mut buffer).unwrap();
        assert_eq!(&buffer[..length], b"ping");
        server.send_to(b"pong", from).unwrap();
        assert_eq!(recv_exact(&client).await.unwrap(), b"pong");
    }

    #[tokio::test]
    async fn a_reply_after_forgotten_readiness_still_arrives_behind_a_stale_one() {
        let server = std::net::UdpSocket::bind("127.0.0.1:0").unwrap();
        let client = std::net::UdpSocket::bind("127.0.0.1:0").unwrap();
        client.connect(server.local_addr().unwrap()).unwrap();
        let client = register(client).unwrap();
        let to = client.get_ref().local_addr().unwrap();
        server.send_to(b"first", to).unwrap();
        server.send_to(b"stale", to).unwrap();
        assert_eq!(recv_exact(&client).await.unwrap(), b"first");
        forget_readiness(&client);
        let later = std::thread::spawn(move || {
            std::thread::sleep(Duration::from_millis(50));
            server.send_to(b"reply", to).unwrap();
        });
        let wait = Duration::from_secs(2);
        for expected in [&b"stale"[..], b"reply"] {
            let reply = tokio::time::timeout(wait, recv_exact(&client))
                .await
                .expect("not lost")
                .unwrap();
            assert_eq!(reply, expected);
        }
        later.join().unwrap();
    }

    #[tokio::test]
    async fn a_refused_destination_is_an_error_at_once_not_a_wait() {
        let closed = std::net::UdpSocket::bind("127.0.0.1:0").unwrap();
        let address = closed.local_addr().unwrap();
        drop(closed);
        let client = std::net::UdpSocket::bind("127.0.0.1:0").unwrap();
        client.connect(address).unwrap();
        let client = register(client).unwrap();
        send_soon(|| client.get_ref().send(b"ping")).await.unwrap();
        let received = tokio::time::timeout(Duration::from_secs(2), recv_exact(&client))
            .await
            .expect("woken by the error, not the timeout");
        let error = received.unwrap_err();
        assert_eq!(error.kind(), io::ErrorKind::ConnectionRefused);
    }
}
