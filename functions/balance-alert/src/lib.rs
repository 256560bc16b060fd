//! Gigastore's Balance Alert webhook: a customer's data left dropped below the low-data
//! threshold. Kept by Gigastore's customer id, once per alert; the latest is the newest by
//! Gigastore's own `timestamp`, whatever order alerts arrive in.

use shared::domain::balance::{self, BalanceAlert, BalanceStore};
use shared::domain::deadline::Deadline;
use shared::domain::store::StoreError;
use shared::domain::timeline::Recorded;
use shared::runtime::telemetry::Metric;
use shared::webhook::reply::Reply;
use shared::webhook::Webhook;
use time::OffsetDateTime;
use tracing::Span;

/// A Balance Alert was received.
pub const RECEIVED: Metric = Metric::count("BalanceAlertReceived");
/// A Balance Alert already stored (a redelivery).
pub const UNCHANGED: Metric = Metric::count("BalanceAlertUnchanged");
/// The metrics particular to this function.
pub const METRICS: [&str; 2] = [RECEIVED.name, UNCHANGED.name];

/// The Balance Alert webhook over a store of balance facts.
#[derive(Debug, Clone)]
pub struct BalanceAlertWebhook<S>(pub S);

impl<S: BalanceStore> Webhook for BalanceAlertWebhook<S> {
    const FUNCTION: &'static str = "balance-alert";
    const ROUTE: &'static str = "POST /webhooks/balance-alert";
    const METRICS: &'static [&'static str] = &METRICS;
    type Payload = BalanceAlert;
    type Outcome = Recorded;

    fn span(alert: &BalanceAlert) -> Span {
        tracing::info_span!(
            "balance_alert",
            customer_uid = alert.customer_uid.as_str(),
            iccid = alert.iccid.as_str()
        )
    }

    async fn call(
        &self,
        alert: &BalanceAlert,
        now: OffsetDateTime,
        _deadline: Deadline,
    ) -> Result<Recorded, StoreError> {
        balance::record_alert(&self.0, alert, now).await
    }

    fn answer(_alert: &BalanceAlert, outcome: Recorded) -> Reply {
        Reply::recorded(outcome, [RECEIVED], UNCHANGED)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use shared::domain::ids::CustomerUid;
    use shared::testkit::{
        assert_a_redelivery_changes_nothing, assert_unstored_payloads_are_logged_whole, reply,
        summary_once_registered, InMemoryStore,
    };

    const BODY: &str = r#"{"uid":"058c8716-47dd-4fc4-be89-00978a86b7c0","iccid":"89361123300836129514","imsi":"260216611193634","timestamp":"2022-08-21T10:15:30Z","balanceAmountInByte":93618231}"#;

    #[tokio::test]
    async fn a_redelivery_is_recorded_once() {
        let webhook = BalanceAlertWebhook(InMemoryStore::new());
        assert_a_redelivery_changes_nothing(&webhook, &webhook.0, BODY, RECEIVED, UNCHANGED).await;
    }

    #[tokio::test]
    async fn an_alert_before_the_registration_is_kept_and_found_after_it() {
        let webhook = BalanceAlertWebhook(InMemoryStore::new());
        assert_eq!(reply(&webhook, BODY).await.status.as_u16(), 200);
        let customer = CustomerUid::parse("058c8716-47dd-4fc4-be89-00978a86b7c0").unwrap();
        let summary = summary_once_registered(&webhook.0, &customer).await;
        let latest = summary.latest_balance_alert.expect("the alert, linked");
        assert_eq!(latest.alert.balance_bytes, 93_618_231);
    }

    #[tokio::test]
    async fn storage_failures_answer_503_and_log_the_whole_payload_once() {
        assert_unstored_payloads_are_logged_whole(BalanceAlertWebhook, BODY).await;
    }
}

#[cfg(test)]
mod proptests;
