//! Gigastore's Customer Registration: record Gigastore's customer id on our user, answer the
//! user's email.

use lambda_http::http::StatusCode;
use serde::Serialize;
use shared::domain::deadline::Deadline;
use shared::domain::registration::{self, CustomerRegistration, Registered, RegistrationStore};
use shared::domain::store::StoreError;
use shared::domain::user_token::Expiry;
use shared::runtime::telemetry::Metric;
use shared::webhook::gate::user_tokens::UserTokenField;
use shared::webhook::reply::Reply;
use shared::webhook::Webhook;
use time::OffsetDateTime;

/// A Customer Registration for one of our users.
pub const KNOWN_USER: Metric = Metric::count("RegistrationKnownUser");
/// A Customer Registration for a user we do not know.
pub const UNKNOWN_USER: Metric = Metric::count("RegistrationUnknownUser");
/// A known user without an email on file.
pub const WITHOUT_EMAIL: Metric = Metric::count("RegistrationWithoutEmail");
/// A customer id registered before to another user moved to this one.
pub const CUSTOMER_MOVED: Metric = Metric::count("CustomerMoved");
/// The metrics particular to this function.
pub const METRICS: [&str; 4] = [
    KNOWN_USER.name,
    UNKNOWN_USER.name,
    WITHOUT_EMAIL.name,
    CUSTOMER_MOVED.name,
];

/// The answer Gigastore expects: the email the user signed in with (null if none is on file).
#[derive(Serialize)]
struct EmailAnswer {
    email: Option<String>,
}

/// The Customer Registration webhook over a store of user profiles.
#[derive(Debug, Clone)]
pub struct CustomerRegistrationWebhook<S>(pub S);

