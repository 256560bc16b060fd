//! `entitlements show`: a user's profile, entitlements, activation decisions and balances.

use std::io::Write;

use shared::domain::ids::{CustomerUid, UserToken};
use shared::domain::views::ReadModels;

use super::{CliError, Context};
use crate::render;

/// What `show` is told.
#[derive(Debug, clap::Args)]
pub struct Args {
    /// The user's token
    #[arg(long, value_parser = UserToken::parse, required_unless_present = "customer_uid")]
    user_token: Option<UserToken>,
    /// Find the user by Gigastore's customer id instead
    #[arg(long, value_parser = CustomerUid::parse, conflicts_with = "user_token")]
    customer_uid: Option<CustomerUid>,
    /// Print one JSON document
    #[arg(long)]
    json: bool,
}

/// Prints the user's summary; a user nothing is stored for is an error.
pub async fn run(args: Args, cx: &Context, out: &mut impl Write) -> Result<(), CliError> {
    let user_token = match (args.user_token, args.customer_uid) {
        (Some(user), _) => user,
        (None, Some(customer)) => cx
            .store
            .user_for_customer(&customer)
            .await?
            .ok_or(CliError::UnknownCustomer)?,
        (None, None) => return Err(CliError::UnknownUser),
    };
    let summary = cx.store.user_summary(&user_token).await?;
    if !summary.found {
        return Err(CliError::UnknownUser);
    }
    render::show(&summary, args.json, render::print_summary, out)
}
