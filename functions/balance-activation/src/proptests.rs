//! Property tests: any authenticated body, base64-encoded by API Gateway or not, through the
//! whole pipeline. The answer is 200 (recorded), 400 (invalid) or 413 (over the cap, and only
//! then), a body refused as invalid changes nothing in the store, and an accepted one is among
//! its customer's user's balances once registered.

use proptest::prelude::*;
use serde_json::{json, Value};
use shared::domain::views::BalanceView;
use shared::testkit::properties::send;
use shared::testkit::strategies::Payload;
use shared::testkit::{block_on, summary_once_registered, InMemoryStore};

use super::*;

/// The payload: its valid body (Gigastore's sample activation, its item id completed), its
/// fields and one it does not know, and values close to the valid ones (and just outside
/// them), so that mutated bodies are often valid.
const PAYLOAD: Payload = Payload {
    valid: r#"{"uid":"058c8716-47dd-4fc4-be89-00978a86b7c0","activatedItem":"a15bb850-8f4c-4a2b-9d6e-2f1c3b4a5d6e","activatedAt":"2025-08-25T09:52:10Z","expiresAt":"2025-09-02T10:15:30Z"}"#,
    fields: &["uid", "activatedItem", "activatedAt", "expiresAt", "extra"],
    plausible: &[
        "c-1",
        "1_GB",
        "2025-08-25T09:52:10Z",
        "2025-09-02T10:15:30.5+02:00",
        "2025-08-24T00:00:00Z",
        "2025-08-25",
        " 1",
    ],
};

/// Sends `body` through the pipeline to a webhook over an empty store, checks every property
/// of the answer and of what was stored, and returns the status and the answer.
fn check(body: &[u8], base64: bool) -> Result<(u16, Value), TestCaseError> {
    block_on(async {
        let webhook = BalanceActivationWebhook(InMemoryStore::new());
        let sent = send(&webhook, &webhook.0, body, base64).await?;
        sent.check_recorded()?;
        // A valid body is found once its customer registers.
        if let Some(activation) = &sent.payload {
            prop_assert!(activation.expires_at >= activation.activated_at);
            let summary = summary_once_registered(&webhook.0, &activation.customer_uid).await;
            let expected = BalanceView {
                item: activation.activated_item.clone(),
                activated_at: activation.activated_at,
                expires_at: activation.expires_at,
            };
            prop_assert_eq!(summary.balances, vec![expected]);
        }
        Ok((sent.status, sent.answer))
    })
}

// Any body gets 200 (recorded), 400 (invalid) or 413 (over the cap); unknown fields and white
// space do not change the answer.
shared::body_properties!(PAYLOAD, check, (200, json!({"status": "recorded"})));
