//! The commands: one module each, holding its arguments (`Args`) and its `run`.
//!
//! A new command is one module here, one `Command` variant and one arm in [`Command::run`].

pub mod catalogue;
pub mod create_table;
pub mod esim;
pub mod events;
pub mod forget;
pub mod fulfil;
pub mod grant;
pub mod replay;
pub mod revoke;
pub mod show;
pub mod user_token;

use std::io::Write;
use std::path::PathBuf;

use clap::Subcommand;
use shared::adapters::dynamo::DynamoStore;
use shared::domain::ids::{ItemId, UserToken};
use shared::domain::payload::FieldError;
use shared::domain::store::StoreError;
use shared::runtime::config::ConfigError;
use shared::webhook::gate::secrets::ReadError;
use time::OffsetDateTime;

use crate::stream::StreamError;
use crate::template::CreateTableError;

/// A user's entitlement to one item, as `grant` and `revoke` name it.
#[derive(Debug, clap::Args)]
pub struct Entitlement {
    /// The user's token (the app's setUserToken value)
    #[arg(long, value_parser = UserToken::parse)]
    pub user_token: UserToken,
    /// Gigastore inventory item id, e.g. 1_GB
    #[arg(long, value_parser = ItemId::parse)]
    pub item: ItemId,
}

/// The commands, as parsed; each variant's doc comment is its help line.
#[derive(Debug, Subcommand)]
pub enum Command {
    /// Add units of an item to a user's entitlement; creates the user if new
    Grant(grant::Args),
    /// Remove every unit left of a user's entitlement to an item
    Revoke(revoke::Args),
    /// Show a user's profile, entitlements, activation decisions and balances
    Show(show::Args),
    /// Erase a user: profile, entitlements and unclaimed registrations go; activation
    /// decisions and purchases stay under the user's keyed hash (USER_HASH_KEY_ARN or
    /// USER_HASH_KEY)
    Forget(forget::Args),
    /// Work once through every top-up and top-up refund that is due, through Gigastore's API
    /// (GIGASTORE_API_URL, GIGASTORE_CREDENTIALS_ARN or GIGASTORE_CLIENT_ID/SECRET), and exit
    Fulfil(fulfil::Args),
    /// Print Gigastore's inventory: id, name, size, validity, country set, retail price
    Catalogue(catalogue::Args),
    /// Show an eSIM's current state and country, and their histories, newest first
    Esim(esim::Args),
    /// Apply the webhooks the functions logged as not stored ("webhook could not be stored"), at
    /// the time they were received; repeating it changes nothing
    Replay(replay::Args),
    /// Print the domain events the publisher would put for the table's stream records (the last
    /// 24 hours), one line each; a record that is no event prints nothing
    #[command(
        after_help = "Reads the stream at AWS_ENDPOINT_URL_DYNAMODB_STREAMS, or, when only \
                      AWS_ENDPOINT_URL_DYNAMODB is set, at that endpoint too: moto serves both \
                      APIs on one port, so a local run needs nothing more."
    )]
    Events(events::Args),
    /// Create the table as template.yaml declares it (for a local DynamoDB-API server)
    CreateTable(create_table::Args),
    /// Print an HS256 user token naming a user, signed with USER_TOKEN_JWT_SECRET (local runs
    /// and tests of verified user tokens); needs no table
    UserToken(user_token::Args),
}

impl Command {
    /// Runs the command, writing what it reports to `out`.
    pub async fn run(self, cx: &Context, out: &mut impl Write) -> Result<(), CliError> {
        match self {
            Self::Grant(args) => grant::run(args, cx, out).await,
            Self::Revoke(args) => revoke::run(args, cx, out).await,
            Self::Show(args) => show::run(args, cx, out).await,
            Self::Forget(args) => forget::run(args, cx, out).await,
            Self::Fulfil(args) => fulfil::run(args, cx, out).await,
            Self::Catalogue(args) => catalogue::run(args, cx, out).await,
            Self::Esim(args) => esim::run(args, cx, out).await,
            Self::Replay(args) => replay::run(args, cx, out).await,
            Self::Events(args) => events::run(args, cx, out).await,
            Self::CreateTable(args) => create_table::run(args, cx, out).await,
            Self::UserToken(args) => user_token::run(args, cx, out).await,
        }
    }

