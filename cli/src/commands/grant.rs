//! `entitlements grant`: adds units of an item to a user's entitlement, once per purchase id.

use std::io::Write;
use std::num::NonZeroU32;

use shared::domain::entitlement::{self, Grant, GrantOutcome};
use shared::domain::ids::{Email, ItemId, PurchaseId, UserToken};
use time::OffsetDateTime;

use super::{CliError, Context};
use crate::render::units;

/// What `grant` is told.
#[derive(Debug, clap::Args)]
pub struct Args {
    /// The user's token (the app's setUserToken value)
    #[arg(long, value_parser = UserToken::parse)]
    user_token: UserToken,
    /// Gigastore inventory item id, e.g. 1_GB
    #[arg(long, value_parser = ItemId::parse)]
    item: ItemId,
    /// Units to add
    #[arg(long, default_value = "1")]
    quantity: NonZeroU32,
    /// The user's email, answered to Customer Registration
    #[arg(long, value_parser = Email::parse)]
    email: Option<Email>,
    /// Expiry of the whole entitlement (RFC 3339, e.g. 2027-01-31T23:59:59Z); omitted keeps the current one
    #[arg(long, value_parser = parse_time)]
    expires_at: Option<OffsetDateTime>,
    /// Your purchase id: a grant with one is applied once, however often it is repeated
    #[arg(long, value_parser = PurchaseId::parse)]
    purchase_id: Option<PurchaseId>,
}

impl From<Args> for Grant {
    fn from(args: Args) -> Self {
        Self {
            user_token: args.user_token,
            item: args.item,
            quantity: args.quantity,
            email: args.email,
            expires_at: args.expires_at,
            purchase_id: args.purchase_id,
        }
    }
}

fn parse_time(raw: &str) -> Result<OffsetDateTime, String> {
    shared::domain::clock::parse(raw).map_err(|e| e.to_string())
}

/// Applies the grant; a repeated purchase id adds nothing, and is an error for another grant.
pub async fn run(args: Args, cx: &Context, out: &mut impl Write) -> Result<(), CliError> {
    let quantity = args.quantity;
    let grant = Grant::from(args);
    match entitlement::grant(&cx.store, &grant, cx.now).await? {
        GrantOutcome::Granted(e) => {
            writeln!(out, "granted {quantity} x {}: {}", e.item, units(&e))?;
        }
        GrantOutcome::AlreadyGranted(e) => {
            writeln!(
                out,
                "already granted, nothing added: {}: {}",
                e.item,
                units(&e)
            )?;
        }
        GrantOutcome::PurchaseIdReused { user_token, item } => {
            return Err(CliError::PurchaseIdReused { user_token, item });
        }
    }
    Ok(())
}
