//! Fulfilment: works once through every top-up (and top-up refund) that is due, through
//! Gigastore's partner API, and reports what it did. Run every minute by a schedule, at once
//! when a top-up is bought (the bus's `purchase.granted`), and by `entitlements fulfil`.
//!
//! Whatever triggers it, an invocation reads the due work from the table (`gsi2`), never from
//! its event: a lost or repeated trigger changes nothing, and two invocations at once are kept
//! apart by the top-ups' leases (`shared::domain::topup`).

use std::time::Duration;

use lambda_runtime::LambdaEvent;
use shared::domain::deadline::Deadline;
use shared::domain::gigastore::Gigastore;
use shared::domain::store::{chain, Store, StoreError};
use shared::domain::topup::{self, Run};
use shared::runtime::config::non_blank;
use shared::runtime::telemetry::{self, Metric};
use time::OffsetDateTime;

/// The function's name in logs and metrics.
pub const FUNCTION: &str = "fulfilment";
/// Top-ups Gigastore made.
pub const COMPLETED: Metric = Metric::count("TopUpCompleted");
/// Top-ups Gigastore refused for good.
pub const FAILED: Metric = Metric::count("TopUpFailed");
/// Calls whose answer was lost: looked up before any second call.
pub const UNKNOWN: Metric = Metric::count("TopUpOutcomeUnknown");
/// Top-ups refunded by Gigastore.
pub const REFUNDED: Metric = Metric::count("TopUpRefunded");
/// Refunds Gigastore refused.
pub const REFUND_FAILED: Metric = Metric::count("TopUpRefundFailed");
/// Due top-ups bought more than `topup::STUCK_AFTER` ago.
pub const STUCK: Metric = Metric::count("TopUpStuck");
/// Passes that failed (the table, or a lookup); worked again by the next run.
pub const ERRORS: Metric = Metric::count("TopUpErrors");
/// Every metric this function emits.
pub const METRICS: [&str; 7] = [
    COMPLETED.name,
    FAILED.name,
    UNKNOWN.name,
    REFUNDED.name,
    REFUND_FAILED.name,
    STUCK.name,
    ERRORS.name,
];

/// How long a lost answer is given to show in the customer's listing before the top-up is
/// called again, when `TOPUP_SETTLE` does not say.
pub const DEFAULT_SETTLE: Duration = Duration::from_secs(30);
/// Kept from Lambda's deadline for the log line.
const ANSWER_MARGIN: Duration = Duration::from_millis(500);
/// The time a run may take when the invocation has no deadline (a local run).
const DEFAULT_BUDGET: Duration = Duration::from_secs(60);

/// A duration as `30s`, `2m`, `1h` or `0s`.
pub fn parse_duration(raw: &str) -> Result<Duration, String> {
    let raw = raw.trim();
    let split = raw
        .find(|c: char| !c.is_ascii_digit())
        .ok_or_else(|| format!("{raw:?} needs a unit: s, m or h"))?;
    let (digits, unit) = raw.split_at(split);
    let n: u64 = digits
        .parse()
        .map_err(|_| format!("{raw:?} is not a number of seconds, minutes or hours"))?;
    let seconds = match unit {
        "s" => Some(n),
        "m" => n.checked_mul(60),
        "h" => n.checked_mul(3600),
        _ => None,
    };
    seconds
        .filter(|s| *s <= 24 * 3600)
        .map(Duration::from_secs)
        .ok_or_else(|| format!("{raw:?}: a duration up to 24h, in s, m or h"))
}

/// The settle time the environment gives (`TOPUP_SETTLE`), or [`DEFAULT_SETTLE`].
pub fn settle_from_env() -> Result<Duration, String> {
    match non_blank(&|name: &str| std::env::var(name).ok(), "TOPUP_SETTLE") {
        Some(raw) => parse_duration(&raw),
        None => Ok(DEFAULT_SETTLE),
    }
}

/// Sets up once (logging, table, Gigastore's client and credentials, settle time) and serves
/// invocations until the process ends.
pub async fn serve() -> Result<(), lambda_runtime::Error> {
    telemetry::init(std::io::stdout);
    let lookup = |name: &str| std::env::var(name).ok();
    let table = shared::runtime::config::table_name(&lookup)?;
    let gigastore = shared::runtime::config::GigastoreConfig::from_env()?;
    let settle = settle_from_env()?;
    let aws = shared::adapters::sdk::load().await;
    let gigastore = gigastore.client(&aws)?;
    let store = shared::adapters::dynamo::DynamoStore::connect(&aws, table).await;
    let fulfilment = std::sync::Arc::new(Fulfilment {
        store,
        gigastore,
        settle,
    });
    lambda_runtime::run(lambda_runtime::service_fn(move |event| {
        let fulfilment = std::sync::Arc::clone(&fulfilment);
        async move {
            fulfilment
                .handle(event)
                .await
                .map_err(|e| lambda_runtime::Error::from(chain(&e)))
        }
    }))
    .await
}

