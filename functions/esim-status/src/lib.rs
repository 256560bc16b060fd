//! Gigastore's eSIM Status webhook: record the eSIM's current state and its history.

use shared::domain::deadline::Deadline;
use shared::domain::esim::{self, EsimStatus, EsimStore};
use shared::domain::store::StoreError;
use shared::domain::timeline::Recorded;
use shared::runtime::telemetry::Metric;
use shared::webhook::reply::Reply;
use shared::webhook::Webhook;
use time::OffsetDateTime;
use tracing::Span;

/// An eSIM status was received; by `State` for documented states only.
pub const RECEIVED: Metric = Metric::count("EsimStatusReceived");
/// An eSIM status with a state Gigastore does not document.
pub const UNKNOWN_STATE: Metric = Metric::count("EsimUnknownState");
/// An eSIM status identical to the current state.
pub const UNCHANGED: Metric = Metric::count("EsimStatusUnchanged");
/// The metrics particular to this function.
pub const METRICS: [&str; 3] = [RECEIVED.name, UNKNOWN_STATE.name, UNCHANGED.name];

/// The eSIM Status webhook over a store of eSIM facts.
#[derive(Debug, Clone)]
pub struct EsimStatusWebhook<S>(pub S);

impl<S: EsimStore> Webhook for EsimStatusWebhook<S> {
    const FUNCTION: &'static str = "esim-status";
    const ROUTE: &'static str = "POST /webhooks/esim-status";
    const METRICS: &'static [&'static str] = &METRICS;
    type Payload = EsimStatus;
    type Outcome = Recorded;

    fn span(status: &EsimStatus) -> Span {
        tracing::info_span!(
            "esim",
            iccid = status.iccid.as_str(),
            profile_state = status.profile_state.as_str()
        )
    }

    async fn call(
        &self,
        status: &EsimStatus,
        now: OffsetDateTime,
        _deadline: Deadline,
    ) -> Result<Recorded, StoreError> {
        esim::record(&self.0, status, now).await
    }

    fn answer(status: &EsimStatus, outcome: Recorded) -> Reply {
        let state = &status.profile_state;
        let received = match state.documented_name() {
            Some(name) => RECEIVED.by("State", name),
            None => RECEIVED,
        };
        let mut metrics = vec![received];
        if !state.is_documented() {
            tracing::warn!("undocumented eSIM profile state received; kept verbatim");
            metrics.push(UNKNOWN_STATE);
        }
        Reply::recorded(outcome, metrics, UNCHANGED)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use shared::testkit::{
        assert_a_redelivery_changes_nothing, assert_unstored_payloads_are_logged_whole,
        InMemoryStore,
    };

    const BODY: &str =
        r#"{"iccid":"89361123300836129514","imsi":"260216611193634","profileState":"INSTALLED"}"#;

    #[tokio::test]
    async fn a_redelivery_is_recorded_once() {
        let webhook = EsimStatusWebhook(InMemoryStore::new());
        let installed = RECEIVED.by("State", "INSTALLED");
        assert_a_redelivery_changes_nothing(&webhook, &webhook.0, BODY, installed, UNCHANGED).await;
    }

    #[tokio::test]
    async fn storage_failures_answer_503_and_log_the_whole_payload_once() {
        assert_unstored_payloads_are_logged_whole(EsimStatusWebhook, BODY).await;
    }
}

#[cfg(test)]
mod proptests;
