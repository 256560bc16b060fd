//! Gigastore's Activation Request: "may user X install item Y?", answered from the entitlement
//! table. Every authenticated call gets HTTP 200 with `SUCCESS` or `FAIL`.

use lambda_http::http::StatusCode;
use shared::domain::activation::{
    self, ActivationRequest, ActivationStore, Answer, Decision, Outcome, Refusal,
};
use shared::domain::deadline::Deadline;
use shared::domain::payload::PayloadError;
use shared::domain::store::StoreError;
use shared::domain::user_token::Expiry;
use shared::runtime::telemetry::Metric;
use shared::webhook::gate::jwt::TokenRejected;
use shared::webhook::gate::user_tokens::UserTokenField;
use shared::webhook::reply::{
    storage_failure_metrics, Reply, INVALID_REQUEST, STORAGE_ERROR, USER_TOKEN_REJECTED,
};
use shared::webhook::Webhook;
use time::OffsetDateTime;
use tracing::Span;

/// An activation was approved (a unit consumed).
pub const APPROVED: Metric = Metric::count("ActivationApproved");
/// A redelivered activation got its recorded answer.
pub const REPLAYED: Metric = Metric::count("ActivationReplayed");
/// The approving write's answer was lost and the record read back gave the decision.
pub const CONFIRMED: Metric = Metric::count("ActivationConfirmed");
/// The approving write's answer was lost and its outcome could not be found out in time.
pub const OUTCOME_UNKNOWN: Metric = Metric::count("ActivationOutcomeUnknown");
/// The metrics particular to this function.
pub const METRICS: [&str; 5] = [
    APPROVED.name,
    "ActivationRefused",
    REPLAYED.name,
    CONFIRMED.name,
    OUTCOME_UNKNOWN.name,
];

/// An activation was refused, by reason.
pub fn refused(why: Refusal) -> Metric {
    Metric::count("ActivationRefused").by("Reason", why.code())
}

/// The Activation Request webhook over a store of entitlements and decisions.
#[derive(Debug, Clone)]
pub struct ActivationRequestWebhook<S>(pub S);

