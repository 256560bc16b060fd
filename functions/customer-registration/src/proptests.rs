//! Property tests: any authenticated body, base64-encoded by API Gateway or not, through the
//! whole pipeline. The answer is 200 (known user), 404 (unknown user), 400 (invalid) or 413
//! (over the cap, and only then), and a body refused as invalid changes nothing in the store.

use proptest::prelude::*;
use serde_json::{json, Value};
use shared::domain::views::ReadModels;
use shared::testkit::properties::send;
use shared::testkit::strategies::Payload;
use shared::testkit::{block_on, InMemoryStore};

use super::*;

/// The payload: its valid body (a registration of the seeded user), its fields (`uid` is
/// `customerUid`'s alias) and one it does not know, and values close to the valid ones, so
/// that mutated bodies are often valid, known user or not.
const PAYLOAD: Payload = Payload {
    valid: r#"{"userToken":"u1","customerUid":"c-1"}"#,
    fields: &["userToken", "customerUid", "uid", "extra"],
    plausible: &["u1", "u2", "c-1", "c-2", " u1", "c-1 "],
};

/// A fresh store in which `u1` has a profile with an email and no customer id yet.
async fn seeded() -> InMemoryStore {
    let store = InMemoryStore::new();
    let email = Some("user@example.com");
    shared::testkit::grant_units(&store, "u1", "1_GB", 1, email, None).await;
    store
}

/// Sends `body` through the pipeline to a webhook over a [`seeded`] store, checks every
/// property of the answer and of what was stored, and returns the status and the answer.
fn check(body: &[u8], base64: bool) -> Result<(u16, Value), TestCaseError> {
    block_on(async {
        let webhook = CustomerRegistrationWebhook(seeded().await);
        let sent = send(&webhook, &webhook.0, body, base64).await?;
        let status = sent.status;
        prop_assert!([200, 400, 404, 413].contains(&status), "status {}", status);
        sent.check_default_refusal()?;
        // A valid body records the customer id somewhere.
        if let Some(registration) = sent.payload {
            let expected = if registration.user_token == "u1" {
                (200, json!({"email": "user@example.com"}))
            } else {
                (404, json!({"error": "unknown user"}))
            };
            prop_assert_eq!((status, &sent.answer), (expected.0, &expected.1));
            let owner = webhook
                .0
                .user_for_customer(&registration.customer_uid)
                .await;
            prop_assert_eq!(owner.unwrap(), Some(registration.user_token));
        }
        Ok((status, sent.answer))
    })
}

// Any body gets 200 (known user), 404 (unknown user), 400 (invalid) or 413 (over the cap);
// unknown fields and white space do not change the answer.
shared::body_properties!(PAYLOAD, check, (200, json!({"email": "user@example.com"})));
