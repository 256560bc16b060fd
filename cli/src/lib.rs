//! `entitlements`: the operator CLI over the reseller's table.
//!
//! Exit codes: 0 ok, 1 failure, 2 usage.

pub mod events;
pub mod replay;
pub mod template;
pub mod webhooks;

use std::future::Future;
use std::io::Write;
use std::num::NonZeroU32;
use std::path::PathBuf;

use aws_sdk_dynamodb::Client;
use clap::{Parser, Subcommand};
use shared::adapters::dynamo::DynamoStore;
use shared::domain::entitlement::{self, Entitlement, EntitlementStore, Grant, GrantOutcome};
use shared::domain::ids::{CustomerUid, Email, Iccid, ItemId, PurchaseId, UserToken};
use shared::domain::store::StoreError;
use shared::domain::views::{EsimHistory, ReadModels, UserSummary};
use time::format_description::well_known::Rfc3339;
use time::OffsetDateTime;

use crate::template::{CreateTableError, TableDeclaration};

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

#[derive(Debug, Subcommand)]
enum Command {
    /// Add units of an item to a user's entitlement; creates the user if new
    Grant(GrantArgs),
    /// Remove every unit left of a user's entitlement to an item
    Revoke {
        /// The user's token
        #[arg(long, value_parser = UserToken::parse)]
        user_token: UserToken,
        /// Gigastore inventory item id
        #[arg(long, value_parser = ItemId::parse)]
        item: ItemId,
    },
    /// Show a user's profile, entitlements, activation decisions and balances
    Show {
        /// The user's token
        #[arg(long, value_parser = UserToken::parse, required_unless_present = "customer_uid")]
        user_token: Option<UserToken>,
        /// Find the user by Gigastore's customer id instead
        #[arg(long, value_parser = CustomerUid::parse, conflicts_with = "user_token")]
        customer_uid: Option<CustomerUid>,
        /// Print one JSON document
        #[arg(long)]
        json: bool,
    },
    /// Show an eSIM's current state and country, and their histories, newest first
    Esim {
        /// The SIM's ICCID (18 to 22 digits)
        #[arg(long, value_parser = Iccid::parse)]
        iccid: Iccid,
        /// Print one JSON document
        #[arg(long)]
        json: bool,
    },
    /// Apply the webhooks the functions logged as not stored ("webhook could not be stored"), at
    /// the time they were received; repeating it changes nothing
    Replay {
        /// Log files: the functions' JSON log lines, or the JSON `aws logs filter-log-events` prints
        #[arg(long = "from-log", value_name = "FILE", required = true, num_args = 1..)]
        from_log: Vec<PathBuf>,
        /// Print what would be applied, write nothing
        #[arg(long)]
        dry_run: bool,
    },
    /// Print the domain events the publisher would put for the table's stream records (the last
    /// 24 hours), one line each; a record that is no event prints nothing
    #[command(
        after_help = "Reads the stream at AWS_ENDPOINT_URL_DYNAMODB_STREAMS, or, when only \
                      AWS_ENDPOINT_URL_DYNAMODB is set, at that endpoint too: moto serves both \
                      APIs on one port, so a local run needs nothing more."
    )]
    Events {
        /// Read from the oldest record kept, also with --follow (which otherwise starts now)
        #[arg(long)]
        from_start: bool,
        /// Keep polling (about once a second) until Ctrl-C, instead of stopping at the end
        #[arg(long)]
        follow: bool,
        /// Print each event as one JSON document (the EventBridge entry's detail)
        #[arg(long)]
        json: bool,
    },
    /// Create the table as template.yaml declares it (for a local DynamoDB-API server)
    CreateTable {
        /// The SAM template holding the table declaration
        #[arg(long, default_value = "template.yaml")]
        template: PathBuf,
    },
}

