//! Event publisher: reads the table's stream (DynamoDB Streams, new and old images) and puts
//! one normalized domain event per stored fact on the EventBridge bus.
//!
//! Publishing from what was stored, not from the request path, means no event is invented for
//! a write that failed and none is lost when EventBridge fails: the stream keeps the record and
//! Lambda hands it over again, from the first record not published (partial batch failure
//! reporting). Delivery is at least once and not in order: each event's `id` (the stream
//! record's) is stable, and its `subject` and `sequence` order the events of one subject.
//!
//! A record that can never become an event on the bus (unreadable, or its event refused by
//! EventBridge for what it holds) is skipped, logged and counted, so it does not hold up the
//! records after it; only failures that may pass make Lambda hand records over again.

mod bus;
mod lookups;

use std::time::Duration;

use aws_lambda_events::event::dynamodb::{Event, EventRecord};
use aws_lambda_events::event::streams::{DynamoDbBatchItemFailure, DynamoDbEventResponse};
use lambda_runtime::LambdaEvent;
use shared::adapters::dynamo::events::{fact_of_record, keys_of, StreamRecord};
use shared::domain::deadline::Deadline;
use shared::domain::events::{enrich, DomainEvent, EventLookups};
use shared::domain::store::{chain, StoreError};
use shared::runtime::config::non_blank;
use shared::runtime::telemetry::Metric;

pub use bus::{client, Bus, PublishError, Put, MAX_ENTRIES, MAX_REQUEST_BYTES};
pub use lookups::BatchLookups;

/// The function's name in logs and metrics.
pub const FUNCTION: &str = "event-publisher";
/// Events put on the bus.
pub const PUBLISHED: Metric = Metric::count("EventsPublished");
/// Events (or records that could not become one) left for Lambda to hand over again.
pub const FAILED: Metric = Metric::count("EventsFailed");
/// Records skipped for good: unreadable, or their event refused by EventBridge for what it
/// holds. Their events are never published.
pub const POISONED: Metric = Metric::count("EventsPoisoned");
/// Every metric this function emits.
pub const METRICS: [&str; 3] = [PUBLISHED.name, FAILED.name, POISONED.name];

/// Kept from Lambda's deadline for the answer and the log line.
const ANSWER_MARGIN: Duration = Duration::from_millis(500);
/// The time a batch may take when the invocation has no deadline (a local run).
const DEFAULT_BUDGET: Duration = Duration::from_secs(25);
/// One part in this many of a batch's time is kept for `PutEvents`: reading (its lookups
/// included) stops before, so what was read is published however slow the lookups are.
const PUBLISH_SHARE: u32 = 3;

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

/// Why a batch stopped before its end: a failure that may pass, so Lambda hands the records
/// from there over again.
#[derive(Debug, thiserror::Error)]
enum Stopped {
    /// The record's event could not be completed: a lookup failed.
    #[error(transparent)]
    Lookup(StoreError),
    /// The time for reading ran out before the record was read.
    #[error("the time for reading ran out; the rest is kept for publishing what was read")]
    OutOfTime,
    /// Its event could not be put.
    #[error(transparent)]
    Publish(PublishError),
    /// Lambda gave no sequence number to resume from (never happens with DynamoDB Streams).
    #[error("stream record without a sequence number")]
    NoSequenceNumber,
}

/// Why a record is skipped for good.
#[derive(Debug, thiserror::Error)]
enum Poison {
    /// It cannot be read (a malformed image, an unknown event name, no sequence number).
    #[error(transparent)]
    Unreadable(StoreError),
    /// EventBridge refuses its event for what it holds, or it cannot be made an entry.
    #[error(transparent)]
    Refused(PublishError),
}

/// What identifies a stream record in logs and in the answer to Lambda; never its images,
/// which may hold an email.
#[derive(Debug, Clone, Default)]
struct Label {
    event_id: String,
    sequence_number: Option<String>,
    pk: String,
    sk: String,
}

