//! The contract (README, "Purchase API"), route by route, over the in-memory store, from the
//! sample events in `events/purchase-api/` as API Gateway delivers them.

use std::time::Duration;

use lambda_http::Request;
use serde_json::{json, Value};
use shared::domain::erasure::{self, UserHashKey};
use shared::domain::ids::{ActivationId, PurchaseId, UserToken};
use shared::domain::purchase::PurchaseStore;
use shared::domain::views::ReadModels;
use shared::testkit::{FailingStore, Failure, InMemoryStore, LogCapture};
use shared::webhook::gate::secrets::Sourced;
use shared::webhook::reply::{INVALID_REQUEST, STORAGE_ERROR, STORAGE_PERMANENT_ERROR};

use super::*;

/// The sample events' caller.
const CALLER: &str = "arn:aws:sts::123456789012:assumed-role/PurchaseSystemRole/shop-backend";
/// The sample events' user, purchase and email.
const USER: &str = "USER_TOKEN_1234567";
const PURCHASE: &str = "order-1001";
const EMAIL: &str = "email@domain.com";

fn key() -> UserHashKey {
    UserHashKey::new(b"a-unit-test-user-hash-key-of-32-bytes").unwrap()
}

/// The API as deployed: any IAM caller, erasure configured.
fn api<S>(store: S) -> PurchaseApi<S> {
    PurchaseApi {
        store,
        user_hash_key: Some(Sourced::fixed(key())),
        callers: Callers::any(),
    }
}

/// `events/purchase-api/<name>.json`.
fn sample(name: &str) -> Value {
    let path = format!(
        "{}/../../events/purchase-api/{name}.json",
        env!("CARGO_MANIFEST_DIR")
    );
    let text = std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{path}: {e}"));
    serde_json::from_str(&text).unwrap_or_else(|e| panic!("{path}: {e}"))
}

fn request(event: &Value) -> Request {
    shared::testkit::parse_event(event)
}

/// The same event with `body` as its body.
fn with_body(mut event: Value, body: &str) -> Value {
    event["body"] = body.into();
    event
}

/// The same event without any IAM identity (a route deployed without the authorizer).
fn without_iam(mut event: Value) -> Value {
    if let Some(context) = event["requestContext"].as_object_mut() {
        context.remove("authorizer");
    }
    event
}

/// The same event as the local runner sends it: its raw path, no declared route, no identity.
fn as_local_runner(event: Value) -> Value {
    let mut event = without_iam(event);
    event["routeKey"] = "$default".into();
    event["requestContext"]["routeKey"] = "$default".into();
    if let Some(event) = event.as_object_mut() {
        event.remove("pathParameters");
    }
    event
}

/// (status, JSON body, metrics) of `api`'s answer to `event`.
async fn send<S: Store>(api: &PurchaseApi<S>, event: &Value) -> (u16, Value, Vec<&'static str>) {
    let (reply, _) = api.respond(&request(event)).await;
    let body = serde_json::from_str(&reply.body)
        .unwrap_or_else(|e| panic!("not JSON ({e}): {}", reply.body));
    (reply.status.as_u16(), body, reply.metric_names())
}

/// The answer to the sample `name`.
async fn sent<S: Store>(api: &PurchaseApi<S>, name: &str) -> (u16, Value, Vec<&'static str>) {
    send(api, &sample(name)).await
}

fn error(message: &str) -> Value {
    json!({ "error": message })
}

#[tokio::test]
async fn a_grant_is_created_once_and_repeated_with_the_same_answer() {
    let api = api(InMemoryStore::new());
    let (status, created, metrics) = sent(&api, "grant").await;
    assert_eq!((status, metrics), (201, vec![GRANTED.name]));
    assert_eq!(created["purchaseId"], PURCHASE);
    assert_eq!(created["userToken"], USER);
    assert_eq!(created["inventoryItemId"], "1_GB");
    assert_eq!(created["quantity"], 2);
    assert_eq!(created["expiresAt"], "2099-12-31T23:59:59.000Z");
    assert_eq!(created["delivery"], "sdk");
    assert!(created.get("units").is_none(), "{created}");
    assert!(created.get("email").is_none(), "{created}");
    let before = api.store.snapshot();
    let (status, again, metrics) = sent(&api, "grant").await;
    assert_eq!((status, &again, metrics), (200, &created, vec![]));
    assert_eq!(api.store.snapshot(), before, "nothing added");
    let summary = api
        .store
        .user_summary(&UserToken::parse(USER).unwrap())
        .await
        .unwrap();
    assert_eq!(summary.entitlements[0].units_granted, 2);
    assert_eq!(summary.email.as_deref(), Some(EMAIL));
}

