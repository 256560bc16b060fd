//! Property tests: any authenticated body, base64-encoded by API Gateway or not, through the
//! whole pipeline. The answer is always 200 with `SUCCESS` or `FAIL`, a body over the cap is
//! refused as larger than it, and a body refused as invalid changes nothing in the store.

use proptest::collection::{btree_map, vec};
use proptest::option;
use proptest::prelude::*;
use proptest::sample::select;
use serde_json::Value;
use shared::activation::{ActivationRequest, ActivationStore};
use shared::entitlement::{self, Grant};
use shared::ids::{ItemId, UserToken};
use shared::payload::{FromBody, MAX_BODY_BYTES};
use shared::testkit::bodies::{self, Mutation, Replacement, AWKWARD_TEXT};
use shared::testkit::{api_gateway_request, block_on, reply_to, InMemoryStore};

use super::*;

/// The one request the seeded store approves.
const VALID: &str =
    r#"{"inventoryItemId":"1_GB","userToken":"u1","metaTag":"order-42","activationId":"a1"}"#;
/// The payload's fields, and one it does not know.
const FIELDS: [&str; 5] = [
    "activationId",
    "userToken",
    "inventoryItemId",
    "metaTag",
    "extra",
];
/// Values close to the valid ones, so that mutated bodies are often valid, approved or not.
const PLAUSIBLE: [&str; 7] = ["u1", "u2", "1_GB", "5_GB", "a1", "a2", " u1"];

/// A fresh store in which `u1` holds one unit of `1_GB`.
async fn seeded() -> InMemoryStore {
    let store = InMemoryStore::new();
    let grant = Grant {
        user_token: UserToken::parse("u1").unwrap(),
        item: ItemId::parse("1_GB").unwrap(),
        quantity: std::num::NonZeroU32::MIN,
        email: None,
        expires_at: None,
        purchase_id: None,
    };
    entitlement::grant(&store, &grant, OffsetDateTime::now_utc())
        .await
        .unwrap();
    store
}

/// Sends `body` through the pipeline to a webhook over a [`seeded`] store, checks every
/// property of the answer and of what was stored, and returns the answer.
fn check(body: &[u8], base64: bool) -> Result<Value, TestCaseError> {
    block_on(async {
        let webhook = ActivationWebhook(seeded().await);
        let before = webhook.0.snapshot();
        let path = <ActivationWebhook<InMemoryStore> as Webhook>::ROUTE.trim_start_matches("POST ");
        let reply = reply_to(&webhook, &api_gateway_request(path, body, base64)).await;
        let changed = webhook.0.snapshot() != before;

        prop_assert_eq!(reply.status, StatusCode::OK);
        let answer: Value = serde_json::from_str(&reply.body)
            .map_err(|e| TestCaseError::fail(format!("answer is not JSON: {e}")))?;
        prop_assert_eq!(answer.as_object().map(|o| o.len()), Some(2), "{}", answer);
        let code = answer["returnCode"].as_str().unwrap_or_default();
        let message = answer["returnMessage"].as_str().unwrap_or_default();
        match code {
            "SUCCESS" => prop_assert!(answer["returnMessage"].is_null(), "{}", answer),
            "FAIL" => prop_assert!(answer["returnMessage"].is_string(), "{}", answer),
            _ => prop_assert!(false, "returnCode neither SUCCESS nor FAIL: {}", answer),
        }

        let too_large = body.len() > MAX_BODY_BYTES;
        let parsed = ActivationRequest::from_body(body);
        let invalid = too_large || parsed.is_err();
        prop_assert_eq!(message.contains("larger than"), too_large, "{}", message);
        prop_assert_eq!(
            message.starts_with("invalid request: "),
            invalid,
            "{}",
            message
        );
        // An invalid body writes nothing; a valid one records its decision.
        prop_assert_eq!(changed, !invalid);
        if let (false, Ok(request)) = (invalid, parsed) {
            let entitled = request.user_token == "u1" && request.item == "1_GB";
            prop_assert_eq!(code == "SUCCESS", entitled, "{}", answer);
            let recorded = webhook.0.activation(&request.activation_id).await.unwrap();
            let recorded = recorded.map(|r| r.decision.return_code().as_str());
            prop_assert_eq!(recorded, Some(code));
        }
        Ok(answer)
    })
}

// The generators below are the same in each function's proptests.rs: `shared` does not depend
// on proptest, so only their plain parts (testkit::bodies) are shared.