/// The fulfilment worker over a store and Gigastore.
#[derive(Debug)]
pub struct Fulfilment<S, G> {
    /// The table.
    pub store: S,
    /// Gigastore's partner API.
    pub gigastore: G,
    /// How long a lost answer may take to show in a listing.
    pub settle: Duration,
}

impl<S: Store, G: Gigastore> Fulfilment<S, G> {
    /// One run before `deadline`: every due top-up once; logged (metrics are the
    /// invocation's, [`Fulfilment::handle`]).
    pub async fn run(&self, deadline: Deadline) -> Result<Run, StoreError> {
        let run = topup::fulfil(
            &self.store,
            &self.gigastore,
            self.settle,
            OffsetDateTime::now_utc,
            deadline,
        )
        .await?;
        for (purchase_id, error) in &run.errors {
            tracing::warn!(
                purchase_id = purchase_id.as_str(),
                error,
                "top-up pass failed"
            );
        }
        tracing::info!(
            completed = run.completed,
            failed = run.failed,
            unknown = run.unknown,
            refunded = run.refunded,
            refund_failed = run.refund_failed,
            waiting = run.waiting,
            stuck = run.stuck,
            errors = run.errors.len(),
            "fulfilment run"
        );
        Ok(run)
    }

    /// The metrics of `run`.
    fn count(run: &Run) {
        let counts = [
            (COMPLETED, run.completed),
            (FAILED, run.failed),
            (UNKNOWN, run.unknown),
            (REFUNDED, run.refunded),
            (REFUND_FAILED, run.refund_failed),
            (STUCK, run.stuck),
            (ERRORS, run.errors.len()),
        ];
        let counts: Vec<(Metric, u64)> = counts
            .into_iter()
            .filter(|(_, n)| *n > 0)
            .map(|(m, n)| (m, u64::try_from(n).unwrap_or(u64::MAX)))
            .collect();
        telemetry::emit_counts(FUNCTION, &counts);
    }

    /// One invocation, whatever its event (a schedule's, or the bus's): a run within Lambda's
    /// deadline. A table that fails fails the invocation (the schedule runs it again).
    pub async fn handle(
        &self,
        event: LambdaEvent<serde_json::Value>,
    ) -> Result<serde_json::Value, StoreError> {
        let deadline =
            Deadline::before_lambda(Some(event.context.deadline), ANSWER_MARGIN, DEFAULT_BUDGET);
        let run = self.run(deadline).await?;
        Self::count(&run);
        Ok(serde_json::json!(run))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use shared::domain::ids::{CustomerUid, UserToken};
    use shared::domain::purchase::{self, GrantOutcome};
    use shared::domain::registration::{self, CustomerRegistration};
    use shared::testkit::gigastore::FakeGigastore;
    use shared::testkit::InMemoryStore;

    #[test]
    fn durations_read_with_their_unit_and_bounded() {
        assert_eq!(parse_duration("30s"), Ok(Duration::from_secs(30)));
        assert_eq!(parse_duration("0s"), Ok(Duration::ZERO));
        assert_eq!(parse_duration("2m"), Ok(Duration::from_secs(120)));
        assert_eq!(parse_duration("1h"), Ok(Duration::from_secs(3600)));
        for bad in ["", "30", "s", "-1s", "1d", "25h", "99999999999999999999s"] {
            assert!(parse_duration(bad).is_err(), "{bad}");
        }
    }

    #[tokio::test]
    async fn an_invocation_works_through_what_is_due_whatever_its_event() {
        let store = InMemoryStore::new();
        let user = UserToken::parse("u1").unwrap();
        shared::testkit::grant_units(&store, "u1", "1_GB", 1, None, None).await;
        let registration = CustomerRegistration {
            user_token: user.clone(),
            customer_uid: CustomerUid::parse("c-1").unwrap(),
        };
        registration::register(&store, &registration, OffsetDateTime::now_utc())
            .await
            .unwrap();
        let grant = shared::testkit::gigastore::top_up_grant("t1", user);
        let outcome = purchase::grant(&store, &grant, OffsetDateTime::now_utc())
            .await
            .unwrap();
        assert!(matches!(outcome, GrantOutcome::Granted(_)));
        let gigastore = FakeGigastore::with_customers(&["c-1"]);
        let fulfilment = Fulfilment {
            store,
            gigastore: gigastore.clone(),
            settle: Duration::ZERO,
        };
        let event = |payload| LambdaEvent::new(payload, lambda_runtime::Context::default());
        let first = fulfilment
            .handle(event(serde_json::json!({"source": "aws.events"})))
            .await
            .unwrap();
        assert_eq!(first["completed"], 1);
        // A repeated trigger finds nothing due: no second charge.
        let again = fulfilment
            .handle(event(
                serde_json::json!({"detail-type": "purchase.granted"}),
            ))
            .await
            .unwrap();
        assert_eq!(again["completed"], 0);
        assert_eq!(gigastore.charges("t1"), 1);
    }
}
