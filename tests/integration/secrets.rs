//! The webhook secret in Secrets Manager (moto's, on the same local server as the table): read at
//! init, re-read after the refresh interval, kept through failed re-reads, and every request
//! refused while none could ever be read.

use std::net::TcpListener;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use activation_request::ActivationRequestWebhook;
use esim_status::EsimStatusWebhook;
use serde_json::{json, Value};
use shared::adapters::dynamo::DynamoStore;
use shared::adapters::secrets_manager::sdk;
use shared::adapters::secrets_manager::sdk::config::{BehaviorVersion, Credentials, Region};
use shared::domain::ids::UserToken;
use shared::testkit::LogCapture;
use shared::webhook::gate::credentials::{AuthError, WebhookSecrets};
use shared::webhook::gate::jwt::mint_hs256;
use shared::webhook::gate::secrets::{RefreshPolicy, SecretSource, SecretUnavailable};
use shared::webhook::gate::sources::SourceAllowList;
use shared::webhook::gate::user_tokens::UserTokens;
use shared::webhook::gate::Gate;

use crate::common::{self, call_through, concurrently, Auth, RequestLog, TestTable};

const OLD: &str = "oldSecretOldSecretOldSecret0123456789abcdefghij";
const NEW: &str = "newSecretNewSecretNewSecret0123456789abcdefghij";
const ESIM_STATUS: &str =
    r#"{"iccid":"89361123300836129514","imsi":"260216611193634","profileState":"INSTALLED"}"#;
const ACTIVATION: &str = r#"{"inventoryItemId":"1_GB","userToken":"USER_TOKEN_1234567","metaTag":"order-1","activationId":"secret-1"}"#;

/// A Secrets Manager client for `endpoint`, its requests (GetSecretValue, once created)
/// recorded in `reads`.
fn client_for(endpoint: &str, reads: &RequestLog) -> sdk::Client {
    let config = sdk::Config::builder()
        .behavior_version(BehaviorVersion::latest())
        .region(Region::new("us-east-1"))
        .credentials_provider(Credentials::new("test", "test", None, None, "tests"))
        .endpoint_url(endpoint)
        .http_client(shared::adapters::sdk::https_client())
        .interceptor(reads.clone())
        .build();
    sdk::Client::from_conf(config)
}

/// A Secrets Manager client for the moto server.
fn client() -> sdk::Client {
    client_for(common::endpoint(), &RequestLog::default())
}

/// A secret name no other test uses.
fn unique_name() -> String {
    static NEXT: AtomicUsize = AtomicUsize::new(0);
    format!(
        "webhook-{}-{}",
        std::process::id(),
        NEXT.fetch_add(1, Ordering::SeqCst)
    )
}

/// Creates a secret holding `value`; returns its ARN.
async fn create_secret(name: &str, value: &str) -> String {
    let created = client()
        .create_secret()
        .name(name)
        .secret_string(value)
        .send()
        .await
        .unwrap();
    created.arn().unwrap().to_owned()
}

async fn put_value(secret_id: &str, value: &str) {
    client()
        .put_secret_value()
        .secret_id(secret_id)
        .secret_string(value)
        .send()
        .await
        .unwrap();
}

/// Re-reads every `every`; retries after a failure as soon.
fn policy(every: Duration) -> RefreshPolicy {
    RefreshPolicy {
        refresh_every: every,
        retry_every: every,
        read_timeout: Duration::from_secs(1),
    }
}

fn gate(secrets: SecretSource) -> Gate {
    Gate {
        secrets,
        sources: SourceAllowList::default(),
        user_tokens: UserTokens::Off,
    }
}

/// Whether `source` accepts `secret` now.
async fn accepts(source: &SecretSource, secret: &str) -> Result<bool, AuthError> {
    match source.current().await.unwrap().verify([secret]) {
        Ok(()) => Ok(true),
        Err(AuthError::Invalid) => Ok(false),
        Err(other) => Err(other),
    }
}

/// An eSIM Status through the production handler, presenting `secret` in the query string.
async fn esim_status(store: &DynamoStore, gate: &Gate, secret: &str) -> (u16, Value) {
    let webhook = EsimStatusWebhook(store.clone());
    call_through(&webhook, gate, Some(ESIM_STATUS), Auth::Query(secret)).await
}

