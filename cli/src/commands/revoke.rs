//! `entitlements revoke`: removes every unit left of a user's entitlement to an item.

use std::io::Write;

use super::{CliError, Context, Entitlement};
use crate::render::units;
use shared::domain::entitlement::EntitlementStore;

/// What `revoke` is told.
#[derive(Debug, clap::Args)]
pub struct Args {
    #[command(flatten)]
    entitlement: Entitlement,
}

/// Revokes the entitlement; one the user never held is an error.
pub async fn run(args: Args, cx: &Context, out: &mut impl Write) -> Result<(), CliError> {
    let entitlement = cx
        .store
        .revoke(&args.entitlement.user_token, &args.entitlement.item, cx.now)
        .await?
        .ok_or(CliError::NoSuchEntitlement(args.entitlement.item))?;
    writeln!(out, "revoked {}: {}", entitlement.item, units(&entitlement))?;
    Ok(())
}
