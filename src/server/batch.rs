//! Batched datagram I/O with `recvmmsg` and `sendmmsg`.
//!
//! Why: on loopback most of a query's cost is system calls, not DNS work.
//! One `recvmmsg` takes every queued query, one `sendmmsg` sends every
//! answer. A batch that comes back short also proves the queue was empty,
//! so the caller can clear readiness without the extra `recvfrom` that
//! would only say `EAGAIN`.
//!
//! Addresses go through socket2's `SockAddr`, so this file holds no
//! hand-written casts between `sockaddr_*` layouts.

use std::io;
use std::mem::{MaybeUninit, size_of};
use std::net::SocketAddr;
use std::os::fd::RawFd;

use socket2::{SockAddr, SockAddrStorage};

/// Largest query a slot holds. A larger datagram is dropped: CoreDNS reads
/// queries into 512-byte buffers, so this is already more generous, and 32
/// slots of 64 KiB would cost 2 MiB of resident memory per socket.
const SLOT_BYTES: usize = 4096;

/// Receive buffers and source addresses for up to `capacity` datagrams,
/// with the `recvmmsg` headers that point into them built once.
pub(crate) struct RecvBatch {
    buffers: Vec<Box<[u8]>>,
    /// Where the kernel writes each datagram's source address.
    sources: Vec<SockAddrStorage>,
    /// The sources of the last `receive`, decoded right after the call.
    senders: Vec<Option<SocketAddr>>,
    iovecs: Vec<libc::iovec>,
    headers: Vec<libc::mmsghdr>,
    filled: usize,
}

// SAFETY: the raw pointers in `iovecs` and `headers` point only into the
// heap buffers of `buffers`, `sources` and `iovecs`, which this struct owns
// and never reallocates; moving the struct to another thread moves them all.
unsafe impl Send for RecvBatch {}

impl RecvBatch {
    pub(crate) fn new(capacity: usize) -> Self {
        let mut buffers: Vec<Box<[u8]>> = (0..capacity)
            .map(|_| vec![0u8; SLOT_BYTES].into_boxed_slice())
            .collect();
        let mut sources: Vec<SockAddrStorage> =
            (0..capacity).map(|_| SockAddrStorage::zeroed()).collect();
        let mut iovecs: Vec<libc::iovec> = buffers
            .iter_mut()
            .map(|buffer| libc::iovec {
                iov_base: buffer.as_mut_ptr().cast(),
                iov_len: buffer.len(),
            })
            .collect();
        let headers = (0..capacity)
            .map(|slot| {
                let mut header = zeroed_header();
                header.msg_hdr.msg_name = (&mut sources[slot] as *mut SockAddrStorage).cast();
                header.msg_hdr.msg_iov = &mut iovecs[slot];
                header.msg_hdr.msg_iovlen = 1;
                header
            })
            .collect();
        RecvBatch {
            buffers,
            sources,
            senders: vec![None; capacity],
            iovecs,
            headers,
            filled: 0,
        }
    }

    pub(crate) fn capacity(&self) -> usize {
        self.buffers.len()
    }

    /// One non-blocking `recvmmsg`; returns how many datagrams arrived.
    pub(crate) fn receive(&mut self, fd: RawFd) -> io::Result<usize> {
        debug_assert_eq!(self.iovecs.len(), self.headers.len());
        for header in &mut self.headers {
            header.msg_hdr.msg_namelen = size_of::<SockAddrStorage>() as libc::socklen_t;
            header.msg_hdr.msg_flags = 0;
            header.msg_len = 0;
        }
        // SAFETY: every header points at a live iovec, buffer and address
        // slot owned by `self` (see `new`), all of which outlive the call.
        let received = unsafe {
            libc::recvmmsg(
                fd,
                self.headers.as_mut_ptr(),
                self.headers.len() as libc::c_uint,
                // `as _`: glibc declares the flags `c_int`, musl `c_uint`.
                libc::MSG_DONTWAIT as _,
                std::ptr::null_mut(),
            )
        };
        if received < 0 {
            self.filled = 0;
            return Err(io::Error::last_os_error());
        }
        self.filled = received as usize;
        self.decode_senders();
        Ok(self.filled)
    }

    /// Turns the addresses the kernel wrote into `SocketAddr`s, leaving
    /// each slot zeroed (in place, so the headers still point at it).
    fn decode_senders(&mut self) {
        for slot in 0..self.filled {
            let written = std::mem::replace(&mut self.sources[slot], SockAddrStorage::zeroed());
            let length = self.headers[slot].msg_hdr.msg_namelen;
            // SAFETY: `recvmmsg` wrote this slot's address, of the socket's
            // family, and set `msg_namelen` to its length.
            let address = unsafe { SockAddr::new(written, length) };
            self.senders[slot] = address.as_socket();
        }
    }

    /// The datagrams of the last `receive`: payload and source, skipping
    /// any that did not fit a slot or came from an unknown address family.
    pub(crate) fn datagrams(&self) -> impl Iterator<Item = (&[u8], SocketAddr)> {
        (0..self.filled).filter_map(|slot| {
            let header = &self.headers[slot];
            if header.msg_hdr.msg_flags & libc::MSG_TRUNC != 0 {
                return None;
            }
            let source = self.senders[slot]?;
            Some((&self.buffers[slot][..header.msg_len as usize], source))
        })
    }
}

/// Reusable `sendmmsg` headers, so sending a batch allocates nothing once
/// the first batches have sized the vectors.
#[derive(Default)]
pub(crate) struct SendBatch {
    destinations: Vec<SockAddr>,
    iovecs: Vec<libc::iovec>,
    headers: Vec<libc::mmsghdr>,
}

// SAFETY: the raw pointers are rebuilt by every `send` and only point into
// the vectors of this struct and the caller's replies during that call.
unsafe impl Send for SendBatch {}

