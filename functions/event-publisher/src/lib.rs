//! Event publisher: reads the table's stream (DynamoDB Streams, new and old images) and puts
//! one normalized domain event per stored fact on the EventBridge bus.
//!
//! Publishing from what was stored, not from the request path, means no event is invented for
//! a write that failed and none is lost when EventBridge fails: the stream keeps the record and
//! Lambda hands it over again, from the first record not published (partial batch failure
//! reporting). Delivery is at least once; each event's `id` (the stream record's) is stable.

mod bus;

use std::time::Duration;

use aws_lambda_events::event::dynamodb::{Event, EventRecord};
use aws_lambda_events::event::streams::{DynamoDbBatchItemFailure, DynamoDbEventResponse};
use lambda_runtime::LambdaEvent;
use shared::adapters::dynamo::events::event_of;
use shared::domain::deadline::Deadline;
use shared::domain::events::{DomainEvent, EventLookups};
use shared::domain::store::StoreError;
use shared::runtime::config::non_blank;
use shared::runtime::telemetry::Metric;

pub use bus::{client, Bus, PublishError, Put, MAX_ENTRIES, MAX_REQUEST_BYTES};

/// The function's name in logs and metrics.
pub const FUNCTION: &str = "event-publisher";
/// Events put on the bus.
pub const PUBLISHED: Metric = Metric::count("EventsPublished");
/// Events (or records that could not become one) left for Lambda to hand over again.
pub const FAILED: Metric = Metric::count("EventsFailed");
/// Every metric this function emits.
pub const METRICS: [&str; 2] = [PUBLISHED.name, FAILED.name];

/// Kept from Lambda's deadline for the answer and the log line.
const ANSWER_MARGIN: Duration = Duration::from_millis(500);
/// The time a batch may take when the invocation has no deadline (a local run).
const DEFAULT_BUDGET: Duration = Duration::from_secs(25);

/// The environment cannot run the publisher.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ConfigError {
    /// A required variable is unset or blank.
    #[error("{0} is not set")]
    Missing(&'static str),
}

/// What the publisher needs to start.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Config {
    /// The table enrichment reads (`TABLE_NAME`).
    pub table_name: String,
    /// The bus events are put on (`EVENT_BUS_NAME`, a name or an ARN).
    pub event_bus_name: String,
}

impl Config {
    /// Reads the process environment.
    pub fn from_env() -> Result<Self, ConfigError> {
        Self::from_lookup(|name| std::env::var(name).ok())
    }

    /// Reads configuration through `lookup`.
    pub fn from_lookup(lookup: impl Fn(&str) -> Option<String>) -> Result<Self, ConfigError> {
        let required = |name| non_blank(&lookup, name).ok_or(ConfigError::Missing(name));
        Ok(Self {
            table_name: required("TABLE_NAME")?,
            event_bus_name: required("EVENT_BUS_NAME")?,
        })
    }
}

/// Turns stream records into events on the bus.
#[derive(Debug)]
pub struct Publisher<L> {
    lookups: L,
    bus: Bus,
}

