//! Sending one query to a server for the differential checker.

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream, UdpSocket};
use std::time::Duration;

use hickory_proto::op::Message;

pub use crate::dns::Proto;

/// Sends `query` to `server` and returns the parsed reply.
pub fn exchange(
    server: SocketAddr,
    query: &Message,
    transport: Proto,
    timeout: Duration,
) -> Result<Message, String> {
    let bytes = query.to_vec().map_err(|e| e.to_string())?;
    let reply = match transport {
        Proto::Udp => udp(server, &bytes, query.metadata.id, timeout),
        Proto::Tcp => tcp(server, &bytes, timeout),
    }
    .map_err(|e| format!("{server} {transport:?}: {e}"))?;
    Message::from_vec(&reply).map_err(|e| format!("{server}: unparsable reply: {e}"))
}

fn udp(server: SocketAddr, bytes: &[u8], id: u16, timeout: Duration) -> std::io::Result<Vec<u8>> {
    let bind: SocketAddr = if server.is_ipv6() {
        "[::1]:0".parse().unwrap()
    } else {
        "127.0.0.1:0".parse().unwrap()
    };
    let socket = UdpSocket::bind(bind)?;
    socket.set_read_timeout(Some(timeout))?;
    socket.connect(server)?;
    socket.send(bytes)?;
    let mut buffer = vec![0u8; 65535];
    loop {
        let length = socket.recv(&mut buffer)?;
        if length >= 2 && u16::from_be_bytes([buffer[0], buffer[1]]) == id {
            buffer.truncate(length);
            return Ok(buffer);
        }
    }
}

fn tcp(server: SocketAddr, bytes: &[u8], timeout: Duration) -> std::io::Result<Vec<u8>> {
    let mut stream = TcpStream::connect_timeout(&server, timeout)?;
    stream.set_read_timeout(Some(timeout))?;
    let mut framed = (bytes.len() as u16).to_be_bytes().to_vec();
    framed.extend_from_slice(bytes);
    stream.write_all(&framed)?;
    let mut length = [0u8; 2];
    stream.read_exact(&mut length)?;
    let mut reply = vec![0u8; u16::from_be_bytes(length) as usize];
    stream.read_exact(&mut reply)?;
    Ok(reply)
}
