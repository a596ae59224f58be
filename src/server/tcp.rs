//! DNS over TCP: 2-byte length framing, several queries per connection,
//! answered in order, with an idle timeout between queries.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use arc_swap::ArcSwap;
use socket2::{Protocol, Type};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};

use super::handler::{Arrival, Handled, handle_packet};
use super::routing::Routes;
use super::udp::{canonical, reuseport_socket};
use crate::dns::Proto;

/// How long a connection may sit between queries (CoreDNS: 10s).
pub const IDLE_TIMEOUT: Duration = Duration::from_secs(10);
/// How long reading one query may take once its length arrived.
const READ_TIMEOUT: Duration = Duration::from_secs(3);

pub fn bind_tcp(address: SocketAddr) -> std::io::Result<TcpListener> {
    let socket = reuseport_socket(address, Type::STREAM, Protocol::TCP)?;
    socket.listen(1024)?;
    TcpListener::from_std(socket.into())
}

/// Open TCP connections a listener serves at once; more are closed at once
/// (slowloris protection; CoreDNS has no cap). `CLUSTERDNS_MAX_TCP_CONNECTIONS`
/// overrides it.
pub const MAX_CONNECTIONS: usize = 1024;

fn connection_cap() -> usize {
    std::env::var("CLUSTERDNS_MAX_TCP_CONNECTIONS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(MAX_CONNECTIONS)
}

pub async fn serve_tcp(listener: TcpListener, routes: Arc<ArcSwap<Routes>>) {
    let slots = Arc::new(tokio::sync::Semaphore::new(connection_cap()));
    loop {
        let Ok((stream, src)) = listener.accept().await else {
            tokio::time::sleep(Duration::from_millis(10)).await;
            continue;
        };
        let Ok(slot) = slots.clone().try_acquire_owned() else {
            drop(stream);
            continue;
        };
        let routes = routes.clone();
        tokio::spawn(async move {
            let _ = serve_connection(stream, canonical(src), routes).await;
            drop(slot);
        });
    }
}

async fn serve_connection(
    mut stream: TcpStream,
    src: SocketAddr,
    routes: Arc<ArcSwap<Routes>>,
) -> std::io::Result<()> {
    let local = stream.local_addr()?;
    let _ = stream.set_nodelay(true);
    let arrival = Arrival {
        src,
        local: canonical(local),
        proto: Proto::Tcp,
    };
    loop {
        let mut length = [0u8; 2];
        match tokio::time::timeout(IDLE_TIMEOUT, stream.read_exact(&mut length)).await {
            Ok(Ok(_)) => {}
            _ => return Ok(()),
        }
        let mut packet = vec![0u8; u16::from_be_bytes(length) as usize];
        match tokio::time::timeout(READ_TIMEOUT, stream.read_exact(&mut packet)).await {
            Ok(Ok(_)) => {}
            _ => return Ok(()),
        }
        let handled = handle_packet(&routes, &packet, arrival);
        let reply = match handled {
            Handled::Reply(bytes) => Some(bytes),
            Handled::Drop => None,
            Handled::Pending(future) => future.await,
        };
        if let Some(bytes) = reply {
            let mut framed = Vec::with_capacity(bytes.len() + 2);
            framed.extend_from_slice(&(bytes.len() as u16).to_be_bytes());
            framed.extend_from_slice(&bytes);
            stream.write_all(&framed).await?;
        }
    }
}
