//! `entitlements events`: the domain events the publisher would put, read from the table's stream.
//!
//! Each record goes through the publisher's own code
//! ([`shared::adapters::dynamo::events::event_of`]) with the table as lookups; the event's id is
//! the record's `eventID`, as published.

use std::io::Write;
use std::time::Duration;

use aws_sdk_dynamodbstreams::types::Record;
use shared::adapters::dynamo::events::StreamRecord;
use shared::adapters::dynamo::DynamoStore;
use shared::domain::events::DomainEvent;

use super::{CliError, Context};
use crate::render;
use crate::stream::{image, Start, StreamError, StreamReader};

/// How long `--follow` waits between polls.
const POLL_INTERVAL: Duration = Duration::from_secs(1);
/// Polls between two looks for new shards while following (DynamoDB rolls shards over).
const POLLS_PER_DESCRIBE: u32 = 60;

/// What `events` is told.
#[derive(Debug, clap::Args)]
pub struct Args {
    /// Read from the oldest record kept, also with --follow (which otherwise starts now)
    #[arg(long)]
    from_start: bool,
    /// Keep polling (about once a second) until Ctrl-C, instead of stopping at the end
    #[arg(long)]
    follow: bool,
    /// Print each event as one JSON document (the EventBridge entry's detail)
    #[arg(long)]
    json: bool,
}

/// The event `record` becomes, as the publisher would put it, with `store` as lookups.
async fn event_of(store: &DynamoStore, record: &Record) -> Result<Option<DomainEvent>, CliError> {
    let id = record.event_id.clone();
    let id = id.ok_or(StreamError::Incomplete("eventID"))?;
    let name = record.event_name.as_ref();
    let name = name.ok_or(StreamError::Incomplete("eventName"))?;
    let change = record.dynamodb.as_ref();
    let read = StreamRecord {
        id: id.clone(),
        event_name: name.as_str().to_owned(),
        sequence_number: change.and_then(|c| c.sequence_number.clone()),
        old: image(change.and_then(|c| c.old_image.as_ref())),
        new: image(change.and_then(|c| c.new_image.as_ref())),
    };
    let event = shared::adapters::dynamo::events::event_of(store, read).await;
    event.map_err(|source| CliError::Record { id, source })
}

/// Prints the events of the table's stream, as `args` say.
pub async fn run(args: Args, cx: &Context, out: &mut impl Write) -> Result<(), CliError> {
    let store = &cx.store;
    // Without --follow, "from now on" would print nothing: it reads what is kept.
    let start = match args.from_start || !args.follow {
        true => Start::Oldest,
        false => Start::Latest,
    };
    let streams = cx.streams.clone();
    let mut reader = StreamReader::open(store.client(), streams, store.table(), start).await?;
    let mut polls = 0u32;
    loop {
        let (records, any) = reader.poll().await?;
        for record in &records {
            let Some(event) = event_of(store, record).await? else {
                continue;
            };
            render::event(&event, args.json, out)?;
        }
        out.flush()?;
        if !args.follow {
            if !any {
                return Ok(());
            }
            continue;
        }
        polls += 1;
        if polls.is_multiple_of(POLLS_PER_DESCRIBE) {
            reader.refresh().await?;
        }
        tokio::time::sleep(POLL_INTERVAL).await;
    }
}
