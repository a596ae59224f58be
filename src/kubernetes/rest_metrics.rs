//! The API client's own metrics, under the names CoreDNS registers for
//! client-go: `coredns_kubernetes_rest_client_requests_total{code,method,host}`
//! and `coredns_kubernetes_rest_client_request_duration_seconds{verb,host}`.
//! A dashboard panel on API errors or latency reads them.
//!
//! Why a tower layer: every request of the kube client passes through its
//! service stack, lists and watches alike. The duration runs until the
//! response headers arrive (a watch's stream is not counted), as client-go
//! measures it. A request that fails before any response counts with code
//! `<error>`, client-go's word for it.
//!
//! client-go's `rest_client_rate_limiter_duration_seconds` is not exported:
//! this client has no client-side rate limiter to wait in.

use std::future::Future;
use std::pin::Pin;
use std::sync::{Arc, LazyLock};
use std::task::{Context, Poll};
use std::time::Instant;

use prometheus::{HistogramOpts, HistogramVec, IntCounterVec, Opts};

struct Vectors {
    requests: IntCounterVec,
    duration: HistogramVec,
}

fn vectors() -> &'static Vectors {
    static VECTORS: LazyLock<Vectors> = LazyLock::new(|| {
        let requests = IntCounterVec::new(
            Opts::new(
                "coredns_kubernetes_rest_client_requests_total",
                "Number of HTTP requests, partitioned by status code, method, and host.",
            ),
            &["code", "method", "host"],
        )
        .expect("valid metric");
        let duration = HistogramVec::new(
            HistogramOpts::new(
                "coredns_kubernetes_rest_client_request_duration_seconds",
                "Request latency in seconds. Broken down by verb and host.",
            ),
            &["verb", "host"],
        )
        .expect("valid metric");
        crate::metrics::global().register(&requests);
        crate::metrics::global().register(&duration);
        Vectors { requests, duration }
    });
    &VECTORS
}

/// Wraps the client's service stack; `host` is the API server's
/// `host:port`.
#[derive(Clone)]
pub(super) struct RestMetricsLayer {
    host: Arc<str>,
}

impl RestMetricsLayer {
    pub(super) fn new(host: &str) -> RestMetricsLayer {
        let _ = vectors();
        RestMetricsLayer { host: host.into() }
    }
}

impl<S> tower::Layer<S> for RestMetricsLayer {
    type Service = Measured<S>;

    fn layer(&self, inner: S) -> Measured<S> {
        Measured {
            inner,
            host: self.host.clone(),
        }
    }
}

#[derive(Clone)]
pub(super) struct Measured<S> {
    inner: S,
    host: Arc<str>,
}

impl<S, B, R> tower::Service<http::Request<B>> for Measured<S>
where
    S: tower::Service<http::Request<B>, Response = http::Response<R>>,
    S::Future: Send + 'static,
{
    type Response = S::Response;
    type Error = S::Error;
    type Future = Pin<Box<dyn Future<Output = Result<S::Response, S::Error>> + Send>>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), S::Error>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, request: http::Request<B>) -> Self::Future {
        let method = request.method().as_str().to_string();
        let host = self.host.clone();
        let started = Instant::now();
        let response = self.inner.call(request);
        Box::pin(async move {
            let result = response.await;
            let code = match &result {
                Ok(response) => response.status().as_u16().to_string(),
                Err(_) => "<error>".to_string(),
            };
            let vectors = vectors();
            vectors
                .duration
                .with_label_values(&[method.as_str(), &host])
                .observe(started.elapsed().as_secs_f64());
            vectors
                .requests
                .with_label_values(&[code.as_str(), method.as_str(), &host])
                .inc();
            result
        })
    }
}
