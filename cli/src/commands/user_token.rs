//! `entitlements user-token`: mints an HS256 user token naming a user, signed with the secret
//! in `USER_TOKEN_JWT_SECRET` (or `--secret-env`), for local runs and tests of verified user
//! tokens. In production the reseller's backend issues them (README, "Verified user tokens").

use std::io::Write;

use shared::domain::ids::UserToken;
use shared::webhook::gate::jwt::{mint_hs256, MintError};
use time::{Duration, OffsetDateTime};

use super::{CliError, Context};

/// The longest lifetime: a user token only has to outlive the activation it is sent with.
const MAX_TTL: Duration = Duration::DAY;

/// What `user-token` is told.
#[derive(Debug, clap::Args)]
pub struct Args {
    /// The user the token names (its `sub`): the id grants use (--user-token)
    #[arg(long, value_parser = UserToken::parse)]
    user: UserToken,
    /// How long the token is valid: 30s, 10m, 1h (at most 24h)
    #[arg(long, default_value = "10m", value_parser = parse_ttl)]
    ttl: Duration,
    /// The environment variable holding the HS256 secret (the first one, if comma-separated)
    #[arg(long, default_value = "USER_TOKEN_JWT_SECRET")]
    secret_env: String,
}

/// Why no token was minted.
#[derive(Debug, thiserror::Error)]
pub enum UserTokenError {
    /// The secret's variable is unset or blank.
    #[error("{0} is not set: it holds the HS256 secret user tokens are signed with")]
    NoSecret(String),
    /// The secret cannot sign.
    #[error(transparent)]
    Mint(#[from] MintError),
    /// Gigastore's `userToken` field is shorter.
    #[error("the token has {0} bytes, more than userToken takes ({max}): use a shorter user id", max = UserToken::MAX_LEN)]
    TooLong(usize),
}

/// Prints one token, valid from now.
pub async fn run(args: Args, cx: &Context, out: &mut impl Write) -> Result<(), CliError> {
    let token = mint(&args, |name| std::env::var(name).ok(), cx.now)?;
    writeln!(out, "{token}")?;
    Ok(())
}

/// The token `args` ask for, issued at `now`, with the secret read through `lookup`.
fn mint(
    args: &Args,
    lookup: impl Fn(&str) -> Option<String>,
    now: OffsetDateTime,
) -> Result<String, UserTokenError> {
    let secret = lookup(&args.secret_env)
        .filter(|s| !s.trim().is_empty())
        .ok_or_else(|| UserTokenError::NoSecret(args.secret_env.clone()))?;
    let token = mint_hs256(&secret, &args.user, now, args.ttl)?;
    // The functions would refuse it as an invalid request before checking it.
    if token.len() > UserToken::MAX_LEN {
        return Err(UserTokenError::TooLong(token.len()));
    }
    Ok(token)
}

/// `30s`, `10m`, `1h`: a positive whole number and its unit, at most [`MAX_TTL`].
fn parse_ttl(text: &str) -> Result<Duration, String> {
    let invalid = || format!("{text:?} is not a lifetime such as 30s, 10m or 1h");
    let text = text.trim();
    let (number, seconds_per) = [("s", 1), ("m", 60), ("h", 3600)]
        .into_iter()
        .find_map(|(unit, seconds)| Some((text.strip_suffix(unit)?, seconds)))
        .ok_or_else(invalid)?;
    let number: i64 = number.parse().map_err(|_| invalid())?;
    let ttl = number
        .checked_mul(seconds_per)
        .map(Duration::seconds)
        .filter(|ttl| ttl.is_positive())
        .ok_or_else(invalid)?;
    if ttl > MAX_TTL {
        return Err(format!("{text} is longer than 24h"));
    }
    Ok(ttl)
}

#[cfg(test)]
mod tests {
    use super::*;
    use shared::domain::user_token::Expiry;
    use shared::webhook::gate::jwt::UserTokenKeys;

    const SECRET: &str = "cli-test-user-token-secret-0123456789";

    fn args(user: &str, ttl: &str, secret_env: &str) -> Args {
        Args {
            user: UserToken::parse(user).unwrap(),
            ttl: parse_ttl(ttl).unwrap(),
            secret_env: secret_env.to_owned(),
        }
    }

    fn env(name: &str) -> Option<String> {
        match name {
            "USER_TOKEN_JWT_SECRET" => Some(format!("{SECRET},old-user-token-secret-0123456789ab")),
            "OTHER_SECRET" => Some("other-user-token-secret-0123456789abc".to_owned()),
            _ => None,
        }
    }

    #[test]
    fn mints_a_token_the_functions_verify_for_its_lifetime() {
        let now = OffsetDateTime::now_utc();
        let token = mint(&args("user-a", "10m", "USER_TOKEN_JWT_SECRET"), env, now).unwrap();
        let keys = UserTokenKeys::shared_secrets(SECRET).unwrap();
        let user = keys.verify(&token, now, Expiry::Enforced).unwrap();
        assert_eq!(user, "user-a");
        let later = now + Duration::minutes(11);
        assert!(keys.verify(&token, later, Expiry::Enforced).is_err());
        let other = mint(&args("user-a", "10m", "OTHER_SECRET"), env, now).unwrap();
        assert!(keys.verify(&other, now, Expiry::Enforced).is_err());
    }

    #[test]
    fn without_a_secret_or_with_a_long_user_nothing_is_minted() {
        let now = OffsetDateTime::now_utc();
        assert!(matches!(
            mint(&args("user-a", "10m", "UNSET"), env, now),
            Err(UserTokenError::NoSecret(name)) if name == "UNSET"
        ));
        let long = "u".repeat(200);
        assert!(matches!(
            mint(&args(&long, "10m", "USER_TOKEN_JWT_SECRET"), env, now),
            Err(UserTokenError::TooLong(_))
        ));
    }

    #[test]
    fn lifetimes_are_positive_and_at_most_a_day() {
        assert_eq!(parse_ttl("30s"), Ok(Duration::seconds(30)));
        assert_eq!(parse_ttl("10m"), Ok(Duration::minutes(10)));
        assert_eq!(parse_ttl("24h"), Ok(Duration::DAY));
        for bad in [
            "",
            "m",
            "10",
            "0s",
            "-5m",
            "1.5h",
            "25h",
            "2d",
            "10 m",
            "9223372036854775807h",
            "1é",
        ] {
            assert!(parse_ttl(bad).is_err(), "{bad}");
        }
    }
}
