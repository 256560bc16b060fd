//! Property tests: any authenticated body, base64-encoded by API Gateway or not, through the
//! whole pipeline. The answer is 200 (recorded), 400 (invalid) or 413 (over the cap, and only
//! then), a body refused as invalid changes nothing in the store, and an accepted one is in
//! its eSIM's history.

use proptest::prelude::*;
use serde_json::{json, Value};
use shared::domain::views::ReadModels;
use shared::testkit::properties::send;
use shared::testkit::strategies::Payload;
use shared::testkit::{block_on, InMemoryStore};

use super::*;

/// The payload: its valid body (Gigastore's sample status, without its trailing comma), its
/// fields and one it does not know, and values close to the valid ones (and just outside them),
/// so that mutated bodies are often valid.
const PAYLOAD: Payload = Payload {
    valid: r#"{"iccid":"89361123300836129514","imsi":"260216611193634","profileState":"INSTALLED","eid":"74088234238931452"}"#,
    fields: &["iccid", "imsi", "profileState", "eid", "extra"],
    plausible: &[
        "894000000000000000",
        "89400000000000000",
        "12345678901234567890123",
        "1",
        "RELEASED",
        "SUSPENDED_bySupport",
        " 1",
    ],
};

/// Sends `body` through the pipeline to a webhook over an empty store, checks every property
/// of the answer and of what was stored, and returns the status and the answer.
fn check(body: &[u8], base64: bool) -> Result<(u16, Value), TestCaseError> {
    block_on(async {
        let webhook = EsimStatusWebhook(InMemoryStore::new());
        let sent = send(&webhook, &webhook.0, body, base64).await?;
        sent.check_recorded()?;
        // A valid body is the eSIM's one status.
        if let Some(esim) = &sent.payload {
            let history = webhook.0.esim_history(&esim.iccid).await.unwrap();
            let history: Vec<_> = history.into_iter().flat_map(|h| h.history).collect();
            prop_assert_eq!(history.len(), 1);
            prop_assert_eq!(&history[0].status, esim);
        }
        Ok((sent.status, sent.answer))
    })
}

// Any body gets 200 (recorded), 400 (invalid) or 413 (over the cap); unknown fields and white
// space do not change the answer.
shared::body_properties!(PAYLOAD, check, (200, json!({"status": "recorded"})));
