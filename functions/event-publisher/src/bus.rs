//! The EventBridge bus events are put on: `PutEvents` at most 10 entries and 256 KiB per
//! request, entries refused for a passing reason retried, those refused for good set aside, and
//! the first event that could not be put reported.
//!
//! EventBridge takes or refuses each entry of a request on its own, so an entry after a refused
//! one may be on the bus although the refused one is not: events are not put in order.

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
/// Refusals of the entry itself (its detail, its fields): no attempt will ever put it.
const ENTRY_REFUSALS: [&str; 3] = ["MalformedDetail", "InvalidArgument", "RedactionFailure"];
/// Refusals of the caller (its role, its account), whatever the entry: no attempt now will put
/// it, but every entry would be refused alike, so none is set aside: Lambda's retries, then its
/// dead-letter queue, keep them until the configuration is fixed.
const CALLER_REFUSALS: [&str; 4] = [
    "AccessDeniedException",
    "InvalidAccountIdException",
    "NotAuthorizedForSourceException",
    "NotAuthorizedForDetailTypeException",
];

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
    /// The entry is larger than one request may be.
    #[error("entry of {0} bytes, over the {MAX_REQUEST_BYTES} EventBridge takes")]
    TooLarge(usize),
}

impl PublishError {
    /// Whether the event itself can never be put (EventBridge refuses it for what it holds, or
    /// it cannot be made an entry): skipping it is the only way past it.
    pub fn poisoned(&self) -> bool {
        match self {
            Self::Refused { code, .. } => ENTRY_REFUSALS.contains(&code.as_str()),
            Self::Serialize(_) | Self::TooLarge(_) => true,
            Self::Request(_) | Self::DeadlineExceeded => false,
        }
    }

    /// Whether EventBridge may take the entry if it is sent again now (throttled, an internal
    /// failure, no result for it, or a code not known to be lasting).
    fn retryable(&self) -> bool {
        match self {
            Self::Refused { code, .. } => {
                !self.poisoned() && !CALLER_REFUSALS.contains(&code.as_str())
            }
            _ => false,
        }
    }
}

/// What putting a batch's events did.
#[derive(Debug, Default)]
pub struct Put {
    /// Entries EventBridge accepted.
    pub accepted: usize,
    /// Events that can never be put (see [`PublishError::poisoned`]), by position in the list
    /// given, in order, and why: set aside, not retried.
    pub poisoned: Vec<(usize, PublishError)>,
    /// The first event not put for a reason that may pass (its position) and why; every event
    /// before it is on the bus or poisoned, and some after it may be on the bus as well.
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

