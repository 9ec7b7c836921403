//! A small HTTP/1.1 client for Haven's JSON API, on hyper's pooled client.
//!
//! Connections are kept alive and reused, as a real integration would; each [`Api`] has its own
//! pool, so the `/health` prober never queues behind the load's connections.

use anyhow::{Context as _, bail};
use http_body_util::{BodyExt as _, Full};
use hyper::body::Bytes;
use hyper::{Method, Request, StatusCode, Uri, header};
use hyper_util::client::legacy::Client;
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::rt::TokioExecutor;
use serde_json::Value;

/// An answer: the status and the raw body.
#[derive(Debug)]
pub struct Answer {
    /// The HTTP status.
    pub status: StatusCode,
    /// The `DPoP-Nonce` the server sent, if any (login and refresh answers).
    pub dpop_nonce: Option<String>,
    /// The body, read to the end (so the connection can be reused).
    pub body: Bytes,
}

impl Answer {
    /// The body as JSON, when the status is `expected`; otherwise an error naming both.
    pub fn json(self, expected: StatusCode, what: &str) -> anyhow::Result<Value> {
        if self.status != expected {
            bail!(
                "{what}: expected {expected}, got {}: {}",
                self.status,
                String::from_utf8_lossy(&self.body)
            );
        }
        serde_json::from_slice(&self.body).with_context(|| format!("{what}: the body is not JSON"))
    }
}

/// Haven at one base URL (`http://127.0.0.1:8080`), through one connection pool.
#[derive(Debug, Clone)]
pub struct Api {
    client: Client<HttpConnector, Full<Bytes>>,
    base: String,
}

impl Api {
    /// A client for `base` (scheme, host and port; a trailing `/` is ignored).
    pub fn new(base: &str) -> anyhow::Result<Self> {
        let base = base.trim_end_matches('/').to_owned();
        let uri: Uri = base.parse().with_context(|| format!("not a URL: {base}"))?;
        if uri.scheme_str() != Some("http") {
            bail!("only http:// URLs are supported (got {base})");
        }
        let mut connector = HttpConnector::new();
        // Small requests on kept-alive connections: Nagle would only add delay.
        connector.set_nodelay(true);
        let client = Client::builder(TokioExecutor::new()).build(connector);
        Ok(Self { client, base })
    }

    /// The base URL.
    #[must_use]
    pub fn base(&self) -> &str {
        &self.base
    }

    /// `GET path`.
    pub async fn get(&self, path: &str) -> anyhow::Result<Answer> {
        self.send(Method::GET, path, None, None).await
    }

    /// `GET path` with a bearer token.
    pub async fn get_with(&self, path: &str, token: &str) -> anyhow::Result<Answer> {
        self.send(Method::GET, path, None, Some(token)).await
    }

    /// `POST path` with a JSON body and, when given, a bearer token.
    pub async fn post(
        &self,
        path: &str,
        body: &Value,
        token: Option<&str>,
    ) -> anyhow::Result<Answer> {
        let body = Bytes::from(serde_json::to_vec(body)?);
        self.send(Method::POST, path, Some(body), token).await
    }

    /// `PUT path` with a JSON body and a bearer token.
    pub async fn put(&self, path: &str, body: &Value, token: &str) -> anyhow::Result<Answer> {
        let body = Bytes::from(serde_json::to_vec(body)?);
        self.send(Method::PUT, path, Some(body), Some(token)).await
    }

    /// `POST path` with a body already serialized (the load loop reuses one per client) and,
    /// when given, a bearer token.
    pub async fn post_raw(
        &self,
        path: &str,
        body: Bytes,
        token: Option<&str>,
    ) -> anyhow::Result<Answer> {
        self.send(Method::POST, path, Some(body), token).await
    }

    async fn send(
        &self,
        method: Method,
        path: &str,
        body: Option<Bytes>,
        token: Option<&str>,
    ) -> anyhow::Result<Answer> {
        let authorization = token.map(|token| format!("Bearer {token}"));
        self.send_with(method, path, body, authorization.as_deref(), None)
            .await
    }

    /// `method path` with an optional body, `Authorization` value and `DPoP` proof.
    pub async fn send_with(
        &self,
        method: Method,
        path: &str,
        body: Option<Bytes>,
        authorization: Option<&str>,
        dpop: Option<&str>,
    ) -> anyhow::Result<Answer> {
        let mut request = Request::builder()
            .method(method)
            .uri(format!("{}{path}", self.base));
        if let Some(proof) = dpop {
            request = request.header("dpop", proof);
        }
        if body.is_some() {
            request = request.header(header::CONTENT_TYPE, "application/json");
        }
        if let Some(authorization) = authorization {
            request = request.header(header::AUTHORIZATION, authorization);
        }
        let request = request.body(Full::new(body.unwrap_or_default()))?;
        let response = self.client.request(request).await?;
        let status = response.status();
        let dpop_nonce = response
            .headers()
            .get("dpop-nonce")
            .and_then(|v| v.to_str().ok())
            .map(str::to_owned);
        let body = response.into_body().collect().await?.to_bytes();
        Ok(Answer {
            status,
            dpop_nonce,
            body,
        })
    }
}
