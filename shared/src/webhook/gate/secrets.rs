//! Where the webhook secrets come from: the environment (local runs, tests) or, in AWS, a
//! Secrets Manager secret read at init and re-read at most every few minutes.
//!
//! The managed secret's string value is read like `WEBHOOK_SECRETS` (comma-separated), so an
//! operator rotates it with `put-secret-value` alone: `new,old`, then `new`. No deploy.

use std::sync::Arc;
use std::time::Duration;

use tokio::sync::{Mutex, RwLock};
use tokio::time::Instant;

use crate::adapters::secrets_manager::{self, sdk::Client};
use crate::domain::store::{chain, Source};
use crate::webhook::gate::credentials::WebhookSecrets;

/// The secrets could not be read: nothing may be approved or stored.
#[derive(Debug, thiserror::Error)]
#[error("webhook secrets could not be read")]
pub struct SecretUnavailable(#[source] pub Source);

/// Why one read of the managed secret gave no secrets.
#[derive(Debug, thiserror::Error)]
pub enum ReadError {
    /// Secrets Manager could not give the secret's value.
    #[error(transparent)]
    Read(#[from] secrets_manager::ReadError),
    /// The secret's value lists no secret (blank or only commas).
    #[error("the secret's value lists no webhook secret")]
    Empty,
}

/// How often the managed secret is read, and how long one read may take.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RefreshPolicy {
    /// A value read this long ago is read again before it is used.
    pub refresh_every: Duration,
    /// After a failed read, the next one is tried no sooner than this.
    pub retry_every: Duration,
    /// The longest one read may take: a request waits for it.
    pub read_timeout: Duration,
}

impl Default for RefreshPolicy {
    /// Re-read every 5 minutes, retry failures after 5 s, give up on a read after 1 s.
    fn default() -> Self {
        Self {
            refresh_every: Duration::from_secs(300),
            retry_every: Duration::from_secs(5),
            read_timeout: Duration::from_secs(1),
        }
    }
}

/// The source of the accepted webhook secrets.
#[derive(Debug, Clone)]
pub enum SecretSource {
    /// Fixed for the process's life (`WEBHOOK_SECRETS`).
    Fixed(Arc<WebhookSecrets>),
    /// A Secrets Manager secret, cached and re-read (`WEBHOOK_SECRET_ARN`).
    Managed(Arc<ManagedSecret>),
}

impl SecretSource {
    /// Secrets fixed for the process's life.
    pub fn fixed(secrets: WebhookSecrets) -> Self {
        Self::Fixed(Arc::new(secrets))
    }

    /// The secret `secret_id` (ARN or name) read through `client`, now and then as `policy`
    /// says. A failed first read is logged, not fatal: later requests retry it.
    pub async fn managed(
        client: Client,
        secret_id: impl Into<String>,
        policy: RefreshPolicy,
    ) -> Self {
        let managed = ManagedSecret {
            client,
            secret_id: secret_id.into(),
            policy,
            state: RwLock::new(State {
                known: Known::NotRead,
                next_read: Instant::now(),
            }),
            refreshing: Mutex::new(()),
        };
        // Its outcome is cached and logged; requests see it through `current`.
        let _ = managed.refresh().await;
        Self::Managed(Arc::new(managed))
    }

    /// The secrets accepted now.
    pub async fn current(&self) -> Result<Arc<WebhookSecrets>, SecretUnavailable> {
        match self {
            Self::Fixed(secrets) => Ok(Arc::clone(secrets)),
            Self::Managed(managed) => managed.current().await,
        }
    }
}

/// A Secrets Manager secret holding the webhook secrets, cached between reads.
#[derive(Debug)]
pub struct ManagedSecret {
    client: Client,
    secret_id: String,
    policy: RefreshPolicy,
    state: RwLock<State>,
    /// Held by the one request re-reading the secret, so concurrent requests do not stampede.
    refreshing: Mutex<()>,
}

#[derive(Debug)]
struct State {
    known: Known,
    /// When the value (or the failure) is to be read again.
    next_read: Instant,
}

#[derive(Debug)]
enum Known {
    /// Before the first read.
    NotRead,
    /// The last value read; kept through later failed reads.
    Value(Arc<WebhookSecrets>),
    /// No value was ever read; why the last read failed.
    Failed(Arc<ReadError>),
}

impl Known {
    fn result(&self) -> Result<Arc<WebhookSecrets>, SecretUnavailable> {
        match self {
            Self::Value(secrets) => Ok(Arc::clone(secrets)),
            Self::Failed(error) => Err(SecretUnavailable(Box::new(Arc::clone(error)))),
            Self::NotRead => Err(SecretUnavailable("not read yet".into())),
        }
    }
}

impl ManagedSecret {
    /// The secret's ARN or name.
    pub fn secret_id(&self) -> &str {
        &self.secret_id
    }

    /// The cached secrets while fresh; otherwise read again, keeping the cached ones if that
    /// fails.
    pub async fn current(&self) -> Result<Arc<WebhookSecrets>, SecretUnavailable> {
        let cached = {
            let state = self.state.read().await;
            if Instant::now() < state.next_read {
                return state.known.result();
            }
            match &state.known {
                Known::Value(secrets) => Some(Arc::clone(secrets)),
                Known::NotRead | Known::Failed(_) => None,
            }
        };
        let _turn = match (self.refreshing.try_lock(), cached) {
            (Ok(turn), _) => turn,
            // Another request is re-reading: a value a little past its age beats waiting.
            (Err(_), Some(cached)) => return Ok(cached),
            (Err(_), None) => self.refreshing.lock().await,
        };
        {
            // The request that held the turn may have just read it.
            let state = self.state.read().await;
            if Instant::now() < state.next_read {
                return state.known.result();
            }
        }
        self.refresh().await
    }

    /// Reads the secret once and caches the outcome; the caller holds the turn, or is init.
    async fn refresh(&self) -> Result<Arc<WebhookSecrets>, SecretUnavailable> {
        let read = self.read().await;
        let mut state = self.state.write().await;
        match read {
            Ok(secrets) => {
                tracing::info!(
                    secret = %self.secret_id,
                    accepted = secrets.len(),
                    "webhook secrets read"
                );
                state.known = Known::Value(Arc::new(secrets));
                state.next_read = Instant::now() + self.policy.refresh_every;
            }
            Err(error) => {
                // Logged with its sources (`chain`): read errors never carry the secret's value.
                let error = Arc::new(error);
                if let Known::Value(_) = state.known {
                    tracing::warn!(
                        secret = %self.secret_id,
                        error = %chain(&*error),
                        "webhook secrets could not be re-read: the ones read before still apply"
                    );
                } else {
                    tracing::error!(
                        secret = %self.secret_id,
                        error = %chain(&*error),
                        "webhook secrets could not be read: every request is refused until they can"
                    );
                    state.known = Known::Failed(error);
                }
                // Not on every request: each would wait for a read likely to fail again.
                state.next_read = Instant::now() + self.policy.retry_every;
            }
        }
        state.known.result()
    }

    /// One read of the secret's value, within the policy's timeout.
    async fn read(&self) -> Result<WebhookSecrets, ReadError> {
        let value =
            secrets_manager::read_string(&self.client, &self.secret_id, self.policy.read_timeout)
                .await?;
        let secrets = WebhookSecrets::parse(&value);
        if secrets.is_empty() {
            return Err(ReadError::Empty);
        }
        Ok(secrets)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_default_policy_re_reads_every_five_minutes_within_a_second() {
        let policy = RefreshPolicy::default();
        assert_eq!(policy.refresh_every, Duration::from_secs(300));
        assert!(policy.retry_every <= Duration::from_secs(10));
        assert_eq!(policy.read_timeout, Duration::from_secs(1));
    }

    #[test]
    fn the_chain_shows_every_cause() {
        let error = secrets_manager::ReadError::TimedOut(Duration::from_secs(1));
        let unavailable = SecretUnavailable(Box::new(Arc::new(error)));
        assert_eq!(
            chain(&unavailable),
            "webhook secrets could not be read: GetSecretValue did not answer within 1s"
        );
    }
}