impl Label {
    fn of(record: &EventRecord) -> Self {
        let (pk, sk) = keys_of(record.change.keys.clone());
        Self {
            event_id: record.event_id.clone(),
            sequence_number: record.change.sequence_number.clone(),
            pk,
            sk,
        }
    }
}

/// What reading a batch's records gave.
#[derive(Debug, Default)]
struct Reading {
    /// The events read, in stream order.
    events: Vec<DomainEvent>,
    /// The record each event comes from.
    origins: Vec<usize>,
    /// Records that cannot be read, with why.
    unreadable: Vec<(usize, StoreError)>,
    /// The record reading stopped at, and why.
    stopped: Option<(usize, Stopped)>,
}

/// What handling a batch did: its counts, the records skipped and where Lambda resumes.
#[derive(Debug, Default)]
struct Outcome {
    records: usize,
    events: usize,
    published: usize,
    /// Records skipped for good, before the resume point (those after it come again).
    poisoned: Vec<(usize, Poison)>,
    /// Events left for Lambda to hand over again, and the record reading stopped at.
    failed: usize,
    /// The first record Lambda hands over again, and why.
    resume: Option<(usize, Stopped)>,
}

impl Outcome {
    /// The batch's outcome once `reading`'s events were `put`.
    fn of(records: usize, reading: Reading, put: Put) -> Self {
        let Reading {
            events,
            origins,
            unreadable,
            mut stopped,
        } = reading;
        let origin = |position: usize| origins.get(position).copied().unwrap_or(records);
        let not_put = events.len().saturating_sub(put.accepted);
        let failed = not_put.saturating_sub(put.poisoned.len()) + usize::from(stopped.is_some());
        if let Some((position, error)) = put.first_failure {
            // Its record comes before the one reading stopped at: every event read does.
            stopped = Some((origin(position), Stopped::Publish(error)));
        }
        let resume_at = stopped.as_ref().map_or(records, |(record, _)| *record);
        let refused = put.poisoned.into_iter();
        let refused = refused.map(|(position, e)| (origin(position), Poison::Refused(e)));
        let unreadable = unreadable
            .into_iter()
            .map(|(i, e)| (i, Poison::Unreadable(e)));
        let mut poisoned: Vec<(usize, Poison)> = unreadable
            .chain(refused)
            .filter(|(record, _)| *record < resume_at)
            .collect();
        poisoned.sort_by_key(|(record, _)| *record);
        Self {
            records,
            events: events.len(),
            published: put.accepted,
            poisoned,
            failed,
            resume: stopped,
        }
    }

    /// The metrics of the batch.
    fn counts(&self) -> [(Metric, u64); 3] {
        let count = |n: usize| u64::try_from(n).unwrap_or(u64::MAX);
        [
            (PUBLISHED, count(self.published)),
            (FAILED, count(self.failed)),
            (POISONED, count(self.poisoned.len())),
        ]
    }
}

impl<L: EventLookups> Publisher<L> {
    /// A publisher reading through `lookups` and putting on `bus`.
    pub fn new(lookups: L, bus: Bus) -> Self {
        Self { lookups, bus }
    }

    /// Publishes the events of one batch of stream records, skipping records that can never
    /// be published. Answers the sequence number of the first record whose event is not on the
    /// bus for a reason that may pass (a failed lookup or put, or no time left to read it), so
    /// Lambda hands the batch over again from there: every record before it is done and never
    /// handed over again.
    pub async fn handle(
        &self,
        event: LambdaEvent<Event>,
    ) -> Result<DynamoDbEventResponse, lambda_runtime::Error> {
        let deadline = deadline_of(&event.context);
        let records = event.payload.records;
        let labels: Vec<Label> = records.iter().map(Label::of).collect();

        let reading = self.read(records, reading_deadline(deadline)).await;
        let put = self.bus.put(&reading.events, deadline).await;
        let outcome = Outcome::of(labels.len(), reading, put);

        for (record, poison) in &outcome.poisoned {
            log_skipped(labels.get(*record), poison);
        }
        let mut response = DynamoDbEventResponse::default();
        if let Some((record, _)) = &outcome.resume {
            let Some(sequence) = labels.get(*record).and_then(|l| l.sequence_number.clone()) else {
                tracing::error!(error = %Stopped::NoSequenceNumber, records = labels.len(), "batch");
                return Err(Stopped::NoSequenceNumber.into());
            };
            let mut failure = DynamoDbBatchItemFailure::default();
            failure.item_identifier = Some(sequence);
            response.batch_item_failures.push(failure);
        }
        let resume_at = response.batch_item_failures.first();
        log_batch(
            &outcome,
            resume_at.and_then(|f| f.item_identifier.as_deref()),
        );
        shared::runtime::telemetry::emit_counts(FUNCTION, &outcome.counts());
        Ok(response)
    }

