//! Delivery of security lines to `HAVEN_SECURITY_WEBHOOK_URL`: a bounded queue in front of one
//! background task that POSTs each line (`Content-Type: application/json`) with retries and
//! exponential backoff.
//!
//! A request only ever calls [`Webhook::enqueue`], which never waits: when the queue is full
//! (the receiver has been down for a while) the event is dropped with a warning. The stdout
//! line and the audit log still hold it; the webhook is the fast path to a human, not the
//! record. Events still queued when the process stops are not delivered.
//!
//! `http://` and `https://` URLs are accepted (TLS by rustls with the Mozilla root store; the
//! system's store is not consulted). The URL can carry a token, so it never appears in logs or
//! in `Debug`.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use http_body_util::Full;
use hyper::body::Bytes;
use hyper::{Method, Request, StatusCode, Uri, header};
use hyper_rustls::HttpsConnector;
use hyper_util::client::legacy::Client;
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::rt::TokioExecutor;
use rand::RngExt;
use tokio::sync::mpsc;

/// How many events may wait for delivery.
pub const QUEUE_CAPACITY: usize = 1024;
/// Attempts per event, the first included.
pub const MAX_ATTEMPTS: u32 = 6;
/// The wait before the second attempt; it doubles after each failure (±20% jitter).
pub const FIRST_BACKOFF: Duration = Duration::from_millis(250);
/// The longest wait between attempts.
pub const MAX_BACKOFF: Duration = Duration::from_secs(30);
/// How long one attempt may take, connecting included.
pub const ATTEMPT_TIMEOUT: Duration = Duration::from_secs(5);

/// A checked webhook URL: `http` or `https`, with a host. Its `Debug` hides it.
#[derive(Clone)]
pub struct WebhookUrl(Uri);

impl std::fmt::Debug for WebhookUrl {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("WebhookUrl([REDACTED])")
    }
}

impl WebhookUrl {
    /// Checks `raw`; the error never quotes it.
    pub fn parse(raw: &str) -> Result<Self, String> {
        let uri: Uri = raw.trim().parse().map_err(|_| "is not a URL".to_owned())?;
        match uri.scheme_str() {
            Some("http" | "https") => {}
            _ => return Err("must start with http:// or https://".into()),
        }
        if uri.host().is_none_or(str::is_empty) {
            return Err("has no host".into());
        }
        Ok(Self(uri))
    }

    /// Whether it uses TLS.
    #[must_use]
    pub fn is_https(&self) -> bool {
        self.0.scheme_str() == Some("https")
    }
}

/// What happened to the events so far.
#[derive(Debug, Default)]
struct Stats {
    delivered: AtomicU64,
    failed: AtomicU64,
    dropped: AtomicU64,
}

/// Counts of delivered, failed (after every attempt) and dropped (queue full) events.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct WebhookStats {
    /// Accepted by the receiver (2xx).
    pub delivered: u64,
    /// Given up on after [`MAX_ATTEMPTS`], or refused with a 4xx other than 408/429.
    pub failed: u64,
    /// Never queued: the queue was full.
    pub dropped: u64,
}

/// The queue and its delivery task. Dropping it ends the task once the queue is drained.
#[derive(Debug)]
pub struct Webhook {
    queue: mpsc::Sender<String>,
    stats: Arc<Stats>,
}

type HttpClient = Client<HttpsConnector<HttpConnector>, Full<Bytes>>;

fn client() -> anyhow::Result<HttpClient> {
    let mut http = HttpConnector::new();
    http.enforce_http(false);
    http.set_connect_timeout(Some(ATTEMPT_TIMEOUT));
    let https = hyper_rustls::HttpsConnectorBuilder::new()
        .with_provider_and_webpki_roots(rustls::crypto::aws_lc_rs::default_provider())?
        .https_or_http()
        .enable_http1()
        .wrap_connector(http);
    Ok(Client::builder(TokioExecutor::new())
        .pool_idle_timeout(Duration::from_secs(30))
        .build(https))
}

impl Webhook {
    /// Starts the delivery task (inside the Tokio runtime).
    pub fn start(url: WebhookUrl) -> anyhow::Result<Self> {
        let client = client()?;
        let (queue, receiver) = mpsc::channel(QUEUE_CAPACITY);
        let stats = Arc::new(Stats::default());
        tokio::spawn(run(client, url.0, receiver, stats.clone()));
        Ok(Self { queue, stats })
    }

    /// Queues `line` for delivery without waiting; false (and a warning) when it was dropped.
    pub fn enqueue(&self, line: String) -> bool {
        match self.queue.try_send(line) {
            Ok(()) => true,
            Err(mpsc::error::TrySendError::Full(_)) => {
                self.stats.dropped.fetch_add(1, Ordering::Relaxed);
                tracing::warn!(
                    capacity = QUEUE_CAPACITY,
                    "security webhook queue is full; event dropped (stdout and the audit log keep it)"
                );
                false
            }
            Err(mpsc::error::TrySendError::Closed(_)) => {
                self.stats.dropped.fetch_add(1, Ordering::Relaxed);
                tracing::warn!("security webhook task is gone; event dropped");
                false
            }
        }
    }

