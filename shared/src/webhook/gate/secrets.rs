//! Where the webhook secrets come from: the environment (local runs, tests) or, in AWS, a
//! Secrets Manager secret read at init and re-read at most every few minutes.
//!
//! The managed secret's string value is read like `WEBHOOK_SECRETS` (comma-separated), so an
//! operator rotates it with `put-secret-value` alone: `new,old`, then `new`. No deploy. The
//! user token keys (`user_tokens`) are kept in a managed secret the same way.

use std::sync::Arc;
use std::time::Duration;

use tokio::sync::{Mutex, RwLock};
use tokio::time::Instant;

use crate::adapters::secrets_manager::{self, sdk::Client};
use crate::domain::erasure::UserHashKey;
use crate::domain::store::{chain, Source};
use crate::webhook::gate::credentials::WebhookSecrets;

/// A secret could not be read: nothing it guards may be approved or stored.
#[derive(Debug, thiserror::Error)]
#[error("{what} could not be read")]
pub struct SecretUnavailable {
    /// What the secret holds (`webhook secrets`, `user token keys`).
    pub what: &'static str,
    /// Why.
    #[source]
    pub source: Source,
}

/// Why one read of the managed secret gave nothing usable.
#[derive(Debug, thiserror::Error)]
pub enum ReadError {
    /// Secrets Manager could not give the secret's value.
    #[error(transparent)]
    Read(#[from] secrets_manager::ReadError),
    /// The value lists nothing (blank or only commas); what it should list.
    #[error("the secret's value lists no {0}")]
    Empty(&'static str),
    /// The value holds nothing usable (its error never shows the value).
    #[error(transparent)]
    Invalid(Source),
}

/// What a managed secret's string value is read as.
pub trait SecretValue: Sized + Send + Sync + 'static {
    /// What it is, in logs and errors.
    const WHAT: &'static str;
    /// What follows while it was never read, in the log.
    const UNREAD: &'static str = "every request is refused until they can";

    /// Reads the secret's string value; the error says why it is unusable, never what it is.
    fn from_secret(value: &str) -> Result<Self, ReadError>;

    /// How many secrets or keys it holds, for the log.
    fn count(&self) -> usize;
}

impl SecretValue for WebhookSecrets {
    const WHAT: &'static str = "webhook secrets";

    fn from_secret(value: &str) -> Result<Self, ReadError> {
        let secrets = WebhookSecrets::parse(value);
        if secrets.is_empty() {
            return Err(ReadError::Empty("webhook secret"));
        }
        Ok(secrets)
    }

    fn count(&self) -> usize {
        self.len()
    }
}

/// The key of erased users' hashes (`USER_HASH_KEY_ARN`): the secret's value, trimmed, as
/// `USER_HASH_KEY` is read.
impl SecretValue for UserHashKey {
    const WHAT: &'static str = "user hash key";
    const UNREAD: &'static str =
        "erasure is refused, and erased users' redeliveries are not recognised, until it can";

    fn from_secret(value: &str) -> Result<Self, ReadError> {
        if value.trim().is_empty() {
            return Err(ReadError::Empty("user hash key"));
        }
        UserHashKey::from_secret(value).map_err(|short| ReadError::Invalid(Box::new(short)))
    }

    fn count(&self) -> usize {
        1
    }
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

impl RefreshPolicy {
    /// For a value that never changes (the user hash key): once read, kept for the process's
    /// life; a failed read is retried like the others'.
    pub fn kept() -> Self {
        Self {
            refresh_every: Duration::from_secs(24 * 60 * 60),
            ..Self::default()
        }
    }
}

/// Where a value read from secrets comes from: fixed for the process's life (from the
/// environment), or a Secrets Manager secret cached and re-read.
#[derive(Debug)]
pub enum Sourced<T> {
    /// Fixed for the process's life.
    Fixed(Arc<T>),
    /// A Secrets Manager secret, cached and re-read.
    Managed(Arc<ManagedSecret<T>>),
}

impl<T> Clone for Sourced<T> {
    fn clone(&self) -> Self {
        match self {
            Self::Fixed(value) => Self::Fixed(Arc::clone(value)),
            Self::Managed(managed) => Self::Managed(Arc::clone(managed)),
        }
    }
}

impl<T: SecretValue> Sourced<T> {
    /// A value fixed for the process's life.
    pub fn fixed(value: T) -> Self {
        Self::Fixed(Arc::new(value))
    }

