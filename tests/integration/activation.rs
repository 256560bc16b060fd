//! Activation Request against a real DynamoDB-API server: every decision rule.

use crate::common::{
    concurrently, grant, http_event, local_gate, path, post, send, user_summary as summary, Auth,
    TestTable, LOCAL_SECRET,
};
use activation_request::ActivationRequestWebhook;
use serde_json::{json, Value};
use shared::adapters::dynamo::DynamoStore;
use shared::domain::entitlement::EntitlementStore;
use shared::domain::ids::{ItemId, UserToken};
use shared::webhook::gate::credentials::WebhookSecrets;
use shared::webhook::gate::jwt::{mint_hs256, UserTokenKeys};
use shared::webhook::gate::user_tokens::UserTokens;
use shared::webhook::gate::Gate;
use time::{Duration, OffsetDateTime};

fn body(activation: &str, user: &str, item: &str) -> String {
    json!({"inventoryItemId": item, "userToken": user, "metaTag": "order-42", "activationId": activation})
        .to_string()
}

async fn units_used(store: &DynamoStore, user: &str, item: &str) -> u32 {
    let s = summary(store, user).await;
    s.entitlements
        .iter()
        .find(|e| e.item.as_str() == item)
        .map_or(0, |e| e.units_used)
}

/// Sends `body` to the function over `store` configured with `secrets`, presenting the secret
/// as `auth` says; returns (status, JSON body).
async fn call_with(store: &DynamoStore, gate: &Gate, body: &str, auth: Auth<'_>) -> (u16, Value) {
    let request = http_event(
        path::<ActivationRequestWebhook<DynamoStore>>(),
        Some(body),
        false,
        auth,
    );
    send(&ActivationRequestWebhook::new(store.clone()), gate, request).await
}

/// Sends `body` to the function over `store` with the configured secret.
async fn call(store: &DynamoStore, body: &str) -> (u16, Value) {
    post(&ActivationRequestWebhook::new(store.clone()), body).await
}

/// The decision on a well-formed request for `activation` of `item` by `user`; every decision,
/// approval or refusal, is answered with 200.
async fn decide(store: &DynamoStore, activation: &str, user: &str, item: &str) -> Value {
    let (status, answer) = call(store, &body(activation, user, item)).await;
    assert_eq!(status, 200, "{activation}: {answer}");
    answer
}

fn success() -> Value {
    json!({"returnCode": "SUCCESS", "returnMessage": null})
}

fn fail(why: &str) -> Value {
    json!({"returnCode": "FAIL", "returnMessage": why})
}

#[tokio::test]
async fn approves_once_per_unit_and_records_the_request() {
    let t = TestTable::new().await;
    grant(&t.store, "u1", "1_GB", 2, None).await;

    assert_eq!(decide(&t.store, "a1", "u1", "1_GB").await, success());
    assert_eq!(units_used(&t.store, "u1", "1_GB").await, 1);
    assert_eq!(decide(&t.store, "a2", "u1", "1_GB").await, success());
    assert_eq!(
        decide(&t.store, "a3", "u1", "1_GB").await,
        fail("no units left for this item")
    );
    assert_eq!(units_used(&t.store, "u1", "1_GB").await, 2);

    let s = summary(&t.store, "u1").await;
    let decisions: Vec<(&str, &str)> = s
        .activations
        .iter()
        .map(|a| (a.activation_id.as_str(), a.decision.as_str()))
        .collect();
    assert_eq!(decisions.len(), 3);
    for expected in [("a1", "SUCCESS"), ("a2", "SUCCESS"), ("a3", "FAIL")] {
        assert!(
            decisions.contains(&expected),
            "{expected:?} in {decisions:?}"
        );
    }
    let a1 = s
        .activations
        .iter()
        .find(|a| a.activation_id.as_str() == "a1")
        .unwrap();
    assert_eq!(a1.item.as_str(), "1_GB");
    assert_eq!(a1.meta_tag.as_ref().unwrap().as_str(), "order-42");
    assert!(OffsetDateTime::now_utc() - a1.decided_at < Duration::minutes(1));
}

