//! The UDP hot path: one task per `SO_REUSEPORT` socket, receiving and
//! answering inline, a batch of datagrams per system call. A task is
//! spawned only for a query whose chain is waiting on something (an
//! upstream), never for a locally answered one. Each task keeps its own
//! memo of remembered replies (`server::memo`), so a repeated cluster
//! query skips decoding, the chain and encoding.

use std::net::SocketAddr;
use std::sync::Arc;

use arc_swap::ArcSwap;
use socket2::{Domain, Protocol, Socket, Type};
use std::os::fd::AsRawFd;

use super::batch::{RecvBatch, SendBatch};
use crate::net::dgram::{self, ReadableUdp};

use super::handler::{Arrival, Handled, handle_udp_packet};
use super::memo::Memo;
use super::routing::Routes;
use crate::dns::Proto;

/// A bound, non-blocking socket with `SO_REUSEPORT` (dual-stack for an
/// IPv6 wildcard), so several sockets and processes can share a port.
pub(crate) fn reuseport_socket(
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

/// One UDP socket of a listener (readable interest only, see `dgram`).
pub(crate) type ListenSocket = ReadableUdp;

/// Opens one UDP socket of a listener.
pub(crate) fn bind_udp(address: SocketAddr) -> std::io::Result<ListenSocket> {
    let socket = reuseport_socket(address, Type::DGRAM, Protocol::UDP)?;
    let _ = socket.set_recv_buffer_size(4 << 20);
    dgram::register(socket.into())
}

/// Datagrams taken per `recvmmsg`.
const BATCH: usize = 32;

/// Serves one socket until the task is aborted: wait for readiness, take
/// every queued query in one call, answer the local ones inline, send all
/// answers in one call, and hand waiting chains to their own task.
pub(crate) async fn serve_udp(socket: Arc<ListenSocket>, routes: Arc<ArcSwap<Routes>>) {
    let local = socket
        .get_ref()
        .local_addr()
        .unwrap_or_else(|_| SocketAddr::from(([0, 0, 0, 0], 0)));
    let mut batch = RecvBatch::new(BATCH);
    let mut replies: Vec<(Vec<u8>, SocketAddr)> = Vec::with_capacity(BATCH);
    let mut memo = Memo::default();
    let mut sender = SendBatch::default();
    loop {
        let Ok(mut ready) = socket.readable().await else {
            continue;
        };
        if receive(&mut ready, &mut batch) == 0 {
            continue;
        }
        for (packet, src) in batch.datagrams() {
            let arrival = Arrival {
                src: canonical(src),
                local,
                proto: Proto::Udp,
            };
            match handle_udp_packet(&routes, packet, arrival, &mut memo) {
                Handled::Reply(bytes) => replies.push((bytes, src)),
                Handled::Drop => {}
                Handled::Pending(future) => {
                    let socket = socket.clone();
                    tokio::spawn(async move {
                        if let Some(bytes) = future.await {
                            send_now_or_soon(socket.get_ref(), &bytes, src).await;
                        }
                    });
                }
            }
        }
        send_all(socket.get_ref(), &mut sender, &replies).await;
        replies.clear();
    }
}

/// One `recvmmsg` under tokio's readiness. A short batch means the queue
/// was drained, so readiness is cleared (by answering `WouldBlock` to
/// `try_io`) without a further, empty receive; a datagram that arrives
/// later raises a fresh readiness event, so none is missed.
fn receive(
    ready: &mut tokio::io::unix::AsyncFdReadyGuard<'_, std::net::UdpSocket>,
    batch: &mut RecvBatch,
) -> usize {
    let mut count = 0;
    let _ = ready.try_io(|socket| {
        count = batch.receive(socket.as_raw_fd())?;
        if count < batch.capacity() {
            return Err(std::io::ErrorKind::WouldBlock.into());
        }
        Ok(())
    });
    count
}

/// Sends the answers with `sendmmsg`; any the socket could not take at
/// once are retried one by one shortly after.
async fn send_all(
    socket: &std::net::UdpSocket,
    sender: &mut SendBatch,
    replies: &[(Vec<u8>, SocketAddr)],
) {
    let sent = sender.send(socket.as_raw_fd(), replies).unwrap_or(0);
    for (bytes, destination) in replies.iter().skip(sent) {
        send_now_or_soon(socket, bytes, *destination).await;
    }
}

/// Sends one reply, retrying briefly while the send buffer is full.
async fn send_now_or_soon(socket: &std::net::UdpSocket, bytes: &[u8], destination: SocketAddr) {
    let _ = dgram::send_soon(|| socket.send_to(bytes, destination)).await;
}

/// Turns an IPv4-mapped IPv6 source (from a dual-stack socket) into IPv4.
pub(crate) fn canonical(address: SocketAddr) -> SocketAddr {
    match address {
        SocketAddr::V6(v6) => match v6.ip().to_ipv4_mapped() {
            Some(v4) => SocketAddr::new(v4.into(), v6.port()),
            None => address,
        },
        v4 => v4,
    }
}
