//! loop: detects a forwarding loop at startup (the directive is `loop`).
//!
//! For the first 30 seconds it sends `HINFO <random>.<random>.<zone>` to
//! its own listener; if that query comes back through the chain more than
//! twice, the server forwards to itself and the process exits with
//! CoreDNS's fatal line, so the misconfiguration cannot go unnoticed.

use std::net::{IpAddr, SocketAddr};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU32, Ordering};
use std::time::Duration;

use hickory_proto::op::{Message, MessageType, OpCode, Query};
use hickory_proto::rr::{Name, RecordType};

use crate::corefile::{CorefileError, Dispenser};
use crate::dns::Request;
use crate::dns::{Flow, Next, Plugin};

const ACTIVE_FOR: Duration = Duration::from_secs(30);
/// The probe starts with the plugins, before the listeners are bound; until
/// they are, the port refuses it and the probe is retried at this pace
/// instead of CoreDNS's one second (CoreDNS probes only once it listens).
const NOT_LISTENING_RETRY: Duration = Duration::from_millis(50);

/// How one probe exchange ended.
enum Probe {
    Answered,
    /// The target port refused it: the listeners are not bound yet.
    NotListening,
    Failed,
}

pub(crate) struct Loop {
    inner: Arc<Inner>,
}

struct Inner {
    zone: String,
    /// The lower-case probe name.
    probe: String,
    target: SocketAddr,
    /// How the target is shown in the fatal line (`:53` or `IP:53`).
    shown_target: String,
    seen: AtomicU32,
    active: AtomicBool,
    started: AtomicBool,
}

/// `zone` is the block's first key; `port` its port; `bind` the first bind address.
pub(crate) fn setup(
    d: &mut Dispenser,
    zone: &str,
    port: u16,
    bind: Option<IpAddr>,
) -> Result<Loop, CorefileError> {
    while d.next_once()? {
        if d.next_arg() {
            return Err(d.arg_err());
        }
    }
    let probe_zone = if zone == "." {
        String::new()
    } else {
        zone.to_string()
    };
    let probe = format!("{}.{}.{probe_zone}", random_label(), random_label());
    let target = SocketAddr::new(bind.unwrap_or(IpAddr::from([127, 0, 0, 1])), port);
    let shown_target = match bind {
        Some(ip) => format!("{ip}:{port}"),
        None => format!(":{port}"),
    };
    let inner = Inner {
        zone: zone.to_string(),
        probe,
        target,
        shown_target,
        seen: AtomicU32::new(0),
        active: AtomicBool::new(true),
        started: AtomicBool::new(false),
    };
    Ok(Loop {
        inner: Arc::new(inner),
    })
}

fn random_label() -> u64 {
    rand::random::<u64>() >> 2
}

impl Plugin for Loop {
    fn name(&self) -> &'static str {
        "loop"
    }

    fn start(&self) {
        if self.inner.started.swap(true, Ordering::SeqCst) {
            return;
        }
        let inner = self.inner.clone();
        tokio::spawn(async move { inner.probe_loop().await });
    }

    fn serve(&self, req: Request, next: Next) -> Flow {
        let inner = &self.inner;
        if inner.active.load(Ordering::Relaxed)
            && req.qtype() == RecordType::HINFO
            && req.qname_lower == inner.probe
        {
            let seen = inner.seen.fetch_add(1, Ordering::SeqCst) + 1;
            if seen > 2 {
                crate::logging::line(&format!(
                    "[FATAL] plugin/loop: Loop ({} -> {}) detected for zone {:?}, see https://coredns.io/plugins/loop#troubleshooting. Query: \"HINFO {}\"",
                    req.src, inner.shown_target, inner.zone, inner.probe
                ));
                std::process::exit(1);
            }
        }
        next.serve(req)
    }
}

impl Inner {
    /// Sends the probe every second until one exchange returns, for at most 30s.
    async fn probe_loop(&self) {
        let deadline = tokio::time::Instant::now() + ACTIVE_FOR;
        while tokio::time::Instant::now() < deadline {
            let pause = match self.exchange().await {
                Probe::Answered => break,
                Probe::NotListening => NOT_LISTENING_RETRY,
                Probe::Failed => Duration::from_secs(1),
            };
            self.seen.store(0, Ordering::SeqCst);
            tokio::time::sleep(pause).await;
        }
        self.active.store(false, Ordering::SeqCst);
    }

    async fn exchange(&self) -> Probe {
        let Ok(name) = Name::from_ascii(&self.probe) else {
            return Probe::Answered;
        };
        let mut query = Message::new(rand::random(), MessageType::Query, OpCode::Query);
        query.metadata.recursion_desired = true;
        query.add_query(Query::query(name, RecordType::HINFO));
        let Ok(bytes) = query.to_vec() else {
            return Probe::Answered;
        };
        let bind: SocketAddr = if self.target.is_ipv4() {
            ([0, 0, 0, 0], 0).into()
        } else {
            "[::]:0".parse().expect("v6 any")
        };
        let Ok(socket) = tokio::net::UdpSocket::bind(bind).await else {
            return Probe::Failed;
        };
        if socket.connect(self.target).await.is_err() || socket.send(&bytes).await.is_err() {
            return Probe::Failed;
        }
        let mut buffer = [0u8; 512];
        match tokio::time::timeout(Duration::from_secs(2), socket.recv(&mut buffer)).await {
            Ok(Ok(_)) => Probe::Answered,
            Ok(Err(error)) if error.kind() == std::io::ErrorKind::ConnectionRefused => {
                Probe::NotListening
            }
            _ => Probe::Failed,
        }
    }
}

#[cfg(test)]
mod tests {
    use crate::plugin::pkg::test;
    use hickory_proto::rr::RecordType;

    #[test]
    fn ordinary_queries_pass_through_to_the_next_plugin() {
        let chain = test::chain(".:53 {\n loop\n whoami\n}\n");
        let reply = test::ask(&chain, "example.org.", RecordType::A);
        assert_eq!(reply.additionals.len(), 2, "whoami answered behind loop");
    }

    #[test]
    fn takes_no_arguments() {
        let error = test::setup_error(".:53 {\n loop 3\n}\n");
        assert!(error.contains("Wrong argument count"), "{error}");
    }
}
