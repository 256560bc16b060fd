//! Authentication: the client credentials, where they come from, and the access token, cached for
//! the life of the process.
//!
//! `POST /reseller/authenticate` with HTTP Basic credentials answers a bearer token valid for
//! `expiresIn` seconds (86400 documented) and no refresh token. One token serves every call; it
//! is renewed [`RENEWAL_MARGIN`] before it expires, or when Gigastore answers 401 with it. One
//! authentication at a time: calls that need a token while one is fetched wait for it.
//!
//! Neither the client secret nor the token is ever logged, shown by `Debug` or put in an error:
//! both live in [`HeaderValue`]s marked sensitive, or in [`ClientSecret`], whose `Debug` hides it.

use std::sync::Arc;
use std::time::Duration;

use base64::engine::general_purpose::STANDARD;
use base64::Engine;
use http::{HeaderValue, Method, StatusCode};
use tokio::sync::Mutex;
use tokio::time::Instant;

use super::transport::{Outgoing, SendError, Transport};
use crate::adapters::secrets_manager::{self, sdk::Client};
use crate::domain::deadline::Deadline;

/// How long before its expiry a token is renewed.
pub const RENEWAL_MARGIN: Duration = Duration::from_secs(5 * 60);
/// The longest a Secrets Manager read may take, if the deadline allows it.
const SECRET_READ: Duration = Duration::from_secs(2);

/// A client secret: its `Debug` never shows it.
#[derive(Clone, PartialEq, Eq)]
pub struct ClientSecret(String);

impl ClientSecret {
    /// Wraps a secret.
    pub fn new(secret: impl Into<String>) -> Self {
        Self(secret.into())
    }
}

impl std::fmt::Debug for ClientSecret {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("ClientSecret(..)")
    }
}

/// The reseller's API credentials (Gigastore portal, API section).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ClientCredentials {
    /// The Client ID.
    pub client_id: String,
    /// The Client Secret.
    pub client_secret: ClientSecret,
}

/// A managed secret's value that is not `{"clientId": "...", "clientSecret": "..."}` with both
/// non-blank (what it holds is never said).
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error("the secret is not JSON {{\"clientId\", \"clientSecret\"}} with both non-blank")]
pub struct InvalidCredentials;

impl ClientCredentials {
    /// Both values trimmed; `None` if either is blank.
    pub fn new(client_id: &str, client_secret: &str) -> Option<Self> {
        let (id, secret) = (client_id.trim(), client_secret.trim());
        (!id.is_empty() && !secret.is_empty()).then(|| Self {
            client_id: id.to_owned(),
            client_secret: ClientSecret::new(secret),
        })
    }

    /// Reads a managed secret's value: `{"clientId": "...", "clientSecret": "..."}`.
    pub fn from_secret(value: &str) -> Result<Self, InvalidCredentials> {
        #[derive(serde::Deserialize)]
        #[serde(rename_all = "camelCase")]
        struct Value {
            client_id: String,
            client_secret: String,
        }
        let value: Value = serde_json::from_str(value).map_err(|_| InvalidCredentials)?;
        Self::new(&value.client_id, &value.client_secret).ok_or(InvalidCredentials)
    }

    /// `Basic base64(id:secret)`, marked sensitive.
    fn basic(&self) -> Result<HeaderValue, AuthError> {
        let encoded = STANDARD.encode(format!("{}:{}", self.client_id, self.client_secret.0));
        let mut value = HeaderValue::from_str(&format!("Basic {encoded}"))
            .map_err(|_| AuthError::Unusable("the credentials"))?;
        value.set_sensitive(true);
        Ok(value)
    }
}

/// Where the credentials come from.
#[derive(Debug, Clone)]
pub enum CredentialSource {
    /// Given (`GIGASTORE_CLIENT_ID`, `GIGASTORE_CLIENT_SECRET`): local runs and tests.
    Fixed(ClientCredentials),
    /// A Secrets Manager secret (`GIGASTORE_CREDENTIALS_ARN`), read each time a token is
    /// fetched (about once a day), so a rotated secret is used from the next token on.
    Managed {
        /// The Secrets Manager client.
        client: Client,
        /// The secret's ARN or name.
        secret_id: String,
    },
}