impl SendBatch {
    /// Sends each reply to its destination in as few `sendmmsg` calls as
    /// the socket allows; returns how many went out before the socket would
    /// block or refused one.
    pub(crate) fn send(
        &mut self,
        fd: RawFd,
        replies: &[(Vec<u8>, SocketAddr)],
    ) -> io::Result<usize> {
        if replies.is_empty() {
            return Ok(0);
        }
        self.fill(replies);
        let total = self.headers.len();
        let mut sent = 0;
        while sent < total {
            // SAFETY: the headers point at iovecs, reply bytes and addresses
            // that all live until this function returns.
            let count = unsafe {
                libc::sendmmsg(
                    fd,
                    self.headers[sent..].as_mut_ptr(),
                    (total - sent) as libc::c_uint,
                    // `as _`: glibc declares the flags `c_int`, musl `c_uint`.
                    libc::MSG_DONTWAIT as _,
                )
            };
            if count < 0 {
                // What went out stays out; the caller sends the rest one by one.
                let error = io::Error::last_os_error();
                return if sent > 0 { Ok(sent) } else { Err(error) };
            }
            sent += count as usize;
        }
        Ok(sent)
    }

    /// Points one header at each reply and its destination. The pointers
    /// are set once every vector is filled, so no push can move their targets.
    fn fill(&mut self, replies: &[(Vec<u8>, SocketAddr)]) {
        self.destinations.clear();
        self.iovecs.clear();
        self.headers.clear();
        for (bytes, destination) in replies {
            let destination = SockAddr::from(*destination);
            let length = destination.len();
            self.destinations.push(destination);
            self.iovecs.push(libc::iovec {
                iov_base: bytes.as_ptr() as *mut libc::c_void,
                iov_len: bytes.len(),
            });
            let mut header = zeroed_header();
            header.msg_hdr.msg_namelen = length;
            header.msg_hdr.msg_iovlen = 1;
            self.headers.push(header);
        }
        for (slot, header) in self.headers.iter_mut().enumerate() {
            // `sendmmsg` only reads the address, so a `*const` made `*mut` is sound.
            header.msg_hdr.msg_name = self.destinations[slot].as_ptr() as *mut libc::c_void;
            header.msg_hdr.msg_iov = &mut self.iovecs[slot];
        }
    }
}

fn zeroed_header() -> libc::mmsghdr {
    // SAFETY: mmsghdr is plain data; all-zero (null pointers) is valid.
    unsafe { MaybeUninit::zeroed().assume_init() }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::net::UdpSocket;
    use std::os::fd::AsRawFd;

    #[test]
    fn a_batch_carries_several_datagrams_each_way() {
        let server = UdpSocket::bind("127.0.0.1:0").unwrap();
        let client = UdpSocket::bind("127.0.0.1:0").unwrap();
        for payload in [&b"one"[..], b"two", b"three"] {
            client
                .send_to(payload, server.local_addr().unwrap())
                .unwrap();
        }
        let mut batch = RecvBatch::new(8);
        let received = batch.receive(server.as_raw_fd()).unwrap();
        assert_eq!(received, 3, "all three queued datagrams in one call");
        let replies: Vec<(Vec<u8>, SocketAddr)> = batch
            .datagrams()
            .map(|(bytes, source)| {
                assert_eq!(source, client.local_addr().unwrap());
                (bytes.iter().rev().copied().collect(), source)
            })
            .collect();
        let mut sender = SendBatch::default();
        assert_eq!(sender.send(server.as_raw_fd(), &replies).unwrap(), 3);
        let mut buffer = [0u8; 16];
        for expected in [&b"eno"[..], b"owt", b"eerht"] {
            let (length, _) = client.recv_from(&mut buffer).unwrap();
            assert_eq!(&buffer[..length], expected);
        }
        let empty = batch.receive(server.as_raw_fd());
        assert_eq!(empty.unwrap_err().kind(), io::ErrorKind::WouldBlock);
    }

    #[test]
    fn a_datagram_larger_than_a_slot_is_dropped() {
        let server = UdpSocket::bind("127.0.0.1:0").unwrap();
        let client = UdpSocket::bind("127.0.0.1:0").unwrap();
        let target = server.local_addr().unwrap();
        client.send_to(&vec![7u8; SLOT_BYTES + 1], target).unwrap();
        client.send_to(&vec![7u8; SLOT_BYTES], target).unwrap();
        let mut batch = RecvBatch::new(4);
        assert_eq!(batch.receive(server.as_raw_fd()).unwrap(), 2);
        let lengths: Vec<usize> = batch.datagrams().map(|(bytes, _)| bytes.len()).collect();
        assert_eq!(lengths, vec![SLOT_BYTES]);
    }

    #[test]
    fn ipv6_sources_and_destinations_survive_the_batch() {
        let server = UdpSocket::bind("[::1]:0").unwrap();
        let client = UdpSocket::bind("[::1]:0").unwrap();
        client
            .send_to(b"six", server.local_addr().unwrap())
            .unwrap();
        let mut batch = RecvBatch::new(2);
        assert_eq!(batch.receive(server.as_raw_fd()).unwrap(), 1);
        let (bytes, source) = batch.datagrams().next().unwrap();
        assert_eq!(source, client.local_addr().unwrap());
        let replies = vec![(bytes.to_vec(), source)];
        assert_eq!(
            SendBatch::default()
                .send(server.as_raw_fd(), &replies)
                .unwrap(),
            1
        );
        let mut buffer = [0u8; 8];
        let (length, from) = client.recv_from(&mut buffer).unwrap();
        assert_eq!(
            (&buffer[..length], from),
            (&b"six"[..], server.local_addr().unwrap())
        );
    }
}
