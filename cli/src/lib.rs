//! `entitlements`: the operator CLI over the reseller's table.
//!
//! Layout: `commands/` holds one module per command (its arguments and its `run`) and the
//! dispatch; `render` lays out what they print for people; `stream` reads the table's stream
//! and `template` its declaration. This file parses the command line and sets up the clients.
//!
//! Exit codes: 0 ok, 1 failure, 2 usage.

pub mod commands;
mod render;
pub mod stream;
pub mod template;
pub mod webhooks;

use std::future::Future;
use std::io::Write;

use aws_sdk_dynamodb::Client;
use clap::Parser;
use shared::adapters::dynamo::DynamoStore;
use time::OffsetDateTime;

use crate::commands::{Command, Context};

/// Success.
pub const EXIT_OK: u8 = 0;
/// The command ran and failed.
pub const EXIT_FAILURE: u8 = 1;
/// The command line is wrong.
pub const EXIT_USAGE: u8 = 2;

#[derive(Debug, Parser)]
#[command(
    name = "entitlements",
    version,
    about = "Grant, revoke and inspect entitlements in the reseller's DynamoDB table",
    after_help = "Configured like the functions: TABLE_NAME, AWS_REGION, credentials and \
                  AWS_ENDPOINT_URL_DYNAMODB (for a local DynamoDB-API server) come from the environment. \
                  `events` reads the table's stream at AWS_ENDPOINT_URL_DYNAMODB_STREAMS, or, when only \
                  AWS_ENDPOINT_URL_DYNAMODB is set, at that endpoint too (moto serves both on one port)."
)]
struct Cli {
    /// DynamoDB table name [default: $TABLE_NAME]
    #[arg(long, global = true, env = "TABLE_NAME", hide_env = true)]
    table: Option<String>,
    #[command(subcommand)]
    command: Command,
}

/// The clients the CLI works with.
#[derive(Debug, Clone)]
pub struct Clients {
    /// The table's.
    pub dynamodb: Client,
    /// Its stream's (`events`).
    pub streams: aws_sdk_dynamodbstreams::Client,
}

impl Clients {
    /// Both over `aws`; the stream's at DynamoDB's endpoint when only that one is configured.
    pub fn new(aws: &aws_types::SdkConfig) -> Self {
        Self {
            dynamodb: shared::adapters::dynamo::client(aws),
            streams: stream::streams_client(aws),
        }
    }

    /// Both from the environment, as the functions load their configuration.
    pub async fn from_env() -> Self {
        Self::new(&shared::adapters::sdk::load().await)
    }

    /// Both from no configuration at all, for a command that never calls AWS.
    pub fn offline() -> Self {
        let none = aws_types::SdkConfig::builder()
            .behavior_version(aws_sdk_dynamodb::config::BehaviorVersion::latest())
            .build();
        Self::new(&none)
    }
}

/// Runs the CLI on `args` (program name first); `connect` builds the clients.
pub async fn run<I, T, F, Fut>(
    args: I,
    connect: F,
    out: &mut impl Write,
    err: &mut impl Write,
) -> u8
where
    I: IntoIterator<Item = T>,
    T: Into<std::ffi::OsString> + Clone,
    F: FnOnce() -> Fut,
    Fut: Future<Output = Clients>,
{
    let cli = match Cli::try_parse_from(args) {
        Ok(cli) => cli,
        Err(usage) => {
            let code = u8::try_from(usage.exit_code()).unwrap_or(EXIT_USAGE);
            let target: &mut dyn Write = if usage.use_stderr() { err } else { out };
            let _ = write!(target, "{}", usage.render());
            return code;
        }
    };
    let table = cli.table.filter(|t| !t.trim().is_empty());
    let (table, clients) = match (table, cli.command.uses_table()) {
        (Some(table), true) => (table, connect().await),
        (None, true) => {
            let _ = writeln!(err, "error: no table given: pass --table or set TABLE_NAME");
            return EXIT_USAGE;
        }
        // Nothing is looked up (no region, no credentials): the command never calls AWS.
        (_, false) => (String::new(), Clients::offline()),
    };
    let context = Context {
        store: DynamoStore::new(clients.dynamodb, table),
        streams: clients.streams,
        now: OffsetDateTime::now_utc(),
    };
    match cli.command.run(&context, out).await {
        Ok(()) => EXIT_OK,
        Err(failure) => {
            let _ = writeln!(err, "error: {}", failure.message());
            EXIT_FAILURE
        }
    }
}
