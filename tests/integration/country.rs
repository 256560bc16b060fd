//! Country Change against a real DynamoDB-API server.

use country_change::CountryChangeWebhook;
use esim_status::EsimStatusWebhook;
use serde_json::{json, Value};
use shared::adapters::dynamo::DynamoStore;
use shared::domain::country::CountryChange;
use shared::domain::payload::FromBody;
use time::{Duration, OffsetDateTime};

use crate::cli::cli_on;
use crate::common::{self, concurrently, post, recorded_count, Auth, TestTable};

const ICCID: &str = "89361123300836129514";

fn change(previous: Option<&str>, new: &str) -> String {
    json!({"imsi": "260216611193634", "iccid": ICCID, "previousCountry": previous, "newCountry": new})
        .to_string()
}

async fn send(store: &DynamoStore, body: &str) -> (u16, Value) {
    post(&CountryChangeWebhook(store.clone()), body).await
}

/// `entitlements esim --iccid <ICCID> --json` on the table.
async fn esim_json(table: &str) -> Value {
    let (code, out, err) = cli_on(table, &["esim", "--iccid", ICCID, "--json"]).await;
    assert_eq!(code, 0, "{err}");
    serde_json::from_str(&out).unwrap()
}

/// The new countries of the eSIM's history, newest first.
fn countries(esim: &Value) -> Vec<&str> {
    let history = esim["countryHistory"].as_array().unwrap();
    history
        .iter()
        .map(|h| h["newCountry"].as_str().unwrap())
        .collect()
}

#[tokio::test]
async fn records_the_country_in_one_request_and_a_redelivery_changes_nothing() {
    let t = TestTable::new().await;
    let recorded = (200, json!({"status": "recorded"}));
    assert_eq!(send(&t.store, &change(None, "DE")).await, recorded);
    assert_eq!(
        t.log.operations(),
        ["TransactWriteItems"],
        "one DynamoDB request"
    );
    let before = esim_json(&t.name).await;
    for _ in 0..2 {
        assert_eq!(
            send(&t.store, &change(None, "DE")).await,
            (200, json!({"status": "unchanged"}))
        );
    }
    assert_eq!(esim_json(&t.name).await, before);
    assert_eq!(send(&t.store, &change(Some("DE"), "FR")).await, recorded);

    // The eSIM's status and its country live side by side.
    let status = json!({"iccid": ICCID, "imsi": "260216611193634", "profileState": "INSTALLED"});
    let esim_status = post(&EsimStatusWebhook(t.store.clone()), &status.to_string()).await;
    assert_eq!(esim_status, recorded);
    let esim = esim_json(&t.name).await;
    assert_eq!(esim["country"]["newCountry"], "FR");
    assert_eq!(esim["country"]["previousCountry"], "DE");
    assert_eq!(esim["country"]["imsi"], "260216611193634");
    assert_eq!(countries(&esim), ["FR", "DE"]);
    assert_eq!(esim["countryHistory"][1]["previousCountry"], Value::Null);
    assert_eq!(esim["current"]["profileState"], "INSTALLED");
    assert_eq!(esim["history"].as_array().unwrap().len(), 1);
}

#[tokio::test]
async fn an_older_change_goes_into_the_history_only() {
    let t = TestTable::new().await;
    assert_eq!(send(&t.store, &change(Some("FR"), "AT")).await.0, 200);
    // Replayed with the time it was first received, before the current one.
    let late = CountryChange::from_body(change(Some("DE"), "FR").as_bytes()).unwrap();
    let earlier = OffsetDateTime::now_utc() - Duration::minutes(5);
    let outcome = shared::domain::country::record(&t.store, &late, earlier).await;
    assert_eq!(outcome.unwrap(), shared::domain::timeline::Recorded::Late);
    let again = shared::domain::country::record(&t.store, &late, earlier).await;
    assert_eq!(
        again.unwrap(),
        shared::domain::timeline::Recorded::Unchanged
    );

    let esim = esim_json(&t.name).await;
    assert_eq!(esim["country"]["newCountry"], "AT");
    assert_eq!(countries(&esim), ["AT", "FR"]);
    assert_eq!(esim["current"], Value::Null, "no status received");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 8)]
async fn concurrent_redeliveries_append_one_entry() {
    let t = TestTable::new().await;
    let answers = concurrently(20, |_| {
        let store = t.other_store();
        async move { send(&store, &change(None, "DE")).await }
    })
    .await;
    assert_eq!(recorded_count(&answers), 1);
    assert_eq!(countries(&esim_json(&t.name).await), ["DE"]);
}

#[tokio::test]
async fn invalid_input_is_400_and_nothing_is_stored() {
    let t = TestTable::new().await;
    let code_rule = "must be an ISO 3166-1 alpha-2 country code, e.g. DE";
    for (body, error) in [
        (change(None, "XK"), format!("newCountry {code_rule}")),
        (change(None, "DEU"), format!("newCountry {code_rule}")),
        (
            change(Some("EU"), "DE"),
            format!("previousCountry {code_rule}"),
        ),
        (
            change(None, "DE").replace(ICCID, "123"),
            "iccid must be 18 to 22 digits".to_owned(),
        ),
        (
            json!({"imsi": "1", "iccid": ICCID, "newCountry": 276}).to_string(),
            "newCountry must be a string".to_owned(),
        ),
    ] {
        let expected = json!({"error": format!("invalid request: {error}")});
        assert_eq!(send(&t.store, &body).await, (400, expected), "{body}");
    }
    assert!(t.log.operations().is_empty());
    let (code, _, err) = cli_on(&t.name, &["esim", "--iccid", ICCID]).await;
    assert_eq!(
        (code, err.as_str()),
        (1, "error: nothing was ever received for this eSIM\n")
    );
}

#[tokio::test]
async fn without_the_secret_nothing_is_read_or_written() {
    let t = TestTable::new().await;
    for auth in [Auth::None, Auth::Bearer("nope"), Auth::Query("nope")] {
        let webhook = CountryChangeWebhook(t.store.clone());
        assert_eq!(
            common::call(&webhook, Some(&change(None, "DE")), auth).await,
            (401, json!({"error": "unauthorized"}))
        );
    }
    assert!(t.log.operations().is_empty());
}
