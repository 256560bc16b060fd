//! Property tests: any authenticated body, base64-encoded by API Gateway or not, through the
//! whole pipeline. The answer is 200 (recorded), 400 (invalid) or 413 (over the cap, and only
//! then), a body refused as invalid changes nothing in the store, and an accepted one is its
//! eSIM's current country and only history entry.

use proptest::prelude::*;
use serde_json::{json, Value};
use shared::domain::views::ReadModels;
use shared::testkit::properties::send;
use shared::testkit::strategies::Payload;
use shared::testkit::{block_on, InMemoryStore};

use super::*;

/// The payload: its valid body (Gigastore's sample change, with real digits), its fields and
/// one it does not know, and values close to the valid ones (and just outside them), so that
/// mutated bodies are often valid.
const PAYLOAD: Payload = Payload {
    valid: r#"{"imsi":"260216611193634","iccid":"89361123300836129514","previousCountry":null,"newCountry":"DE"}"#,
    fields: &["imsi", "iccid", "previousCountry", "newCountry", "extra"],
    plausible: &["FR", "de", "XK", "UK", "DEU", "894000000000000000", "1"],
};

/// Sends `body` through the pipeline to a webhook over an empty store, checks every property
/// of the answer and of what was stored, and returns the status and the answer.
fn check(body: &[u8], base64: bool) -> Result<(u16, Value), TestCaseError> {
    block_on(async {
        let webhook = CountryChangeWebhook(InMemoryStore::new());
        let sent = send(&webhook, &webhook.0, body, base64).await?;
        sent.check_recorded()?;
        // A valid body is the eSIM's one country change.
        if let Some(change) = sent.payload.clone() {
            let esim = webhook.0.esim_history(&change.iccid).await.unwrap();
            let esim = esim.expect("the eSIM, known by its country");
            let history: Vec<_> = esim.country_history.into_iter().map(|h| h.change).collect();
            prop_assert_eq!(history, vec![change.clone()]);
            prop_assert_eq!(esim.country.map(|c| c.change), Some(change));
            prop_assert!(esim.current.is_none());
        }
        Ok((sent.status, sent.answer))
    })
}

// Any body gets 200 (recorded), 400 (invalid) or 413 (over the cap); unknown fields and white
// space do not change the answer.
shared::body_properties!(PAYLOAD, check, (200, json!({"status": "recorded"})));
