//! The UDP hot path: one task per `SO_REUSEPORT` socket, receiving and
//! answering inline. A task is spawned only for a query whose chain is
//! waiting on something (an upstream), never for a locally answered one.

use std::net::SocketAddr;
use std::sync::Arc;

use arc_swap::ArcSwap;
use socket2::{Domain, Protocol, Socket, Type};
use tokio::net::UdpSocket;

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

/// Serves one socket until the task is aborted.
pub async fn serve_udp(socket: Arc<UdpSocket>, routes: Arc<ArcSwap<Routes>>) {
    let local = socket
        .local_addr()
        .unwrap_or_else(|_| SocketAddr::from(([0, 0, 0, 0], 0)));
    let mut buffer = vec![0u8; 65535];
    loop {
        let (length, src) = match socket.recv_from(&mut buffer).await {
            Ok(received) => received,
            Err(_) => continue,
        };
        let arrival = Arrival {
            src: canonical(src),
            local,
            proto: Proto::Udp,
        };
        let handled = handle_packet(&routes, &buffer[..length], arrival);
        match handled {
            Handled::Reply(bytes) => {
                let _ = socket.send_to(&bytes, src).await;
            }
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
