//! `entitlements fulfil`: works once through every top-up and top-up refund that is due, with
//! the fulfilment function's own code, and exits.

use std::io::Write;
use std::time::Duration;

use shared::domain::deadline::Deadline;
use shared::runtime::config::GigastoreConfig;

use super::{CliError, Context};
use crate::render;

/// The time one run may take.
const RUN_BUDGET: Duration = Duration::from_secs(10 * 60);

/// What `fulfil` is told.
#[derive(Debug, clap::Args)]
pub struct Args {
    /// How long a lost answer is given to show in the customer's listing before the top-up is
    /// called again: 30s, 2m, 0s (TOPUP_SETTLE, else 30s)
    #[arg(long, value_parser = fulfilment::parse_duration)]
    settle: Option<Duration>,
    /// Print one JSON document
    #[arg(long)]
    json: bool,
}

/// One run over what is due, through Gigastore's API as configured (`GIGASTORE_API_URL`,
/// `GIGASTORE_CREDENTIALS_ARN` or `GIGASTORE_CLIENT_ID`/`GIGASTORE_CLIENT_SECRET`).
pub async fn run(args: Args, cx: &Context, out: &mut impl Write) -> Result<(), CliError> {
    let settle = match args.settle {
        Some(settle) => settle,
        None => fulfilment::settle_from_env().map_err(CliError::Settle)?,
    };
    let gigastore = GigastoreConfig::from_env()?
        .client(&shared::adapters::sdk::load().await)
        .map_err(|e| CliError::Gigastore(e.into()))?;
    let worker = fulfilment::Fulfilment {
        store: cx.store.clone(),
        gigastore,
        settle,
    };
    let run = worker.run(Deadline::after(RUN_BUDGET)).await?;
    render::show(&run, args.json, render::print_run, out)
}