#[tokio::test]
async fn the_approve_path_makes_exactly_one_dynamodb_request() {
    let t = TestTable::new().await;
    grant(&t.store, "u1", "1_GB", 1, None).await;
    t.log.clear();
    assert_eq!(decide(&t.store, "a1", "u1", "1_GB").await, success());
    assert_eq!(t.log.operations(), ["TransactWriteItems"]);

    // A replay is answered from what the failed transaction returned: still one request.
    t.log.clear();
    assert_eq!(decide(&t.store, "a1", "u1", "1_GB").await, success());
    assert_eq!(t.log.operations(), ["TransactWriteItems"]);

    // A refusal is recorded with a second, conditional write.
    t.log.clear();
    assert_eq!(
        decide(&t.store, "a2", "u1", "1_GB").await["returnCode"],
        "FAIL"
    );
    assert_eq!(t.log.operations(), ["TransactWriteItems", "PutItem"]);
}

#[tokio::test]
async fn a_redelivery_returns_the_recorded_decision_and_consumes_nothing() {
    let t = TestTable::new().await;
    grant(&t.store, "u1", "1_GB", 3, None).await;
    for _ in 0..3 {
        assert_eq!(decide(&t.store, "a1", "u1", "1_GB").await, success());
    }
    assert_eq!(units_used(&t.store, "u1", "1_GB").await, 1);

    // A refusal stays a refusal, even after the user buys the item.
    assert_eq!(
        decide(&t.store, "r1", "u1", "5_GB").await,
        fail("no entitlement for this item")
    );
    grant(&t.store, "u1", "5_GB", 1, None).await;
    assert_eq!(
        decide(&t.store, "r1", "u1", "5_GB").await,
        fail("no entitlement for this item")
    );
    assert_eq!(units_used(&t.store, "u1", "5_GB").await, 0);
    assert_eq!(summary(&t.store, "u1").await.activations.len(), 2);
}

#[tokio::test]
async fn an_activation_id_reused_for_another_user_or_item_is_refused() {
    let t = TestTable::new().await;
    grant(&t.store, "u1", "1_GB", 1, None).await;
    grant(&t.store, "u2", "1_GB", 1, None).await;
    grant(&t.store, "u1", "5_GB", 1, None).await;
    assert_eq!(decide(&t.store, "a1", "u1", "1_GB").await, success());

    let reused = fail("activationId already used for another request");
    assert_eq!(decide(&t.store, "a1", "u2", "1_GB").await, reused.clone());
    assert_eq!(decide(&t.store, "a1", "u1", "5_GB").await, reused);
    assert_eq!(units_used(&t.store, "u2", "1_GB").await, 0);
    assert_eq!(units_used(&t.store, "u1", "5_GB").await, 0);
    assert!(summary(&t.store, "u2").await.activations.is_empty());
}

#[tokio::test]
async fn refuses_without_a_live_entitlement_and_says_why() {
    let t = TestTable::new().await;
    let now = OffsetDateTime::now_utc();
    grant(
        &t.store,
        "u1",
        "expired",
        1,
        Some(now - Duration::minutes(1)),
    )
    .await;
    grant(&t.store, "u1", "later", 1, Some(now + Duration::days(1))).await;
    grant(&t.store, "u1", "revoked", 2, None).await;
    let revoked = t
        .store
        .revoke(
            &UserToken::parse("u1").unwrap(),
            &ItemId::parse("revoked").unwrap(),
            now,
        )
        .await
        .unwrap()
        .unwrap();
    assert_eq!(revoked.units_left(), 0);

    assert_eq!(
        decide(&t.store, "a1", "nobody", "1_GB").await,
        fail("no entitlement for this item")
    );
    assert_eq!(
        decide(&t.store, "a2", "u1", "expired").await,
        fail("entitlement expired")
    );
    assert_eq!(
        decide(&t.store, "a3", "u1", "revoked").await,
        fail("entitlement revoked")
    );
    assert_eq!(decide(&t.store, "a4", "u1", "later").await, success());
    for item in ["expired", "revoked"] {
        assert_eq!(units_used(&t.store, "u1", item).await, 0);
    }
    // Granting again after a revocation makes the item activatable again.
    grant(&t.store, "u1", "revoked", 1, None).await;
    assert_eq!(decide(&t.store, "a5", "u1", "revoked").await, success());
}

