//! The EventBridge bus events are put on: `PutEvents` in order, at most 10 entries and 256 KiB
//! per request, failed entries retried, and the first event that could not be put reported.

use std::ops::Range;
use std::time::Duration;

use aws_sdk_eventbridge::error::DisplayErrorContext;
use aws_sdk_eventbridge::types::{PutEventsRequestEntry, PutEventsResultEntry};
use aws_sdk_eventbridge::Client;
use shared::domain::deadline::Deadline;
use shared::domain::events::{DomainEvent, SOURCE};

/// Most entries one `PutEvents` takes.
pub const MAX_ENTRIES: usize = 10;
/// Most bytes one `PutEvents` takes, counted as EventBridge counts an entry's size.
pub const MAX_REQUEST_BYTES: usize = 256 * 1024;
/// Attempts of the entries EventBridge refuses one by one (throttled, internal failure); a
/// failed request is retried by the SDK itself.
const ENTRY_ATTEMPTS: u32 = 3;

/// An EventBridge client for functions with a deadline: short connect and attempt timeouts,
/// the SDK's standard retries.
pub fn client(aws: &aws_config::SdkConfig) -> Client {
    use aws_sdk_eventbridge::config::retry::RetryConfig;
    use aws_sdk_eventbridge::config::timeout::TimeoutConfig;
    let timeouts = TimeoutConfig::builder()
        .connect_timeout(Duration::from_secs(1))
        .operation_attempt_timeout(Duration::from_secs(3))
        .build();
    let config = aws_sdk_eventbridge::config::Builder::from(aws)
        .timeout_config(timeouts)
        .retry_config(RetryConfig::standard().with_max_attempts(3));
    Client::from_conf(config.build())
}

/// Why an event was not put.
#[derive(Debug, thiserror::Error)]
pub enum PublishError {
    /// The request failed (after the SDK's retries); it may have been applied.
    #[error("EventBridge PutEvents failed: {0}")]
    Request(String),
    /// EventBridge refused the entry.
    #[error("EventBridge refused the entry: {code}: {message}")]
    Refused {
        /// Its error code (`ThrottlingException`, `InternalFailure`, ...).
        code: String,
        /// Its message.
        message: String,
    },
    /// The invocation's time ran out first.
    #[error("deadline reached before the event was put")]
    DeadlineExceeded,
    /// The event could not be written as JSON (a bug).
    #[error("event not serializable")]
    Serialize(#[source] serde_json::Error),
}

/// What putting a batch's events did.
#[derive(Debug, Default)]
pub struct Put {
    /// Entries EventBridge accepted.
    pub accepted: usize,
    /// The first event not put (its position in the list given) and why; every event before
    /// it is on the bus.
    pub first_failure: Option<(usize, PublishError)>,
}

/// The bus, by name, reached through one client built at init.
#[derive(Debug, Clone)]
pub struct Bus {
    client: Client,
    name: String,
}

impl Bus {
    /// The bus `name` (or ARN), through `client`.
    pub fn new(client: Client, name: impl Into<String>) -> Self {
        Self {
            client,
            name: name.into(),
        }
    }

    /// Puts `events` in order, stopping at the first that cannot be put by `deadline`.
    pub async fn put(&self, events: &[DomainEvent], deadline: Deadline) -> Put {
        let mut entries = Vec::with_capacity(events.len());
        for (i, event) in events.iter().enumerate() {
            match self.entry(event) {
                Ok(entry) => entries.push(entry),
                Err(e) => {
                    // Put what comes before it, then stop there.
                    let mut put = self.put_entries(&entries, deadline).await;
                    put.first_failure.get_or_insert((i, e));
                    return put;
                }
            }
        }
        self.put_entries(&entries, deadline).await
    }

    async fn put_entries(&self, entries: &[PutEventsRequestEntry], deadline: Deadline) -> Put {
        let mut put = Put::default();
        let sizes: Vec<usize> = entries.iter().map(entry_size).collect();
        for request in requests(&sizes) {
            let mut pending: Vec<usize> = request.collect();
            for attempt in 1..=ENTRY_ATTEMPTS {
                let refused = match self.send(entries, &pending, deadline).await {
                    Ok(refused) => refused,
                    Err(e) => {
                        put.first_failure = Some((pending[0], e));
                        return put;
                    }
                };
                put.accepted += pending.len() - refused.positions.len();
                let (Some(&first), Some(error)) = (refused.positions.first(), refused.first) else {
                    break;
                };
                if attempt == ENTRY_ATTEMPTS || deadline.remaining() < backoff(attempt) {
                    put.first_failure = Some((first, error));
                    return put;
                }
                pending = refused.positions;
                tokio::time::sleep(backoff(attempt)).await;
            }
        }
        put
    }