#[tokio::test]
async fn a_purchase_id_again_with_other_fields_is_a_conflict_naming_them() {
    let api = api(InMemoryStore::new());
    let (_, stored, _) = sent(&api, "grant").await;
    let before = api.store.snapshot();
    let (status, conflict, metrics) = sent(&api, "grant-conflict").await;
    assert_eq!((status, metrics), (409, vec![CONFLICT.name]));
    assert_eq!(
        conflict,
        json!({
            "error": "purchase order-1001 was granted with another userToken, quantity",
            "differences": ["userToken", "quantity"],
            "purchase": stored,
        })
    );
    assert_eq!(api.store.snapshot(), before, "nothing granted");
}

#[tokio::test]
async fn an_invalid_body_is_refused_naming_the_field() {
    let api = api(InMemoryStore::new());
    let (status, body, metrics) = sent(&api, "grant-invalid").await;
    assert_eq!(status, 400);
    assert_eq!(body, error("quantity must be an integer from 1 to 100"));
    assert_eq!(metrics, [INVALID_REQUEST.name]);
    let grant = sample("grant");
    for (body, message) in [
        ("", "body is empty"),
        (
            "{",
            "body is not valid JSON: EOF while parsing an object at line 1 column 1",
        ),
        (
            r#"{"purchaseId":"p","userToken":"u","inventoryItemId":"1_GB","quantiy":2}"#,
            "unknown field quantiy",
        ),
        (
            r#"{"purchaseId":"p","userToken":"u"}"#,
            "inventoryItemId is missing",
        ),
        (
            r#"{"purchaseId":"p","userToken":"u","inventoryItemId":"1_GB","expiresAt":"soon"}"#,
            "expiresAt must be an RFC 3339 time, e.g. 2022-08-21T10:15:30Z",
        ),
        (
            r#"{"purchaseId":"p","userToken":"u","inventoryItemId":"1_GB","delivery":"post"}"#,
            "delivery must be \"sdk\" or \"top-up\"",
        ),
        (
            r#"{"purchaseId":"p","userToken":"u","inventoryItemId":"1_GB","price":{"value":1,"currency":"USD"}}"#,
            "price is only for \"delivery\": \"top-up\"",
        ),
        (
            r#"{"purchaseId":"p","userToken":"u","inventoryItemId":"1_GB","delivery":"top-up","price":{"value":-1,"currency":"USD"}}"#,
            "price must be {\"value\": a number from 0, \"currency\": three capital letters}",
        ),
    ] {
        let (status, answer, _) = send(&api, &with_body(grant.clone(), body)).await;
        assert_eq!((status, answer), (400, error(message)), "{body}");
    }
    assert_eq!(api.store.snapshot(), InMemoryStore::new().snapshot());
}

#[tokio::test]
async fn a_purchase_is_read_with_where_its_units_are() {
    let api = api(InMemoryStore::new());
    let (status, body, _) = sent(&api, "purchase").await;
    assert_eq!((status, body), (404, error("no purchase order-1001")));
    let (_, created, _) = sent(&api, "grant").await;
    // One unit activated.
    let activation = shared::domain::activation::ActivationRequest {
        activation_id: ActivationId::parse("a1").unwrap(),
        user_token: UserToken::parse(USER).unwrap(),
        item: shared::domain::ids::ItemId::parse("1_GB").unwrap(),
        meta_tag: None,
    };
    let now = OffsetDateTime::now_utc();
    let deadline = shared::domain::deadline::Deadline::after(Duration::from_secs(5));
    shared::domain::activation::decide(&api.store, &activation, None, now, deadline)
        .await
        .unwrap();
    let (status, found, metrics) = sent(&api, "purchase").await;
    assert_eq!((status, metrics), (200, vec![]));
    let mut expected = created;
    expected["units"] = json!({"granted": 2, "used": 1, "left": 1, "refunded": 0, "void": 0});
    assert_eq!(found, expected);
    let (status, body, _) = sent(&api, "purchase-unknown").await;
    assert_eq!((status, body), (404, error("no purchase order-9999")));
}

