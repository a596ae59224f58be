//! A batched UDP load client for the saturation runs.
//!
//! Why: one dnsperf thread sends and receives one datagram per system call
//! and tops out near 300k QPS on this machine's CPU 1, so a server that can
//! answer faster is measured at the client's limit. This client sends and
//! receives up to [`BATCH`] datagrams per call (`sendmmsg`/`recvmmsg`) with
//! [`WINDOW`] queries in flight, so the server on CPU 0 is the limit, and
//! the QPS ratio of two servers is theirs, not the client's. Every server
//! of a mix gets the same client, queries and window. As dnsperf does, it
//! counts any reply carrying a query's ID as completed (and also counts
//! those with an rcode other than NOERROR or NXDOMAIN); a query unanswered
//! for [`PATIENCE`] is lost and its slot reused.

use std::collections::VecDeque;
use std::io;
use std::mem::MaybeUninit;
use std::net::UdpSocket;
use std::os::fd::AsRawFd;
use std::path::Path;
use std::time::{Duration, Instant};

use hickory_proto::op::{Message, MessageType, OpCode, Query};
use hickory_proto::rr::{Name, RecordType};

/// Queries in flight at most: enough to keep a server's queue full between
/// its wake-ups, and few enough to fit a default-sized socket receive
/// buffer (CoreDNS does not enlarge its own; at 512 it dropped queries).
/// dnsperf's runs use 200.
const WINDOW: usize = 192;
/// Datagrams per `sendmmsg` / `recvmmsg`.
const BATCH: usize = 64;
/// How long a query may wait for its reply before it counts as lost.
const PATIENCE: Duration = Duration::from_millis(500);

/// What a batched run measured.
pub struct Blast {
    pub qps: f64,
    pub completed: u64,
    /// Completed with an rcode other than NOERROR or NXDOMAIN.
    pub failed: u64,
    pub lost: u64,
}

/// Sends the queries of a dnsperf-format file (`name TYPE` per line) in a
/// loop to 127.0.0.1:`port` for `seconds`, from a thread pinned to `cpu`.
pub fn blast(port: u16, queries: &Path, seconds: u32, cpu: usize) -> Blast {
    let wire = encode_all(&std::fs::read_to_string(queries).expect("query file"));
    std::thread::spawn(move || {
        pin_this_thread(cpu);
        Client::new(port, wire).run(Duration::from_secs(u64::from(seconds)))
    })
    .join()
    .expect("the load client")
}

/// Each line as a wire query (ID 0, RD set), ready to be stamped with an ID.
fn encode_all(text: &str) -> Vec<Vec<u8>> {
    text.lines()
        .filter_map(|line| {
            let mut words = line.split_whitespace();
            let name = Name::from_ascii(words.next()?).ok()?;
            let qtype: RecordType = words.next()?.parse().ok()?;
            let mut msg = Message::new(0, MessageType::Query, OpCode::Query);
            msg.metadata.recursion_desired = true;
            msg.add_query(Query::query(name.append_domain(&Name::root()).ok()?, qtype));
            msg.to_vec().ok()
        })
        .collect()
}

fn pin_this_thread(cpu: usize) {
    // SAFETY: a zeroed cpu_set_t is the empty set; CPU_SET writes inside it;
    // sched_setaffinity(0, ..) reads it for the calling thread only.
    unsafe {
        let mut set: libc::cpu_set_t = MaybeUninit::zeroed().assume_init();
        libc::CPU_SET(cpu, &mut set);
        libc::sched_setaffinity(0, size_of::<libc::cpu_set_t>(), &set);
    }
}

struct Client {
    socket: UdpSocket,
    queries: Vec<Vec<u8>>,
    next_query: usize,
    next_id: u16,
    /// When each ID was sent, while it is in flight.
    sent_at: Vec<Option<Instant>>,
    /// IDs in the order they were sent, for finding the lost ones.
    in_flight: VecDeque<u16>,
    outstanding: usize,
    send: Slots,
    receive: Slots,
    completed: u64,
    failed: u64,
    lost: u64,
}

