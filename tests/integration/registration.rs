//! Customer Registration against a real DynamoDB-API server.

use crate::common::{self, post, user_summary, Auth, TestTable, LOCAL_SECRET};
use customer_registration::CustomerRegistrationWebhook;
use serde_json::{json, Value};
use shared::adapters::dynamo::DynamoStore;
use shared::domain::ids::CustomerUid;
use shared::domain::views::ReadModels;

async fn user(store: &DynamoStore, token: &str, email: Option<&str>) {
    shared::testkit::grant_units(store, token, "1_GB", 1, email, None).await;
}

/// Registers through the function over `store`, presenting the secret as `auth` says.
async fn call_auth(store: &DynamoStore, body: &str, auth: Auth<'_>) -> (u16, Value) {
    common::call(
        &CustomerRegistrationWebhook(store.clone()),
        Some(body),
        auth,
    )
    .await
}

/// Registers through the function over `store` with the configured secret.
async fn call(store: &DynamoStore, body: &str) -> (u16, Value) {
    post(&CustomerRegistrationWebhook(store.clone()), body).await
}

/// The user token the customer id `uid` leads to, if any.
async fn user_for(store: &DynamoStore, uid: &str) -> Option<String> {
    let found = store
        .user_for_customer(&CustomerUid::parse(uid).unwrap())
        .await
        .unwrap();
    found.map(|u| u.as_str().to_owned())
}

/// The customer id on `user`'s profile, if any.
async fn customer_of(store: &DynamoStore, user: &str) -> Option<String> {
    let summary = user_summary(store, user).await;
    summary.customer_uid.map(|c| c.as_str().to_owned())
}

#[tokio::test]
async fn a_known_user_gets_the_email_and_the_customer_id_is_recorded_both_ways() {
    let t = TestTable::new().await;
    user(&t.store, "u1", Some("u1@example.com")).await;
    t.log.clear();
    let answer = (200, json!({"email": "u1@example.com"}));
    let body = json!({"userToken": "u1", "customerUid": "c-1"}).to_string();
    assert_eq!(call(&t.store, &body).await, answer);
    // The profile, then the link that makes the customer id name one user: once per user and id.
    assert_eq!(t.log.operations(), ["UpdateItem", "UpdateItem"]);

    // A redelivery, and the `uid` spelling, answer the same, with one DynamoDB request.
    let alias = json!({"userToken": "u1", "uid": "c-1"}).to_string();
    for again in [&body, &alias] {
        t.log.clear();
        assert_eq!(call(&t.store, again).await, answer, "{again}");
        assert_eq!(t.log.operations(), ["UpdateItem"], "one DynamoDB request");
    }

    assert_eq!(customer_of(&t.store, "u1").await.as_deref(), Some("c-1"));
    assert_eq!(user_for(&t.store, "c-1").await.as_deref(), Some("u1"));
    assert_eq!(user_for(&t.store, "c-2").await, None);
}

#[tokio::test]
async fn a_new_customer_id_replaces_the_old_one() {
    let t = TestTable::new().await;
    user(&t.store, "u1", Some("u1@example.com")).await;
    for uid in ["c-old", "c-new"] {
        let body = json!({"userToken": "u1", "customerUid": uid}).to_string();
        assert_eq!(call(&t.store, &body).await.0, 200);
    }
    assert_eq!(user_for(&t.store, "c-new").await.as_deref(), Some("u1"));
    assert_eq!(user_for(&t.store, "c-old").await, None);
}

#[tokio::test]
async fn a_known_user_without_email_gets_null_and_is_still_registered() {
    let t = TestTable::new().await;
    user(&t.store, "u1", None).await;
    let body = json!({"userToken": "u1", "customerUid": "c-1"}).to_string();
    assert_eq!(call(&t.store, &body).await, (200, json!({"email": null})));
    assert_eq!(user_for(&t.store, "c-1").await.as_deref(), Some("u1"));
}

#[tokio::test]
async fn an_unknown_user_gets_404_and_the_customer_id_is_kept() {
    let t = TestTable::new().await;
    let body = json!({"userToken": "stranger", "customerUid": "c-9"}).to_string();
    assert_eq!(
        call(&t.store, &body).await,
        (404, json!({"error": "unknown user"}))
    );

    assert_eq!(user_for(&t.store, "c-9").await.as_deref(), Some("stranger"));
    let summary = user_summary(&t.store, "stranger").await;
    assert!(summary.found);
    assert_eq!(summary.unclaimed_customer_uids, ["c-9"]);
    assert_eq!(summary.customer_uid, None, "no profile was invented");
    assert!(summary.entitlements.is_empty());

    // Once the user exists, the registration lands on the profile and wins the lookup.
    user(&t.store, "stranger", Some("s@example.com")).await;
    assert_eq!(
        call(&t.store, &body).await,
        (200, json!({"email": "s@example.com"}))
    );
    assert_eq!(
        customer_of(&t.store, "stranger").await.as_deref(),
        Some("c-9")
    );
    assert_eq!(user_for(&t.store, "c-9").await.as_deref(), Some("stranger"));
}

#[tokio::test]
async fn bad_input_is_400_naming_the_problem() {
    let t = TestTable::new().await;
    user(&t.store, "u1", Some("u1@example.com")).await;
    t.log.clear();
    for (body, error) in [
        ("{", "invalid request: body is not valid JSON: EOF while parsing an object at line 1 column 1"),
        ("", "invalid request: body is empty"),
        ("[]", "invalid request: body must be a JSON object"),
        (r#"{"customerUid": "c"}"#, "invalid request: userToken is missing"),
        (r#"{"userToken": "u1"}"#, "invalid request: customerUid is missing"),
        (r#"{"userToken": "u1", "customerUid": 7}"#, "invalid request: customerUid must be a string"),
        (r#"{"userToken": 7, "customerUid": "c"}"#, "invalid request: userToken must be a string"),
        (r#"{"userToken": "u1", "customerUid": ""}"#, "invalid request: customerUid is empty"),
        (r#"{"userToken": "u1", "uid": "a", "customerUid": "b"}"#, "invalid request: customerUid and uid must agree when both are sent"),
    ] {
        assert_eq!(call(&t.store, body).await, (400, json!({"error": error})), "{body}");
    }
    assert!(t.log.operations().is_empty());
}

#[tokio::test]
async fn without_the_secret_nothing_is_read_or_written() {
    let t = TestTable::new().await;
    user(&t.store, "u1", Some("u1@example.com")).await;
    t.log.clear();
    let body = json!({"userToken": "u1", "customerUid": "c-1"}).to_string();
    for auth in [Auth::None, Auth::Bearer("nope"), Auth::Query("nope")] {
        assert_eq!(
            call_auth(&t.store, &body, auth).await,
            (401, json!({"error": "unauthorized"}))
        );
    }
    assert!(t.log.operations().is_empty());
    assert_eq!(
        call_auth(&t.store, &body, Auth::Query(LOCAL_SECRET))
            .await
            .0,
        200
    );
}