impl CredentialSource {
    async fn read(&self, deadline: Deadline) -> Result<ClientCredentials, AuthError> {
        match self {
            Self::Fixed(credentials) => Ok(credentials.clone()),
            Self::Managed { client, secret_id } => {
                let timeout = deadline.remaining().min(SECRET_READ);
                let value = secrets_manager::read_string(client, secret_id, timeout)
                    .await
                    .map_err(AuthError::Secret)?;
                ClientCredentials::from_secret(&value).map_err(AuthError::InvalidSecret)
            }
        }
    }
}

/// Why no token could be had: the call it was for was not sent.
#[derive(Debug, thiserror::Error)]
pub(super) enum AuthError {
    /// The managed credentials could not be read.
    #[error("the Gigastore credentials could not be read")]
    Secret(#[source] secrets_manager::ReadError),
    /// The managed credentials are not usable.
    #[error("the Gigastore credentials secret is unusable")]
    InvalidSecret(#[source] InvalidCredentials),
    /// Gigastore refused the credentials (its answer is not kept: it might echo them).
    #[error("authentication refused ({0})")]
    Refused(StatusCode),
    /// Gigastore answered with an error status other than a refusal.
    #[error("authentication failed ({0})")]
    Failed(StatusCode),
    /// No answer.
    #[error("authentication got no answer")]
    NoAnswer(#[source] SendError),
    /// An answer without a usable token (what it held is not said: it is the token).
    #[error("authentication answered without a usable token")]
    Unreadable,
    /// A value could not be put in a header.
    #[error("{0} cannot be sent in a header")]
    Unusable(&'static str),
}

/// An access token: the header it is sent in, and when it is renewed.
pub(super) struct Token {
    /// `Bearer <accessToken>`, marked sensitive.
    pub authorization: HeaderValue,
    /// Which fetch it came from, so that a 401 drops this token and not a newer one.
    generation: u64,
    renew_at: Instant,
}

impl std::fmt::Debug for Token {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Token")
            .field("generation", &self.generation)
            .field("renew_at", &self.renew_at)
            .finish_non_exhaustive()
    }
}

impl Token {
    /// The token itself, to keep it out of a refusal's text.
    pub fn secret_text(&self) -> &[u8] {
        self.authorization
            .as_bytes()
            .strip_prefix(b"Bearer ")
            .unwrap_or_default()
    }
}

/// The token cache.
#[derive(Debug)]
pub(super) struct Tokens {
    source: CredentialSource,
    margin: Duration,
    cached: Mutex<Cache>,
}

#[derive(Debug, Default)]
struct Cache {
    token: Option<Arc<Token>>,
    fetched: u64,
}

impl Tokens {
    pub(super) fn new(source: CredentialSource, margin: Duration) -> Self {
        Self {
            source,
            margin,
            cached: Mutex::new(Cache::default()),
        }
    }

    /// The cached token while it is not due for renewal, else a new one.
    pub(super) async fn current(
        &self,
        transport: &Transport,
        deadline: Deadline,
    ) -> Result<Arc<Token>, AuthError> {
        self.get(None, transport, deadline).await
    }

    /// A token other than `refused` (Gigastore answered 401 with it): a new one, unless another
    /// call has already fetched one.
    pub(super) async fn after_refusal(
        &self,
        refused: &Token,
        transport: &Transport,
        deadline: Deadline,
    ) -> Result<Arc<Token>, AuthError> {
        self.get(Some(refused.generation), transport, deadline)
            .await
    }

    async fn get(
        &self,
        refused: Option<u64>,
        transport: &Transport,
        deadline: Deadline,
    ) -> Result<Arc<Token>, AuthError> {
        let wait = deadline.remaining();
        let mut cache = tokio::time::timeout(wait, self.cached.lock())
            .await
            .map_err(|_| {
                AuthError::NoAnswer(SendError::NotSent(
                    "no time left waiting for another authentication".into(),
                ))
            })?;
        if let Some(token) = &cache.token {
            let usable = Instant::now() < token.renew_at && Some(token.generation) != refused;
            if usable {
                return Ok(Arc::clone(token));
            }
        }
        cache.token = None;
        let credentials = self.source.read(deadline).await?;
        let generation = cache.fetched.saturating_add(1);
        let token = Arc::new(
            authenticate(transport, &credentials, self.margin, generation, deadline).await?,
        );
        cache.fetched = generation;
        cache.token = Some(Arc::clone(&token));
        tracing::info!(generation, "authenticated with Gigastore");
        Ok(token)
    }
}

/// `POST /reseller/authenticate`.
async fn authenticate(
    transport: &Transport,
    credentials: &ClientCredentials,
    margin: Duration,
    generation: u64,
    deadline: Deadline,
) -> Result<Token, AuthError> {
    let basic = credentials.basic()?;
    let started = Instant::now();
    let answer = transport
        .send(
            Outgoing {
                method: Method::POST,
                path: "/reseller/authenticate",
                authorization: &basic,
                idempotency_key: None,
                body: None,
            },
            deadline,
        )
        .await
        .map_err(AuthError::NoAnswer)?;
    let status = answer.status;
    if status.is_client_error()
        && !matches!(
            status,
            StatusCode::REQUEST_TIMEOUT | StatusCode::TOO_MANY_REQUESTS
        )
    {
        return Err(AuthError::Refused(status));
    }
    if !status.is_success() {
        return Err(AuthError::Failed(status));
    }
    #[derive(serde::Deserialize)]
    #[serde(rename_all = "camelCase")]
    struct Answer {
        access_token: String,
        expires_in: u64,
    }
    let answer: Answer = serde_json::from_slice(&answer.body).map_err(|_| AuthError::Unreadable)?;
    if answer.access_token.trim().is_empty() {
        return Err(AuthError::Unreadable);
    }
    let mut authorization = HeaderValue::from_str(&format!("Bearer {}", answer.access_token))
        .map_err(|_| AuthError::Unreadable)?;
    authorization.set_sensitive(true);
    Ok(Token {
        authorization,
        generation,
        renew_at: renewal_time(started, answer.expires_in, margin),
    })
}

/// When a token fetched at `fetched`, valid `expires_in` seconds, is renewed: `margin` before it
/// expires (at once if that is already past, or if the time cannot be represented).
fn renewal_time(fetched: Instant, expires_in: u64, margin: Duration) -> Instant {
    let lifetime = Duration::from_secs(expires_in).saturating_sub(margin);
    fetched.checked_add(lifetime).unwrap_or(fetched)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn credentials_are_both_non_blank_and_never_shown() {
        let credentials = ClientCredentials::new(" id ", " hunter2-secret\n").unwrap();
        assert_eq!(credentials.client_id, "id");
        assert_eq!(
            credentials.client_secret,
            ClientSecret::new("hunter2-secret")
        );
        assert!(!format!("{credentials:?}").contains("hunter2"));
        assert!(ClientCredentials::new("id", " ").is_none());
        assert!(ClientCredentials::new("", "s").is_none());
        let basic = credentials.basic().unwrap();
        assert!(basic.is_sensitive());
        assert_eq!(basic, "Basic aWQ6aHVudGVyMi1zZWNyZXQ=");
        assert!(!format!("{basic:?}").contains("aWQ6"));
    }

    #[test]
    fn a_managed_secret_holds_client_id_and_secret() {
        let read =
            ClientCredentials::from_secret(r#"{"clientId":"id","clientSecret":"s3cret"}"#).unwrap();
        assert_eq!(read, ClientCredentials::new("id", "s3cret").unwrap());
        for bad in [
            "",
            "s3cret",
            r#"{"clientId":"id"}"#,
            r#"{"clientId":"id","clientSecret":" "}"#,
            r#"{"clientId":1,"clientSecret":"s3cret"}"#,
        ] {
            let error = ClientCredentials::from_secret(bad).unwrap_err();
            assert!(!error.to_string().contains("s3cret"));
        }
    }

    #[test]
    fn tokens_are_renewed_a_margin_before_they_expire() {
        let now = Instant::now();
        assert_eq!(
            renewal_time(now, 86_400, RENEWAL_MARGIN),
            now + Duration::from_secs(86_400 - 300)
        );
        assert_eq!(renewal_time(now, 60, RENEWAL_MARGIN), now);
        assert_eq!(renewal_time(now, 0, Duration::ZERO), now);
        // An absurd lifetime from outside neither overflows nor panics.
        let far = renewal_time(now, u64::MAX, RENEWAL_MARGIN);
        assert!(far >= now);
    }

    #[test]
    fn a_token_is_never_shown() {
        let mut authorization = HeaderValue::from_static("Bearer eyJ.secret.token");
        authorization.set_sensitive(true);
        let token = Token {
            authorization,
            generation: 1,
            renew_at: Instant::now(),
        };
        assert!(!format!("{token:?}").contains("secret"));
        assert_eq!(token.secret_text(), b"eyJ.secret.token");
    }
}
