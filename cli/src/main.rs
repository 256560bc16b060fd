//! `entitlements` binary: parses arguments, runs, exits with the CLI's code.

use std::process::ExitCode;

#[tokio::main]
async fn main() -> ExitCode {
    let code = entitlements::run(
        std::env::args_os(),
        entitlements::Clients::from_env,
        &mut std::io::stdout().lock(),
        &mut std::io::stderr().lock(),
    )
    .await;
    ExitCode::from(code)
}
