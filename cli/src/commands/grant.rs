//! `entitlements grant`: adds units of an item to a user's entitlement, once per purchase id.

use std::io::Write;

use shared::domain::entitlement::EntitlementStore;
use shared::domain::ids::{Email, PurchaseId};
use shared::domain::purchase::{self, Grant, GrantOutcome, Order, Quantity};
use time::OffsetDateTime;

use super::{CliError, Context, Entitlement};
use crate::render::units;

/// What `grant` is told.
#[derive(Debug, clap::Args)]
pub struct Args {
    #[command(flatten)]
    entitlement: Entitlement,
    /// Units to add, 1 to 100
    #[arg(long, default_value = "1", value_parser = parse_quantity)]
    quantity: Quantity,
    /// The user's email, answered to Customer Registration
    #[arg(long, value_parser = Email::parse)]
    email: Option<Email>,
    /// Expiry of the whole entitlement (RFC 3339, e.g. 2027-01-31T23:59:59Z); omitted keeps the current one
    #[arg(long, value_parser = parse_time)]
    expires_at: Option<OffsetDateTime>,
    /// Your purchase id: a grant with one is applied once, however often it is repeated;
    /// without one, the grant is recorded under a new id (`operator-...`), printed
    #[arg(long, value_parser = PurchaseId::parse)]
    purchase_id: Option<PurchaseId>,
}

impl Args {
    /// The grant, under the purchase id given or a new one.
    fn grant(self, now: OffsetDateTime) -> Result<Grant, CliError> {
        let purchase_id = match self.purchase_id {
            Some(id) => id,
            // Unique per run: the clock in nanoseconds and this process. Never the user's
            // token: purchase ids outlive an erasure.
            None => PurchaseId::parse(&format!(
                "operator-{}-{}",
                now.unix_timestamp_nanos(),
                std::process::id()
            ))?,
        };
        Ok(Grant {
            purchase_id,
            user_token: self.entitlement.user_token,
            item: self.entitlement.item,
            quantity: self.quantity,
            email: self.email,
            expires_at: self.expires_at,
            delivery: Order::Sdk,
        })
    }
}

fn parse_quantity(raw: &str) -> Result<Quantity, String> {
    let n: u64 = raw.parse().map_err(|e| format!("{e}"))?;
    Quantity::new(n).map_err(|e| e.to_string())
}

fn parse_time(raw: &str) -> Result<OffsetDateTime, String> {
    shared::domain::clock::parse(raw).map_err(|e| e.to_string())
}

/// Applies the grant through the purchase API's own code, then shows the entitlement; a
/// repeated purchase id adds nothing, and is an error for another grant.
pub async fn run(args: Args, cx: &Context, out: &mut impl Write) -> Result<(), CliError> {
    let named = args.purchase_id.is_some();
    let grant = args.grant(cx.now)?;
    let said = match purchase::grant(&cx.store, &grant, cx.now).await? {
        GrantOutcome::Granted(p) => format!("granted {} x {}", p.quantity, p.item),
        GrantOutcome::AlreadyGranted(p) => format!("already granted, nothing added: {}", p.item),
        GrantOutcome::Conflict { differences, .. } => {
            return Err(CliError::PurchaseConflict(differences.join(", ")));
        }
        // Only a top-up needs a customer id, and the CLI grants units.
        GrantOutcome::NotRegistered => return Err(CliError::NotRegistered),
    };
    let e = cx
        .store
        .entitlement(&grant.user_token, &grant.item)
        .await?
        .ok_or(CliError::NoSuchEntitlement(grant.item.clone()))?;
    writeln!(out, "{said}: {}", units(&e))?;
    if !named {
        writeln!(out, "purchase id: {}", grant.purchase_id)?;
    }
    Ok(())
}
