//! The AWS SDK configuration every client shares, loaded once at init, with one HTTPS client.
//!
//! The HTTPS client is the stack aws-smithy-http-client builds on (hyper-util's pooled client,
//! hyper-rustls, rustls on *ring*), put together here so that it uses the process's one TLS
//! configuration (`adapters::tls`). aws-smithy-http-client offers no way to give it a rustls
//! configuration: it loads the roots itself and parses them again for every connector it makes
//! (one per SDK client at construction, thrown away, and one per timeout setting), measured as
//! a large share of init's CPU with the system's bundle (BENCHMARKS.md). What it does around a request
//! is kept: the connect timeout covers TCP and the TLS handshake, the read timeout the wait for
//! the answer's head, errors are classified the same way for the retry strategy, and the
//! connection is exposed so that a failed request's connection can be poisoned (not reused).

use std::collections::HashMap;
use std::error::Error as StdError;
use std::future::Future;
use std::pin::Pin;
use std::sync::Mutex;
use std::task::{Context, Poll};
use std::time::Duration;

use aws_config::environment::EnvironmentVariableCredentialsProvider;
use aws_config::{BehaviorVersion, Region, SdkConfig};
use aws_smithy_runtime_api::box_error::BoxError;
use aws_smithy_runtime_api::client::connection::{CaptureSmithyConnection, ConnectionMetadata};
use aws_smithy_runtime_api::client::connector_metadata::ConnectorMetadata;
use aws_smithy_runtime_api::client::http::{
    HttpClient, HttpConnector, HttpConnectorFuture, HttpConnectorSettings, SharedHttpClient,
    SharedHttpConnector,
};
use aws_smithy_runtime_api::client::orchestrator::{HttpRequest, HttpResponse};
use aws_smithy_runtime_api::client::result::ConnectorError;
use aws_smithy_runtime_api::client::runtime_components::RuntimeComponents;
use aws_smithy_types::body::SdkBody;
use aws_smithy_types::retry::ErrorKind;
use http::Uri;
use hyper_rustls::{HttpsConnector, MaybeHttpsStream};
use hyper_util::client::legacy::connect::{
    capture_connection, CaptureConnection, HttpConnector as TcpConnector,
};
use hyper_util::client::legacy::Client;
use hyper_util::rt::{TokioExecutor, TokioIo, TokioTimer};
use tokio::net::TcpStream;

use super::tls;

/// The standard configuration chain (region, credentials, `AWS_ENDPOINT_URL_*`), once.
pub async fn load() -> SdkConfig {
    let mut loader = aws_config::defaults(BehaviorVersion::latest()).http_client(https_client());
    // Lambda gives the region and the function's credentials in the environment, where the
    // default chains look first. Taking them from there directly is the same choice, without
    // building the rest of the chains first (an STS client for web identity, IMDS clients):
    // measured about 0.2 ms of init's CPU. Otherwise (a developer's profile, SSO) the chains.
    // Read as the chains' environment providers read them: the region as set, keys non-blank.
    let var = |name| std::env::var(name).ok();
    if let Some(region) = var("AWS_REGION").or_else(|| var("AWS_DEFAULT_REGION")) {
        loader = loader.region(Region::new(region));
    }
    let key = |name| var(name).filter(|v: &String| !v.trim().is_empty());
    if key("AWS_ACCESS_KEY_ID").is_some() && key("AWS_SECRET_ACCESS_KEY").is_some() {
        loader = loader.credentials_provider(EnvironmentVariableCredentialsProvider::new());
    }
    loader.load().await
}

/// The HTTPS client of every SDK client: rustls with *ring* (measured smaller and cheaper per
/// handshake than the SDK's default, aws-lc with a post-quantum key share; see BENCHMARKS.md),
/// trusting the system's roots (`SSL_CERT_FILE` overrides them, as the benchmark's throwaway CA
/// needs). `http://` endpoints are spoken too (local doubles).
pub fn https_client() -> SharedHttpClient {
    SharedHttpClient::new(Https::default())
}

