//! eSIM Status against a real DynamoDB-API server.

use crate::common::{self, concurrently, post, recorded_count, Auth, TestTable};
use esim_status::EsimStatusWebhook;
use serde_json::{json, Value};
use shared::adapters::dynamo::DynamoStore;
use shared::domain::esim::ProfileState;
use shared::domain::ids::Iccid;
use shared::domain::views::{EsimHistory, ReadModels};

const ICCID: &str = "89361123300836129514";

/// Delivers `body` to the function over `store` with the configured secret.
async fn call(store: &DynamoStore, body: &str) -> (u16, Value) {
    post(&EsimStatusWebhook(store.clone()), body).await
}

fn status(state: &str, eid: Option<&str>) -> String {
    let mut body = json!({"iccid": ICCID, "imsi": "260216611193634", "profileState": state});
    if let Some(eid) = eid {
        body["eid"] = eid.into();
    }
    body.to_string()
}

async fn history(store: &DynamoStore) -> EsimHistory {
    store
        .esim_history(&Iccid::parse(ICCID).unwrap())
        .await
        .unwrap()
        .expect("eSIM recorded")
}

/// The current status of `h`.
fn current(h: &EsimHistory) -> &shared::domain::esim::EsimStatusRecord {
    h.current.as_ref().expect("a status recorded")
}

fn states(h: &EsimHistory) -> Vec<&str> {
    h.history
        .iter()
        .map(|r| r.status.profile_state.as_str())
        .collect()
}

#[tokio::test]
async fn records_current_state_and_history_in_one_request() {
    let t = TestTable::new().await;
    let recorded = (200, json!({"status": "recorded"}));
    assert_eq!(call(&t.store, &status("RELEASED", None)).await, recorded);
    t.log.clear();
    assert_eq!(
        call(&t.store, &status("INSTALLED", Some("74088234238931452"))).await,
        recorded
    );
    assert_eq!(
        t.log.operations(),
        ["TransactWriteItems"],
        "one DynamoDB request"
    );
    assert_eq!(
        call(&t.store, &status("DISABLED", Some("74088234238931452"))).await,
        recorded
    );
    assert_eq!(
        call(&t.store, &status("INSTALLED", Some("74088234238931452"))).await,
        recorded
    );

    let h = history(&t.store).await;
    assert_eq!(current(&h).status.profile_state, ProfileState::Installed);
    assert_eq!(
        current(&h).status.eid.as_ref().map(|e| e.as_str()),
        Some("74088234238931452")
    );
    assert_eq!(current(&h).status.imsi.as_str(), "260216611193634");
    assert_eq!(
        states(&h),
        ["INSTALLED", "DISABLED", "INSTALLED", "RELEASED"]
    );
    assert_eq!(h.history[0].received_at, current(&h).received_at);
}

#[tokio::test]
async fn a_repeated_identical_delivery_leaves_the_history_alone() {
    let t = TestTable::new().await;
    assert_eq!(
        call(&t.store, &status("INSTALLED", Some("1234"))).await.1["status"],
        "recorded"
    );
    for _ in 0..3 {
        assert_eq!(
            call(&t.store, &status("INSTALLED", Some("1234"))).await,
            (200, json!({"status": "unchanged"}))
        );
    }
    // A different eid is a new fact.
    assert_eq!(
        call(&t.store, &status("INSTALLED", Some("5678"))).await.1["status"],
        "recorded"
    );
    let h = history(&t.store).await;
    assert_eq!(states(&h), ["INSTALLED", "INSTALLED"]);
    assert_eq!(
        h.history[0].status.eid.as_ref().map(|e| e.as_str()),
        Some("5678")
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 8)]
async fn concurrent_redeliveries_append_one_entry() {
    let t = TestTable::new().await;
    let answers = concurrently(20, |_| {
        let store = t.other_store();
        async move { call(&store, &status("INSTALLED", None)).await }
    })
    .await;
    assert_eq!(recorded_count(&answers), 1);
    assert_eq!(states(&history(&t.store).await), ["INSTALLED"]);
}

#[tokio::test]
async fn undocumented_states_are_kept_verbatim() {
    let t = TestTable::new().await;
    assert_eq!(
        call(&t.store, &status("PENDING_DELETE", None)).await.1["status"],
        "recorded"
    );
    let h = history(&t.store).await;
    assert_eq!(
        current(&h).status.profile_state,
        ProfileState::Other("PENDING_DELETE".into())
    );
    assert_eq!(states(&h), ["PENDING_DELETE"]);
}

#[tokio::test]
async fn invalid_input_is_400_and_nothing_is_stored() {
    let t = TestTable::new().await;
    t.log.clear();
    for (body, error) in [
        (
            r#"{"iccid": "123", "imsi": "1", "profileState": "INSTALLED"}"#,
            "iccid must be 18 to 22 digits",
        ),
        (
            r#"{"iccid": 89361123300836129514, "imsi": "1", "profileState": "INSTALLED"}"#,
            "iccid must be a string",
        ),
        (
            r#"{"iccid": "89361123300836129514", "imsi": 260216611193634, "profileState": "INSTALLED"}"#,
            "imsi must be a string",
        ),
        (
            r#"{"iccid": "89361123300836129514", "imsi": "2602166111936341", "profileState": "INSTALLED"}"#,
            "imsi must be 1 to 15 digits",
        ),
        (
            r#"{"iccid": "89361123300836129514", "imsi": "1"}"#,
            "profileState is missing",
        ),
        (
            r#"{"iccid": "89361123300836129514", "imsi": "1", "profileState": ""}"#,
            "profileState is empty",
        ),
        (
            r#"{"iccid": "89361123300836129514", "imsi": "1", "profileState": "X", "eid": "abc"}"#,
            "eid must be 1 to 64 digits",
        ),
        (
            r#"{"iccid": "89361123300836129514", "imsi": "1", "profileState": "X", "eid": 1}"#,
            "eid must be a string",
        ),
        ("[]", "body must be a JSON object"),
        ("", "body is empty"),
    ] {
        let expected = json!({"error": format!("invalid request: {error}")});
        assert_eq!(call(&t.store, body).await, (400, expected), "{body}");
    }
    assert!(t.log.operations().is_empty());
    assert!(t
        .store
        .esim_history(&Iccid::parse(ICCID).unwrap())
        .await
        .unwrap()
        .is_none());
}

#[tokio::test]
async fn without_the_secret_nothing_is_read_or_written() {
    let t = TestTable::new().await;
    for auth in [Auth::None, Auth::Bearer("nope"), Auth::Query("nope")] {
        assert_eq!(
            common::call(
                &EsimStatusWebhook(t.store.clone()),
                Some(&status("INSTALLED", None)),
                auth
            )
            .await,
            (401, json!({"error": "unauthorized"}))
        );
    }
    assert!(t.log.operations().is_empty());
}