#[tokio::test]
async fn bad_input_is_refused_with_a_reason_and_changes_nothing() {
    let t = TestTable::new().await;
    grant(&t.store, "u1", "1_GB", 1, None).await;
    let huge = "x".repeat(70_000);
    let long_id = "a".repeat(129);
    let cases: Vec<(String, &str)> = vec![
        (
            r#"{"inventoryItemId": "1_GB", "userToken": "u1", "metaTag": myTag, "activationId": "a1"}"#.into(),
            "invalid request: body is not valid JSON",
        ),
        (String::new(), "invalid request: body is empty"),
        ("[]".into(), "invalid request: body must be a JSON object"),
        ("\"text\"".into(), "invalid request: body must be a JSON object"),
        (r#"{"userToken": "u1", "activationId": "a1"}"#.into(), "invalid request: inventoryItemId is missing"),
        (r#"{"inventoryItemId": "1_GB", "userToken": "", "activationId": "a1"}"#.into(), "invalid request: userToken is empty"),
        (r#"{"inventoryItemId": "1_GB", "userToken": "u1", "activationId": 17}"#.into(), "invalid request: activationId must be a string"),
        (r#"{"inventoryItemId": ["1_GB"], "userToken": "u1", "activationId": "a1"}"#.into(), "invalid request: inventoryItemId must be a string"),
        (r#"{"inventoryItemId": "1_GB", "userToken": "u1", "activationId": null}"#.into(), "invalid request: activationId is missing"),
        (format!(r#"{{"inventoryItemId": "1_GB", "userToken": "u1", "activationId": "{long_id}"}}"#), "invalid request: activationId is longer than 128 bytes"),
        (format!(r#"{{"inventoryItemId": "1_GB", "userToken": "u1", "activationId": "a1", "metaTag": "{huge}"}}"#), "invalid request: body is larger than"),
        (r#"{"inventoryItemId": "1_GB", "userToken": "u\u0000", "activationId": "a1"}"#.into(), "invalid request: userToken contains control characters"),
    ];
    t.log.clear();
    for (body, reason) in &cases {
        let (status, answer) = call(&t.store, body).await;
        assert_eq!(status, 200, "{body}");
        assert_eq!(answer["returnCode"], "FAIL", "{body}");
        let message = answer["returnMessage"].as_str().unwrap();
        assert!(
            message.starts_with(reason),
            "{message:?} should start with {reason:?}"
        );
    }
    assert!(
        t.log.operations().is_empty(),
        "bad input must not reach the table"
    );
    assert_eq!(units_used(&t.store, "u1", "1_GB").await, 0);

    // The handler keeps serving: the same user is approved right after.
    assert_eq!(decide(&t.store, "a1", "u1", "1_GB").await, success());
}

#[tokio::test]
async fn meta_tag_may_be_absent_or_null_and_extra_fields_are_ignored() {
    let t = TestTable::new().await;
    grant(&t.store, "u1", "1_GB", 3, None).await;
    for (id, body) in [
        (
            "a1",
            json!({"inventoryItemId": "1_GB", "userToken": "u1", "activationId": "a1"}),
        ),
        (
            "a2",
            json!({"inventoryItemId": "1_GB", "userToken": "u1", "activationId": "a2", "metaTag": null}),
        ),
        (
            "a3",
            json!({"inventoryItemId": "1_GB", "userToken": "u1", "activationId": "a3", "future": {"x": [1]}}),
        ),
    ] {
        assert_eq!(
            call(&t.store, &body.to_string()).await,
            (200, success()),
            "{id}"
        );
    }
    assert_eq!(units_used(&t.store, "u1", "1_GB").await, 3);
}

#[tokio::test]
async fn a_base64_encoded_body_is_decided_normally() {
    let t = TestTable::new().await;
    grant(&t.store, "u1", "1_GB", 1, None).await;
    let (activation, secrets) = (ActivationRequestWebhook::new(t.store.clone()), local_gate());
    // Sends `body` base64-encoded, as API Gateway does with a body it takes for binary.
    let base64 = |body: &str| {
        let path = path::<ActivationRequestWebhook<DynamoStore>>();
        let request = http_event(path, Some(body), true, Auth::Bearer(LOCAL_SECRET));
        send(&activation, &secrets, request)
    };
    assert_eq!(base64(&body("a1", "u1", "1_GB")).await, (200, success()));
    let (_, answer) = base64("not json").await;
    assert!(answer["returnMessage"]
        .as_str()
        .unwrap()
        .starts_with("invalid request: body is not valid JSON"));
}

#[tokio::test]
async fn only_a_configured_secret_gets_an_answer() {
    let t = TestTable::new().await;
    grant(&t.store, "u1", "1_GB", 5, None).await;
    let rotating = Gate::open(WebhookSecrets::parse("old-secret,new-secret"));
    let b = body("a1", "u1", "1_GB");
    let unauthorized = (401, json!({"error": "unauthorized"}));

    t.log.clear();
    for auth in [
        Auth::None,
        Auth::Bearer("wrong"),
        Auth::Query("wrong"),
        Auth::Bearer(""),
        Auth::Query("old-secret,new-secret"),
    ] {
        let answer = call_with(&t.store, &rotating, &b, auth).await;
        assert_eq!(answer, unauthorized, "{auth:?}");
    }
    // With no secret configured nothing is approved, whatever is presented.
    let none = Gate::open(WebhookSecrets::parse(""));
    for auth in [Auth::None, Auth::Bearer(""), Auth::Query("")] {
        let answer = call_with(&t.store, &none, &b, auth).await;
        assert_eq!(answer, unauthorized, "no secret configured, {auth:?}");
    }
    assert!(
        t.log.operations().is_empty(),
        "nothing is read or written before authentication"
    );
    assert_eq!(units_used(&t.store, "u1", "1_GB").await, 0);

    // Each configured secret is accepted, whichever way it is presented.
    for (id, auth) in [
        ("a1", Auth::Bearer("old-secret")),
        ("a2", Auth::Query("new-secret")),
    ] {
        let answer = call_with(&t.store, &rotating, &body(id, "u1", "1_GB"), auth).await;
        assert_eq!(answer, (200, success()), "{auth:?}");
    }
}

/// Delivers all `requests` at once, each through its own client and connections (as separate
/// Lambda execution environments); returns the decisions, after checking each was a 200.
async fn race(t: &TestTable, requests: Vec<String>) -> Vec<Value> {
    let answers = concurrently(requests.len(), |i| {
        let (store, body) = (t.other_store(), requests[i].clone());
        async move { call(&store, &body).await }
    })
    .await;
    answers
        .into_iter()
        .map(|(status, answer)| {
            assert_eq!(status, 200, "{answer}");
            answer
        })
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 8)]
async fn concurrent_first_deliveries_approve_exactly_the_units_granted() {
    let t = TestTable::new().await;
    let units = 5;
    grant(&t.store, "u1", "1_GB", units, None).await;
    let requests = (0..40)
        .map(|i| body(&format!("race-{i}"), "u1", "1_GB"))
        .collect();
    let answers = race(&t, requests).await;
    let approved = answers
        .iter()
        .filter(|a| a["returnCode"] == "SUCCESS")
        .count();
    assert_eq!(approved, units as usize, "{answers:?}");
    assert!(answers
        .iter()
        .filter(|a| a["returnCode"] == "FAIL")
        .all(|a| a["returnMessage"] == "no units left for this item"));
    assert_eq!(units_used(&t.store, "u1", "1_GB").await, units);
    let s = summary(&t.store, "u1").await;
    assert_eq!(s.activations.len(), 40);
    assert_eq!(
        s.activations
            .iter()
            .filter(|a| a.decision.as_str() == "SUCCESS")
            .count(),
        units as usize
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 8)]
async fn concurrent_redeliveries_of_one_activation_consume_one_unit() {
    let t = TestTable::new().await;
    grant(&t.store, "u1", "1_GB", 5, None).await;
    let answers = race(&t, vec![body("same", "u1", "1_GB"); 30]).await;
    assert!(answers.iter().all(|a| *a == success()), "{answers:?}");
    assert_eq!(units_used(&t.store, "u1", "1_GB").await, 1);
    assert_eq!(summary(&t.store, "u1").await.activations.len(), 1);

    // The same for a refusal: one recorded decision, the same answer for every delivery.
    let answers = race(&t, vec![body("refused", "u1", "none"); 30]).await;
    assert!(
        answers
            .iter()
            .all(|a| *a == fail("no entitlement for this item")),
        "{answers:?}"
    );
    assert_eq!(summary(&t.store, "u1").await.activations.len(), 2);
}

/// The HS256 secret `entitlements user-token` reads (through `--secret-env`) and the gate
/// verifies with.
const USER_TOKEN_SECRET: &str = "integration-user-token-secret-0123456789";
const USER_TOKEN_SECRET_ENV: &str = "ACTIVATION_TEST_USER_TOKEN_SECRET";

/// The clients of a command that must not use any.
async fn no_aws() -> entitlements::Clients {
    panic!("user-token must not connect to AWS")
}

/// A token for `user` from `entitlements user-token`, run without a table.
async fn cli_token(user: &str) -> String {
    std::env::set_var(USER_TOKEN_SECRET_ENV, USER_TOKEN_SECRET);
    let args = [
        "entitlements",
        "user-token",
        "--user",
        user,
        "--ttl",
        "10m",
        "--secret-env",
        USER_TOKEN_SECRET_ENV,
    ];
    let (mut out, mut err) = (Vec::new(), Vec::new());
    let code = entitlements::run(args, no_aws, &mut out, &mut err).await;
    assert_eq!(code, 0, "{}", String::from_utf8_lossy(&err));
    String::from_utf8(out).unwrap().trim().to_owned()
}

#[tokio::test]
async fn verified_user_tokens_spend_the_named_users_units_and_forgeries_nothing() {
    let t = TestTable::new().await;
    grant(&t.store, "user-a", "1_GB", 1, None).await;
    grant(&t.store, "user-b", "1_GB", 1, None).await;
    let keys = UserTokenKeys::shared_secrets(USER_TOKEN_SECRET).unwrap();
    let gate = local_gate().verifying(UserTokens::fixed(keys));
    let decide = |activation: &'static str, token: String| {
        let store = t.store.clone();
        let gate = gate.clone();
        async move {
            let body = body(activation, &token, "1_GB");
            call_with(&store, &gate, &body, Auth::Bearer(LOCAL_SECRET)).await
        }
    };

    // A tampered app sends user-b's id, or a token it signed itself: refused, nothing spent.
    let forged = {
        let user = UserToken::parse("user-b").unwrap();
        let now = OffsetDateTime::now_utc();
        let other = "not-the-resellers-secret-0123456789abcdef";
        mint_hs256(other, &user, now, Duration::minutes(10)).unwrap()
    };
    for token in ["user-b".to_owned(), forged] {
        assert_eq!(decide("a1", token).await, (200, fail("invalid user token")));
    }
    assert_eq!(units_used(&t.store, "user-b", "1_GB").await, 0);
    assert!(summary(&t.store, "user-b").await.activations.is_empty());

    // The app of user-a, with the token the reseller's backend gave it.
    let token = cli_token("user-a").await;
    assert_eq!(decide("a1", token.clone()).await, (200, success()));
    assert_eq!(units_used(&t.store, "user-a", "1_GB").await, 1);
    assert_eq!(units_used(&t.store, "user-b", "1_GB").await, 0);
    let recorded = summary(&t.store, "user-a").await;
    assert_eq!(recorded.activations[0].activation_id.as_str(), "a1");
    // Redelivered with the same token: the recorded answer, no second unit.
    assert_eq!(decide("a1", token).await, (200, success()));
    assert_eq!(units_used(&t.store, "user-a", "1_GB").await, 1);
}
