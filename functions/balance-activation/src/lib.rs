//! Gigastore's Balance Activation webhook: a data balance started running (plans that start
//! on first use or on demand). Kept by Gigastore's customer id, once per balance and start; a
//! later one with another expiry replaces it.

use shared::domain::balance::{self, BalanceActivation, BalanceStore};
use shared::domain::deadline::Deadline;
use shared::domain::store::StoreError;
use shared::domain::timeline::Recorded;
use shared::runtime::telemetry::Metric;
use shared::webhook::reply::Reply;
use shared::webhook::Webhook;
use time::OffsetDateTime;
use tracing::Span;

/// A Balance Activation was received.
pub const RECEIVED: Metric = Metric::count("BalanceActivationReceived");
/// A Balance Activation already stored (a redelivery).
pub const UNCHANGED: Metric = Metric::count("BalanceActivationUnchanged");
/// The metrics particular to this function.
pub const METRICS: [&str; 2] = [RECEIVED.name, UNCHANGED.name];

/// The Balance Activation webhook over a store of balance facts.
#[derive(Debug, Clone)]
pub struct BalanceActivationWebhook<S>(pub S);

impl<S: BalanceStore> Webhook for BalanceActivationWebhook<S> {
    const FUNCTION: &'static str = "balance-activation";
    const ROUTE: &'static str = "POST /webhooks/balance-activation";
    const METRICS: &'static [&'static str] = &METRICS;
    type Payload = BalanceActivation;
    type Outcome = Recorded;

    fn span(activation: &BalanceActivation) -> Span {
        tracing::info_span!(
            "balance_activation",
            customer_uid = activation.customer_uid.as_str(),
            activated_item = activation.activated_item.as_str()
        )
    }

    async fn call(
        &self,
        activation: &BalanceActivation,
        now: OffsetDateTime,
        _deadline: Deadline,
    ) -> Result<Recorded, StoreError> {
        balance::record_activation(&self.0, activation, now).await
    }

    fn answer(_activation: &BalanceActivation, outcome: Recorded) -> Reply {
        Reply::recorded(outcome, [RECEIVED], UNCHANGED)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use shared::testkit::{
        assert_a_redelivery_changes_nothing, assert_unstored_payloads_are_logged_whole, reply,
        InMemoryStore,
    };

    const BODY: &str = r#"{"uid":"058c8716-47dd-4fc4-be89-00978a86b7c0","activatedItem":"a15bb850-8f4c-4a2b-9d6e-2f1c3b4a5d6e","activatedAt":"2025-08-25T09:52:10Z","expiresAt":"2025-09-02T10:15:30Z"}"#;

    #[tokio::test]
    async fn a_redelivery_is_recorded_once_and_a_new_expiry_is_a_new_fact() {
        let webhook = BalanceActivationWebhook(InMemoryStore::new());
        assert_a_redelivery_changes_nothing(&webhook, &webhook.0, BODY, RECEIVED, UNCHANGED).await;
        let before = webhook.0.snapshot();
        // Received a moment later, so it is newer than the one on file.
        tokio::time::sleep(std::time::Duration::from_millis(2)).await;
        let extended = BODY.replace("2025-09-02", "2025-09-09");
        assert_eq!(
            reply(&webhook, &extended).await.body,
            r#"{"status":"recorded"}"#
        );
        assert_ne!(webhook.0.snapshot(), before);
    }

    #[tokio::test]
    async fn an_expiry_before_the_start_is_invalid() {
        let webhook = BalanceActivationWebhook(InMemoryStore::new());
        let before = webhook.0.snapshot();
        let backwards = BODY.replace("2025-09-02", "2025-08-01");
        let answered = reply(&webhook, &backwards).await;
        assert_eq!(answered.status.as_u16(), 400);
        assert_eq!(
            answered.body,
            r#"{"error":"invalid request: expiresAt must not be before activatedAt"}"#
        );
        assert_eq!(webhook.0.snapshot(), before);
    }

    #[tokio::test]
    async fn storage_failures_answer_503_and_log_the_whole_payload_once() {
        assert_unstored_payloads_are_logged_whole(BalanceActivationWebhook, BODY).await;
    }
}

#[cfg(test)]
mod proptests;