/// What `grant` is told.
#[derive(Debug, clap::Args)]
struct GrantArgs {
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

impl From<GrantArgs> for Grant {
    fn from(args: GrantArgs) -> Self {
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
    OffsetDateTime::parse(raw, &Rfc3339).map_err(|e| format!("not an RFC 3339 time ({e})"))
}

/// A command that ran and failed.
#[derive(Debug, thiserror::Error)]
enum CliError {
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error("user has no entitlement to {0}")]
    NoSuchEntitlement(ItemId),
    #[error("nothing is stored for this user")]
    UnknownUser,
    #[error("this purchase id was already granted to user {user_token} for {item}: nothing added")]
    PurchaseIdReused { user_token: UserToken, item: ItemId },
    #[error("no user is registered with this customer id")]
    UnknownCustomer,
    #[error("nothing was ever received for this eSIM")]
    UnknownEsim,
    #[error("cannot read {0}: {1}")]
    ReadTemplate(PathBuf, std::io::Error),
    #[error(transparent)]
    CreateTable(#[from] CreateTableError),
    #[error("cannot write output: {0}")]
    Output(#[from] std::io::Error),
    #[error("cannot encode output: {0}")]
    Json(#[from] serde_json::Error),
    #[error(transparent)]
    Replay(#[from] replay::ReplayError),
    #[error(transparent)]
    Stream(#[from] events::StreamError),
    #[error("stream record {id} cannot become an event")]
    Record {
        id: String,
        #[source]
        source: StoreError,
    },
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
            streams: events::streams_client(aws),
        }
    }

    /// Both from the environment, as the functions load their configuration.
    pub async fn from_env() -> Self {
        Self::new(&shared::adapters::sdk::load().await)
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
    let Some(table) = cli.table.filter(|t| !t.trim().is_empty()) else {
        let _ = writeln!(err, "error: no table given: pass --table or set TABLE_NAME");
        return EXIT_USAGE;
    };
    let clients = connect().await;
    let store = DynamoStore::new(clients.dynamodb, table);
    match execute(cli.command, &store, clients.streams, out).await {
        Ok(()) => EXIT_OK,
        Err(failure) => {
            let message = match &failure {
                // The whole chain: the database's own words say what to fix.
                CliError::Store(store) => store.chain(),
                CliError::Stream(_) | CliError::Record { .. } => {
                    shared::domain::store::chain(&failure)
                }
                other => other.to_string(),
            };
            let _ = writeln!(err, "error: {message}");
            EXIT_FAILURE
        }
    }
}

async fn execute(
    command: Command,
    store: &DynamoStore,
    streams: aws_sdk_dynamodbstreams::Client,
    out: &mut impl Write,
) -> Result<(), CliError> {
    let now = OffsetDateTime::now_utc();
    match command {
        Command::Grant(args) => {
            let quantity = args.quantity;
            let grant = Grant::from(args);
            match entitlement::grant(store, &grant, now).await? {
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
        }
        Command::Revoke { user_token, item } => {
            let entitlement = store
                .revoke(&user_token, &item, now)
                .await?
                .ok_or(CliError::NoSuchEntitlement(item))?;
            writeln!(out, "revoked {}: {}", entitlement.item, units(&entitlement))?;
        }
        Command::Show {
            user_token,
            customer_uid,
            json,
        } => {
            let user_token = match (user_token, customer_uid) {
                (Some(user), _) => user,
                (None, Some(customer)) => store
                    .user_for_customer(&customer)
                    .await?
                    .ok_or(CliError::UnknownCustomer)?,
                (None, None) => return Err(CliError::UnknownUser),
            };
            let summary = store.user_summary(&user_token).await?;
            if !summary.found {
                return Err(CliError::UnknownUser);
            }
            show(&summary, json, print_summary, out)?;
        }
        Command::Esim { iccid, json } => {
            let esim = store
                .esim_history(&iccid)
                .await?
                .ok_or(CliError::UnknownEsim)?;
            show(&esim, json, print_esim, out)?;
        }
        Command::Replay { from_log, dry_run } => {
            replay::replay(store, &from_log, dry_run, out).await?;
        }
        Command::Events {
            from_start,
            follow,
            json,
        } => {
            let options = events::Options {
                from_start,
                follow,
                json,
            };
            events::events(store, streams, options, out).await?;
        }
        Command::CreateTable { template } => {
            let yaml = std::fs::read_to_string(&template)
                .map_err(|e| CliError::ReadTemplate(template.clone(), e))?;
            let declaration =
                TableDeclaration::from_template(&yaml).map_err(CreateTableError::from)?;
            declaration.create(store.client(), store.table()).await?;
            writeln!(
                out,
                "created table {} from {}",
                store.table(),
                template.display()
            )?;
        }
    }
    Ok(())
}

/// Prints `value` as one JSON document, or for people with `human`.
fn show<T: serde::Serialize, W: Write>(
    value: &T,
    json: bool,
    human: fn(&T, &mut W) -> std::io::Result<()>,
    out: &mut W,
) -> Result<(), CliError> {
    if json {
        serde_json::to_writer_pretty(&mut *out, value)?;
        writeln!(out)?;
    } else {
        human(value, out)?;
    }
    Ok(())
}

fn units(e: &Entitlement) -> String {
    format!(
        "{} left, {} used, {} granted",
        e.units_left(),
        e.units_used,
        e.units_granted
    )
}

fn when(at: Option<OffsetDateTime>) -> String {
    at.and_then(|t| t.format(&Rfc3339).ok())
        .unwrap_or_else(|| "-".to_owned())
}

fn print_summary(s: &UserSummary, out: &mut impl Write) -> std::io::Result<()> {
    writeln!(out, "user:        {}", s.user_token)?;
    writeln!(out, "email:       {}", s.email.as_deref().unwrap_or("-"))?;
    writeln!(
        out,
        "customer id: {}",
        s.customer_uid.as_ref().map_or("-", CustomerUid::as_str)
    )?;
    table(
        out,
        "entitlements:",
        |[item, left, used, granted, expires, revoked]| {
            format!("  {item:<24} {left:>6} {used:>6} {granted:>8}  {expires:<25} {revoked:<25}")
        },
        ["ITEM", "LEFT", "USED", "GRANTED", "EXPIRES", "REVOKED"],
        s.entitlements.iter().map(|e| {
            [
                e.item.as_str().to_owned(),
                e.units_left().to_string(),
                e.units_used.to_string(),
                e.units_granted.to_string(),
                when(e.expires_at),
                when(e.revoked_at),
            ]
        }),
    )?;
    table(
        out,
        "activations (newest first):",
        |[decided, activation, item, decision, reason, meta_tag]| {
            format!(
                "  {decided:<25} {activation:<24} {item:<16} {decision:<8} {reason:<16} {meta_tag}"
            )
        },
        [
            "DECIDED",
            "ACTIVATION",
            "ITEM",
            "DECISION",
            "REASON",
            "META TAG",
        ],
        s.activations.iter().map(|a| {
            [
                when(Some(a.decided_at)),
                a.activation_id.as_str().to_owned(),
                a.item.as_str().to_owned(),
                a.decision.as_str().to_owned(),
                a.reason.map_or("-", |r| r.code()).to_owned(),
                a.meta_tag.as_ref().map_or("-", |m| m.as_str()).to_owned(),
            ]
        }),
    )?;
    let alert = s.latest_balance_alert.as_ref();
    writeln!(
        out,
        "\nlatest balance alert: {}",
        alert.map_or_else(
            || "-".to_owned(),
            |a| format!(
                "{} bytes left on {} at {}",
                a.alert.balance_bytes,
                a.alert.iccid,
                when(Some(a.alert.timestamp))
            )
        )
    )?;
    table(
        out,
        "balances (newest first):",
        |[item, activated, expires]| format!("  {item:<38} {activated:<25} {expires}"),
        ["ITEM", "ACTIVATED", "EXPIRES"],
        s.balances.iter().map(|b| {
            [
                b.item.as_str().to_owned(),
                when(Some(b.activated_at)),
                when(Some(b.expires_at)),
            ]
        }),
    )
}

fn print_esim(e: &EsimHistory, out: &mut impl Write) -> std::io::Result<()> {
    let iccid = e.current.as_ref().map(|c| &c.status.iccid);
    let iccid = iccid.or(e.country.as_ref().map(|c| &c.change.iccid));
    writeln!(out, "iccid:    {}", iccid.map_or("-", |i| i.as_str()))?;
    let c = e.current.as_ref().map(|c| &c.status);
    writeln!(
        out,
        "state:    {}",
        c.map_or("-", |c| c.profile_state.as_str())
    )?;
    writeln!(out, "imsi:     {}", c.map_or("-", |c| c.imsi.as_str()))?;
    let eid = c.and_then(|c| c.eid.as_ref());
    writeln!(out, "eid:      {}", eid.map_or("-", |eid| eid.as_str()))?;
    writeln!(
        out,
        "received: {}",
        when(e.current.as_ref().map(|c| c.received_at))
    )?;
    let country = e.country.as_ref().map(|c| c.change.new_country.as_str());
    writeln!(out, "country:  {}", country.unwrap_or("-"))?;
    table(
        out,
        "history (newest first):",
        |[received, state, imsi, eid]| format!("  {received:<25} {state:<12} {imsi:<16} {eid}"),
        ["RECEIVED", "STATE", "IMSI", "EID"],
        e.history.iter().map(|h| {
            [
                when(Some(h.received_at)),
                h.status.profile_state.as_str().to_owned(),
                h.status.imsi.as_str().to_owned(),
                h.status
                    .eid
                    .as_ref()
                    .map_or("-", |eid| eid.as_str())
                    .to_owned(),
            ]
        }),
    )?;
    table(
        out,
        "countries (newest first):",
        |[received, previous, new, imsi]| format!("  {received:<25} {previous:<9} {new:<8} {imsi}"),
        ["RECEIVED", "PREVIOUS", "NEW", "IMSI"],
        e.country_history.iter().map(|h| {
            [
                when(Some(h.received_at)),
                h.change
                    .previous_country
                    .map_or("-", |c| c.as_str())
                    .to_owned(),
                h.change.new_country.as_str().to_owned(),
                h.change.imsi.as_str().to_owned(),
            ]
        }),
    )
}

/// Writes `title` after a blank line, then `headings` and each of `rows` laid out by `layout`,
/// one line each: the headings and the rows share one layout.
fn table<const N: usize>(
    out: &mut impl Write,
    title: &str,
    layout: impl Fn([&str; N]) -> String,
    headings: [&str; N],
    rows: impl IntoIterator<Item = [String; N]>,
) -> std::io::Result<()> {
    writeln!(out, "\n{title}")?;
    writeln!(out, "{}", layout(headings))?;
    for row in rows {
        writeln!(out, "{}", layout(row.each_ref().map(String::as_str)))?;
    }
    Ok(())
}
