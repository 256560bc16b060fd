//! Verified user tokens in tests: a gate that verifies them with [`SECRET`], tokens it accepts
//! and tokens it must refuse.

use time::{Duration, OffsetDateTime};

use crate::domain::ids::UserToken;
use crate::webhook::gate::jwt::{mint_hs256, UserTokenKeys};
use crate::webhook::gate::user_tokens::UserTokens;
use crate::webhook::gate::Gate;
use crate::webhook::reply::Reply;
use crate::webhook::Webhook;

/// The HS256 secret [`gate`] verifies user tokens with (the local runs' is in `scripts/`).
pub const SECRET: &str = "unit-test-user-token-secret-0123456789";
/// A secret of the same length that signs forged tokens.
pub const FORGER: &str = "forged-user-token-secret-0123456789abc";

/// [`super::gate`], verifying user tokens signed with [`SECRET`].
pub fn gate() -> Gate {
    let keys = UserTokenKeys::shared_secrets(SECRET).expect("a usable secret");
    super::gate().verifying(UserTokens::fixed(keys))
}

/// A token naming `user`, issued `age` ago, signed with `secret`, valid for 10 minutes.
pub fn signed(secret: &str, user: &str, age: Duration) -> String {
    let user = UserToken::parse(user).expect("a user id");
    let issued = OffsetDateTime::now_utc() - age;
    mint_hs256(secret, &user, issued, Duration::minutes(10)).expect("a token")
}

/// A token naming `user` that [`gate`] accepts now.
pub fn for_user(user: &str) -> String {
    signed(SECRET, user, Duration::ZERO)
}

/// The reply `webhook` gives an authenticated request with `body` through [`gate`].
pub async fn reply<W: Webhook>(webhook: &W, body: &str) -> Reply {
    super::reply_through(webhook, &gate(), body).await
}
