//! Property tests: any authenticated body, base64-encoded by API Gateway or not, through the
//! whole pipeline. The answer is always 200 with `SUCCESS` or `FAIL`, a body over the cap is
//! refused as larger than it, and a body refused as invalid changes nothing in the store.

use proptest::prelude::*;
use serde_json::Value;
use shared::domain::activation::ActivationStore;
use shared::testkit::properties::send;
use shared::testkit::strategies::Payload;
use shared::testkit::{block_on, InMemoryStore};

use super::*;

/// The payload: its valid body (the one request the seeded store approves), its fields and one
/// it does not know, and values close to the valid ones, so that mutated bodies are often
/// valid, approved or not.
const PAYLOAD: Payload = Payload {
    valid: r#"{"inventoryItemId":"1_GB","userToken":"u1","metaTag":"order-42","activationId":"a1"}"#,
    fields: &[
        "activationId",
        "userToken",
        "inventoryItemId",
        "metaTag",
        "extra",
    ],
    plausible: &["u1", "u2", "1_GB", "5_GB", "a1", "a2", " u1"],
};

/// A fresh store in which `u1` holds one unit of `1_GB`.
async fn seeded() -> InMemoryStore {
    let store = InMemoryStore::new();
    shared::testkit::grant_units(&store, "u1", "1_GB", 1, None, None).await;
    store
}

/// Sends `body` through the pipeline to a webhook over a [`seeded`] store, checks every
/// property of the answer and of what was stored, and returns the answer.
fn check(body: &[u8], base64: bool) -> Result<Value, TestCaseError> {
    block_on(async {
        let webhook = ActivationRequestWebhook::new(seeded().await);
        let sent = send(&webhook, &webhook.0, body, base64).await?;
        let answer = sent.answer;

        prop_assert_eq!(sent.status, 200);
        prop_assert_eq!(answer.as_object().map(|o| o.len()), Some(2), "{}", answer);
        let code = answer["returnCode"].as_str().unwrap_or_default();
        let message = answer["returnMessage"].as_str().unwrap_or_default();
        match code {
            "SUCCESS" => prop_assert!(answer["returnMessage"].is_null(), "{}", answer),
            "FAIL" => prop_assert!(answer["returnMessage"].is_string(), "{}", answer),
            _ => prop_assert!(false, "returnCode neither SUCCESS nor FAIL: {}", answer),
        }

        prop_assert_eq!(
            message.contains("larger than"),
            sent.too_large,
            "{}",
            message
        );
        prop_assert_eq!(
            message.starts_with("invalid request: "),
            sent.payload.is_none(),
            "{}",
            message
        );
        if let Some(request) = sent.payload {
            let entitled = request.user_token == "u1" && request.item == "1_GB";
            prop_assert_eq!(code == "SUCCESS", entitled, "{}", answer);
            let recorded = webhook.0.activation(&request.activation_id).await.unwrap();
            let recorded = recorded.map(|r| r.decision.return_code().as_str());
            prop_assert_eq!(recorded, Some(code));
        }
        Ok(answer)
    })
}

// Any body gets 200 with SUCCESS or FAIL; unknown fields and white space do not change the
// decision.
shared::body_properties!(
    PAYLOAD,
    check,
    serde_json::json!({"returnCode": "SUCCESS", "returnMessage": null})
);