    /// Delivery counts so far.
    #[must_use]
    pub fn stats(&self) -> WebhookStats {
        WebhookStats {
            delivered: self.stats.delivered.load(Ordering::Relaxed),
            failed: self.stats.failed.load(Ordering::Relaxed),
            dropped: self.stats.dropped.load(Ordering::Relaxed),
        }
    }
}

async fn run(
    client: HttpClient,
    url: Uri,
    mut receiver: mpsc::Receiver<String>,
    stats: Arc<Stats>,
) {
    while let Some(line) = receiver.recv().await {
        let counter = if deliver(&client, &url, Bytes::from(line)).await {
            &stats.delivered
        } else {
            &stats.failed
        };
        counter.fetch_add(1, Ordering::Relaxed);
    }
}

/// Whether a failed status is worth another attempt.
fn retryable(status: StatusCode) -> bool {
    status.is_server_error()
        || status == StatusCode::REQUEST_TIMEOUT
        || status == StatusCode::TOO_MANY_REQUESTS
}

/// The wait after failed attempt `attempt` (1-based).
fn backoff(attempt: u32) -> Duration {
    let base = FIRST_BACKOFF
        .saturating_mul(1 << attempt.saturating_sub(1).min(16))
        .min(MAX_BACKOFF);
    base.mul_f64(f64::from(rand::rng().random_range(80..=120_u32)) / 100.0)
}

async fn deliver(client: &HttpClient, url: &Uri, body: Bytes) -> bool {
    for attempt in 1..=MAX_ATTEMPTS {
        let request = Request::builder()
            .method(Method::POST)
            .uri(url.clone())
            .header(header::CONTENT_TYPE, "application/json")
            .header(
                header::USER_AGENT,
                concat!("haven/", env!("CARGO_PKG_VERSION")),
            )
            .body(Full::new(body.clone()));
        let Ok(request) = request else {
            tracing::error!("cannot build the security webhook request");
            return false;
        };
        // Errors are described by kind only: their text could quote the URL.
        match tokio::time::timeout(ATTEMPT_TIMEOUT, client.request(request)).await {
            Ok(Ok(response)) if response.status().is_success() => return true,
            Ok(Ok(response)) if !retryable(response.status()) => {
                tracing::warn!(
                    status = response.status().as_u16(),
                    "security webhook refused the event; not retried"
                );
                return false;
            }
            Ok(Ok(response)) => {
                tracing::warn!(
                    attempt,
                    status = response.status().as_u16(),
                    "security webhook answered with an error"
                );
            }
            Ok(Err(error)) => {
                tracing::warn!(
                    attempt,
                    connect = error.is_connect(),
                    "security webhook unreachable"
                );
            }
            Err(_) => tracing::warn!(attempt, "security webhook timed out"),
        }
        if attempt < MAX_ATTEMPTS {
            tokio::time::sleep(backoff(attempt)).await;
        }
    }
    tracing::error!(
        attempts = MAX_ATTEMPTS,
        "security webhook delivery failed; event dropped (stdout and the audit log keep it)"
    );
    false
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn urls_must_be_http_or_https_with_a_host_and_never_print() {
        assert!(
            WebhookUrl::parse("https://hooks.example.org/T0/secret").is_ok_and(|u| u.is_https())
        );
        assert!(WebhookUrl::parse("http://127.0.0.1:9/x").is_ok_and(|u| !u.is_https()));
        for bad in [
            "ftp://example.org/",
            "example.org/hook",
            "https://",
            "not a url",
            "",
        ] {
            assert!(WebhookUrl::parse(bad).is_err(), "{bad}");
        }
        let url = WebhookUrl::parse("https://hooks.example.org/T0/secret").expect("url");
        assert!(!format!("{url:?}").contains("secret"));
    }

    #[test]
    fn backoff_doubles_with_jitter_up_to_the_cap() {
        for (attempt, millis) in [(1, 250.0), (2, 500.0), (3, 1000.0), (5, 4000.0)] {
            let wait = backoff(attempt).as_secs_f64() * 1000.0;
            assert!(
                (millis * 0.79..=millis * 1.21).contains(&wait),
                "{attempt}: {wait}"
            );
        }
        assert!(backoff(40) <= MAX_BACKOFF.mul_f64(1.21));
    }

    #[test]
    fn only_server_errors_timeouts_and_rate_limits_are_retried() {
        assert!(retryable(StatusCode::SERVICE_UNAVAILABLE));
        assert!(retryable(StatusCode::TOO_MANY_REQUESTS));
        assert!(!retryable(StatusCode::NOT_FOUND));
        assert!(!retryable(StatusCode::UNAUTHORIZED));
    }

    #[tokio::test]
    async fn a_full_queue_drops_events_without_waiting() {
        let (queue, _receiver) = mpsc::channel(1);
        let webhook = Webhook {
            queue,
            stats: Arc::default(),
        };

        let first = webhook.enqueue("{}".into());
        let second = webhook.enqueue("{}".into());

        assert!(first);
        assert!(!second);
        assert_eq!(webhook.stats().dropped, 1);
    }
}