    /// Puts `events`, setting aside those that can never be put, and stopping at the first
    /// that cannot be put now (after its retries, by `deadline`).
    pub async fn put(&self, events: &[DomainEvent], deadline: Deadline) -> Put {
        let mut entries = Vec::with_capacity(events.len());
        // Where each entry's event is in `events`.
        let mut positions = Vec::with_capacity(events.len());
        let mut poisoned = Vec::new();
        for (i, event) in events.iter().enumerate() {
            match self.entry(event) {
                Ok(entry) => {
                    entries.push(entry);
                    positions.push(i);
                }
                Err(e) => poisoned.push((i, e)),
            }
        }
        let sent = self.put_entries(&entries, deadline).await;
        let of_event = |(k, e): (usize, PublishError)| (positions[k], e);
        poisoned.extend(sent.poisoned.into_iter().map(of_event));
        poisoned.sort_by_key(|(i, _)| *i);
        Put {
            accepted: sent.accepted,
            poisoned,
            first_failure: sent.first_failure.map(of_event),
        }
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
                        put.first_failure = pending.first().map(|&first| (first, e));
                        return put;
                    }
                };
                put.accepted += pending.len().saturating_sub(refused.len());
                let (poisoned, again): (Vec<_>, Vec<_>) =
                    refused.into_iter().partition(|(_, e)| e.poisoned());
                put.poisoned.extend(poisoned);
                if again.is_empty() {
                    break;
                }
                let retry = again.iter().all(|(_, e)| e.retryable());
                if !retry || attempt == ENTRY_ATTEMPTS || deadline.remaining() < backoff(attempt) {
                    put.first_failure = again.into_iter().next();
                    return put;
                }
                pending = again.into_iter().map(|(position, _)| position).collect();
                tokio::time::sleep(backoff(attempt)).await;
            }
        }
        put
    }

    /// Sends the entries at `positions`; returns those EventBridge refused, in order, each
    /// with why.
    async fn send(
        &self,
        entries: &[PutEventsRequestEntry],
        positions: &[usize],
        deadline: Deadline,
    ) -> Result<Vec<(usize, PublishError)>, PublishError> {
        let chosen = positions.iter().map(|&i| entries[i].clone()).collect();
        let request = self.client.put_events().set_entries(Some(chosen)).send();
        let output = match tokio::time::timeout(deadline.remaining(), request).await {
            Err(_) => return Err(PublishError::DeadlineExceeded),
            Ok(Err(e)) => return Err(PublishError::Request(DisplayErrorContext(e).to_string())),
            Ok(Ok(output)) => output,
        };
        let results = output.entries();
        let mut refused = Vec::new();
        for (k, &position) in positions.iter().enumerate() {
            // An answer without a result for an entry says nothing about it: not put.
            if let Some(error) = refusal(results.get(k)) {
                refused.push((position, error));
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
        let entry = PutEventsRequestEntry::builder()
            .event_bus_name(&self.name)
            .source(SOURCE)
            .detail_type(event.event_type.as_str())
            .detail(detail)
            .time(time)
            .build();
        // EventBridge would refuse the whole request it is in, every time.
        match entry_size(&entry) {
            size if size > MAX_REQUEST_BYTES => Err(PublishError::TooLarge(size)),
            _ => Ok(entry),
        }
    }
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
/// [`MAX_REQUEST_BYTES`] each; an entry too large alone goes alone (never given: see
/// [`PublishError::TooLarge`]).
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

    fn refused(code: &str) -> PublishError {
        let entry = PutEventsResultEntry::builder()
            .error_code(code)
            .error_message("m")
            .build();
        refusal(Some(&entry)).unwrap()
    }

    #[test]
    fn refusals_of_the_entry_set_it_aside_and_only_passing_ones_are_retried() {
        for code in ["MalformedDetail", "InvalidArgument", "RedactionFailure"] {
            assert!(refused(code).poisoned(), "{code}");
            assert!(!refused(code).retryable(), "{code}");
        }
        for code in ["ThrottlingException", "InternalFailure", "SomethingNew"] {
            assert!(!refused(code).poisoned(), "{code}");
            assert!(refused(code).retryable(), "{code}");
        }
        let no_result = refusal(None).unwrap();
        assert!(no_result.retryable() && !no_result.poisoned());
        for code in CALLER_REFUSALS {
            assert!(
                !refused(code).poisoned(),
                "every entry alike: none set aside"
            );
            assert!(!refused(code).retryable(), "{code}");
        }
        assert!(PublishError::TooLarge(MAX_REQUEST_BYTES + 1).poisoned());
        let transient = [
            PublishError::DeadlineExceeded,
            PublishError::Request("x".into()),
        ];
        assert!(transient.iter().all(|e| !e.poisoned() && !e.retryable()));
    }

    #[test]
    fn an_event_too_large_for_a_request_is_never_an_entry() {
        let config = aws_sdk_eventbridge::Config::builder()
            .behavior_version(aws_sdk_eventbridge::config::BehaviorVersion::latest())
            .region(aws_sdk_eventbridge::config::Region::new("us-east-1"))
            .build();
        let bus = Bus::new(Client::from_conf(config), "bus");
        let event = |state: String| crate::tests::event_in("e1", state);
        assert!(bus.entry(&event("INSTALLED".into())).is_ok());
        let huge = bus.entry(&event("X".repeat(MAX_REQUEST_BYTES)));
        assert!(matches!(huge, Err(e @ PublishError::TooLarge(_)) if e.poisoned()));
    }
}
