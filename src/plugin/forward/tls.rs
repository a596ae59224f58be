//! DNS over TLS to an upstream (`tls://`): the client configuration from
//! the `tls [CERT KEY] [CA]` option, and the name each upstream's
//! certificate must carry.
//!
//! As in CoreDNS: no arguments trust the system's CAs; one names a CA file;
//! two are a client certificate and key (system CAs); three add the CA.
//! TLS 1.2 is the minimum. The certificate is checked against
//! `tls_servername`, else the TO's own `%SNI`, else the upstream's IP
//! address (what Go's TLS dialer does when the name is left empty).

use std::net::SocketAddr;
use std::sync::Arc;

use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer, ServerName};
use tokio_rustls::TlsConnector;

use crate::corefile::CorefileError;

/// How one upstream is reached over TLS.
#[derive(Clone)]
pub(super) struct TlsTarget {
    pub connector: TlsConnector,
    pub name: ServerName<'static>,
}

/// The client configuration of one forward, from the `tls` option's
/// arguments (none when the option is absent).
pub(super) fn client_config(args: &[String]) -> Result<Arc<rustls::ClientConfig>, CorefileError> {
    let (client_pair, ca) = match args {
        [] => (None, None),
        [ca] => (None, Some(ca)),
        [cert, key] => (Some((cert, key)), None),
        [cert, key, ca] => (Some((cert, key)), Some(ca)),
        more => {
            return Err(CorefileError::plain(format!(
                "maximum of three arguments allowed for TLS config, found {}",
                more.len()
            )));
        }
    };
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let builder = rustls::ClientConfig::builder_with_provider(provider)
        .with_protocol_versions(&[&rustls::version::TLS13, &rustls::version::TLS12])
        .map_err(tls_error)?
        .with_root_certificates(roots(ca.map(String::as_str))?);
    let config = match client_pair {
        None => builder.with_no_client_auth(),
        Some((cert, key)) => builder
            .with_client_auth_cert(certificates(cert)?, private_key(key)?)
            .map_err(tls_error)?,
    };
    Ok(Arc::new(config))
}

/// The target of one `tls://` TO: the name its certificate must carry.
pub(super) fn target(
    config: &Arc<rustls::ClientConfig>,
    address: SocketAddr,
    server_name: Option<&str>,
) -> Result<TlsTarget, CorefileError> {
    let name = match server_name {
        Some(name) => ServerName::try_from(name.trim_end_matches('.').to_string())
            .map_err(|e| CorefileError::plain(format!("tls_servername {name}: {e}")))?,
        None => ServerName::IpAddress(address.ip().into()),
    };
    Ok(TlsTarget {
        connector: TlsConnector::from(config.clone()),
        name,
    })
}

fn roots(ca: Option<&str>) -> Result<rustls::RootCertStore, CorefileError> {
    let mut store = rustls::RootCertStore::empty();
    match ca {
        Some(path) => {
            for certificate in certificates(path)? {
                store.add(certificate).map_err(tls_error)?;
            }
        }
        None => {
            let system = rustls_native_certs::load_native_certs();
            store.add_parsable_certificates(system.certs);
        }
    }
    Ok(store)
}

fn certificates(path: &str) -> Result<Vec<CertificateDer<'static>>, CorefileError> {
    let certificates = CertificateDer::pem_file_iter(path)
        .and_then(|all| all.collect::<Result<Vec<_>, _>>())
        .map_err(|e| CorefileError::plain(format!("open {path}: {e}")))?;
    if certificates.is_empty() {
        return Err(CorefileError::plain(format!(
            "{path}: no certificate found"
        )));
    }
    Ok(certificates)
}

fn private_key(path: &str) -> Result<PrivateKeyDer<'static>, CorefileError> {
    PrivateKeyDer::from_pem_file(path)
        .map_err(|e| CorefileError::plain(format!("open {path}: {e}")))
}

fn tls_error(error: rustls::Error) -> CorefileError {
    CorefileError::plain(format!("tls: {error}"))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn fixture(name: &str) -> String {
        format!("{}/tests/fixtures/tls/{name}", env!("CARGO_MANIFEST_DIR"))
    }

    #[test]
    fn the_argument_forms_build_or_fail_as_coredns_does() {
        assert!(client_config(&[]).is_ok(), "system CAs");
        assert!(client_config(&[fixture("ca.pem")]).is_ok());
        let pair = [fixture("server.pem"), fixture("server.key")];
        assert!(client_config(&pair).is_ok(), "client certificate");
        let four = vec!["a".to_string(); 4];
        let error = client_config(&four).err().unwrap().to_string();
        assert!(error.contains("maximum of three arguments allowed for TLS config, found 4"));
        let error = client_config(&["/nonexistent/ca.pem".into()])
            .err()
            .unwrap();
        assert!(error.to_string().contains("/nonexistent/ca.pem"));
    }

    #[test]
    fn the_name_checked_is_the_server_name_else_the_address() {
        let config = client_config(&[]).unwrap();
        let address: SocketAddr = "127.0.0.1:853".parse().unwrap();
        let named = target(&config, address, Some("dns.test.")).unwrap();
        assert_eq!(named.name.to_str(), "dns.test");
        let by_address = target(&config, address, None).unwrap();
        assert!(matches!(by_address.name, ServerName::IpAddress(_)));
    }
}