/// The timeouts a connector is made for; the SDK asks for one per operation's settings.
type Timeouts = (Option<Duration>, Option<Duration>);

/// The client: a connector per timeout setting, made on first use and kept.
#[derive(Debug, Default)]
struct Https {
    connectors: Mutex<HashMap<Timeouts, SharedHttpConnector>>,
}

impl HttpClient for Https {
    fn http_connector(
        &self,
        settings: &HttpConnectorSettings,
        _components: &RuntimeComponents,
    ) -> SharedHttpConnector {
        let key = (settings.connect_timeout(), settings.read_timeout());
        // A poisoned lock only means another thread panicked while inserting: the map is whole.
        let mut connectors = self
            .connectors
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        connectors
            .entry(key)
            .or_insert_with(|| SharedHttpConnector::new(Connector::new(key)))
            .clone()
    }

    fn connector_metadata(&self) -> Option<ConnectorMetadata> {
        // What the SDK's own client reports (it goes into the user agent).
        Some(ConnectorMetadata::new("hyper", Some("1.x".into())))
    }
}

/// hyper-util's pooled client over TCP (with TLS for `https`), with the read timeout; no client
/// when TLS could not be set up.
struct Connector {
    client: Option<Client<ConnectTimeout, SdkBody>>,
    read_timeout: Option<Duration>,
}

impl std::fmt::Debug for Connector {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Connector")
            .field("read_timeout", &self.read_timeout)
            .finish_non_exhaustive()
    }
}

impl Connector {
    fn new((connect_timeout, read_timeout): Timeouts) -> Self {
        let client = match tls::client_config() {
            Ok(config) => {
                let mut tcp = TcpConnector::new();
                tcp.enforce_http(false);
                // As the SDK's client: requests are small writes, Nagle would delay them.
                tcp.set_nodelay(true);
                let https = hyper_rustls::HttpsConnectorBuilder::new()
                    // A copy (hyper-rustls sets its ALPN on it): the trust store, the verifier
                    // and the session cache stay shared.
                    .with_tls_config(rustls::ClientConfig::clone(&*config))
                    .https_or_http()
                    .enable_http1()
                    .wrap_connector(tcp);
                let client = Client::builder(TokioExecutor::new())
                    // Needed for the pool's idle timeout to close connections.
                    .pool_timer(TokioTimer::new())
                    .build(ConnectTimeout {
                        inner: https,
                        timeout: connect_timeout,
                    });
                Some(client)
            }
            Err(e) => {
                tracing::error!(error = %e, "no HTTPS client: every AWS call will fail");
                None
            }
        };
        Self {
            client,
            read_timeout,
        }
    }
}

impl HttpConnector for Connector {
    fn call(&self, request: HttpRequest) -> HttpConnectorFuture {
        let Some(client) = &self.client else {
            return HttpConnectorFuture::ready(Err(ConnectorError::other(
                "TLS could not be set up".into(),
                None,
            )));
        };
        let mut request = match request.try_into_http1x() {
            Ok(request) => request,
            Err(e) => return HttpConnectorFuture::ready(Err(ConnectorError::user(e.into()))),
        };
        let captured = capture_connection(&mut request);
        if let Some(smithy) = request.extensions().get::<CaptureSmithyConnection>() {
            smithy.set_connection_retriever(move || connection_metadata(&captured));
        }
        let answer = client.request(request);
        let read_timeout = self.read_timeout;
        HttpConnectorFuture::new(async move {
            let answer = match read_timeout {
                Some(limit) => match tokio::time::timeout(limit, answer).await {
                    Ok(answer) => answer,
                    Err(_) => return Err(ConnectorError::timeout(Box::new(TimedOut::Read(limit)))),
                },
                None => answer.await,
            };
            match answer {
                Ok(response) => HttpResponse::try_from(response.map(SdkBody::from_body_1_x))
                    .map_err(|e| ConnectorError::other(e.into(), None)),
                Err(e) => Err(classify(e.into())),
            }
        })
    }
}