impl<S: ActivationStore> Webhook for ActivationRequestWebhook<S> {
    const FUNCTION: &'static str = "activation-request";
    const ROUTE: &'static str = "POST /sdk/activation-request";
    const METRICS: &'static [&'static str] = &METRICS;
    /// Never: the user who waited for the answer is gone, and a late approval spends money.
    const REPLAYABLE: bool = false;
    type Payload = ActivationRequest;
    type Outcome = Outcome;
    /// The user whose units pay: when tokens are verified, the one a token in its time names.
    const USER_TOKEN: Option<UserTokenField<ActivationRequest>> = Some(UserTokenField {
        token: |request| &mut request.user_token,
        expiry: Expiry::Enforced,
    });

    fn span(request: &ActivationRequest) -> Span {
        tracing::info_span!(
            "activation",
            activation_id = request.activation_id.as_str(),
            item = request.item.as_str()
        )
    }

    async fn call(
        &self,
        request: &ActivationRequest,
        now: OffsetDateTime,
        deadline: Deadline,
    ) -> Result<Outcome, StoreError> {
        activation::decide(&self.0, request, None, now, deadline).await
    }

    fn answer(request: &ActivationRequest, outcome: Outcome) -> Reply {
        let reply = |kind| Reply::json(StatusCode::OK, &outcome.answer(), kind);
        // A decision recorded before this answer: logged with its reason, if refused.
        let recorded = |kind, metric, decision: Decision| {
            let reply = reply(kind).counting([metric]);
            match decision.refusal() {
                Some(why) => reply.because(why.code()),
                None => reply,
            }
        };
        match &outcome {
            Outcome::Decided(Decision::Approved) => reply("approved").counting([APPROVED]),
            Outcome::Decided(Decision::Refused(why)) => reply("refused")
                .because(why.code())
                .counting([refused(*why)]),
            Outcome::Replayed(decision) => recorded("replayed", REPLAYED, *decision),
            Outcome::Confirmed(decision) => recorded("confirmed", CONFIRMED, *decision),
            Outcome::ActivationIdReused => {
                let why = Refusal::ActivationIdReused;
                reply("refused")
                    .because(why.code())
                    .counting([refused(why)])
            }
            Outcome::Unknown { error } => {
                // With the span's activation id and item: what an operator reconciles (README).
                tracing::error!(
                    error = %error,
                    user_token = %request.user_token,
                    "activation outcome unknown"
                );
                reply("outcome_unknown")
                    .because(error.clone())
                    .counting([STORAGE_ERROR, OUTCOME_UNKNOWN])
            }
        }
    }

    /// Gigastore expects 200 with `FAIL`: nothing was decided, so a retry may still succeed.
    fn temporarily_unavailable() -> Reply {
        Reply::json(StatusCode::OK, &Answer::unavailable(), "unavailable")
    }

    /// Gigastore expects 200 with `FAIL` for any request it cannot use.
    fn invalid(error: PayloadError) -> Reply {
        Reply::json(StatusCode::OK, &Answer::invalid(&error), "refused")
            .because(error.to_string())
            .counting([INVALID_REQUEST, refused(Refusal::InvalidRequest)])
    }

    /// Gigastore expects 200 with `FAIL`. Not recorded: the user is not known, and a forged
    /// request must not take the activationId of a genuine one.
    fn invalid_user_token(rejected: TokenRejected) -> Reply {
        let why = Refusal::InvalidUserToken;
        Reply::json(
            StatusCode::OK,
            &Answer::Refuse(why.message().into()),
            "refused",
        )
        .because(format!("{}: {rejected}", why.code()))
        .counting([USER_TOKEN_REJECTED, refused(why)])
    }

    /// Fails closed: nothing was recorded, so a redelivery may still be approved. Never
    /// replayed from the log: the user is no longer waiting.
    fn unavailable(
        request: &ActivationRequest,
        _body: &[u8],
        _received_at: OffsetDateTime,
        error: StoreError,
    ) -> Reply {
        tracing::error!(
            error = %error.chain(),
            class = error.class().as_str(),
            user_token = %request.user_token,
            meta_tag = request.meta_tag.as_ref().map(|m| m.as_str()),
            "activation request could not be decided"
        );
        Reply::json(StatusCode::OK, &Answer::unavailable(), "storage_error")
            .because(error.chain())
            .counting(storage_failure_metrics(&error))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use shared::domain::ids::UserToken;
    use shared::domain::views::ReadModels;
    use shared::testkit::{grant_units, reply, FailingStore, Failure, InMemoryStore};
    use shared::webhook::reply::STORAGE_PERMANENT_ERROR;

    const BODY: &str =
        r#"{"inventoryItemId":"1_GB","userToken":"u1","metaTag":"m","activationId":"a1"}"#;

    /// The answer's JSON body.
    fn json(reply: &Reply) -> serde_json::Value {
        serde_json::from_str(&reply.body).unwrap()
    }

    #[tokio::test]
    async fn approves_from_the_in_memory_store_once() {
        let store = InMemoryStore::new();
        grant_units(&store, "u1", "1_GB", 1, None, None).await;
        let webhook = ActivationRequestWebhook(store);
        let first = reply(&webhook, BODY).await;
        assert_eq!(
            first.body,
            r#"{"returnCode":"SUCCESS","returnMessage":null}"#
        );
        assert_eq!(first.metrics, [APPROVED]);
        let again = reply(&webhook, BODY).await;
        assert_eq!(again.body, first.body);
        assert_eq!(again.metrics, [REPLAYED]);
        let user = UserToken::parse("u1").unwrap();
        let summary = webhook.0.user_summary(&user).await.unwrap();
        assert_eq!(summary.entitlements[0].units_used, 1);
    }

    #[tokio::test]
    async fn storage_failures_fail_closed_and_record_nothing() {
        for (failure, metrics) in [
            (Failure::Transient, &[STORAGE_ERROR][..]),
            (
                Failure::Permanent,
                &[STORAGE_ERROR, STORAGE_PERMANENT_ERROR][..],
            ),
        ] {
            let reply = reply(&ActivationRequestWebhook(FailingStore(failure)), BODY).await;
            assert_eq!(reply.status, StatusCode::OK);
            assert_eq!(
                json(&reply),
                serde_json::json!({"returnCode": "FAIL", "returnMessage": "temporarily unable to decide, please retry"})
            );
            assert_eq!(reply.metrics, metrics);
            assert_eq!(reply.outcome, "storage_error");
        }
    }

    #[tokio::test]
    async fn invalid_bodies_are_refused_with_200_and_never_reach_the_store() {
        // A store that never answers: reaching it would hang the test.
        let webhook = ActivationRequestWebhook(FailingStore(Failure::NeverAnswers));
        let reply = reply(&webhook, r#"{"metaTag": myTag}"#).await;
        assert_eq!(reply.status, StatusCode::OK);
        assert_eq!(json(&reply)["returnCode"], "FAIL");
        assert_eq!(
            reply.metrics,
            [INVALID_REQUEST, refused(Refusal::InvalidRequest)]
        );
    }
}

#[cfg(test)]
mod user_token_tests {
    use super::*;
    use shared::domain::ids::{ActivationId, UserToken};
    use shared::domain::views::ReadModels;
    use shared::testkit::user_tokens::{self, FORGER, SECRET};
    use shared::testkit::{grant_units, reply, FailingStore, Failure, InMemoryStore, LogCapture};
    use shared::webhook::pipeline::handle;
    use time::Duration;

    const APPROVE: &str = r#"{"returnCode":"SUCCESS","returnMessage":null}"#;
    const INVALID: &str = r#"{"returnCode":"FAIL","returnMessage":"invalid user token"}"#;

    fn body(token: &str, activation: &str) -> String {
        serde_json::json!({
            "inventoryItemId": "1_GB", "userToken": token, "metaTag": "m", "activationId": activation
        })
        .to_string()
    }

    async fn units_used(store: &InMemoryStore, user: &str) -> u32 {
        let user = UserToken::parse(user).unwrap();
        let summary = store.user_summary(&user).await.unwrap();
        summary.entitlements.iter().map(|e| e.units_used).sum()
    }

    /// Answers `body` through the verifying gate, logging as in production; the log's text.
    async fn logged<W: Webhook>(webhook: &W, body: &str) -> String {
        let logs = LogCapture::default();
        let _guard = logs.install();
        let mut request = lambda_http::Request::new(lambda_http::Body::Text(body.to_owned()));
        let bearer = format!("Bearer {}", shared::testkit::SECRET)
            .parse()
            .unwrap();
        request.headers_mut().insert("authorization", bearer);
        handle(webhook, &user_tokens::gate(), request).await;
        logs.text()
    }

    #[tokio::test]
    async fn a_token_for_a_user_approves_from_that_users_units() {
        let store = InMemoryStore::new();
        grant_units(&store, "user-a", "1_GB", 1, None, None).await;
        grant_units(&store, "user-b", "1_GB", 1, None, None).await;
        let webhook = ActivationRequestWebhook(store);
        let token = user_tokens::for_user("user-a");
        let answered = user_tokens::reply(&webhook, &body(&token, "a1")).await;
        assert_eq!(answered.body, APPROVE);
        assert_eq!(answered.metrics, [APPROVED]);
        assert_eq!(units_used(&webhook.0, "user-a").await, 1);
        assert_eq!(units_used(&webhook.0, "user-b").await, 0);
        // Recorded for the user the token names, never the token.
        let id = ActivationId::parse("a1").unwrap();
        let record = webhook.0.activation(&id).await.unwrap().unwrap();
        assert_eq!(
            record.holder.user_token().map(|u| u.as_str()),
            Some("user-a")
        );
        // A redelivery (same token, same id) gets the recorded answer.
        let again = user_tokens::reply(&webhook, &body(&token, "a1")).await;
        assert_eq!(again.metrics, [REPLAYED]);
    }

    #[tokio::test]
    async fn forged_altered_expired_or_plain_tokens_fail_and_consume_nothing() {
        let store = InMemoryStore::new();
        grant_units(&store, "user-a", "1_GB", 5, None, None).await;
        let webhook = ActivationRequestWebhook(store);
        let forged = user_tokens::signed(FORGER, "user-a", Duration::ZERO);
        // user-b's genuine signature under claims naming user-a.
        let genuine: Vec<String> = user_tokens::for_user("user-b")
            .split('.')
            .map(str::to_owned)
            .collect();
        let claims_for_a = forged.split('.').nth(1).unwrap();
        let altered = format!("{}.{claims_for_a}.{}", genuine[0], genuine[2]);
        let expired = user_tokens::signed(SECRET, "user-a", Duration::minutes(11));
        let before = webhook.0.snapshot();
        for token in [forged.as_str(), &altered, &expired, "user-a"] {
            let answered = user_tokens::reply(&webhook, &body(token, "a1")).await;
            assert_eq!(answered.status, StatusCode::OK);
            assert_eq!(answered.body, INVALID, "{token}");
            assert_eq!(answered.outcome, "refused");
            assert_eq!(
                answered.metrics,
                [USER_TOKEN_REJECTED, refused(Refusal::InvalidUserToken)]
            );
            let reason = answered.reason.unwrap_or_default();
            assert!(reason.starts_with("invalid_user_token: "), "{reason}");
            assert_eq!(webhook.0.snapshot(), before, "nothing consumed or recorded");
        }
        // The activationId was not taken: the genuine request still gets its unit.
        let genuine = body(&user_tokens::for_user("user-a"), "a1");
        assert_eq!(user_tokens::reply(&webhook, &genuine).await.body, APPROVE);
    }

    #[tokio::test]
    async fn unverified_tokens_are_the_user_id_as_gigastore_documents() {
        let store = InMemoryStore::new();
        let token = user_tokens::for_user("user-a");
        grant_units(&store, &token, "1_GB", 1, None, None).await;
        let webhook = ActivationRequestWebhook(store);
        let answered = reply(&webhook, &body(&token, "a1")).await;
        assert_eq!(answered.body, APPROVE);
        assert_eq!(units_used(&webhook.0, &token).await, 1);
    }

    #[tokio::test]
    async fn the_token_is_never_logged() {
        let token = user_tokens::for_user("user-a");
        let forged = user_tokens::signed(FORGER, "user-a", Duration::ZERO);
        let refused = logged(
            &ActivationRequestWebhook(InMemoryStore::new()),
            &body(&forged, "a9"),
        )
        .await;
        assert!(!refused.contains(&forged), "{refused}");
        assert!(refused.contains("invalid_user_token"), "{refused}");
        assert!(refused.contains(r#""activation_id":"a9""#), "{refused}");
        let failed = logged(
            &ActivationRequestWebhook(FailingStore(Failure::Transient)),
            &body(&token, "a1"),
        )
        .await;
        assert!(!failed.contains(&token), "{failed}");
        assert!(failed.contains(r#""user_token":"user-a""#), "{failed}");
    }
}

#[cfg(test)]
mod proptests;
