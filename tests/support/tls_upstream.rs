//! A DNS-over-TLS upstream stub on loopback, with the test CA's
//! certificate (`tests/fixtures/tls`), for forward's `tls://` tests.

use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

use hickory_proto::op::Message;
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer};
use tokio::io::{AsyncReadExt, AsyncWriteExt};

/// A file of `tests/fixtures/tls` (the test CA, the stub's certificate and key).
pub fn fixture(name: &str) -> String {
    format!("{}/tests/fixtures/tls/{name}", env!("CARGO_MANIFEST_DIR"))
}

/// A DNS-over-TLS upstream on 127.0.0.1 answering with the stub's
/// deterministic records; counts connections and queries.
pub struct TlsStub {
    pub addr: SocketAddr,
    pub connections: Arc<AtomicUsize>,
    pub queries: Arc<AtomicUsize>,
}

impl TlsStub {
    pub fn start() -> TlsStub {
        let certificates: Vec<CertificateDer<'static>> =
            CertificateDer::pem_file_iter(fixture("server.pem"))
                .unwrap()
                .collect::<Result<_, _>>()
                .unwrap();
        let key = PrivateKeyDer::from_pem_file(fixture("server.key")).unwrap();
        let provider = Arc::new(rustls::crypto::ring::default_provider());
        let config = rustls::ServerConfig::builder_with_provider(provider)
            .with_safe_default_protocol_versions()
            .unwrap()
            .with_no_client_auth()
            .with_single_cert(certificates, key)
            .unwrap();
        let acceptor = tokio_rustls::TlsAcceptor::from(Arc::new(config));
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        listener.set_nonblocking(true).unwrap();
        let addr = listener.local_addr().unwrap();
        let (connections, queries) = (Arc::default(), Arc::default());
        let counters = (Arc::clone(&connections), Arc::clone(&queries));
        std::thread::spawn(move || {
            let runtime = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .unwrap();
            runtime.block_on(serve(listener, acceptor, counters));
        });
        TlsStub {
            addr,
            connections,
            queries,
        }
    }
}

async fn serve(
    listener: std::net::TcpListener,
    acceptor: tokio_rustls::TlsAcceptor,
    (connections, queries): (Arc<AtomicUsize>, Arc<AtomicUsize>),
) {
    let listener = tokio::net::TcpListener::from_std(listener).unwrap();
    while let Ok((stream, _)) = listener.accept().await {
        let (acceptor, queries) = (acceptor.clone(), queries.clone());
        connections.fetch_add(1, Ordering::SeqCst);
        tokio::spawn(async move {
            let Ok(mut stream) = acceptor.accept(stream).await else {
                return;
            };
            let mut length = [0u8; 2];
            while stream.read_exact(&mut length).await.is_ok() {
                let mut packet = vec![0u8; u16::from_be_bytes(length) as usize];
                if stream.read_exact(&mut packet).await.is_err() {
                    return;
                }
                queries.fetch_add(1, Ordering::SeqCst);
                let query = Message::from_vec(&packet).unwrap();
                let reply = super::upstream::answer(&query, 300).to_vec().unwrap();
                let mut framed = (reply.len() as u16).to_be_bytes().to_vec();
                framed.extend_from_slice(&reply);
                if stream.write_all(&framed).await.is_err() {
                    return;
                }
            }
        });
    }
}
