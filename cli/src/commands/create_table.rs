//! `entitlements create-table`: creates the table as template.yaml declares it.

use std::io::Write;
use std::path::PathBuf;

use super::{CliError, Context};
use crate::template::{CreateTableError, TableDeclaration};

/// What `create-table` is told.
#[derive(Debug, clap::Args)]
pub struct Args {
    /// The SAM template holding the table declaration
    #[arg(long, default_value = "template.yaml")]
    template: PathBuf,
}

/// Reads the template's declaration and creates the table with it.
pub async fn run(args: Args, cx: &Context, out: &mut impl Write) -> Result<(), CliError> {
    let template = args.template;
    let yaml = std::fs::read_to_string(&template)
        .map_err(|e| CliError::ReadTemplate(template.clone(), e))?;
    let declaration = TableDeclaration::from_template(&yaml).map_err(CreateTableError::from)?;
    declaration
        .create(cx.store.client(), cx.store.table())
        .await?;
    writeln!(
        out,
        "created table {} from {}",
        cx.store.table(),
        template.display()
    )?;
    Ok(())
}