    /// Sends the entries at `positions`; returns those EventBridge refused.
    async fn send(
        &self,
        entries: &[PutEventsRequestEntry],
        positions: &[usize],
        deadline: Deadline,
    ) -> Result<Refused, PublishError> {
        let chosen = positions.iter().map(|&i| entries[i].clone()).collect();
        let request = self.client.put_events().set_entries(Some(chosen)).send();
        let output = match tokio::time::timeout(deadline.remaining(), request).await {
            Err(_) => return Err(PublishError::DeadlineExceeded),
            Ok(Err(e)) => return Err(PublishError::Request(DisplayErrorContext(e).to_string())),
            Ok(Ok(output)) => output,
        };
        let results = output.entries();
        let mut refused = Refused::default();
        for (k, &position) in positions.iter().enumerate() {
            // An answer without a result for an entry says nothing about it: not put.
            if let Some(error) = refusal(results.get(k)) {
                refused.positions.push(position);
                refused.first.get_or_insert(error);
            }
        }
        Ok(refused)
    }

    /// The entry `event` is put as: its type as `detail-type`, its time as the event's time.
    fn entry(&self, event: &DomainEvent) -> Result<PutEventsRequestEntry, PublishError> {
        let detail = serde_json::to_string(event).map_err(PublishError::Serialize)?;
        let nanos = event.time.unix_timestamp_nanos();
        let time = aws_sdk_eventbridge::primitives::DateTime::from_millis(
            i64::try_from(nanos / 1_000_000).unwrap_or(i64::MAX),
        );
        Ok(PutEventsRequestEntry::builder()
            .event_bus_name(&self.name)
            .source(SOURCE)
            .detail_type(event.event_type.as_str())
            .detail(detail)
            .time(time)
            .build())
    }
}

/// The entries of one answer that EventBridge refused.
#[derive(Debug, Default)]
struct Refused {
    /// Their positions, in order.
    positions: Vec<usize>,
    /// The first one's error.
    first: Option<PublishError>,
}

/// The error of a result entry, if it is not a success.
fn refusal(result: Option<&PutEventsResultEntry>) -> Option<PublishError> {
    match result {
        Some(r) if r.error_code().is_none() => None,
        Some(r) => Some(PublishError::Refused {
            code: r.error_code().unwrap_or_default().to_owned(),
            message: r.error_message().unwrap_or_default().to_owned(),
        }),
        None => Some(PublishError::Refused {
            code: "NoResult".to_owned(),
            message: "EventBridge answered no result for the entry".to_owned(),
        }),
    }
}

/// Wait before the next attempt of refused entries.
fn backoff(attempt: u32) -> Duration {
    Duration::from_millis(50 << attempt.min(5))
}

/// An entry's size as EventBridge counts it against the request limit: time 14 bytes, and the
/// UTF-8 bytes of source, detail type, detail and resources.
fn entry_size(entry: &PutEventsRequestEntry) -> usize {
    let text = |s: Option<&str>| s.map_or(0, str::len);
    let time = if entry.time().is_some() { 14 } else { 0 };
    time + text(entry.source())
        + text(entry.detail_type())
        + text(entry.detail())
        + entry.resources().iter().map(String::len).sum::<usize>()
}

/// Consecutive requests over entries of `sizes`: at most [`MAX_ENTRIES`] entries and
/// [`MAX_REQUEST_BYTES`] each; an entry too large alone goes alone (EventBridge refuses it).
fn requests(sizes: &[usize]) -> Vec<Range<usize>> {
    let mut requests = Vec::new();
    let (mut start, mut bytes) = (0, 0);
    for (i, &size) in sizes.iter().enumerate() {
        let full = i - start == MAX_ENTRIES || bytes + size > MAX_REQUEST_BYTES;
        if i > start && full {
            requests.push(start..i);
            (start, bytes) = (i, 0);
        }
        bytes += size;
    }
    if start < sizes.len() {
        requests.push(start..sizes.len());
    }
    requests
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn requests_hold_at_most_ten_entries_and_256_kib() {
        assert_eq!(requests(&[]), Vec::<Range<usize>>::new());
        assert_eq!(requests(&[100; 25]), [0..10, 10..20, 20..25]);
        let big = MAX_REQUEST_BYTES / 3 + 1;
        assert_eq!(requests(&[big; 5]), [0..2, 2..4, 4..5]);
        assert_eq!(
            requests(&[10, MAX_REQUEST_BYTES + 1, 10]),
            [0..1, 1..2, 2..3]
        );
    }

    #[test]
    fn an_entry_counts_as_eventbridge_counts_it() {
        let entry = PutEventsRequestEntry::builder()
            .source("abc")
            .detail_type("de")
            .detail("{}")
            .time(aws_sdk_eventbridge::primitives::DateTime::from_secs(0))
            .build();
        assert_eq!(entry_size(&entry), 14 + 3 + 2 + 2);
    }

    #[test]
    fn missing_or_failed_results_are_refusals() {
        let ok = PutEventsResultEntry::builder().event_id("e").build();
        assert!(refusal(Some(&ok)).is_none());
        let throttled = PutEventsResultEntry::builder()
            .error_code("ThrottlingException")
            .error_message("Rate exceeded")
            .build();
        assert!(matches!(
            refusal(Some(&throttled)),
            Some(PublishError::Refused { code, .. }) if code == "ThrottlingException"
        ));
        assert!(refusal(None).is_some());
    }
}