    /// Whether it works on the table (and so needs one and the AWS configuration).
    pub fn uses_table(&self) -> bool {
        !matches!(self, Self::UserToken(_) | Self::Catalogue(_))
    }
}

/// What every command works with, set up once before it runs.
#[derive(Debug)]
pub struct Context {
    /// The table.
    pub store: DynamoStore,
    /// The client of the table's stream (`events`).
    pub streams: aws_sdk_dynamodbstreams::Client,
    /// When the command runs: the time a grant or revocation is recorded at.
    pub now: OffsetDateTime,
}

/// A command that ran and failed.
#[derive(Debug, thiserror::Error)]
pub enum CliError {
    /// The table refused or could not be reached.
    #[error(transparent)]
    Store(#[from] StoreError),
    /// A value the command made or was given is not valid.
    #[error(transparent)]
    Field(#[from] FieldError),
    /// `revoke` of an item the user holds no entitlement to.
    #[error("user has no entitlement to {0}")]
    NoSuchEntitlement(ItemId),
    /// `fulfil`: the settle time in the environment is not a duration.
    #[error("TOPUP_SETTLE: {0}")]
    Settle(String),
    /// Gigastore's API could not be set up or answered with an error.
    #[error("Gigastore: {}", shared::domain::store::chain(&**.0))]
    Gigastore(Box<dyn std::error::Error + Send + Sync>),
    /// `forget` without a user hash key.
    #[error(
        "no user hash key: set USER_HASH_KEY_ARN (or USER_HASH_KEY locally) to the key the \
         functions use; nothing was erased"
    )]
    NoUserHashKey,
    /// `forget`: the user hash key could not be read.
    #[error("the user hash key could not be read; nothing was erased")]
    UserHashKey(#[from] ReadError),
    /// The environment is not usable (a user hash key too short).
    #[error(transparent)]
    Config(#[from] ConfigError),
    /// `show` of a user nothing is stored for.
    #[error("nothing is stored for this user")]
    UnknownUser,
    /// A top-up for a user Gigastore has no customer for yet.
    #[error("customer not registered: Gigastore has no customer id for this user yet")]
    NotRegistered,
    /// `grant` with a purchase id already granted with other fields.
    #[error("this purchase id was already granted with another {0}: nothing added")]
    PurchaseConflict(String),
    /// `show --customer-uid` of a customer no user is registered with.
    #[error("no user is registered with this customer id")]
    UnknownCustomer,
    /// `esim` of an ICCID nothing was received for.
    #[error("nothing was ever received for this eSIM")]
    UnknownEsim,
    /// `create-table` could not read its template.
    #[error("cannot read {0}: {1}")]
    ReadTemplate(PathBuf, std::io::Error),
    /// `create-table` could not create the table.
    #[error(transparent)]
    CreateTable(#[from] CreateTableError),
    /// The output could not be written.
    #[error("cannot write output: {0}")]
    Output(#[from] std::io::Error),
    /// The output could not be encoded as JSON.
    #[error("cannot encode output: {0}")]
    Json(#[from] serde_json::Error),
    /// `replay` failed.
    #[error(transparent)]
    Replay(#[from] replay::ReplayError),
    /// `events` could not read the stream.
    #[error(transparent)]
    Stream(#[from] StreamError),
    /// `user-token` minted nothing.
    #[error(transparent)]
    UserToken(#[from] user_token::UserTokenError),
    /// `events` read a record the publisher could not turn into an event.
    #[error("stream record {id} cannot become an event")]
    Record {
        /// The record's `eventID`.
        id: String,
        /// Why.
        #[source]
        source: StoreError,
    },
}

impl CliError {
    /// The line printed after `error: `.
    pub fn message(&self) -> String {
        match self {
            // The whole chain: the database's own words say what to fix.
            Self::Store(store) => store.chain(),
            Self::Stream(_) | Self::Record { .. } | Self::UserHashKey(_) => {
                shared::domain::store::chain(self)
            }
            other => other.to_string(),
        }
    }
}
