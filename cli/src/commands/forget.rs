//! `entitlements forget`: erases a user (README, "Erasure"), as `DELETE /users/{userToken}`
//! does: the profile, entitlements and unclaimed registrations go; activation decisions and
//! purchases stay under the user's keyed hash.

use std::io::Write;
use std::time::Duration;

use shared::adapters::secrets_manager;
use shared::domain::erasure::{self, UserHashKey};
use shared::domain::ids::UserToken;
use shared::runtime::config::UserHashKeyConfig;
use shared::webhook::gate::secrets::SecretValue;

use super::{CliError, Context};
use crate::render;

/// How long reading the managed hash key may take.
const READ_TIMEOUT: Duration = Duration::from_secs(30);

/// What `forget` is told.
#[derive(Debug, clap::Args)]
pub struct Args {
    /// The user's token
    #[arg(long, value_parser = UserToken::parse)]
    user_token: UserToken,
    /// Print one JSON document
    #[arg(long)]
    json: bool,
}

/// Erases the user with the key the functions use, and prints what was erased; without a key,
/// nothing is read or changed.
pub async fn run(args: Args, cx: &Context, out: &mut impl Write) -> Result<(), CliError> {
    let key = hash_key().await?;
    let erasure = erasure::erase(&cx.store, &key, &args.user_token, cx.now).await?;
    render::show(&erasure, args.json, render::print_erasure, out)
}

/// The key `USER_HASH_KEY_ARN` (a Secrets Manager secret, read as the functions read it) or
/// `USER_HASH_KEY` names.
async fn hash_key() -> Result<UserHashKey, CliError> {
    match UserHashKeyConfig::from_env()? {
        UserHashKeyConfig::None => Err(CliError::NoUserHashKey),
        UserHashKeyConfig::Fixed(key) => Ok(key),
        UserHashKeyConfig::Managed { arn } => {
            let aws = shared::adapters::sdk::load().await;
            let client = secrets_manager::sdk::Client::new(&aws);
            let value = secrets_manager::read_string(&client, &arn, READ_TIMEOUT)
                .await
                .map_err(|e| CliError::UserHashKey(e.into()))?;
            Ok(<UserHashKey as SecretValue>::from_secret(&value)?)
        }
    }
}
