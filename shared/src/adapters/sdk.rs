//! The AWS SDK configuration every client shares, loaded once at init, with one HTTPS client.

use aws_config::{BehaviorVersion, SdkConfig};
use aws_smithy_http_client::tls::{self, rustls_provider::CryptoMode};
use aws_smithy_runtime_api::client::http::SharedHttpClient;

/// The standard configuration chain (region, credentials, `AWS_ENDPOINT_URL_*`), once.
pub async fn load() -> SdkConfig {
    aws_config::defaults(BehaviorVersion::latest())
        .http_client(https_client())
        .load()
        .await
}

/// rustls with *ring*: measured smaller and cheaper per handshake than the SDK's default
/// (aws-lc with a post-quantum key share); see BENCHMARKS.md. Trusts the system's roots
/// (`SSL_CERT_FILE` overrides them, as the benchmark's throwaway CA needs).
pub fn https_client() -> SharedHttpClient {
    aws_smithy_http_client::Builder::new()
        .tls_provider(tls::Provider::Rustls(CryptoMode::Ring))
        .build_https()
}