#[tokio::test]
async fn a_refund_removes_what_is_unused_once_and_answers_the_same_after() {
    let api = api(InMemoryStore::new());
    let (status, body, _) = sent(&api, "refund").await;
    assert_eq!((status, body), (404, error("no purchase order-1001")));
    sent(&api, "grant").await;
    let (status, refunded, metrics) = sent(&api, "refund").await;
    assert_eq!((status, metrics), (200, vec![REFUNDED.name]));
    assert_eq!(refunded["refund"]["unitsRefunded"], 2);
    assert_eq!(refunded["refund"]["reason"], "customer asked for a refund");
    assert_eq!(
        refunded["units"],
        json!({"granted": 2, "used": 0, "left": 0, "refunded": 2, "void": 0})
    );
    let user = UserToken::parse(USER).unwrap();
    let summary = api.store.user_summary(&user).await.unwrap();
    assert_eq!(summary.entitlements[0].units_left(), 0);
    let before = api.store.snapshot();
    // Again, with another reason or none: nothing changes, the answer is the same.
    for body in [r#"{"reason":"again"}"#, ""] {
        let again = with_body(sample("refund"), body);
        let (status, answer, metrics) = send(&api, &again).await;
        assert_eq!(
            (status, &answer, metrics),
            (200, &refunded, vec![]),
            "{body}"
        );
    }
    let (_, read, _) = sent(&api, "purchase").await;
    assert_eq!(read, refunded, "the purchase reads as its refund answered");
    assert_eq!(api.store.snapshot(), before);
    let unknown_field = with_body(sample("refund"), r#"{"why":"x"}"#);
    let (status, body, _) = send(&api, &unknown_field).await;
    assert_eq!((status, body), (400, error("unknown field why")));
}

#[tokio::test]
async fn a_user_reads_as_the_cli_shows_it() {
    let api = api(InMemoryStore::new());
    let (status, body, _) = sent(&api, "user").await;
    assert_eq!((status, body), (404, error("no such user")));
    sent(&api, "grant").await;
    let (status, shown, _) = sent(&api, "user").await;
    assert_eq!(status, 200);
    // `entitlements show --json` prints the summary with the same serde.
    let user = UserToken::parse(USER).unwrap();
    let summary = api.store.user_summary(&user).await.unwrap();
    assert_eq!(shown, serde_json::to_value(&summary).unwrap());
    assert_eq!(shown["email"], EMAIL);
}

#[tokio::test]
async fn erasure_forgets_the_user_and_keeps_the_purchase_under_its_hash() {
    let api = api(InMemoryStore::new());
    sent(&api, "grant").await;
    let (status, erased, metrics) = sent(&api, "erase").await;
    assert_eq!((status, metrics), (200, vec![ERASED.name]));
    let hash = key().hash(&UserToken::parse(USER).unwrap());
    assert_eq!(erased["userHash"], hash.as_str());
    assert_eq!(erased["erased"], true);
    assert_eq!(
        (erased["profiles"].clone(), erased["entitlements"].clone()),
        (json!(1), json!(1))
    );
    assert_eq!(erased["purchases"], 1);
    assert!(erased["erasedAt"].is_string(), "{erased}");
    // Again: nothing left to erase.
    let (status, again, metrics) = sent(&api, "erase").await;
    assert_eq!((status, metrics), (200, vec![]));
    assert_eq!(
        again,
        json!({"userHash": hash.as_str(), "erased": false, "profiles": 0, "entitlements": 0,
               "unclaimedRegistrations": 0, "activations": 0, "purchases": 0})
    );
    let (status, body, _) = sent(&api, "user").await;
    assert_eq!((status, body), (404, error("no such user")));
    let (status, purchase, _) = sent(&api, "purchase").await;
    assert_eq!(status, 200);
    assert_eq!(purchase["userHash"], hash.as_str());
    assert!(purchase.get("userToken").is_none(), "{purchase}");
    assert_eq!(purchase["units"]["void"], 2, "erased with the user");
    let stored = format!("{:?}", api.store.snapshot());
    assert!(
        !stored.contains(USER) && !stored.contains(EMAIL),
        "{stored}"
    );
}

#[tokio::test]
async fn without_a_hash_key_erasure_refuses_and_changes_nothing() {
    let mut api = api(InMemoryStore::new());
    api.user_hash_key = None;
    sent(&api, "grant").await;
    let before = api.store.snapshot();
    let (status, body, metrics) = sent(&api, "erase").await;
    assert_eq!(
        (status, body, metrics),
        (
            503,
            error("erasure is not configured: set USER_HASH_KEY_ARN (or USER_HASH_KEY locally)"),
            vec![]
        )
    );
    assert_eq!(api.store.snapshot(), before);
    // Everything else works.
    assert_eq!(sent(&api, "user").await.0, 200);
    assert_eq!(sent(&api, "refund").await.0, 200);
}

#[tokio::test]
async fn without_an_iam_caller_nothing_is_read_or_written() {
    // A store that fails every request: reaching it would answer 503, not 403.
    let failing = api(FailingStore(Failure::Transient));
    let stored = api(InMemoryStore::new());
    let before = stored.store.snapshot();
    let forbidden = (403, error("forbidden: no IAM caller"), vec![FORBIDDEN.name]);
    for name in [
        "grant",
        "grant-invalid",
        "purchase",
        "refund",
        "user",
        "erase",
    ] {
        let event = without_iam(sample(name));
        assert_eq!(send(&failing, &event).await, forbidden, "{name}");
        assert_eq!(send(&stored, &event).await, forbidden, "{name}");
    }
    assert_eq!(sent(&stored, "no-iam-caller").await, forbidden);
    // Whatever the path, method or size.
    let nowhere = with_body(
        as_local_runner(sample("grant")),
        &"x".repeat(MAX_BODY_BYTES + 1),
    );
    assert_eq!(send(&failing, &nowhere).await, forbidden);
    assert_eq!(stored.store.snapshot(), before);
}

#[tokio::test]
async fn only_listed_callers_are_served_when_a_list_is_set() {
    let mut api = api(InMemoryStore::new());
    api.callers = Callers::only(["arn:aws:sts::123456789012:assumed-role/OtherRole/*"]);
    let before = api.store.snapshot();
    let (status, body, metrics) = sent(&api, "grant").await;
    assert_eq!(
        (status, body, metrics),
        (
            403,
            error("forbidden: caller not allowed"),
            vec![FORBIDDEN.name]
        )
    );
    assert_eq!(api.store.snapshot(), before);
    api.callers = Callers::only([
        "arn:aws:sts::123456789012:assumed-role/OtherRole/*",
        "arn:aws:sts::123456789012:assumed-role/PurchaseSystemRole/*",
    ]);
    assert_eq!(sent(&api, "grant").await.0, 201);
}

#[tokio::test]
async fn the_local_caller_serves_only_events_without_an_iam_identity() {
    let local = "arn:aws:iam::000000000000:user/local";
    let event = as_local_runner(sample("grant"));
    // As the template configures it (the variable never set): refused.
    let deployed = api(InMemoryStore::new());
    let configured = Callers::from_lookup(|name| (name == callers::CALLERS_VAR).then(String::new));
    assert_eq!(configured, Callers::any());
    let deployed = PurchaseApi {
        callers: configured,
        ..deployed
    };
    assert_eq!(send(&deployed, &event).await.0, 403);
    // Set (run-local): served as that caller.
    let mut api = api(InMemoryStore::new());
    api.callers =
        Callers::from_lookup(|name| (name == callers::LOCAL_CALLER_VAR).then(|| local.to_owned()));
    assert_eq!(send(&api, &event).await.0, 201);
    // Never in place of a real identity: a listed local caller does not admit another.
    api.callers = Callers::only([local]).with_local_caller(local);
    assert_eq!(sent(&api, "purchase").await.0, 403);
    assert_eq!(
        send(&api, &as_local_runner(sample("purchase"))).await.0,
        200
    );
}

#[tokio::test]
async fn the_local_runners_raw_paths_are_routed_and_decoded() {
    let mut api = api(InMemoryStore::new());
    api.callers = Callers::any().with_local_caller("arn:aws:iam::000000000000:user/local");
    let grant =
        r#"{"purchaseId":"order/7 é","userToken":"user@example.com","inventoryItemId":"1_GB"}"#;
    let event = with_body(as_local_runner(sample("grant")), grant);
    assert_eq!(send(&api, &event).await.0, 201);
    let mut read = as_local_runner(sample("purchase"));
    read["rawPath"] = "/purchases/order%2F7%20%C3%A9".into();
    let (status, found, _) = send(&api, &read).await;
    assert_eq!(
        (status, &found["userToken"]),
        (200, &json!("user@example.com"))
    );
    let mut user = as_local_runner(sample("user"));
    user["rawPath"] = "/users/user%40example.com".into();
    assert_eq!(send(&api, &user).await.0, 200);
}

#[tokio::test]
async fn other_paths_are_404_other_methods_405_and_bad_parameters_400() {
    let api = api(FailingStore(Failure::Transient));
    let mut event = sample("purchase");
    event["routeKey"] = "$default".into();
    event["requestContext"]["routeKey"] = "$default".into();
    for (method, path, status, message) in [
        ("GET", "/nothing", 404, "not found"),
        ("GET", "/purchases/p1/refund", 405, "method not allowed"),
        ("PUT", "/users/u1", 405, "method not allowed"),
        ("GET", "/purchases/%20", 400, "purchaseId is empty"),
    ] {
        let mut event = event.clone();
        event["rawPath"] = path.into();
        event["requestContext"]["http"]["method"] = method.into();
        let (answered, body, _) = send(&api, &event).await;
        assert_eq!(
            (answered, body),
            (status, error(message)),
            "{method} {path}"
        );
    }
}

#[tokio::test]
async fn bodies_over_64_kib_are_refused_unread() {
    let api = api(InMemoryStore::new());
    for name in ["grant", "refund", "user"] {
        let event = with_body(sample(name), &"x".repeat(MAX_BODY_BYTES + 1));
        let (status, body, metrics) = send(&api, &event).await;
        assert_eq!(
            (status, body, metrics),
            (
                413,
                error("body is larger than 65536 bytes"),
                vec![INVALID_REQUEST.name]
            ),
            "{name}"
        );
    }
    assert_eq!(api.store.snapshot(), InMemoryStore::new().snapshot());
}

#[tokio::test]
async fn storage_failures_are_503_or_500() {
    for (failure, status, message, metrics) in [
        (
            Failure::Transient,
            503,
            "temporarily unavailable, please retry",
            vec![STORAGE_ERROR.name],
        ),
        (
            Failure::Permanent,
            500,
            "storage failed, retrying will not help",
            vec![STORAGE_ERROR.name, STORAGE_PERMANENT_ERROR.name],
        ),
    ] {
        let api = api(FailingStore(failure));
        for name in ["grant", "purchase", "refund", "user", "erase"] {
            let answered = sent(&api, name).await;
            assert_eq!(
                answered,
                (status, error(message), metrics.clone()),
                "{name}"
            );
        }
    }
}

#[tokio::test]
async fn every_store_call_ends_by_the_lambda_deadline() {
    let api = api(FailingStore(Failure::NeverAnswers));
    for name in ["grant", "purchase", "refund", "user", "erase"] {
        let mut context = lambda_http::Context::default();
        let now_ms = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap()
            .as_millis();
        context.deadline = u64::try_from(now_ms).unwrap() + 400;
        let request = request(&sample(name)).with_lambda_context(context);
        let started = std::time::Instant::now();
        let (reply, _) = api.respond(&request).await;
        assert!(started.elapsed() < Duration::from_millis(400), "{name}");
        assert_eq!(reply.status.as_u16(), 503, "{name}");
        assert_eq!(
            reply.reason.as_deref(),
            Some("deadline exceeded before storage answered")
        );
    }
}

#[tokio::test]
async fn one_line_per_request_never_with_a_user_token_or_email() {
    let api = api(InMemoryStore::new());
    let logs = LogCapture::default();
    {
        let _guard = logs.install();
        for name in [
            "grant",
            "grant",
            "grant-conflict",
            "purchase",
            "refund",
            "user",
            "erase",
            "no-iam-caller",
        ] {
            api.handle(request(&sample(name))).await;
        }
    }
    let text = logs.text();
    for secret in [USER, EMAIL, "USER_TOKEN_7654321"] {
        assert!(!text.contains(secret), "{secret} in {text}");
    }
    let lines: Vec<Value> = logs
        .lines()
        .into_iter()
        .filter(|l| l["message"] == "request")
        .collect();
    let seen: Vec<(Value, Value, Value)> = lines
        .iter()
        .map(|l| {
            (
                l["route"].clone(),
                l["status"].clone(),
                l["outcome"].clone(),
            )
        })
        .collect();
    assert_eq!(
        seen,
        [
            (json!("POST /purchases"), json!(201), json!("granted")),
            (
                json!("POST /purchases"),
                json!(200),
                json!("already_granted")
            ),
            (json!("POST /purchases"), json!(409), json!("conflict")),
            (
                json!("GET /purchases/{purchaseId}"),
                json!(200),
                json!("found")
            ),
            (
                json!("POST /purchases/{purchaseId}/refund"),
                json!(200),
                json!("refunded")
            ),
            (json!("GET /users/{userToken}"), json!(200), json!("found")),
            (
                json!("DELETE /users/{userToken}"),
                json!(200),
                json!("erased")
            ),
            (Value::Null, json!(403), json!("forbidden")),
        ]
    );
    for line in &lines[..5] {
        assert_eq!(line["purchase_id"], PURCHASE, "{line}");
        assert_eq!(line["item"], "1_GB", "{line}");
        assert_eq!(line["caller"], CALLER, "{line}");
    }
    let hash = key().hash(&UserToken::parse(USER).unwrap());
    assert_eq!(lines[6]["user_hash"], hash.as_str());
    assert!(lines[5].get("user_hash").is_none(), "{}", lines[5]);
}

#[tokio::test]
async fn an_erased_users_purchase_is_refunded_as_void() {
    let api = api(InMemoryStore::new());
    sent(&api, "grant").await;
    erasure::erase(
        &api.store,
        &key(),
        &UserToken::parse(USER).unwrap(),
        OffsetDateTime::now_utc(),
    )
    .await
    .unwrap();
    let (status, refunded, _) = sent(&api, "refund").await;
    assert_eq!(status, 200);
    assert_eq!(
        refunded["units"],
        json!({"granted": 2, "used": 0, "left": 0, "refunded": 0, "void": 2})
    );
    let id = PurchaseId::parse(PURCHASE).unwrap();
    let stored = api.store.purchase(&id).await.unwrap().unwrap();
    assert!(stored.holder.user_token().is_none());
}

mod properties {
    use super::*;
    use proptest::prelude::*;
    use shared::testkit::block_on;

    /// Every status the contract names.
    const STATUSES: [u16; 10] = [200, 201, 400, 403, 404, 405, 409, 413, 500, 503];

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(64))]

        /// Any body on any route, any path and method from the local runner: an answer the
        /// contract names, as JSON with an `error` when it is one; never a panic.
        #[test]
        fn any_request_gets_a_contract_answer(
            name in prop::sample::select(vec!["grant", "refund", "purchase", "user", "erase"]),
            body in prop::collection::vec(any::<u8>(), 0..256),
            path in "(/[a-z%0-9A-F]{0,12}){0,4}",
            method in prop::sample::select(vec!["GET", "POST", "DELETE", "PUT"]),
        ) {
            let deployed = api(InMemoryStore::new());
            let mut event = sample(name);
            event["body"] = shared::testkit::base64_encode(&body).into();
            event["isBase64Encoded"] = true.into();
            let mut local = as_local_runner(event.clone());
            local["rawPath"] = path.into();
            local["requestContext"]["http"]["method"] = method.into();
            let mut local_api = api(InMemoryStore::new());
            local_api.callers = Callers::any().with_local_caller("arn:aws:iam::000000000000:user/local");
            for (served, event) in [(&deployed, &event), (&local_api, &local)] {
                let (reply, _) = block_on(served.respond(&request(event)));
                prop_assert!(STATUSES.contains(&reply.status.as_u16()), "{}", reply.status);
                let answer: Value = serde_json::from_str(&reply.body).map_err(|e| {
                    TestCaseError::fail(format!("not JSON ({e}): {}", reply.body))
                })?;
                let failed = reply.status.is_client_error() || reply.status.is_server_error();
                prop_assert_eq!(failed, answer.get("error").is_some(), "{}", answer);
            }
        }
    }
}
