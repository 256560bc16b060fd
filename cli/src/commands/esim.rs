//! `entitlements esim`: an eSIM's current state and country, and their histories.

use std::io::Write;

use shared::domain::ids::Iccid;
use shared::domain::views::ReadModels;

use super::{CliError, Context};
use crate::render;

/// What `esim` is told.
#[derive(Debug, clap::Args)]
pub struct Args {
    /// The SIM's ICCID (18 to 22 digits)
    #[arg(long, value_parser = Iccid::parse)]
    iccid: Iccid,
    /// Print one JSON document
    #[arg(long)]
    json: bool,
}

/// Prints the eSIM's history; one nothing was received for is an error.
pub async fn run(args: Args, cx: &Context, out: &mut impl Write) -> Result<(), CliError> {
    let esim = cx
        .store
        .esim_history(&args.iccid)
        .await?
        .ok_or(CliError::UnknownEsim)?;
    render::show(&esim, args.json, render::print_esim, out)
}