impl<S: RegistrationStore> Webhook for CustomerRegistrationWebhook<S> {
    const FUNCTION: &'static str = "customer-registration";
    const ROUTE: &'static str = "POST /sdk/customer-registration";
    const METRICS: &'static [&'static str] = &METRICS;
    type Payload = CustomerRegistration;
    type Outcome = Registered;
    /// When tokens are verified, the user a signed token names: it may have expired since the
    /// activation this registration follows.
    const USER_TOKEN: Option<UserTokenField<CustomerRegistration>> = Some(UserTokenField {
        token: |registration| &mut registration.user_token,
        expiry: Expiry::Ignored,
    });

    async fn call(
        &self,
        registration: &CustomerRegistration,
        now: OffsetDateTime,
        _deadline: Deadline,
    ) -> Result<Registered, StoreError> {
        registration::register(&self.0, registration, now).await
    }

    fn answer(registration: &CustomerRegistration, outcome: Registered) -> Reply {
        match outcome {
            Registered::KnownUser {
                email,
                replaced,
                moved_from,
            } => {
                if let Some(previous) = replaced {
                    tracing::warn!(
                        customer_uid = %registration.customer_uid,
                        previous_customer_uid = %previous,
                        "customer id of a user changed"
                    );
                }
                // Both users, so an operator can tell whether Gigastore or the app is wrong.
                let moved = moved_from.map(|from| {
                    tracing::warn!(
                        customer_uid = %registration.customer_uid,
                        from_user_token = %from,
                        user_token = %registration.user_token,
                        "customer id moved to another user"
                    );
                    CUSTOMER_MOVED
                });
                let without_email = email.is_none();
                let reply = Reply::json(StatusCode::OK, &EmailAnswer { email }, "known_user")
                    .counting([KNOWN_USER])
                    .counting(moved);
                if !without_email {
                    return reply;
                }
                tracing::warn!(
                    user_token = %registration.user_token,
                    "registered user has no email on file; answered null"
                );
                reply.counting([WITHOUT_EMAIL])
            }
            Registered::UnknownUser => {
                // Kept as unclaimed in the table; logged so an operator can match it.
                tracing::warn!(
                    user_token = %registration.user_token,
                    customer_uid = %registration.customer_uid,
                    "customer registration for an unknown user kept as unclaimed"
                );
                Reply::error(StatusCode::NOT_FOUND, "unknown user", "unknown_user")
                    .counting([UNKNOWN_USER])
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use shared::domain::views::ReadModels;
    use shared::testkit::{reply, FailingStore, Failure, InMemoryStore};
    use shared::webhook::reply::{STORAGE_ERROR, STORAGE_PERMANENT_ERROR};

    const BODY: &str = r#"{"userToken":"u1","customerUid":"c-1"}"#;

    #[tokio::test]
    async fn unknown_users_are_kept_unclaimed() {
        let webhook = CustomerRegistrationWebhook(InMemoryStore::new());
        let answered = reply(&webhook, BODY).await;
        assert_eq!(answered.status, StatusCode::NOT_FOUND);
        assert_eq!(answered.body, r#"{"error":"unknown user"}"#);
        assert_eq!(answered.metrics, [UNKNOWN_USER]);
        let customer = shared::domain::ids::CustomerUid::parse("c-1").unwrap();
        let user = webhook.0.user_for_customer(&customer).await.unwrap();
        assert_eq!(user.map(String::from).as_deref(), Some("u1"));
    }

    #[tokio::test]
    async fn a_customer_id_registered_to_another_user_moves_and_is_counted() {
        let webhook = CustomerRegistrationWebhook(InMemoryStore::new());
        for user in ["u1", "u2"] {
            shared::testkit::grant_units(&webhook.0, user, "1_GB", 1, None, None).await;
        }
        let first = reply(&webhook, BODY).await;
        assert_eq!(first.metrics, [KNOWN_USER, WITHOUT_EMAIL]);
        let other = r#"{"userToken":"u2","customerUid":"c-1"}"#;
        let moved = reply(&webhook, other).await;
        assert_eq!(moved.status, StatusCode::OK);
        assert_eq!(moved.metrics, [KNOWN_USER, CUSTOMER_MOVED, WITHOUT_EMAIL]);
        let customer = shared::domain::ids::CustomerUid::parse("c-1").unwrap();
        let user = webhook.0.user_for_customer(&customer).await.unwrap();
        assert_eq!(user.map(String::from).as_deref(), Some("u2"));
        let first_user = shared::domain::ids::UserToken::parse("u1").unwrap();
        let summary = webhook.0.user_summary(&first_user).await.unwrap();
        assert_eq!(summary.customer_uid, None);
    }

    #[tokio::test]
    async fn storage_failures_answer_503_so_gigastore_retries() {
        for (failure, metrics) in [
            (Failure::Transient, &[STORAGE_ERROR][..]),
            (
                Failure::Permanent,
                &[STORAGE_ERROR, STORAGE_PERMANENT_ERROR][..],
            ),
        ] {
            let webhook = CustomerRegistrationWebhook(FailingStore(failure));
            let answered = reply(&webhook, BODY).await;
            assert_eq!(answered.status, StatusCode::SERVICE_UNAVAILABLE);
            assert_eq!(
                answered.body,
                r#"{"error":"temporarily unavailable, please retry"}"#
            );
            assert_eq!(answered.metrics, metrics);
        }
    }
}

#[cfg(test)]
mod user_token_tests {
    use super::*;
    use shared::domain::ids::{CustomerUid, UserToken};
    use shared::domain::views::ReadModels;
    use shared::testkit::user_tokens::{self, FORGER, SECRET};
    use shared::testkit::{grant_units, FailingStore, Failure, InMemoryStore, LogCapture};
    use shared::webhook::reply::{STORAGE_ERROR, USER_TOKEN_REJECTED};
    use time::Duration;

    fn body(token: &str) -> String {
        serde_json::json!({"userToken": token, "customerUid": "c-1"}).to_string()
    }

    #[tokio::test]
    async fn an_expired_but_signed_token_registers_its_user() {
        let store = InMemoryStore::new();
        grant_units(&store, "user-a", "1_GB", 1, Some("a@example.com"), None).await;
        let webhook = CustomerRegistrationWebhook(store);
        let expired = user_tokens::signed(SECRET, "user-a", Duration::days(2));
        let answered = user_tokens::reply(&webhook, &body(&expired)).await;
        assert_eq!(answered.status, StatusCode::OK);
        assert_eq!(answered.body, r#"{"email":"a@example.com"}"#);
        let customer = CustomerUid::parse("c-1").unwrap();
        let user = webhook.0.user_for_customer(&customer).await.unwrap();
        assert_eq!(user.map(String::from).as_deref(), Some("user-a"));
    }

    #[tokio::test]
    async fn unsigned_or_forged_tokens_are_refused_and_store_nothing() {
        let store = InMemoryStore::new();
        grant_units(&store, "user-a", "1_GB", 1, Some("a@example.com"), None).await;
        let webhook = CustomerRegistrationWebhook(store);
        let before = webhook.0.snapshot();
        let forged = user_tokens::signed(FORGER, "user-a", Duration::ZERO);
        for token in ["user-a", forged.as_str()] {
            let answered = user_tokens::reply(&webhook, &body(token)).await;
            assert_eq!(answered.status, StatusCode::FORBIDDEN);
            assert_eq!(answered.body, r#"{"error":"invalid user token"}"#);
            assert_eq!(answered.metrics, [USER_TOKEN_REJECTED]);
            assert_eq!(webhook.0.snapshot(), before);
        }
        let user = UserToken::parse("user-a").unwrap();
        assert_eq!(
            webhook.0.user_summary(&user).await.unwrap().customer_uid,
            None
        );
    }

    #[tokio::test]
    async fn what_could_not_be_stored_is_logged_with_the_user_not_the_token() {
        let logs = LogCapture::default();
        let _guard = logs.install();
        let token = user_tokens::for_user("user-a");
        let webhook = CustomerRegistrationWebhook(FailingStore(Failure::Transient));
        let answered = user_tokens::reply(&webhook, &body(&token)).await;
        assert_eq!(answered.metrics, [STORAGE_ERROR]);
        assert!(!logs.text().contains(&token));
        let lines = logs.lines();
        let not_stored: Vec<_> = lines
            .iter()
            .filter(|l| l["message"] == shared::webhook::NOT_STORED)
            .collect();
        assert_eq!(not_stored.len(), 1, "{lines:?}");
        let payload: serde_json::Value =
            serde_json::from_str(not_stored[0]["payload"].as_str().unwrap()).unwrap();
        assert_eq!(
            payload,
            serde_json::json!({"userToken": "user-a", "customerUid": "c-1"})
        );
    }
}

#[cfg(test)]
mod proptests;
