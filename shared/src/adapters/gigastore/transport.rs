//! The one HTTP client every Gigastore call goes through, and what a request's failure tells
//! about whether it left.
//!
//! Why not the SDK's client (`adapters::sdk`): its interface takes requests through the SDK's
//! orchestrator, and its errors do not say whether a failed request was written. Why not
//! `reqwest`: it would add a dozen crates for what hyper-util, already in the build under the
//! SDK's client, does. So this is that stack, used directly: hyper-util's pooled HTTP/1.1
//! client, hyper-rustls, and the process's one rustls configuration (`adapters::tls`: *ring*,
//! the system's roots read once, `SSL_CERT_FILE` honoured). `http://` is spoken too, for the
//! local double.

use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use http::{HeaderValue, Method, Request, StatusCode, Uri};
use http_body_util::{BodyExt, Full, Limited};
use hyper_rustls::HttpsConnector;
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::client::legacy::Client;
use hyper_util::rt::{TokioExecutor, TokioTimer};

use crate::adapters::tls::TlsSetupError;
use crate::domain::deadline::Deadline;
use crate::domain::store::chain;

/// The longest a connection may take to open; past it nothing was sent.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(5);
/// An idle pooled connection is closed after this, before a load balancer's idle timeout (often
/// 60 s) closes it under a request, which would make that request's outcome unknown.
const POOL_IDLE: Duration = Duration::from_secs(20);
/// The largest answer read; a larger one is not an answer.
const MAX_BODY: usize = 4 * 1024 * 1024;

/// Gigastore's base URL (`GIGASTORE_API_URL`): `http` or `https`, a host, maybe a path prefix;
/// kept without a trailing slash.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BaseUrl(String);

/// A base URL that is not an absolute `http(s)` URL without query.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("not an http(s) base URL: {0:?}")]
pub struct InvalidBaseUrl(pub String);

impl BaseUrl {
    /// Gigastore's production API.
    pub const DEFAULT: &'static str = "https://api.giga.store";

    /// Parses `raw` (trimmed, a trailing slash dropped).
    pub fn parse(raw: &str) -> Result<Self, InvalidBaseUrl> {
        let trimmed = raw.trim().trim_end_matches('/');
        let invalid = || InvalidBaseUrl(raw.to_owned());
        let uri: Uri = trimmed.parse().map_err(|_| invalid())?;
        let scheme_ok = matches!(uri.scheme_str(), Some("http" | "https"));
        let has_host = uri.host().is_some_and(|h| !h.is_empty());
        let no_query = uri.query().is_none() && !trimmed.contains('#');
        let no_userinfo = uri.authority().is_some_and(|a| !a.as_str().contains('@'));
        if scheme_ok && has_host && no_query && no_userinfo {
            Ok(Self(trimmed.to_owned()))
        } else {
            Err(invalid())
        }
    }

    /// The URL as text.
    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// The URI of `path` (which starts with `/` and is already percent-encoded) under it.
    fn join(&self, path: &str) -> Result<Uri, http::uri::InvalidUri> {
        format!("{}{path}", self.0).parse()
    }
}

/// An answer: its status and its body, read whole.
#[derive(Debug)]
pub(super) struct Answer {
    pub status: StatusCode,
    pub body: Bytes,
}

/// Why no answer came back.
#[derive(Debug, thiserror::Error)]
pub(super) enum SendError {
    /// Nothing was written: no connection could be opened (refused, no route, DNS, TLS), or no
    /// time was left to send.
    #[error("not sent: {0}")]
    NotSent(String),
    /// The request may have been written and applied: a timeout, a dropped connection, a body
    /// that could not be read.
    #[error("no answer: {0}")]
    Lost(String),
}

/// A request to send: method, path, headers (the sensitive ones marked so), body.
pub(super) struct Outgoing<'a> {
    pub method: Method,
    pub path: &'a str,
    pub authorization: &'a HeaderValue,
    pub idempotency_key: Option<&'a str>,
    pub body: Option<Bytes>,
}

/// The pooled client; cheap to clone.
#[derive(Clone)]
pub(super) struct Transport {
    client: Client<HttpsConnector<HttpConnector>, Full<Bytes>>,
    base: Arc<BaseUrl>,
}

impl std::fmt::Debug for Transport {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Transport")
            .field("base", &self.base.as_str())
            .finish_non_exhaustive()
    }
}

