//! Balance Alert and Balance Activation against a real DynamoDB-API server.

use balance_activation::BalanceActivationWebhook;
use balance_alert::BalanceAlertWebhook;
use customer_registration::CustomerRegistrationWebhook;
use serde_json::{json, Value};
use shared::adapters::dynamo::DynamoStore;

use crate::cli::show_json;
use crate::common::{self, concurrently, post, Auth, TestTable};

const UID: &str = "058c8716-47dd-4fc4-be89-00978a86b7c0";
const ITEM: &str = "a15bb850-8f4c-4a2b-9d6e-2f1c3b4a5d6e";

fn alert(timestamp: &str, bytes: u64) -> String {
    json!({"uid": UID, "iccid": "89361123300836129514", "imsi": "260216611193634",
           "timestamp": timestamp, "balanceAmountInByte": bytes})
    .to_string()
}

/// An alert whose balance is `raw`, written as it is into the JSON.
fn alert_with_balance(raw: &str) -> String {
    let balance = |value: &str| format!("\"balanceAmountInByte\":{value},");
    let body = alert("2022-08-21T10:15:30Z", 1).replace(&balance("1"), &balance(raw));
    assert!(body.contains(&balance(raw)), "{body}");
    body
}

fn activation(expires_at: &str) -> String {
    json!({"uid": UID, "activatedItem": ITEM, "activatedAt": "2025-08-25T09:52:10Z",
           "expiresAt": expires_at})
    .to_string()
}

async fn send_alert(store: &DynamoStore, body: &str) -> (u16, Value) {
    post(&BalanceAlertWebhook(store.clone()), body).await
}

async fn send_activation(store: &DynamoStore, body: &str) -> (u16, Value) {
    post(&BalanceActivationWebhook(store.clone()), body).await
}

/// Every item the table holds under the customer, by sort key.
async fn customer_items(t: &TestTable) -> Vec<String> {
    let found = t
        .store
        .client()
        .query()
        .table_name(&t.name)
        .key_condition_expression("pk = :pk")
        .expression_attribute_values(
            ":pk",
            aws_sdk_dynamodb::types::AttributeValue::S(format!("CUSTOMER#{UID}")),
        )
        .send()
        .await
        .unwrap();
    found
        .items()
        .iter()
        .map(|i| i["sk"].as_s().unwrap().clone())
        .collect()
}

/// Registers `u1` (known, with an email) as the customer, through Customer Registration.
async fn register(store: &DynamoStore) {
    shared::testkit::grant_units(store, "u1", "1_GB", 1, Some("u1@example.com"), None).await;
    let body = json!({"userToken": "u1", "customerUid": UID}).to_string();
    let answer = post(&CustomerRegistrationWebhook(store.clone()), &body).await;
    assert_eq!(answer, (200, json!({"email": "u1@example.com"})));
}

const RECORDED: (u16, &str) = (200, "recorded");

fn status(answer: (u16, Value)) -> (u16, String) {
    (
        answer.0,
        answer.1["status"].as_str().unwrap_or("").to_owned(),
    )
}

#[tokio::test]
async fn an_alert_is_one_request_and_a_redelivery_changes_nothing() {
    let t = TestTable::new().await;
    let body = alert("2022-08-21T10:15:30Z", 93_618_231);
    assert_eq!(
        send_alert(&t.store, &body).await,
        (200, json!({"status": "recorded"}))
    );
    assert_eq!(t.log.operations(), ["PutItem"], "one DynamoDB request");
    let stored = customer_items(&t).await;
    for _ in 0..2 {
        assert_eq!(
            send_alert(&t.store, &body).await,
            (200, json!({"status": "unchanged"}))
        );
    }
    assert_eq!(customer_items(&t).await, stored);
    assert_eq!(
        stored,
        ["BALANCE_ALERT#2022-08-21T10:15:30.000Z#89361123300836129514"]
    );
}

#[tokio::test]
async fn an_older_alert_is_kept_but_never_the_latest_and_links_once_registered() {
    let t = TestTable::new().await;
    // Alerts for a customer nobody has registered yet are kept.
    let newer = alert("2022-08-21T12:00:00Z", 50_000_000);
    let older = alert("2022-08-21T10:15:30+02:00", 93_618_231);
    assert_eq!(
        status(send_alert(&t.store, &newer).await),
        (200, "recorded".into())
    );
    assert_eq!(
        status(send_alert(&t.store, &older).await),
        (200, "recorded".into())
    );
    assert_eq!(customer_items(&t).await.len(), 2, "history keeps both");

    register(&t.store).await;
    let shown = show_json(&t.name, "u1").await;
    let latest = &shown["latestBalanceAlert"];
    assert_eq!(latest["balanceAmountInByte"], 50_000_000);
    assert_eq!(latest["timestamp"], "2022-08-21T12:00:00.000Z");
    assert_eq!(latest["iccid"], "89361123300836129514");
    assert_eq!(latest["customerUid"], UID);
    assert_eq!(shown["customerUid"], UID);
}

