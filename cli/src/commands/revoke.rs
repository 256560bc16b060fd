//! `entitlements revoke`: removes every unit left of a user's entitlement to an item.

use std::io::Write;

use shared::domain::entitlement::EntitlementStore;
use shared::domain::ids::{ItemId, UserToken};

use super::{CliError, Context};
use crate::render::units;

/// What `revoke` is told.
#[derive(Debug, clap::Args)]
pub struct Args {
    /// The user's token
    #[arg(long, value_parser = UserToken::parse)]
    user_token: UserToken,
    /// Gigastore inventory item id
    #[arg(long, value_parser = ItemId::parse)]
    item: ItemId,
}

/// Revokes the entitlement; one the user never held is an error.
pub async fn run(args: Args, cx: &Context, out: &mut impl Write) -> Result<(), CliError> {
    let entitlement = cx
        .store
        .revoke(&args.user_token, &args.item, cx.now)
        .await?
        .ok_or(CliError::NoSuchEntitlement(args.item))?;
    writeln!(out, "revoked {}: {}", entitlement.item, units(&entitlement))?;
    Ok(())
}