/// The connection a request went out on, for the SDK to poison after a failure.
fn connection_metadata(captured: &CaptureConnection) -> Option<ConnectionMetadata> {
    let connected = captured.connection_metadata();
    let connected = connected.as_ref()?;
    let mut extras = http::Extensions::new();
    connected.get_extras(&mut extras);
    let info = extras.get::<hyper_util::client::legacy::connect::HttpInfo>();
    let captured = captured.clone();
    let mut builder = ConnectionMetadata::builder()
        .proxied(false)
        .poison_fn(move || {
            if let Some(connected) = captured.connection_metadata().as_ref() {
                connected.poison();
            }
        });
    builder
        .set_local_addr(info.map(|i| i.local_addr()))
        .set_remote_addr(info.map(|i| i.remote_addr()));
    Some(builder.build())
}

/// A timeout of the connection (TCP and TLS) or of the wait for the answer's head.
#[derive(Debug, thiserror::Error)]
enum TimedOut {
    #[error("connect timeout occurred after {0:?}")]
    Connect(Duration),
    #[error("HTTP read timeout occurred after {0:?}")]
    Read(Duration),
}

/// What kind of failure `error` is, for the SDK's retries, as aws-smithy-http-client says it.
fn classify(error: BoxError) -> ConnectorError {
    if find::<TimedOut>(error.as_ref()).is_some() {
        return ConnectorError::timeout(error);
    }
    if let Some(hyper) = find::<hyper::Error>(error.as_ref()) {
        if hyper.is_timeout() {
            return ConnectorError::timeout(error);
        }
        if hyper.is_user() {
            return ConnectorError::user(error);
        }
        if hyper.is_closed() || hyper.is_canceled() || find::<std::io::Error>(hyper).is_some() {
            return ConnectorError::io(error);
        }
        if hyper.is_incomplete_message() {
            return ConnectorError::other(error, Some(ErrorKind::TransientError));
        }
        tracing::warn!(error = %hyper, "unrecognised error from hyper: not retried");
        return ConnectorError::other(error, None);
    }
    if let Some(client) = find::<hyper_util::client::legacy::Error>(error.as_ref()) {
        if client.is_connect() || find::<std::io::Error>(client).is_some() {
            return ConnectorError::io(error);
        }
    }
    ConnectorError::other(error, None)
}

/// The first error of type `E` in `error`'s chain.
fn find<'a, E: StdError + 'static>(error: &'a (dyn StdError + 'static)) -> Option<&'a E> {
    let mut next = Some(error);
    while let Some(error) = next {
        if let Some(found) = error.downcast_ref::<E>() {
            return Some(found);
        }
        next = error.source();
    }
    None
}

/// The TCP and TLS connector with the connect timeout over both (hyper-util's own timeout
/// covers TCP only).
#[derive(Clone)]
struct ConnectTimeout {
    inner: HttpsConnector<TcpConnector>,
    timeout: Option<Duration>,
}

type Connecting =
    Pin<Box<dyn Future<Output = Result<MaybeHttpsStream<TokioIo<TcpStream>>, BoxError>> + Send>>;

impl tower_service::Service<Uri> for ConnectTimeout {
    type Response = MaybeHttpsStream<TokioIo<TcpStream>>;
    type Error = BoxError;
    type Future = Connecting;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, uri: Uri) -> Self::Future {
        let connecting = self.inner.call(uri);
        let timeout = self.timeout;
        Box::pin(async move {
            match timeout {
                Some(limit) => match tokio::time::timeout(limit, connecting).await {
                    Ok(connected) => connected,
                    Err(_) => Err(Box::new(TimedOut::Connect(limit)) as BoxError),
                },
                None => connecting.await,
            }
        })
    }
}
