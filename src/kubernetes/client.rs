//! The API client: where the objects come from, and a client built for it.
//!
//! Why retried: building the client reads files (a service-account token,
//! a kubeconfig, certificates) that may not be there yet when the pod
//! starts. A failure is logged and retried with backoff instead of leaving
//! the server without watches for good.

use std::path::PathBuf;
use std::time::Duration;

/// Where the data comes from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Connection {
    /// The service-account environment (in a pod).
    InCluster,
    Endpoint {
        url: String,
        tls: Option<(String, String, String)>,
    },
    Kubeconfig {
        path: PathBuf,
        context: Option<String>,
    },
    /// Beyond CoreDNS: a file of objects, no API connection.
    Snapshot(PathBuf),
}

/// The first and the longest wait between two attempts to build the client.
const FIRST_RETRY: Duration = Duration::from_millis(500);
const LONGEST_RETRY: Duration = Duration::from_secs(30);

/// A client for `connection`, built once the configuration can be read;
/// each failure goes to `report`.
pub(crate) async fn connect_with_retry(
    connection: &Connection,
    report: impl Fn(String),
) -> kube::Client {
    let mut wait = FIRST_RETRY;
    loop {
        match client(connection).await {
            Ok(client) => return client,
            Err(error) => report(format!("{error} (retrying in {wait:?})")),
        }
        tokio::time::sleep(wait).await;
        wait = (wait * 2).min(LONGEST_RETRY);
    }
}

/// A client for `connection`, or why there is none.
pub(crate) async fn client(connection: &Connection) -> Result<kube::Client, String> {
    let config = config(connection)
        .await
        .map_err(|e| format!("unable to configure the API client: {e}"))?;
    let host = config
        .cluster_url
        .authority()
        .map(|a| a.to_string())
        .unwrap_or_default();
    let builder = kube::client::ClientBuilder::try_from(config)
        .map_err(|e| format!("unable to create the API client: {e}"))?;
    Ok(builder
        .with_layer(&super::rest_metrics::RestMetricsLayer::new(&host))
        .build())
}

async fn config(connection: &Connection) -> Result<kube::Config, String> {
    match connection {
        Connection::InCluster => kube::Config::incluster().map_err(|e| e.to_string()),
        Connection::Kubeconfig { path, context } => {
            let kubeconfig =
                kube::config::Kubeconfig::read_from(path).map_err(|e| e.to_string())?;
            let options = kube::config::KubeConfigOptions {
                context: context.clone(),
                ..Default::default()
            };
            kube::Config::from_custom_kubeconfig(kubeconfig, &options)
                .await
                .map_err(|e| e.to_string())
        }
        Connection::Endpoint { url, tls } => {
            let kubeconfig = endpoint_kubeconfig(url, tls.as_ref())?;
            kube::Config::from_custom_kubeconfig(kubeconfig, &Default::default())
                .await
                .map_err(|e| format!("endpoint {url}: {e}"))
        }
        Connection::Snapshot(_) => Err("a snapshot needs no client".into()),
    }
}

/// The client settings CoreDNS derives from `endpoint` and `tls CERT KEY
/// CACERT`: the server URL, and when given, the CA that signs the server's
/// certificate and the client's certificate and key (file paths, read by
/// kube as a kubeconfig's `certificate-authority`, `client-certificate`,
/// `client-key` are).
fn endpoint_kubeconfig(
    url: &str,
    tls: Option<&(String, String, String)>,
) -> Result<kube::config::Kubeconfig, String> {
    let quote = |text: &str| serde_json::Value::from(text).to_string();
    let (ca, user) = match tls {
        Some((cert, key, ca)) => (
            format!("\n    certificate-authority: {}", quote(ca)),
            format!(
                "\n    client-certificate: {}\n    client-key: {}",
                quote(cert),
                quote(key)
            ),
        ),
        None => (String::new(), " {}".to_string()),
    };
    let text = format!(
        "apiVersion: v1\nkind: Config\nclusters:\n- name: endpoint\n  cluster:\n    server: {}{ca}\nusers:\n- name: endpoint\n  user:{user}\ncontexts:\n- name: endpoint\n  context:\n    cluster: endpoint\n    user: endpoint\ncurrent-context: endpoint\n",
        quote(url)
    );
    kube::config::Kubeconfig::from_yaml(&text).map_err(|e| format!("endpoint {url}: {e}"))
}