impl Transport {
    /// A client for `base`, trusting the system's roots (none found: every `https` call fails
    /// before sending, logged once when they are read).
    pub(super) fn new(base: BaseUrl) -> Result<Self, TlsSetupError> {
        // The process's one configuration (trust store read once, shared with the SDK's client).
        let tls = rustls::ClientConfig::clone(&*crate::adapters::tls::client_config()?);
        let mut http = HttpConnector::new();
        http.enforce_http(false);
        http.set_connect_timeout(Some(CONNECT_TIMEOUT));
        http.set_nodelay(true);
        let connector = hyper_rustls::HttpsConnectorBuilder::new()
            .with_tls_config(tls)
            .https_or_http()
            .enable_http1()
            .wrap_connector(http);
        let client = Client::builder(TokioExecutor::new())
            .pool_timer(TokioTimer::new())
            .pool_idle_timeout(POOL_IDLE)
            .build(connector);
        Ok(Self {
            client,
            base: Arc::new(base),
        })
    }

    /// The base URL.
    pub(super) fn base(&self) -> &BaseUrl {
        &self.base
    }

    /// Sends `outgoing` and reads its answer, all before `deadline`.
    pub(super) async fn send(
        &self,
        outgoing: Outgoing<'_>,
        deadline: Deadline,
    ) -> Result<Answer, SendError> {
        let request = self.request(outgoing)?;
        let budget = deadline.remaining();
        if budget.is_zero() {
            return Err(SendError::NotSent(
                "no time left before the deadline".into(),
            ));
        }
        let exchange = async {
            let response = self.client.request(request).await.map_err(|e| {
                if e.is_connect() {
                    SendError::NotSent(chain(&e))
                } else {
                    SendError::Lost(chain(&e))
                }
            })?;
            let status = response.status();
            let body = Limited::new(response.into_body(), MAX_BODY)
                .collect()
                .await
                .map_err(|e| {
                    SendError::Lost(format!(
                        "the answer's body could not be read: {}",
                        crate::domain::store::chain(&*e)
                    ))
                })?
                .to_bytes();
            Ok(Answer { status, body })
        };
        match tokio::time::timeout(budget, exchange).await {
            Ok(answer) => answer,
            Err(_) => Err(SendError::Lost(format!(
                "no answer within the deadline ({} ms)",
                budget.as_millis()
            ))),
        }
    }

    fn request(&self, outgoing: Outgoing<'_>) -> Result<Request<Full<Bytes>>, SendError> {
        let uri = self
            .base
            .join(outgoing.path)
            .map_err(|e| SendError::NotSent(format!("invalid request URI: {e}")))?;
        let mut builder = Request::builder()
            .method(outgoing.method)
            .uri(uri)
            .header(http::header::ACCEPT, "application/json")
            .header(http::header::USER_AGENT, USER_AGENT)
            .header(http::header::AUTHORIZATION, outgoing.authorization.clone());
        if let Some(key) = outgoing.idempotency_key {
            builder = builder.header("idempotency-key", key);
        }
        let body = match outgoing.body {
            Some(body) => {
                builder = builder.header(http::header::CONTENT_TYPE, "application/json");
                body
            }
            None => Bytes::new(),
        };
        builder
            .body(Full::new(body))
            .map_err(|e| SendError::NotSent(format!("invalid request: {e}")))
    }
}

/// Who calls, in every request.
const USER_AGENT: &str = concat!("gigastore-reseller-backend/", env!("CARGO_PKG_VERSION"));

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn base_urls_are_http_or_https_hosts_without_query() {
        assert_eq!(
            BaseUrl::parse(" https://api.giga.store/ ")
                .unwrap()
                .as_str(),
            "https://api.giga.store"
        );
        assert_eq!(
            BaseUrl::parse("http://127.0.0.1:8080/prefix")
                .unwrap()
                .as_str(),
            "http://127.0.0.1:8080/prefix"
        );
        for bad in [
            "",
            "api.giga.store",
            "ftp://api.giga.store",
            "https://",
            "https://api.giga.store?x=1",
            "https://api.giga.store#f",
            "https://user:pw@api.giga.store",
            "https://api giga.store",
        ] {
            assert!(BaseUrl::parse(bad).is_err(), "{bad:?}");
        }
    }

    #[test]
    fn paths_join_under_the_base() {
        let base = BaseUrl::parse("http://127.0.0.1:1/p/").unwrap();
        assert_eq!(
            base.join("/gigastore/products/inventory")
                .unwrap()
                .to_string(),
            "http://127.0.0.1:1/p/gigastore/products/inventory"
        );
    }
}