/// Why a batch stopped before its end.
#[derive(Debug, thiserror::Error)]
enum Stopped {
    /// The record could not be read or its event completed (a lookup failed).
    #[error(transparent)]
    Record(#[from] StoreError),
    /// Its event could not be put.
    #[error(transparent)]
    Publish(#[from] PublishError),
    /// Lambda gave no sequence number to resume from (never happens with DynamoDB Streams).
    #[error("stream record without a sequence number")]
    NoSequenceNumber,
}

impl<L: EventLookups> Publisher<L> {
    /// A publisher reading through `lookups` and putting on `bus`.
    pub fn new(lookups: L, bus: Bus) -> Self {
        Self { lookups, bus }
    }

    /// Publishes the events of one batch of stream records, in order. Answers the sequence
    /// number of the first record whose event is not on the bus, so Lambda hands the batch
    /// over again from there: every record before it is done and never published again.
    pub async fn handle(
        &self,
        event: LambdaEvent<Event>,
    ) -> Result<DynamoDbEventResponse, lambda_runtime::Error> {
        let deadline = deadline_of(&event.context);
        let records = event.payload.records;
        let sequence: Vec<Option<String>> = records
            .iter()
            .map(|r| r.change.sequence_number.clone())
            .collect();

        let (mut events, mut origins) = (Vec::new(), Vec::new());
        let mut stopped: Option<(usize, Stopped)> = None;
        for (i, record) in records.into_iter().enumerate() {
            match deadline.run(self.event_of(record)).await {
                Ok(Some(event)) => {
                    events.push(event);
                    origins.push(i);
                }
                Ok(None) => {}
                Err(e) => {
                    stopped = Some((i, e.into()));
                    break;
                }
            }
        }
        let put = self.bus.put(&events, deadline).await;
        // Events not put, and the record that could not become one, if that stopped the batch.
        let mut failed = events.len() - put.accepted.min(events.len());
        if stopped.is_some() {
            failed += 1;
        }
        if let Some((position, error)) = put.first_failure {
            // An event not put stops the batch before the record that stopped its reading.
            stopped = Some((origins[position], error.into()));
        }

        let mut response = DynamoDbEventResponse::default();
        let mut resume = None;
        if let Some((record, error)) = stopped {
            let Some(sequence) = sequence[record].clone() else {
                tracing::error!(error = %Stopped::NoSequenceNumber, records = sequence.len(), "batch");
                return Err(Stopped::NoSequenceNumber.into());
            };
            let mut failure = DynamoDbBatchItemFailure::default();
            failure.item_identifier = Some(sequence.clone());
            response.batch_item_failures.push(failure);
            resume = Some((sequence, error));
        }
        log_batch(sequence.len(), events.len(), put.accepted, resume.as_ref());
        shared::runtime::telemetry::emit_counts(
            FUNCTION,
            &[(PUBLISHED, put.accepted as u64), (FAILED, failed as u64)],
        );
        Ok(response)
    }

    /// The event one stream record becomes, if any.
    async fn event_of(&self, record: EventRecord) -> Result<Option<DomainEvent>, StoreError> {
        let (old, new) = (record.change.old_image, record.change.new_image);
        event_of(&self.lookups, record.event_id, &record.event_name, old, new).await
    }
}

/// The one log line of a batch: counts, and where Lambda resumes and why. No user token or
/// other id of a user: a batch holds many.
fn log_batch(records: usize, events: usize, published: usize, resume: Option<&(String, Stopped)>) {
    match resume {
        None => tracing::info!(records, events, published, "batch"),
        Some((sequence, error)) => tracing::error!(
            records,
            events,
            published,
            resume_at = %sequence,
            error = %error,
            "batch stopped: Lambda hands the rest over again"
        ),
    }
}

/// The time this invocation has: Lambda's deadline less the margin for the answer.
fn deadline_of(context: &lambda_runtime::Context) -> Deadline {
    Deadline::before_lambda(Some(context.deadline), ANSWER_MARGIN, DEFAULT_BUDGET)
}

/// Serves `publisher` on the Lambda runtime until the process ends.
pub async fn run<L: EventLookups + 'static>(
    publisher: Publisher<L>,
) -> Result<(), lambda_runtime::Error> {
    let publisher = std::sync::Arc::new(publisher);
    lambda_runtime::run_concurrent(lambda_runtime::service_fn(move |event| {
        let publisher = std::sync::Arc::clone(&publisher);
        async move { publisher.handle(event).await }
    }))
    .await
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::{SystemTime, UNIX_EPOCH};

    #[test]
    fn needs_the_table_and_the_bus() {
        let env = |table: &'static str, bus: &'static str| {
            move |name: &str| match name {
                "TABLE_NAME" => Some(table.to_owned()),
                "EVENT_BUS_NAME" => Some(bus.to_owned()),
                _ => None,
            }
        };
        assert_eq!(
            Config::from_lookup(env("t", " b ")),
            Ok(Config {
                table_name: "t".into(),
                event_bus_name: "b".into()
            })
        );
        assert_eq!(
            Config::from_lookup(env("t", " ")),
            Err(ConfigError::Missing("EVENT_BUS_NAME"))
        );
        assert_eq!(
            Config::from_lookup(env("", "b")),
            Err(ConfigError::Missing("TABLE_NAME"))
        );
    }

    #[test]
    fn a_deadline_past_on_arrival_gives_the_default_budget() {
        let mut context = lambda_runtime::Context::default();
        context.deadline = 1;
        let left = deadline_of(&context).remaining();
        assert!(left > DEFAULT_BUDGET - ANSWER_MARGIN - Duration::from_secs(1));
        let now_ms = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map(|d| d.as_millis() as u64)
            .unwrap();
        context.deadline = now_ms + 3000;
        let left = deadline_of(&context).remaining();
        assert!(left <= Duration::from_millis(2500) && left > Duration::from_millis(2000));
    }
}