/// An Activation Request through the production handler, presenting `secret` as a bearer token.
async fn activation(store: &DynamoStore, gate: &Gate, secret: &str) -> (u16, Value) {
    let webhook = ActivationRequestWebhook::new(store.clone());
    call_through(&webhook, gate, Some(ACTIVATION), Auth::Bearer(secret)).await
}

/// 50 concurrent requests for the secrets of a source of the secret `name` (re-read every
/// `every`), once what it read at init is stale: what each got (how many secrets), and how
/// many reads they made.
async fn fifty_stale_requests(
    name: String,
    every: Duration,
) -> (Vec<Result<usize, SecretUnavailable>>, usize) {
    let reads = RequestLog::default();
    let source =
        SecretSource::managed(client_for(common::endpoint(), &reads), name, policy(every)).await;
    tokio::time::sleep(every + Duration::from_millis(50)).await;
    let before = reads.count();
    let results = concurrently(50, |_| {
        let source = source.clone();
        async move { source.current().await.map(|s| s.len()) }
    })
    .await;
    (results, reads.count() - before)
}

#[tokio::test]
async fn the_secret_read_at_init_authenticates_webhooks() {
    let t = TestTable::new().await;
    let arn = create_secret(&unique_name(), NEW).await;
    let reads = RequestLog::default();
    let source = SecretSource::managed(
        client_for(common::endpoint(), &reads),
        arn,
        RefreshPolicy::default(),
    )
    .await;
    assert_eq!(reads.count(), 1, "read once, at init");
    assert_eq!(source.current().await.unwrap().len(), 1);
    let gate = gate(source);
    assert_eq!(
        esim_status(&t.store, &gate, NEW).await,
        (200, json!({"status": "recorded"}))
    );
    assert_eq!(esim_status(&t.store, &gate, OLD).await.0, 401);
    assert_eq!(
        reads.count(),
        1,
        "fresh for five minutes: no read per request"
    );
}

#[tokio::test]
async fn a_rotation_applies_after_the_refresh_interval_without_a_restart() {
    let t = TestTable::new().await;
    let name = unique_name();
    create_secret(&name, OLD).await;
    let every = Duration::from_millis(300);
    let source = SecretSource::managed(client(), name.clone(), policy(every)).await;
    let gate = gate(source.clone());
    assert_eq!(esim_status(&t.store, &gate, OLD).await.0, 200);

    // Step 1: new,old. Until the interval is past, the cached value still applies.
    put_value(&name, &format!("{NEW},{OLD}")).await;
    assert_eq!(accepts(&source, NEW).await, Ok(false));
    tokio::time::sleep(every + Duration::from_millis(50)).await;
    assert_eq!(esim_status(&t.store, &gate, NEW).await.0, 200);
    assert_eq!(esim_status(&t.store, &gate, OLD).await.0, 200);

    // Step 2: new only.
    put_value(&name, NEW).await;
    tokio::time::sleep(every + Duration::from_millis(50)).await;
    assert_eq!(esim_status(&t.store, &gate, NEW).await.0, 200);
    assert_eq!(esim_status(&t.store, &gate, OLD).await.0, 401);
}

#[tokio::test]
async fn without_a_readable_secret_nothing_is_accepted_or_written_until_it_can_be_read() {
    let t = TestTable::new().await;
    common::demo_user(&t.store).await;
    t.log.clear();
    let name = unique_name();
    let every = Duration::from_millis(300);
    let logs = LogCapture::default();
    let guard = logs.install();
    // The secret does not exist yet: init logs the failure and does not crash.
    let source = SecretSource::managed(client(), name.clone(), policy(every)).await;
    let unavailable = source.current().await.unwrap_err();
    let cause = format!("{:?}", std::error::Error::source(&unavailable));
    assert!(cause.contains("ResourceNotFound"), "{cause}");
    let gate = gate(source.clone());

    assert_eq!(
        esim_status(&t.store, &gate, NEW).await,
        (
            503,
            json!({"error": "temporarily unavailable, please retry"})
        )
    );
    let (status, body) = activation(&t.store, &gate, NEW).await;
    assert_eq!(status, 200);
    assert_eq!(body["returnCode"], "FAIL", "{body}");
    assert!(t.log.operations().is_empty(), "{:?}", t.log.operations());
    assert!(
        logs.lines().iter().any(|l| l["level"] == "ERROR"
            && l["message"]
                .as_str()
                .is_some_and(|m| m.contains("could not be read"))),
        "{}",
        logs.text()
    );
    drop(guard);

    // Once the secret exists, the next read after the retry interval recovers.
    create_secret(&name, NEW).await;
    tokio::time::sleep(every + Duration::from_millis(50)).await;
    assert_eq!(
        esim_status(&t.store, &gate, NEW).await,
        (200, json!({"status": "recorded"}))
    );
    let (status, body) = activation(&t.store, &gate, NEW).await;
    assert_eq!((status, &body["returnCode"]), (200, &json!("SUCCESS")));
}

