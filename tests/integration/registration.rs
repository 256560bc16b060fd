//! Customer Registration against a real DynamoDB-API server.

use crate::common::{http_event, read_response, Auth, TestTable, LOCAL_SECRET};
use serde_json::{json, Value};
use shared::auth::WebhookSecrets;
use shared::dynamo::DynamoStore;
use shared::ids::{CustomerUid, UserToken};
use shared::views::ReadModels;

const PATH: &str = "/sdk/customer-registration";

async fn user(store: &DynamoStore, token: &str, email: Option<&str>) {
    crate::common::grant_with_email(store, token, "1_GB", 1, email, None).await;
}

async fn call_auth(store: &DynamoStore, body: &str, auth: Auth<'_>) -> (u16, Value) {
    let request = http_event(PATH, Some(body), false, auth);
    let secrets = WebhookSecrets::parse(LOCAL_SECRET);
    read_response(
        shared::pipeline::handle(
            &customer_registration::RegistrationWebhook(store.clone()),
            &secrets,
            request,
        )
        .await,
    )
}

async fn call(store: &DynamoStore, body: &str) -> (u16, Value) {
    call_auth(store, body, Auth::Bearer(LOCAL_SECRET)).await
}

fn customer(uid: &str) -> CustomerUid {
    CustomerUid::parse(uid).unwrap()
}

#[tokio::test]
async fn a_known_user_gets_the_email_and_the_customer_id_is_recorded_both_ways() {
    let t = TestTable::new().await;
    user(&t.store, "u1", Some("u1@example.com")).await;
    t.log.clear();
    let body = json!({"userToken": "u1", "customerUid": "c-1"}).to_string();
    assert_eq!(
        call(&t.store, &body).await,
        (200, json!({"email": "u1@example.com"}))
    );
    assert_eq!(t.log.operations(), ["UpdateItem"], "one DynamoDB request");

    // A redelivery, and the `uid` spelling, answer the same.
    assert_eq!(
        call(&t.store, &body).await,
        (200, json!({"email": "u1@example.com"}))
    );
    let alias = json!({"userToken": "u1", "uid": "c-1"}).to_string();
    assert_eq!(
        call(&t.store, &alias).await,
        (200, json!({"email": "u1@example.com"}))
    );

    let summary = t
        .store
        .user_summary(&UserToken::parse("u1").unwrap())
        .await
        .unwrap();
    assert_eq!(
        summary.customer_uid.as_ref().map(|c| c.as_str()),
        Some("c-1")
    );
    let found = t.store.user_for_customer(&customer("c-1")).await.unwrap();
    assert_eq!(found.as_ref().map(UserToken::as_str), Some("u1"));
    assert_eq!(
        t.store.user_for_customer(&customer("c-2")).await.unwrap(),
        None
    );
}

#[tokio::test]
async fn a_new_customer_id_replaces_the_old_one() {
    let t = TestTable::new().await;
    user(&t.store, "u1", Some("u1@example.com")).await;
    for uid in ["c-old", "c-new"] {
        let body = json!({"userToken": "u1", "customerUid": uid}).to_string();
        assert_eq!(call(&t.store, &body).await.0, 200);
    }
    let found = t.store.user_for_customer(&customer("c-new")).await.unwrap();
    assert_eq!(found.as_ref().map(UserToken::as_str), Some("u1"));
    assert_eq!(
        t.store.user_for_customer(&customer("c-old")).await.unwrap(),
        None
    );
}

#[tokio::test]
async fn a_known_user_without_email_gets_null_and_is_still_registered() {
    let t = TestTable::new().await;
    user(&t.store, "u1", None).await;
    let body = json!({"userToken": "u1", "customerUid": "c-1"}).to_string();
    assert_eq!(call(&t.store, &body).await, (200, json!({"email": null})));
    let found = t.store.user_for_customer(&customer("c-1")).await.unwrap();
    assert_eq!(found.as_ref().map(UserToken::as_str), Some("u1"));
}

#[tokio::test]
async fn an_unknown_user_gets_404_and_the_customer_id_is_kept() {
    let t = TestTable::new().await;
    let body = json!({"userToken": "stranger", "customerUid": "c-9"}).to_string();
    assert_eq!(
        call(&t.store, &body).await,
        (404, json!({"error": "unknown user"}))
    );

    let found = t.store.user_for_customer(&customer("c-9")).await.unwrap();
    assert_eq!(found.as_ref().map(UserToken::as_str), Some("stranger"));
    let summary = t
        .store
        .user_summary(&UserToken::parse("stranger").unwrap())
        .await
        .unwrap();
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
    let summary = t
        .store
        .user_summary(&UserToken::parse("stranger").unwrap())
        .await
        .unwrap();
    assert_eq!(
        summary.customer_uid.as_ref().map(|c| c.as_str()),
        Some("c-9")
    );
    let found = t.store.user_for_customer(&customer("c-9")).await.unwrap();
    assert_eq!(found.as_ref().map(UserToken::as_str), Some("stranger"));
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