impl Client {
    fn new(port: u16, queries: Vec<Vec<u8>>) -> Client {
        assert!(!queries.is_empty(), "no queries to send");
        let socket = UdpSocket::bind("127.0.0.1:0").expect("client socket");
        socket.connect(("127.0.0.1", port)).expect("connect");
        socket.set_nonblocking(true).unwrap();
        let _ = socket2::SockRef::from(&socket).set_recv_buffer_size(4 << 20);
        Client {
            socket,
            queries,
            next_query: 0,
            next_id: 0,
            sent_at: vec![None; 1 << 16],
            in_flight: VecDeque::with_capacity(WINDOW),
            outstanding: 0,
            send: Slots::new(),
            receive: Slots::new(),
            completed: 0,
            failed: 0,
            lost: 0,
        }
    }

    fn run(mut self, length: Duration) -> Blast {
        let started = Instant::now();
        let mut swept = started;
        while started.elapsed() < length {
            let sent = self.send_batch();
            let received = self.receive_batch();
            if sent == 0 && received == 0 {
                self.wait_readable(Duration::from_millis(5));
            }
            if swept.elapsed() > PATIENCE / 5 {
                swept = Instant::now();
                self.forget_lost(swept);
            }
        }
        let elapsed = started.elapsed().as_secs_f64();
        Blast {
            qps: self.completed as f64 / elapsed,
            completed: self.completed,
            failed: self.failed,
            lost: self.lost + self.outstanding as u64,
        }
    }

    /// Fills the window, up to one batch; how many went out.
    fn send_batch(&mut self) -> usize {
        let count = (WINDOW - self.outstanding).min(BATCH);
        if count == 0 {
            return 0;
        }
        let ids: Vec<u16> = (0..count).map(|_| self.take_id()).collect();
        for (slot, id) in ids.iter().enumerate() {
            let query = &self.queries[self.next_query];
            self.next_query = (self.next_query + 1) % self.queries.len();
            self.send.load(slot, query, *id);
        }
        let sent = self.send.sendmmsg(self.socket.as_raw_fd(), count);
        let now = Instant::now();
        for &id in &ids[..sent] {
            self.sent_at[usize::from(id)] = Some(now);
            self.in_flight.push_back(id);
        }
        self.outstanding += sent;
        sent
    }

    /// The next ID; one still in flight after a full turn of IDs is lost.
    fn take_id(&mut self) -> u16 {
        let id = self.next_id;
        self.next_id = self.next_id.wrapping_add(1);
        if self.sent_at[usize::from(id)].take().is_some() {
            self.outstanding -= 1;
            self.lost += 1;
        }
        id
    }

    fn receive_batch(&mut self) -> usize {
        let count = self.receive.recvmmsg(self.socket.as_raw_fd());
        for slot in 0..count {
            let reply = self.receive.payload(slot);
            if reply.len() < 12 || reply[2] & 0x80 == 0 {
                continue;
            }
            let id = u16::from_be_bytes([reply[0], reply[1]]);
            let rcode = reply[3] & 0x0F;
            if self.sent_at[usize::from(id)].take().is_none() {
                continue;
            }
            self.outstanding -= 1;
            self.completed += 1;
            if !matches!(rcode, 0 | 3) {
                self.failed += 1;
            }
        }
        count
    }

    /// Drops from the window the queries unanswered for [`PATIENCE`].
    fn forget_lost(&mut self, now: Instant) {
        while let Some(&id) = self.in_flight.front() {
            match self.sent_at[usize::from(id)] {
                None => {
                    self.in_flight.pop_front();
                }
                Some(at) if now.duration_since(at) > PATIENCE => {
                    self.sent_at[usize::from(id)] = None;
                    self.in_flight.pop_front();
                    self.outstanding -= 1;
                    self.lost += 1;
                }
                Some(_) => break,
            }
        }
        // Answered IDs leave the front lazily; keep the queue bounded.
        if self.in_flight.len() > 4 * WINDOW {
            let sent_at = &self.sent_at;
            self.in_flight
                .retain(|id| sent_at[usize::from(*id)].is_some());
        }
    }