#[tokio::test]
async fn activations_show_as_balances_and_a_new_expiry_replaces_the_old() {
    let t = TestTable::new().await;
    register(&t.store).await;
    let shown = show_json(&t.name, "u1").await;
    assert_eq!(shown["balances"], json!([]));
    assert_eq!(shown["latestBalanceAlert"], Value::Null);

    t.log.clear();
    let first = activation("2025-09-02T10:15:30Z");
    assert_eq!(
        status(send_activation(&t.store, &first).await),
        (200, "recorded".into())
    );
    assert_eq!(t.log.operations(), ["PutItem"], "one DynamoDB request");
    assert_eq!(
        status(send_activation(&t.store, &first).await),
        (200, "unchanged".into())
    );
    tokio::time::sleep(std::time::Duration::from_millis(5)).await;
    let extended = activation("2025-09-09T10:15:30Z");
    assert_eq!(
        status(send_activation(&t.store, &extended).await),
        (200, "recorded".into())
    );

    let shown = show_json(&t.name, "u1").await;
    assert_eq!(
        shown["balances"],
        json!([{"item": ITEM, "activatedAt": "2025-08-25T09:52:10.000Z", "expiresAt": "2025-09-09T10:15:30.000Z"}])
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 8)]
async fn concurrent_redeliveries_store_one_alert_and_one_activation() {
    let t = TestTable::new().await;
    let answers = concurrently(20, |i| {
        let store = t.other_store();
        async move {
            match i % 2 {
                0 => status(send_alert(&store, &alert("2022-08-21T10:15:30Z", 1)).await),
                _ => status(send_activation(&store, &activation("2025-09-02T10:15:30Z")).await),
            }
        }
    })
    .await;
    assert!(answers.iter().all(|(code, _)| *code == 200), "{answers:?}");
    let recorded = answers.iter().filter(|a| a.1 == RECORDED.1).count();
    assert_eq!(recorded, 2, "one alert, one activation: {answers:?}");
    assert_eq!(customer_items(&t).await.len(), 2);
}

#[tokio::test]
async fn invalid_input_is_400_and_nothing_is_stored() {
    let t = TestTable::new().await;
    let integer = "balanceAmountInByte must be a JSON integer from 0 to 9223372036854775807";
    let balances = ["1.5", "1e3", "-1", "\"1\"", "9223372036854775808"];
    let mut cases: Vec<(String, &str)> = balances
        .into_iter()
        .map(|raw| (alert_with_balance(raw), integer))
        .collect();
    cases.extend([
        (
            alert("yesterday", 1),
            "timestamp must be an RFC 3339 time, e.g. 2022-08-21T10:15:30Z",
        ),
        (
            alert("2022-08-21T10:15:30Z", 1).replace(UID, ""),
            "uid is empty",
        ),
    ]);
    for (body, error) in cases {
        let expected = json!({"error": format!("invalid request: {error}")});
        assert_eq!(send_alert(&t.store, &body).await, (400, expected), "{body}");
    }
    let backwards = activation("2025-08-01T00:00:00Z");
    assert_eq!(
        send_activation(&t.store, &backwards).await,
        (
            400,
            json!({"error": "invalid request: expiresAt must not be before activatedAt"})
        )
    );
    assert!(t.log.operations().is_empty());
    assert!(customer_items(&t).await.is_empty());
    // The same body with a valid balance is accepted: the cases fail for their one change.
    let valid = alert_with_balance("9223372036854775807");
    assert_eq!(send_alert(&t.store, &valid).await.0, 200);
}

#[tokio::test]
async fn without_the_secret_nothing_is_read_or_written() {
    let t = TestTable::new().await;
    let unauthorized = (401, json!({"error": "unauthorized"}));
    for auth in [Auth::None, Auth::Bearer("nope"), Auth::Query("nope")] {
        let body = alert("2022-08-21T10:15:30Z", 1);
        let webhook = BalanceAlertWebhook(t.store.clone());
        assert_eq!(
            common::call(&webhook, Some(&body), auth).await,
            unauthorized
        );
        let body = activation("2025-09-02T10:15:30Z");
        let webhook = BalanceActivationWebhook(t.store.clone());
        assert_eq!(
            common::call(&webhook, Some(&body), auth).await,
            unauthorized
        );
    }
    assert!(t.log.operations().is_empty());
}
