//! DNS over TCP: 2-byte length framing, several queries per connection,
//! answered in order, with an idle timeout between queries, a read and a
//! write timeout, and slots from the listener's connection table.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use arc_swap::ArcSwap;
use socket2::{Protocol, Type};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};

use super::handler::{Arrival, Handled, handle_packet};
use super::routing::Routes;
use super::tcp_table::{Limits, Slot, Table};
use super::udp::{canonical, reuseport_socket};
use crate::dns::Proto;

/// How long a connection may sit between queries (CoreDNS: 10s).
pub(crate) const IDLE_TIMEOUT: Duration = Duration::from_secs(10);
/// How long reading one query may take once its length arrived.
const READ_TIMEOUT: Duration = Duration::from_secs(3);

pub(crate) fn bind_tcp(address: SocketAddr) -> std::io::Result<TcpListener> {
    let socket = reuseport_socket(address, Type::STREAM, Protocol::TCP)?;
    socket.listen(1024)?;
    TcpListener::from_std(socket.into())
}

/// Open TCP connections a listener serves at once, and per source address
/// (CoreDNS has neither cap). When full, a newcomer takes the slot of the
/// connection idle longest (`tcp_table`). `CLUSTERDNS_MAX_TCP_CONNECTIONS`
/// and `CLUSTERDNS_MAX_TCP_PER_SOURCE` override them.
pub(crate) const MAX_CONNECTIONS: usize = 1024;
pub(crate) const MAX_PER_SOURCE: usize = 128;
/// How long writing one reply may take (a peer that never reads).
const WRITE_TIMEOUT: Duration = Duration::from_secs(5);
/// What a query's buffer starts at; it grows as bytes arrive, so a length
/// prefix alone reserves no more than this.
const FIRST_READ: u64 = 512;

fn limits() -> Limits {
    let read = |name: &str, default: usize| {
        std::env::var(name)
            .ok()
            .and_then(|v| v.parse().ok())
            .unwrap_or(default)
    };
    Limits {
        total: read("CLUSTERDNS_MAX_TCP_CONNECTIONS", MAX_CONNECTIONS),
        per_source: read("CLUSTERDNS_MAX_TCP_PER_SOURCE", MAX_PER_SOURCE),
    }
}

pub(crate) async fn serve_tcp(listener: TcpListener, routes: Arc<ArcSwap<Routes>>) {
    let table = Table::new(limits());
    loop {
        let Ok((stream, src)) = listener.accept().await else {
            tokio::time::sleep(Duration::from_millis(10)).await;
            continue;
        };
        let src = canonical(src);
        let Some(slot) = table.admit(src.ip()) else {
            drop(stream);
            continue;
        };
        let (routes, table) = (routes.clone(), table.clone());
        tokio::spawn(async move {
            let _ = serve_connection(stream, src, routes, &table, slot).await;
        });
    }
}

async fn serve_connection(
    mut stream: TcpStream,
    src: SocketAddr,
    routes: Arc<ArcSwap<Routes>>,
    table: &Table,
    slot: Slot,
) -> std::io::Result<()> {
    let local = stream.local_addr()?;
    let _ = stream.set_nodelay(true);
    let arrival = Arrival {
        src,
        local: canonical(local),
        proto: Proto::Tcp,
    };
    loop {
        slot.set_idle(true);
        let idle = table.idle_timeout(IDLE_TIMEOUT);
        let mut length = [0u8; 2];
        tokio::select! {
            read = tokio::time::timeout(idle, stream.read_exact(&mut length)) => {
                if !matches!(read, Ok(Ok(_))) {
                    return Ok(());
                }
            }
            _ = slot.evict.notified() => return Ok(()),
        }
        slot.set_idle(false);
        let size = u16::from_be_bytes(length) as u64;
        let mut packet = Vec::with_capacity(size.min(FIRST_READ) as usize);
        let mut body = (&mut stream).take(size);
        match tokio::time::timeout(READ_TIMEOUT, body.read_to_end(&mut packet)).await {
            Ok(Ok(read)) if read as u64 == size => {}
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
            match tokio::time::timeout(WRITE_TIMEOUT, stream.write_all(&framed)).await {
                Ok(written) => written?,
                Err(_) => return Ok(()),
            }
        }
    }
}
