//! Replays every sample event in `events/` through its function's handler, as Lambda would
//! deliver it, and checks the answer. A file without an expectation here fails the test.
//! The webhooks' samples are in `events/<webhook>/`, the purchase API's in `events/purchase-api/`.

use std::collections::BTreeSet;

use crate::common::{
    demo_user, local_gate, read_response, respond_as, root, sample_event, user_summary, TestTable,
};
use entitlements::webhooks::described;
use serde_json::{json, Value};
use shared::domain::views::ReadModels;
use shared::runtime::telemetry::Metric;

/// (file under events/, expected status, expected body, expected metrics), in replay order.
fn expectations() -> Vec<(&'static str, u16, Value, Vec<Metric>)> {
    use activation_request::{
        refused, APPROVED as ActivationApproved, REPLAYED as ActivationReplayed,
    };
    use customer_registration::{
        KNOWN_USER as RegistrationKnownUser, UNKNOWN_USER as RegistrationUnknownUser,
    };
    use esim_status::{
        RECEIVED, UNCHANGED as EsimStatusUnchanged, UNKNOWN_STATE as EsimUnknownState,
    };
    use shared::domain::activation::Refusal;
    use shared::webhook::reply::{
        AUTH_REJECTED as AuthRejected, INVALID_REQUEST as InvalidRequest,
    };
    #[allow(non_snake_case)]
    let ActivationRefused = refused;
    #[allow(non_snake_case)]
    let EsimStatusReceived = |state: Option<&'static str>| match state {
        Some(name) => RECEIVED.by("State", name),
        None => RECEIVED,
    };
    let success = json!({"returnCode": "SUCCESS", "returnMessage": null});
    let unauthorized = json!({"error": "unauthorized"});
    let email = json!({"email": "email@domain.com"});
    let recorded = json!({"status": "recorded"});
    let unchanged = json!({"status": "unchanged"});
    // (its samples: valid (Gigastore's documented sample), redelivery, invalid, unauthenticated;
    // its Received and Unchanged metrics; its invalid sample's error), for each fact webhook.
    let facts = [
        (
            [
                "balance-alert/valid.json",
                "balance-alert/redelivery.json",
                "balance-alert/invalid.json",
                "balance-alert/unauthenticated.json",
            ],
            balance_alert::RECEIVED,
            balance_alert::UNCHANGED,
            "balanceAmountInByte must be a JSON integer from 0 to 9223372036854775807",
        ),
        (
            [
                "balance-activation/valid.json",
                "balance-activation/redelivery.json",
                "balance-activation/invalid.json",
                "balance-activation/unauthenticated.json",
            ],
            balance_activation::RECEIVED,
            balance_activation::UNCHANGED,
            "expiresAt must not be before activatedAt",
        ),
        (
            [
                "country-change/valid.json",
                "country-change/redelivery.json",
                "country-change/invalid.json",
                "country-change/unauthenticated.json",
            ],
            country_change::RECEIVED,
            country_change::UNCHANGED,
            "newCountry must be an ISO 3166-1 alpha-2 country code, e.g. DE",
        ),
    ];
    let fact_samples = facts
        .into_iter()
        .flat_map(|(files, received, again, error)| {
            let [valid, redelivery, invalid, unauthenticated] = files;
            [
                (valid, 200, recorded.clone(), vec![received]),
                (redelivery, 200, unchanged.clone(), vec![received, again]),
                (
                    invalid,
                    400,
                    json!({"error": format!("invalid request: {error}")}),
                    vec![InvalidRequest],
                ),
                (
                    unauthenticated,
                    401,
                    json!({"error": "unauthorized"}),
                    vec![AuthRejected],
                ),
            ]
        });
    let fact_samples: Vec<_> = fact_samples.collect();
    let mut all = vec![
        (
            "activation-request/approve.json",
            200,
            success.clone(),
            vec![ActivationApproved],
        ),
        (
            "activation-request/replay.json",
            200,
            success.clone(),
            vec![ActivationReplayed],
        ),
        (
            "activation-request/base64-body.json",
            200,
            success,
            vec![ActivationApproved],
        ),
        (
            "activation-request/refused.json",
            200,
            json!({"returnCode": "FAIL", "returnMessage": "no entitlement for this item"}),
            vec![ActivationRefused(Refusal::NoEntitlement)],
        ),
        (
            "activation-request/gigastore-doc-sample.json",
            200,
            json!({"returnCode": "FAIL", "returnMessage": "invalid request: body is not valid JSON: expected value at line 4 column 14"}),
            vec![InvalidRequest, ActivationRefused(Refusal::InvalidRequest)],
        ),
        (
            "activation-request/unauthenticated.json",
            401,
            unauthorized.clone(),
            vec![AuthRejected],
        ),
        (
            "customer-registration/registered.json",
            200,
            email.clone(),
            vec![RegistrationKnownUser],
        ),
        (
            "customer-registration/uid-alias.json",
            200,
            email,
            vec![RegistrationKnownUser],
        ),
        (
            "customer-registration/unknown-user.json",
            404,
            json!({"error": "unknown user"}),
            vec![RegistrationUnknownUser],
        ),
        (
            "customer-registration/invalid.json",
            400,
            json!({"error": "invalid request: customerUid must be a string"}),
            vec![InvalidRequest],
        ),
        (
            "customer-registration/unauthenticated.json",
            401,
            unauthorized.clone(),
            vec![AuthRejected],
        ),
        (
            "esim-status/installed.json",
            200,
            recorded.clone(),
            vec![EsimStatusReceived(Some("INSTALLED"))],
        ),
        (
            "esim-status/redelivery.json",
            200,
            json!({"status": "unchanged"}),
            vec![EsimStatusReceived(Some("INSTALLED")), EsimStatusUnchanged],
        ),
        (
            "esim-status/gigastore-doc-sample.json",
            200,
            recorded.clone(),
            vec![EsimStatusReceived(Some("DISABLED"))],
        ),
        (
            "esim-status/unknown-state.json",
            200,
            recorded,
            vec![EsimStatusReceived(None), EsimUnknownState],
        ),
        (
            "esim-status/invalid.json",
            400,
            json!({"error": "invalid request: iccid must be 18 to 22 digits"}),
            vec![InvalidRequest],
        ),
        (
            "esim-status/unauthenticated.json",
            401,
            unauthorized,
            vec![AuthRejected],
        ),
    ];
    all.extend(fact_samples);
    all
}

