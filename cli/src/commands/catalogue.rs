//! `entitlements catalogue`: Gigastore's inventory, as its API lists it.

use std::io::Write;
use std::time::Duration;

use shared::domain::deadline::Deadline;
use shared::domain::gigastore::Gigastore;
use shared::runtime::config::GigastoreConfig;

use super::{CliError, Context};
use crate::render;

/// The time the listing may take.
const BUDGET: Duration = Duration::from_secs(30);

/// What `catalogue` is told.
#[derive(Debug, clap::Args)]
pub struct Args {
    /// Print one JSON document
    #[arg(long)]
    json: bool,
}

/// Prints every inventory item: id, name, size, validity, country set, retail price.
pub async fn run(args: Args, _cx: &Context, out: &mut impl Write) -> Result<(), CliError> {
    let gigastore = GigastoreConfig::from_env()?
        .client(&shared::adapters::sdk::load().await)
        .map_err(|e| CliError::Gigastore(e.into()))?;
    let items = gigastore
        .inventory(Deadline::after(BUDGET))
        .await
        .map_err(|e| CliError::Gigastore(e.into()))?;
    render::show(&items, args.json, render::print_catalogue, out)
}