/// Any text, the awkward kinds more often than chance would give them.
fn text() -> impl Strategy<Value = String> {
    prop_oneof![
        ".*",
        select(&AWKWARD_TEXT[..]).prop_map(String::from),
        select(&PLAUSIBLE[..]).prop_map(String::from),
    ]
}

/// Any JSON value, nested a few levels, with object keys that are often the payload's.
fn json() -> impl Strategy<Value = Value> {
    let leaf = prop_oneof![
        Just(Value::Null),
        any::<bool>().prop_map(Value::from),
        any::<i64>().prop_map(Value::from),
        any::<f64>().prop_map(Value::from),
        text().prop_map(Value::from),
    ];
    leaf.prop_recursive(3, 24, 6, |inner| {
        let key = prop_oneof![select(&FIELDS[..]).prop_map(String::from), text()];
        prop_oneof![
            vec(inner.clone(), 0..6).prop_map(Value::from),
            btree_map(key, inner, 0..6).prop_map(|m| Value::Object(m.into_iter().collect())),
        ]
    })
}

/// What a field's value may become: another type, empty, awkward, huge, or other text.
fn replacement() -> impl Strategy<Value = Replacement> {
    prop_oneof![
        Just(Replacement::Null),
        any::<bool>().prop_map(Replacement::Bool),
        any::<i64>().prop_map(Replacement::Integer),
        any::<f64>().prop_map(Replacement::Float),
        Just(Replacement::Array),
        Just(Replacement::Object),
        Just(Replacement::Empty),
        Just(Replacement::Blank),
        any::<usize>().prop_map(Replacement::Awkward),
        // Small, and around the cap once the rest of the body is added.
        prop_oneof![0..=300usize, MAX_BODY_BYTES - 300..=MAX_BODY_BYTES + 300]
            .prop_map(Replacement::Huge),
        text().prop_map(Replacement::Text),
    ]
}

/// The valid body with one to three fields removed or replaced, compact or pretty, sometimes
/// padded with white space to just under, at or just over the cap.
fn mutated() -> impl Strategy<Value = Vec<u8>> {
    let field = || select(&FIELDS[..]).prop_map(String::from);
    let mutation = prop_oneof![
        field().prop_map(Mutation::Remove),
        (field(), replacement()).prop_map(|(f, r)| Mutation::Replace(f, r)),
    ];
    let valid: Value = serde_json::from_str(VALID).unwrap();
    (
        vec(mutation, 1..4),
        any::<bool>(),
        option::weighted(0.2, bodies::sizes_around_the_cap()),
    )
        .prop_map(move |(mutations, pretty, pad)| {
            let value = bodies::mutate(&valid, &mutations);
            let body = if pretty {
                serde_json::to_vec_pretty(&value)
            } else {
                serde_json::to_vec(&value)
            };
            bodies::padded(body.unwrap(), pad.unwrap_or(0))
        })
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(256))]

    #[test]
    fn arbitrary_bytes_get_success_or_fail(
        body in prop_oneof![
            7 => vec(any::<u8>(), 0..512),
            1 => vec(any::<u8>(), bodies::sizes_around_the_cap()),
        ],
        base64 in any::<bool>(),
    ) {
        check(&body, base64)?;
    }

    #[test]
    fn arbitrary_json_gets_success_or_fail(value in json(), base64 in any::<bool>()) {
        check(value.to_string().as_bytes(), base64)?;
    }

    #[test]
    fn mutated_payloads_get_success_or_fail(body in mutated(), base64 in any::<bool>()) {
        check(&body, base64)?;
    }

    #[test]
    fn unknown_fields_and_white_space_do_not_change_the_decision(
        extra in btree_map("x-[a-z]{1,8}", json(), 0..4),
        pad in option::of(prop_oneof![0..=4096usize, MAX_BODY_BYTES - 64..=MAX_BODY_BYTES]),
        base64 in any::<bool>(),
    ) {
        let mut value: Value = serde_json::from_str(VALID).unwrap();
        value.as_object_mut().unwrap().extend(extra);
        let body = bodies::padded(value.to_string().into_bytes(), pad.unwrap_or(0));
        prop_assume!(body.len() <= MAX_BODY_BYTES);
        let answer = check(&body, base64)?;
        prop_assert_eq!(answer, serde_json::json!({"returnCode": "SUCCESS", "returnMessage": null}));
    }
}