fn event_files() -> BTreeSet<String> {
    let dir = root().join("events");
    let mut files = BTreeSet::new();
    for function in std::fs::read_dir(&dir).unwrap() {
        let function = function.unwrap().path();
        for file in std::fs::read_dir(&function).unwrap() {
            let file = file.unwrap().path();
            files.insert(
                file.strip_prefix(&dir)
                    .unwrap()
                    .to_string_lossy()
                    .into_owned(),
            );
        }
    }
    files
}

/// The purchase API's samples (under `events/purchase-api/`), in replay order over an empty
/// table: (file, expected status, fields the answer holds with these values).
fn purchase_api_expectations() -> Vec<(&'static str, u16, Value)> {
    let error = |message: &str| json!({ "error": message });
    vec![
        (
            "purchase-api/grant.json",
            201,
            json!({"purchaseId": "order-1001", "userToken": "USER_TOKEN_1234567", "quantity": 2}),
        ),
        (
            "purchase-api/grant.json",
            200,
            json!({"purchaseId": "order-1001", "quantity": 2}),
        ),
        (
            "purchase-api/grant-conflict.json",
            409,
            json!({"differences": ["userToken", "quantity"],
                   "error": "purchase order-1001 was granted with another userToken, quantity"}),
        ),
        (
            "purchase-api/grant-invalid.json",
            400,
            error("quantity must be an integer from 1 to 100"),
        ),
        (
            "purchase-api/purchase.json",
            200,
            json!({"units": {"granted": 2, "used": 0, "left": 2, "refunded": 0, "void": 0}}),
        ),
        (
            "purchase-api/purchase-unknown.json",
            404,
            error("no purchase order-9999"),
        ),
        (
            "purchase-api/refund.json",
            200,
            json!({"units": {"granted": 2, "used": 0, "left": 0, "refunded": 2, "void": 0}}),
        ),
        (
            "purchase-api/user.json",
            200,
            json!({"userToken": "USER_TOKEN_1234567", "email": "email@domain.com"}),
        ),
        (
            "purchase-api/erase.json",
            200,
            json!({"erased": true, "purchases": 1}),
        ),
        ("purchase-api/erase.json", 200, json!({"erased": false})),
        ("purchase-api/user.json", 404, error("no such user")),
        (
            "purchase-api/no-iam-caller.json",
            403,
            error("forbidden: no IAM caller"),
        ),
    ]
}

