//! Gigastore's Country Change webhook: the eSIM attached to a network in another country.
//! Recorded as the eSIM's current country and its history, like eSIM statuses.

use shared::domain::country::{self, CountryChange, CountryStore};
use shared::domain::deadline::Deadline;
use shared::domain::store::StoreError;
use shared::domain::timeline::Recorded;
use shared::runtime::telemetry::Metric;
use shared::webhook::reply::Reply;
use shared::webhook::Webhook;
use time::OffsetDateTime;
use tracing::Span;

/// A Country Change was received.
pub const RECEIVED: Metric = Metric::count("CountryChangeReceived");
/// A Country Change that repeats the current country (a redelivery).
pub const UNCHANGED: Metric = Metric::count("CountryChangeUnchanged");
/// The metrics particular to this function.
pub const METRICS: [&str; 2] = [RECEIVED.name, UNCHANGED.name];

/// The Country Change webhook over a store of eSIM countries.
#[derive(Debug, Clone)]
pub struct CountryChangeWebhook<S>(pub S);

impl<S: CountryStore> Webhook for CountryChangeWebhook<S> {
    const FUNCTION: &'static str = "country-change";
    const ROUTE: &'static str = "POST /webhooks/country-change";
    const METRICS: &'static [&'static str] = &METRICS;
    type Payload = CountryChange;
    type Outcome = Recorded;

    fn span(change: &CountryChange) -> Span {
        tracing::info_span!(
            "country",
            iccid = change.iccid.as_str(),
            new_country = change.new_country.as_str()
        )
    }

    async fn call(
        &self,
        change: &CountryChange,
        now: OffsetDateTime,
        _deadline: Deadline,
    ) -> Result<Recorded, StoreError> {
        country::record(&self.0, change, now).await
    }

    fn answer(_change: &CountryChange, outcome: Recorded) -> Reply {
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

    const BODY: &str = r#"{"imsi":"260216611193634","iccid":"89361123300836129514","previousCountry":null,"newCountry":"DE"}"#;

    #[tokio::test]
    async fn a_redelivery_is_recorded_once() {
        let webhook = CountryChangeWebhook(InMemoryStore::new());
        assert_a_redelivery_changes_nothing(&webhook, &webhook.0, BODY, RECEIVED, UNCHANGED).await;
    }

    #[tokio::test]
    async fn a_code_outside_iso_3166_is_invalid() {
        let answered = reply(
            &CountryChangeWebhook(InMemoryStore::new()),
            &BODY.replace("\"DE\"", "\"XK\""),
        )
        .await;
        assert_eq!(answered.status.as_u16(), 400);
        assert_eq!(
            answered.body,
            r#"{"error":"invalid request: newCountry must be an ISO 3166-1 alpha-2 country code, e.g. DE"}"#
        );
    }

    #[tokio::test]
    async fn storage_failures_answer_503_and_log_the_whole_payload_once() {
        assert_unstored_payloads_are_logged_whole(CountryChangeWebhook, BODY).await;
    }
}

#[cfg(test)]
mod proptests;