    /// The secret `secret_id` (ARN or name) read through `client`, now and then as `policy`
    /// says. A failed first read is logged, not fatal: later requests retry it.
    pub async fn managed(
        client: Client,
        secret_id: impl Into<String>,
        policy: RefreshPolicy,
    ) -> Self {
        Self::Managed(ManagedSecret::read_at_init(client, secret_id, policy).await)
    }

    /// The value in force now.
    pub async fn current(&self) -> Result<Arc<T>, SecretUnavailable> {
        match self {
            Self::Fixed(value) => Ok(Arc::clone(value)),
            Self::Managed(managed) => managed.current().await,
        }
    }
}

/// The source of the accepted webhook secrets (`WEBHOOK_SECRETS` or `WEBHOOK_SECRET_ARN`).
pub type SecretSource = Sourced<WebhookSecrets>;

/// The source of the key of erased users' hashes (`USER_HASH_KEY` or `USER_HASH_KEY_ARN`).
pub type UserHashKeySource = Sourced<UserHashKey>;

/// A Secrets Manager secret holding a `T` (the webhook secrets, the user token keys), cached
/// between reads.
#[derive(Debug)]
pub struct ManagedSecret<T> {
    client: Client,
    secret_id: String,
    policy: RefreshPolicy,
    state: RwLock<State<T>>,
    /// Held by the one request re-reading the secret, so concurrent requests do not stampede.
    refreshing: Mutex<()>,
}

#[derive(Debug)]
struct State<T> {
    known: Known<T>,
    /// When the value (or the failure) is to be read again.
    next_read: Instant,
}

#[derive(Debug)]
enum Known<T> {
    /// Before the first read.
    NotRead,
    /// The last value read; kept through later failed reads.
    Value(Arc<T>),
    /// No value was ever read; why the last read failed.
    Failed(Arc<ReadError>),
}

impl<T: SecretValue> Known<T> {
    fn result(&self) -> Result<Arc<T>, SecretUnavailable> {
        let unavailable = |source: Source| SecretUnavailable {
            what: T::WHAT,
            source,
        };
        match self {
            Self::Value(value) => Ok(Arc::clone(value)),
            Self::Failed(error) => Err(unavailable(Box::new(Arc::clone(error)))),
            Self::NotRead => Err(unavailable("not read yet".into())),
        }
    }
}

impl<T: SecretValue> ManagedSecret<T> {
    /// The secret `secret_id` (ARN or name) read through `client`, now and then as `policy`
    /// says. A failed first read is logged, not fatal: later requests retry it.
    pub async fn read_at_init(
        client: Client,
        secret_id: impl Into<String>,
        policy: RefreshPolicy,
    ) -> Arc<Self> {
        let managed = Self {
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
        Arc::new(managed)
    }

    /// The secret's ARN or name.
    pub fn secret_id(&self) -> &str {
        &self.secret_id
    }

    /// The cached value while fresh; otherwise read again, keeping the cached one if that
    /// fails.
    pub async fn current(&self) -> Result<Arc<T>, SecretUnavailable> {
        let cached = {
            let state = self.state.read().await;
            if Instant::now() < state.next_read {
                return state.known.result();
            }
            match &state.known {
                Known::Value(value) => Some(Arc::clone(value)),
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
    async fn refresh(&self) -> Result<Arc<T>, SecretUnavailable> {
        let read = self.read().await;
        let mut state = self.state.write().await;
        match read {
            Ok(value) => {
                tracing::info!(
                    secret = %self.secret_id,
                    accepted = value.count(),
                    "{} read",
                    T::WHAT
                );
                state.known = Known::Value(Arc::new(value));
                state.next_read = Instant::now() + self.policy.refresh_every;
            }
            Err(error) => {
                // Logged with its sources (`chain`): read errors never carry the secret's value.
                let error = Arc::new(error);
                if let Known::Value(_) = state.known {
                    tracing::warn!(
                        secret = %self.secret_id,
                        error = %chain(&*error),
                        "{} could not be re-read: the ones read before still apply",
                        T::WHAT
                    );
                } else {
                    tracing::error!(
                        secret = %self.secret_id,
                        error = %chain(&*error),
                        "{} could not be read: {}",
                        T::WHAT,
                        T::UNREAD
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
    async fn read(&self) -> Result<T, ReadError> {
        let value =
            secrets_manager::read_string(&self.client, &self.secret_id, self.policy.read_timeout)
                .await?;
        T::from_secret(&value)
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
        let unavailable = SecretUnavailable {
            what: WebhookSecrets::WHAT,
            source: Box::new(Arc::new(error)),
        };
        assert_eq!(
            chain(&unavailable),
            "webhook secrets could not be read: GetSecretValue did not answer within 1s"
        );
    }
}
