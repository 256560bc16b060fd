//! Secrets Manager: a client that fits a read in a request's wait, and one read of a secret's
//! string value. What the value means, and how often it is read, is the gate's business.

use std::time::Duration;

use aws_sdk_secretsmanager::config::retry::RetryConfig;
use aws_sdk_secretsmanager::config::timeout::TimeoutConfig;
use aws_sdk_secretsmanager::error::SdkError;
use aws_sdk_secretsmanager::operation::get_secret_value::GetSecretValueError;
use aws_sdk_secretsmanager::Client;

/// The Secrets Manager SDK, so callers can build a [`Client`] without depending on it.
pub use aws_sdk_secretsmanager as sdk;

/// Why one read of the managed secret failed.
#[derive(Debug, thiserror::Error)]
pub enum ReadError {
    /// Secrets Manager refused the request or could not be reached.
    #[error("GetSecretValue failed")]
    Request(#[source] Box<SdkError<GetSecretValueError>>),
    /// Secrets Manager did not answer in time.
    #[error("GetSecretValue did not answer within {0:?}")]
    TimedOut(Duration),
    /// The secret holds a binary value, not a string.
    #[error("the secret has no string value")]
    NotAString,
}

/// A Secrets Manager client over the shared configuration, with timeouts and retries that fit
/// in a second; `AWS_ENDPOINT_URL_SECRETS_MANAGER` points it at a local
/// server.
pub fn client(shared: &aws_config::SdkConfig) -> Client {
    let timeouts = TimeoutConfig::builder()
        .connect_timeout(Duration::from_millis(500))
        .operation_attempt_timeout(Duration::from_millis(500))
        .build();
    let retries = RetryConfig::standard()
        .with_max_attempts(3)
        .with_initial_backoff(Duration::from_millis(20))
        .with_max_backoff(Duration::from_millis(200));
    let config = aws_sdk_secretsmanager::config::Builder::from(shared)
        .timeout_config(timeouts)
        .retry_config(retries)
        .build();
    Client::from_conf(config)
}

/// The string value of secret `secret_id` (ARN or name), within `timeout`.
pub async fn read_string(
    client: &Client,
    secret_id: &str,
    timeout: Duration,
) -> Result<String, ReadError> {
    let request = client.get_secret_value().secret_id(secret_id).send();
    let output = tokio::time::timeout(timeout, request)
        .await
        .map_err(|_| ReadError::TimedOut(timeout))?
        .map_err(|e| ReadError::Request(Box::new(e)))?;
    output
        .secret_string()
        .map(str::to_owned)
        .ok_or(ReadError::NotAString)
}