#[tokio::test]
async fn every_sample_event_gets_its_expected_answer() {
    let expected = expectations();
    let covered: BTreeSet<String> = expected
        .iter()
        .map(|(f, ..)| *f)
        .chain(purchase_api_expectations().iter().map(|(f, ..)| *f))
        .map(str::to_owned)
        .collect();
    assert_eq!(
        event_files(),
        covered,
        "every file in events/ needs an expectation here"
    );
    let folders: BTreeSet<&str> = expected
        .iter()
        .filter_map(|(f, ..)| f.split('/').next())
        .collect();
    let registered: BTreeSet<&str> = described().iter().map(|w| w.function).collect();
    assert_eq!(folders, registered, "every webhook has sample events");

    let t = TestTable::new().await;
    demo_user(&t.store).await;
    let secrets = local_gate();

    for (file, status, body, metrics) in expected {
        let request = sample_event(file);
        let store = t.store.clone();
        let function = file.split('/').next().unwrap_or_default();
        let reply = respond_as(function, store, &secrets, &request)
            .await
            .unwrap_or_else(|| panic!("no webhook serves events/{function}"));
        assert_eq!(reply.metrics, metrics, "{file}");
        assert_eq!(
            read_response(reply.into_response()),
            (status, body),
            "{file}"
        );
    }

    // approve + replay + base64-body: two distinct activations, two units.
    let s = user_summary(&t.store, "USER_TOKEN_1234567").await;
    assert_eq!(s.entitlements[0].units_used, 2);
    assert_eq!(s.activations.len(), 2);
    assert_eq!(
        s.customer_uid.as_ref().map(|c| c.as_str()),
        Some("058c8716-47dd-4fc4-be89-00978a86b7c0")
    );

    // installed, doc sample (DISABLED), unknown state: three facts; the redelivery added none.
    let iccid = shared::domain::ids::Iccid::parse("89361123300836129514").unwrap();
    let esim = t.store.esim_history(&iccid).await.unwrap().unwrap();
    assert_eq!(
        esim.current.as_ref().unwrap().status.profile_state.as_str(),
        "SUSPENDED"
    );
    let states: Vec<&str> = esim
        .history
        .iter()
        .map(|h| h.status.profile_state.as_str())
        .collect();
    assert_eq!(states, ["SUSPENDED", "DISABLED", "INSTALLED"]);
    // The balance samples are the registered demo user's; the country sample is this eSIM's.
    assert_eq!(
        s.latest_balance_alert.map(|a| a.alert.balance_bytes),
        Some(93_618_231)
    );
    let balances: Vec<&str> = s.balances.iter().map(|b| b.item.as_str()).collect();
    assert_eq!(balances, ["a15bb850-8f4c-4a2b-9d6e-2f1c3b4a5d6e"]);
    let country = esim.country.map(|c| c.change.new_country.as_str());
    assert_eq!(country, Some("DE"));
    assert_eq!(esim.country_history.len(), 1);
}

#[tokio::test]
async fn every_purchase_api_sample_gets_its_expected_answer() {
    use purchase_api::callers::Callers;
    use purchase_api::PurchaseApi;
    use shared::runtime::HttpFunction;
    let t = TestTable::new().await;
    let key =
        shared::domain::erasure::UserHashKey::new(b"an-integration-test-user-hash-key").unwrap();
    let api = PurchaseApi {
        store: t.store.clone(),
        user_hash_key: Some(shared::webhook::gate::secrets::Sourced::fixed(key)),
        callers: Callers::any(),
    };
    for (file, status, holds) in purchase_api_expectations() {
        let (answered, body) = read_response(api.handle(sample_event(file)).await);
        assert_eq!(answered, status, "{file}: {body}");
        for (field, value) in holds.as_object().unwrap() {
            assert_eq!(&body[field], value, "{file}: {field} in {body}");
        }
    }
}
