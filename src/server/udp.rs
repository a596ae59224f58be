//! The UDP hot path: one task per `SO_REUSEPORT` socket, receiving and
//! answering inline, a batch of datagrams per system call. A task is
//! spawned only for a query whose chain is waiting on something (an
//! upstream), never for a locally answered one.

use std::net::SocketAddr;
use std::sync::Arc;

use arc_swap::ArcSwap;
use socket2::{Domain, Protocol, Socket, Type};
use std::os::fd::AsRawFd;
use tokio::io::Interest;
use tokio::net::UdpSocket;

use super::batch::{RecvBatch, send_batch};

use super::handler::{Arrival, Handled, handle_packet};
use super::request::Proto;
use super::routing::Routes;

/// A bound, non-blocking socket with `SO_REUSEPORT` (dual-stack for an
/// IPv6 wildcard), so several sockets and processes can share a port.
pub fn reuseport_socket(
    address: SocketAddr,
    kind: Type,
    protocol: Protocol,
) -> std::io::Result<Socket> {
    let socket = Socket::new(Domain::for_address(address), kind, Some(protocol))?;
    if address.is_ipv6() {
        socket.set_only_v6(false)?;
    }
    socket.set_reuse_port(true)?;
    socket.set_reuse_address(true)?;
    socket.set_nonblocking(true)?;
    socket.bind(&address.into())?;
    Ok(socket)
}

/// Opens one UDP socket of a listener.
pub fn bind_udp(address: SocketAddr) -> std::io::Result<UdpSocket> {
    let socket = reuseport_socket(address, Type::DGRAM, Protocol::UDP)?;
    let _ = socket.set_recv_buffer_size(4 << 20);
    UdpSocket::from_std(socket.into())
}

/// Datagrams taken per `recvmmsg`.
const BATCH: usize = 32;

/// Serves one socket until the task is aborted: wait for readiness, take
/// every queued query in one call, answer the local ones inline, send all
/// answers in one call, and hand waiting chains to their own task.
pub async fn serve_udp(socket: Arc<UdpSocket>, routes: Arc<ArcSwap<Routes>>) {
    let local = socket
        .local_addr()
        .unwrap_or_else(|_| SocketAddr::from(([0, 0, 0, 0], 0)));
    let mut batch = RecvBatch::new(BATCH);
    let mut replies: Vec<(Vec<u8>, SocketAddr)> = Vec::with_capacity(BATCH);
    loop {
        if socket.readable().await.is_err() || receive(&socket, &mut batch) == 0 {
            continue;
        }
        for (packet, src) in batch.datagrams() {
            let arrival = Arrival {
                src: canonical(src),
                local,
                proto: Proto::Udp,
            };
            match handle_packet(&routes, packet, arrival) {
                Handled::Reply(bytes) => replies.push((bytes, src)),
                Handled::Drop => {}
                Handled::Pending(future) => {
                    let socket = socket.clone();
                    tokio::spawn(async move {
                        if let Some(bytes) = future.await {
                            let _ = socket.send_to(&bytes, src).await;
                        }
                    });
                }
            }
        }
        send_all(&socket, &replies).await;
        replies.clear();
    }
}

/// One `recvmmsg` under tokio's readiness. A short batch means the queue
/// was drained, so readiness is cleared (by answering `WouldBlock` to
/// `try_io`) without a further, empty receive; a datagram that arrives
/// later raises a fresh readiness event, so none is missed.
fn receive(socket: &UdpSocket, batch: &mut RecvBatch) -> usize {
    let mut count = 0;
    let _ = socket.try_io(Interest::READABLE, || {
        count = batch.receive(socket.as_raw_fd())?;
        if count < batch.capacity() {
            return Err(std::io::ErrorKind::WouldBlock.into());
        }
        Ok(())
    });
    count
}

/// Sends the answers with `sendmmsg`; any the socket could not take at
/// once are sent one by one as it drains.
async fn send_all(socket: &UdpSocket, replies: &[(Vec<u8>, SocketAddr)]) {
    let sent = socket
        .try_io(Interest::WRITABLE, || {
            send_batch(socket.as_raw_fd(), replies)
        })
        .unwrap_or(0);
    for (bytes, destination) in replies.iter().skip(sent) {
        let _ = socket.send_to(bytes, *destination).await;
    }
}

/// Turns an IPv4-mapped IPv6 source (from a dual-stack socket) into IPv4.
pub fn canonical(address: SocketAddr) -> SocketAddr {
    match address {
        SocketAddr::V6(v6) => match v6.ip().to_ipv4_mapped() {
            Some(v4) => SocketAddr::new(v4.into(), v6.port()),
            None => address,
        },
        v4 => v4,
    }
}