#[tokio::test]
async fn a_failed_re_read_keeps_the_secrets_read_before() {
    let name = unique_name();
    create_secret(&name, NEW).await;
    let every = Duration::from_millis(200);
    let source = SecretSource::managed(client(), name.clone(), policy(every)).await;
    client()
        .delete_secret()
        .secret_id(&name)
        .force_delete_without_recovery(true)
        .send()
        .await
        .unwrap();
    tokio::time::sleep(every + Duration::from_millis(50)).await;
    let logs = LogCapture::default();
    let guard = logs.install();
    assert_eq!(accepts(&source, NEW).await, Ok(true));
    drop(guard);
    let warned = logs.lines();
    assert!(
        warned
            .iter()
            .any(|l| l["level"] == "WARN" && l["error"].as_str().is_some()),
        "{}",
        logs.text()
    );
    assert!(!logs.text().contains(NEW), "a secret value was logged");
}

#[tokio::test]
async fn a_read_that_does_not_answer_is_cut_off_and_retried_later() {
    // Accepts connections (the kernel's backlog) and never answers.
    let silent = TcpListener::bind("127.0.0.1:0").unwrap();
    let endpoint = format!("http://{}", silent.local_addr().unwrap());
    let reads = RequestLog::default();
    let policy = RefreshPolicy {
        refresh_every: Duration::from_secs(300),
        retry_every: Duration::from_secs(60),
        read_timeout: Duration::from_millis(300),
    };
    let started = Instant::now();
    let source = SecretSource::managed(client_for(&endpoint, &reads), "webhook", policy).await;
    assert!(
        started.elapsed() < Duration::from_secs(2),
        "init waited too long"
    );
    let unavailable = source.current().await.unwrap_err();
    let cause = format!("{:?}", std::error::Error::source(&unavailable));
    assert!(cause.contains("TimedOut"), "{cause}");
    let attempts = reads.count();
    // Within the retry interval, requests are refused at once, without another read.
    let started = Instant::now();
    for _ in 0..5 {
        assert!(source.current().await.is_err());
    }
    assert!(started.elapsed() < Duration::from_millis(100));
    assert_eq!(reads.count(), attempts);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn concurrent_requests_share_one_read() {
    let every = Duration::from_millis(200);
    let name = unique_name();
    create_secret(&name, NEW).await;
    let (results, reads) = fifty_stale_requests(name, every).await;
    assert!(results.iter().all(|r| matches!(r, Ok(1))));
    assert_eq!(reads, 1, "one re-read for 50 stale requests");

    // Nothing cached: concurrent requests wait for the one read, not each its own.
    let (results, reads) = fifty_stale_requests(unique_name(), every).await;
    assert!(results.iter().all(|refused| refused.is_err()));
    assert_eq!(reads, 1, "one re-read for 50 refused requests");
}

#[tokio::test]
async fn a_value_without_a_secret_is_not_accepted() {
    let blank = unique_name();
    create_secret(&blank, " , ").await;
    let source = SecretSource::managed(client(), blank, RefreshPolicy::default()).await;
    let cause = format!(
        "{:?}",
        std::error::Error::source(&source.current().await.unwrap_err())
    );
    assert!(cause.contains("Empty"), "{cause}");

    let binary = unique_name();
    client()
        .create_secret()
        .name(&binary)
        .secret_binary(sdk::primitives::Blob::new(NEW.as_bytes()))
        .send()
        .await
        .unwrap();
    let source = SecretSource::managed(client(), binary, RefreshPolicy::default()).await;
    let cause = format!(
        "{:?}",
        std::error::Error::source(&source.current().await.unwrap_err())
    );
    assert!(cause.contains("NotAString"), "{cause}");
}

const USER_TOKEN_SECRET: &str = "managed-user-token-secret-0123456789abcd";
const NEXT_USER_TOKEN_SECRET: &str = "next-managed-user-token-secret-0123456789";

/// An Activation Request of user `user_token` through the production handler, verifying user
/// tokens with `user_tokens`.
async fn verified_activation(
    store: &DynamoStore,
    user_tokens: UserTokens,
    activation: &str,
    user_token: &str,
) -> (u16, Value) {
    let gate = gate(SecretSource::fixed(WebhookSecrets::parse(NEW))).verifying(user_tokens);
    let body =
        json!({"inventoryItemId": "1_GB", "userToken": user_token, "activationId": activation});
    let webhook = ActivationRequestWebhook::new(store.clone());
    call_through(&webhook, &gate, Some(&body.to_string()), Auth::Bearer(NEW)).await
}

fn signed(secret: &str, user: &str) -> String {
    let user = UserToken::parse(user).unwrap();
    let now = time::OffsetDateTime::now_utc();
    mint_hs256(secret, &user, now, time::Duration::minutes(10)).unwrap()
}

#[tokio::test]
async fn user_token_keys_are_read_like_the_webhook_secret_and_rotate_the_same_way() {
    let t = TestTable::new().await;
    common::grant(&t.store, "user-a", "1_GB", 5, None).await;
    let name = unique_name();
    let every = Duration::from_millis(300);
    let fail = |why: &str| (200, json!({"returnCode": "FAIL", "returnMessage": why}));

    // Not readable yet (the secret does not exist): refused, nothing decided or spent.
    let user_tokens = UserTokens::managed(client(), name.clone(), policy(every)).await;
    let token = signed(USER_TOKEN_SECRET, "user-a");
    t.log.clear();
    assert_eq!(
        verified_activation(&t.store, user_tokens.clone(), "a1", &token).await,
        fail("temporarily unable to decide, please retry")
    );
    assert!(t.log.operations().is_empty(), "{:?}", t.log.operations());

    // Once it can be read, tokens signed with it name their user.
    create_secret(&name, USER_TOKEN_SECRET).await;
    tokio::time::sleep(every + Duration::from_millis(50)).await;
    let approved = (200, json!({"returnCode": "SUCCESS", "returnMessage": null}));
    assert_eq!(
        verified_activation(&t.store, user_tokens.clone(), "a1", &token).await,
        approved
    );
    let next = signed(NEXT_USER_TOKEN_SECRET, "user-a");
    assert_eq!(
        verified_activation(&t.store, user_tokens.clone(), "a2", &next).await,
        fail("invalid user token")
    );

    // Rotation: "next,current" (the first signs, either verifies), then "next" alone.
    put_value(
        &name,
        &format!("{NEXT_USER_TOKEN_SECRET},{USER_TOKEN_SECRET}"),
    )
    .await;
    tokio::time::sleep(every + Duration::from_millis(50)).await;
    for (activation, token) in [("a3", &token), ("a4", &next)] {
        let answer = verified_activation(&t.store, user_tokens.clone(), activation, token).await;
        assert_eq!(answer, approved, "{activation}");
    }
    put_value(&name, NEXT_USER_TOKEN_SECRET).await;
    tokio::time::sleep(every + Duration::from_millis(50)).await;
    assert_eq!(
        verified_activation(&t.store, user_tokens.clone(), "a5", &token).await,
        fail("invalid user token")
    );
    assert_eq!(
        verified_activation(&t.store, user_tokens, "a5", &next).await,
        approved
    );
}

#[tokio::test]
async fn a_user_token_secret_too_short_to_be_a_key_is_not_used() {
    let short = unique_name();
    create_secret(&short, "too-short").await;
    let user_tokens = UserTokens::managed(client(), short, RefreshPolicy::default()).await;
    let UserTokens::Verified(managed) = user_tokens else {
        panic!("a managed secret")
    };
    let unavailable = managed.current().await.unwrap_err();
    assert_eq!(unavailable.to_string(), "user token keys could not be read");
    let cause = shared::domain::store::chain(&unavailable);
    assert!(cause.contains("shorter than 32 bytes"), "{cause}");
    assert!(!cause.contains("too-short"), "{cause}");
}
