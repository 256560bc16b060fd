//! Property tests: any authenticated body, base64-encoded by API Gateway or not, through the
//! whole pipeline. The answer is 200 (recorded), 400 (invalid) or 413 (over the cap, and only
//! then), a body refused as invalid changes nothing in the store, and an accepted one is the
//! latest alert of its customer's user once registered.

use proptest::prelude::*;
use serde_json::{json, Value};
use shared::testkit::properties::send;
use shared::testkit::strategies::Payload;
use shared::testkit::{block_on, summary_once_registered, InMemoryStore};

use super::*;

/// The payload: its valid body (Gigastore's sample alert), its fields and one it does not
/// know, and values close to the valid ones (and just outside them), so that mutated bodies
/// are often valid.
const PAYLOAD: Payload = Payload {
    valid: r#"{"uid":"058c8716-47dd-4fc4-be89-00978a86b7c0","iccid":"89361123300836129514","imsi":"260216611193634","timestamp":"2022-08-21T10:15:30Z","balanceAmountInByte":93618231}"#,
    fields: &[
        "uid",
        "iccid",
        "imsi",
        "timestamp",
        "balanceAmountInByte",
        "extra",
    ],
    plausible: &[
        "c-1",
        "894000000000000000",
        "1",
        "2025-08-25T09:52:10+02:00",
        "2025-08-25T09:52:10",
        "9223372036854775807",
        " 1",
    ],
};

/// Sends `body` through the pipeline to a webhook over an empty store, checks every property
/// of the answer and of what was stored, and returns the status and the answer.
fn check(body: &[u8], base64: bool) -> Result<(u16, Value), TestCaseError> {
    block_on(async {
        let webhook = BalanceAlertWebhook(InMemoryStore::new());
        let sent = send(&webhook, &webhook.0, body, base64).await?;
        sent.check_recorded()?;
        // A valid body is found once its customer registers.
        if let Some(alert) = &sent.payload {
            let summary = summary_once_registered(&webhook.0, &alert.customer_uid).await;
            let latest = summary.latest_balance_alert.map(|r| r.alert);
            prop_assert_eq!(latest.as_ref(), Some(alert));
        }
        Ok((sent.status, sent.answer))
    })
}

// Any body gets 200 (recorded), 400 (invalid) or 413 (over the cap); unknown fields and white
// space do not change the answer.
shared::body_properties!(PAYLOAD, check, (200, json!({"status": "recorded"})));