    /// Reads `records` into events, in order, until `by`: skips those that cannot be read and
    /// stops at the first whose event cannot be completed, or when the time is up. Each
    /// customer, user and SIM is looked up once.
    async fn read(&self, records: Vec<EventRecord>, by: Deadline) -> Reading {
        let lookups = BatchLookups::new(&self.lookups);
        let mut reading = Reading::default();
        for (i, record) in records.into_iter().enumerate() {
            if by.remaining().is_zero() {
                reading.stopped = Some((i, Stopped::OutOfTime));
                break;
            }
            let (origin, fact) = match fact_of_record(stream_record(record)) {
                Ok(Some(read)) => read,
                Ok(None) => continue,
                Err(e) => {
                    reading.unreadable.push((i, e));
                    continue;
                }
            };
            match by.run(enrich(&lookups, origin, fact)).await {
                Ok(event) => {
                    reading.events.push(event);
                    reading.origins.push(i);
                }
                Err(StoreError::DeadlineExceeded) => {
                    reading.stopped = Some((i, Stopped::OutOfTime));
                    break;
                }
                Err(e) => {
                    reading.stopped = Some((i, Stopped::Lookup(e)));
                    break;
                }
            }
        }
        reading
    }
}

/// A Lambda stream record as the adapter reads it.
fn stream_record(record: EventRecord) -> StreamRecord {
    StreamRecord {
        id: record.event_id,
        event_name: record.event_name,
        sequence_number: record.change.sequence_number,
        old: record.change.old_image,
        new: record.change.new_image,
    }
}

/// The error line of a record skipped for good: its keys and sequence number, so an operator
/// can find the item, and why; never its images.
fn log_skipped(label: Option<&Label>, poison: &Poison) {
    let label = label.cloned().unwrap_or_default();
    tracing::error!(
        event_id = %label.event_id,
        sequence_number = label.sequence_number.as_deref().unwrap_or_default(),
        pk = %label.pk,
        sk = %label.sk,
        error = %chain(poison),
        "record skipped"
    );
}

/// The one log line of a batch: counts, and where Lambda resumes and why. No user token or
/// other id of a user: a batch holds many (each skipped record has its own line).
fn log_batch(outcome: &Outcome, resume_at: Option<&str>) {
    let (records, events) = (outcome.records, outcome.events);
    let (published, poisoned) = (outcome.published, outcome.poisoned.len());
    match (&outcome.resume, resume_at) {
        (Some((_, error)), Some(sequence)) => tracing::error!(
            records,
            events,
            published,
            poisoned,
            resume_at = %sequence,
            error = %chain(error),
            "batch stopped: Lambda hands the rest over again"
        ),
        _ => tracing::info!(records, events, published, poisoned, "batch"),
    }
}

