//! Who the app's user is, when user tokens are verified (off by default; README, "Verified user
//! tokens"). A webhook whose payload names its user by the app's `userToken` says where
//! ([`UserTokenField`]); the pipeline has the gate replace that token with the user its signed
//! claims name, before the use case runs and before the payload is logged, so nothing after the
//! gate sees the token itself. Off, the token is the user id, as today.

use time::OffsetDateTime;

use crate::adapters::secrets_manager::sdk::Client;
use crate::domain::ids::UserToken;
use crate::domain::user_token::Expiry;
use crate::webhook::gate::jwt::{TokenRejected, UserTokenKeys};
use crate::webhook::gate::secrets::{RefreshPolicy, SecretUnavailable, Sourced};

/// Where a webhook's payload names the app's user, and whether an expired token still names it.
pub struct UserTokenField<P> {
    /// The payload's user token.
    pub token: fn(&mut P) -> &mut UserToken,
    /// Whether `exp` is enforced.
    pub expiry: Expiry,
}

/// Whether user tokens are verified, and with which keys.
#[derive(Debug, Clone, Default)]
pub enum UserTokens {
    /// Not verified: the token is the user id (the default).
    #[default]
    Off,
    /// Verified with keys fixed for the process's life (`USER_TOKEN_JWT_SECRET`,
    /// `USER_TOKEN_JWT_PUBLIC_KEY`) or HS256 secrets in Secrets Manager, cached and re-read
    /// (`USER_TOKEN_JWT_SECRET_ARN`).
    Verified(Sourced<UserTokenKeys>),
}

/// Why a request's user token names no user.
#[derive(Debug, thiserror::Error)]
pub enum Unverified {
    /// The token itself: forged, altered, out of its time, or naming no user.
    #[error(transparent)]
    Rejected(#[from] TokenRejected),
    /// The keys could not be read, so no token can be checked now.
    #[error(transparent)]
    KeysUnavailable(#[from] SecretUnavailable),
}

impl UserTokens {
    /// Verified with `keys`, fixed for the process's life.
    pub fn fixed(keys: UserTokenKeys) -> Self {
        Self::Verified(Sourced::fixed(keys))
    }

    /// Verified with the HS256 secrets in `secret_id` (ARN or name), read now and then as
    /// `policy` says, like the webhook secrets.
    pub async fn managed(
        client: Client,
        secret_id: impl Into<String>,
        policy: RefreshPolicy,
    ) -> Self {
        Self::Verified(Sourced::managed(client, secret_id, policy).await)
    }

    /// Whether tokens are verified.
    pub fn verified(&self) -> bool {
        !matches!(self, Self::Off)
    }

    /// Replaces `token` with the user it names at `now` when tokens are verified, or says why
    /// it names none; whether it replaced it.
    pub async fn identify(
        &self,
        token: &mut UserToken,
        now: OffsetDateTime,
        expiry: Expiry,
    ) -> Result<bool, Unverified> {
        let keys = match self {
            Self::Off => return Ok(false),
            Self::Verified(keys) => keys.current().await?,
        };
        *token = keys.verify(token.as_str(), now, expiry)?;
        Ok(true)
    }
}
