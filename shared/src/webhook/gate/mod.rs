//! The one place that decides who may call a webhook: from where (`sources`), with what
//! (`credentials`), checked against which secrets (`secrets`, fixed or read from Secrets
//! Manager); and, when user tokens are verified, which user a request is for (`user_tokens`,
//! with the JWT keys and check in `jwt`).

pub mod credentials;
pub mod jwt;
pub mod secrets;
pub mod sources;
pub mod user_tokens;

use lambda_http::request::RequestContext;
use lambda_http::{Request, RequestExt};

use credentials::{authenticate, AuthError, WebhookSecrets};
use secrets::{SecretSource, SecretUnavailable};
use sources::SourceAllowList;
use user_tokens::UserTokens;

/// Who may call: the accepted secrets and the allowed source networks; and whether the app's
/// user tokens are verified.
#[derive(Debug, Clone)]
pub struct Gate {
    /// The webhook secrets.
    pub secrets: SecretSource,
    /// The networks calls may come from.
    pub sources: SourceAllowList,
    /// The keys user tokens are verified with, if they are (off by default).
    pub user_tokens: UserTokens,
}

/// Why the gate turned a request away.
#[derive(Debug, thiserror::Error)]
pub enum Refused {
    /// The caller's address is not on the allow-list.
    #[error("source not allowed")]
    Source,
    /// The secrets could not be read, so no call can be checked now.
    #[error(transparent)]
    SecretUnavailable(#[from] SecretUnavailable),
    /// No valid secret was presented.
    #[error(transparent)]
    Credentials(#[from] AuthError),
}

impl Gate {
    /// A gate accepting `secrets` from any address, user tokens not verified.
    pub fn open(secrets: WebhookSecrets) -> Self {
        Self {
            secrets: SecretSource::fixed(secrets),
            sources: SourceAllowList::default(),
            user_tokens: UserTokens::Off,
        }
    }

    /// The same gate, verifying user tokens as `user_tokens` says.
    pub fn verifying(self, user_tokens: UserTokens) -> Self {
        Self {
            user_tokens,
            ..self
        }
    }

    /// Lets `request` through, or says why not: its source first, then its secret.
    pub async fn admit(&self, request: &Request) -> Result<(), Refused> {
        if !self.sources.allows(source_ip(request)) {
            return Err(Refused::Source);
        }
        let secrets = self.secrets.current().await?;
        authenticate(request, &secrets)?;
        Ok(())
    }
}

/// The caller's address as API Gateway saw it.
fn source_ip(request: &Request) -> Option<&str> {
    match request.request_context_ref()? {
        RequestContext::ApiGatewayV2(context) => context.http.source_ip.as_deref(),
        #[allow(unreachable_patterns)] // other API Gateway flavours, if their features are on
        _ => None,
    }
}