/// The time reading a batch may take: all but [`PUBLISH_SHARE`]'s part of what `deadline`
/// leaves.
fn reading_deadline(deadline: Deadline) -> Deadline {
    deadline.keeping(deadline.remaining() / PUBLISH_SHARE)
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
    fn reading_keeps_a_third_of_the_time_for_publishing() {
        let deadline = Deadline::after(Duration::from_secs(3));
        let kept = deadline
            .remaining()
            .saturating_sub(reading_deadline(deadline).remaining());
        assert!(kept > Duration::from_millis(900), "{kept:?}");
        assert!(kept < Duration::from_millis(1050), "{kept:?}");
    }

    fn event(id: &str) -> DomainEvent {
        event_in(id, "INSTALLED".into())
    }

    /// An eSIM status event `id` (its sequence too) with profile state `state`.
    pub(crate) fn event_in(id: &str, state: String) -> DomainEvent {
        use shared::domain::events::{Details, EsimStatusDetails, EventType};
        DomainEvent {
            id: id.into(),
            subject: "ESIM#1".into(),
            sequence: id.into(),
            event_type: EventType::EsimStatusChanged,
            time: time::OffsetDateTime::UNIX_EPOCH,
            user_token: None,
            customer_uid: None,
            iccid: None,
            details: Details::EsimStatusChanged(EsimStatusDetails {
                profile_state: state,
                imsi: shared::domain::ids::Imsi::parse("1").unwrap(),
                eid: None,
            }),
        }
    }

    fn refused(code: &str) -> PublishError {
        let (code, message) = (code.to_owned(), String::new());
        PublishError::Refused { code, message }
    }

    /// Records 0 to 7: events from 1, 3 and 5; 2 and 6 unreadable; time out at 7.
    fn reading() -> Reading {
        Reading {
            events: vec![event("1"), event("3"), event("5")],
            origins: vec![1, 3, 5],
            unreadable: vec![
                (2, StoreError::malformed("a")),
                (6, StoreError::malformed("b")),
            ],
            stopped: Some((7, Stopped::OutOfTime)),
        }
    }

    #[test]
    fn poisoned_records_are_skipped_and_lambda_resumes_at_the_first_unread_one() {
        let put = Put {
            accepted: 2,
            poisoned: vec![(1, refused("MalformedDetail"))],
            first_failure: None,
        };
        let outcome = Outcome::of(8, reading(), put);
        let skipped: Vec<usize> = outcome.poisoned.iter().map(|(r, _)| *r).collect();
        assert_eq!(skipped, [2, 3, 6]);
        assert!(matches!(outcome.resume, Some((7, Stopped::OutOfTime))));
        let counts = outcome.counts().map(|(m, n)| (m.name, n));
        let expected = [
            ("EventsPublished", 2),
            ("EventsFailed", 1),
            ("EventsPoisoned", 3),
        ];
        assert_eq!(counts, expected);
    }

    #[test]
    fn a_passing_put_failure_resumes_at_its_record_and_what_comes_after_comes_again() {
        let put = Put {
            accepted: 1,
            poisoned: vec![(2, refused("MalformedDetail"))],
            first_failure: Some((1, refused("ThrottlingException"))),
        };
        let outcome = Outcome::of(8, reading(), put);
        assert!(matches!(outcome.resume, Some((3, Stopped::Publish(_)))));
        let skipped: Vec<usize> = outcome.poisoned.iter().map(|(r, _)| *r).collect();
        assert_eq!(skipped, [2], "those after record 3 are handed over again");
        let counts = outcome.counts().map(|(m, n)| (m.name, n));
        let expected = [
            ("EventsPublished", 1),
            ("EventsFailed", 2),
            ("EventsPoisoned", 1),
        ];
        assert_eq!(counts, expected);
    }

    #[test]
    fn a_batch_read_and_put_whole_resumes_nowhere() {
        let mut reading = reading();
        reading.stopped = None;
        let put = Put {
            accepted: 3,
            ..Put::default()
        };
        let outcome = Outcome::of(8, reading, put);
        assert!(outcome.resume.is_none());
        let counts = outcome.counts().map(|(m, n)| (m.name, n));
        let expected = [
            ("EventsPublished", 3),
            ("EventsFailed", 0),
            ("EventsPoisoned", 2),
        ];
        assert_eq!(counts, expected);
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