    fn wait_readable(&self, limit: Duration) {
        let mut poll = libc::pollfd {
            fd: self.socket.as_raw_fd(),
            events: libc::POLLIN,
            revents: 0,
        };
        // SAFETY: one valid pollfd for the duration of the call.
        unsafe { libc::poll(&mut poll, 1, limit.as_millis() as libc::c_int) };
    }
}

/// [`BATCH`] datagram buffers with their `mmsghdr`s, for a connected socket.
struct Slots {
    buffers: Vec<[u8; 512]>,
    lengths: Vec<usize>,
    iovecs: Vec<libc::iovec>,
    headers: Vec<libc::mmsghdr>,
}

impl Slots {
    fn new() -> Slots {
        Slots {
            buffers: vec![[0u8; 512]; BATCH],
            lengths: vec![0; BATCH],
            iovecs: Vec::with_capacity(BATCH),
            headers: Vec::with_capacity(BATCH),
        }
    }

    /// Copies a query into a slot under `id`.
    fn load(&mut self, slot: usize, query: &[u8], id: u16) {
        let length = query.len().min(512);
        self.buffers[slot][..length].copy_from_slice(&query[..length]);
        self.buffers[slot][..2].copy_from_slice(&id.to_be_bytes());
        self.lengths[slot] = length;
    }

    fn payload(&self, slot: usize) -> &[u8] {
        &self.buffers[slot][..self.lengths[slot]]
    }

    /// Points the headers at the first `count` slots: their loaded length
    /// to send, or whole to receive into.
    fn point(&mut self, count: usize, whole: bool) {
        self.iovecs.clear();
        self.headers.clear();
        for slot in 0..count {
            let iov_len = if whole { 512 } else { self.lengths[slot] };
            self.iovecs.push(libc::iovec {
                iov_base: self.buffers[slot].as_mut_ptr().cast(),
                iov_len,
            });
        }
        for slot in 0..count {
            // SAFETY: mmsghdr is plain data; all-zero is a valid value.
            let mut header: libc::mmsghdr = unsafe { MaybeUninit::zeroed().assume_init() };
            header.msg_hdr.msg_iov = &mut self.iovecs[slot];
            header.msg_hdr.msg_iovlen = 1;
            self.headers.push(header);
        }
    }

    /// Sends the first `count` loaded slots; how many went out.
    fn sendmmsg(&mut self, fd: i32, count: usize) -> usize {
        self.point(count, false);
        // SAFETY: the headers point at iovecs and buffers owned by `self`.
        let sent = unsafe {
            libc::sendmmsg(
                fd,
                self.headers.as_mut_ptr(),
                count as u32,
                libc::MSG_DONTWAIT,
            )
        };
        usize::try_from(sent).unwrap_or(0)
    }

    /// Receives up to [`BATCH`] replies; how many arrived.
    fn recvmmsg(&mut self, fd: i32) -> usize {
        self.point(BATCH, true);
        // SAFETY: the headers point at iovecs and buffers owned by `self`.
        let received = unsafe {
            libc::recvmmsg(
                fd,
                self.headers.as_mut_ptr(),
                BATCH as u32,
                libc::MSG_DONTWAIT,
                std::ptr::null_mut(),
            )
        };
        let count = usize::try_from(received).unwrap_or(0);
        for slot in 0..count {
            self.lengths[slot] = self.headers[slot].msg_len as usize;
        }
        if received < 0 && io::Error::last_os_error().kind() != io::ErrorKind::WouldBlock {
            eprintln!("blast: recvmmsg: {}", io::Error::last_os_error());
        }
        count
    }
}
