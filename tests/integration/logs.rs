//! What the functions log: one JSON line per request with its outcome, and never a secret, an
//! email or, on the happy path, a user token.

use crate::common::{read_response, root, TestTable, LOCAL_SECRET};
use serde_json::Value;
use shared::auth::WebhookSecrets;
use shared::testkit::LogCapture;

fn event(file: &str) -> lambda_http::Request {
    let text = std::fs::read_to_string(root().join("events").join(file)).unwrap();
    lambda_http::request::from_str(&text).unwrap()
}

#[tokio::test]
async fn one_line_per_request_and_nothing_personal_or_secret() {
    let t = TestTable::new().await;
    crate::common::grant_with_email(
        &t.store,
        "USER_TOKEN_1234567",
        "1_GB",
        2,
        Some("email@domain.com"),
        None,
    )
    .await;
    let secrets = WebhookSecrets::parse(LOCAL_SECRET);

    // The production subscriber, writing here instead of stdout.
    let captured = LogCapture::default();
    let _guard = captured.install();

    let answers = vec![
        shared::pipeline::handle(
            &activation_request::ActivationWebhook(t.store.clone()),
            &secrets,
            event("activation-request/approve.json"),
        )
        .await,
        shared::pipeline::handle(
            &activation_request::ActivationWebhook(t.store.clone()),
            &secrets,
            event("activation-request/replay.json"),
        )
        .await,
        shared::pipeline::handle(
            &activation_request::ActivationWebhook(t.store.clone()),
            &secrets,
            event("activation-request/unauthenticated.json"),
        )
        .await,
        shared::pipeline::handle(
            &customer_registration::RegistrationWebhook(t.store.clone()),
            &secrets,
            event("customer-registration/registered.json"),
        )
        .await,
        shared::pipeline::handle(
            &esim_status::EsimStatusWebhook(t.store.clone()),
            &secrets,
            event("esim-status/installed.json"),
        )
        .await,
    ];
    let statuses: Vec<u16> = answers.into_iter().map(|a| read_response(a).0).collect();
    assert_eq!(statuses, [200, 200, 401, 200, 200]);

    let text = captured.text();
    let lines: Vec<Value> = captured.lines();
    let requests: Vec<&Value> = lines.iter().filter(|l| l["message"] == "request").collect();
    assert_eq!(requests.len(), 5, "{text}");
    let outcomes: Vec<&str> = requests
        .iter()
        .map(|l| l["outcome"].as_str().unwrap())
        .collect();
    assert_eq!(
        outcomes,
        [
            "approved",
            "replayed",
            "unauthorized",
            "known_user",
            "recorded"
        ]
    );
    let routes: Vec<&str> = requests
        .iter()
        .map(|l| l["route"].as_str().unwrap())
        .collect();
    assert_eq!(routes[0], "POST /sdk/activation-request");
    assert_eq!(routes[3], "POST /sdk/customer-registration");
    assert_eq!(routes[4], "POST /webhooks/esim-status");
    for line in &requests {
        assert!(
            line["status"].is_u64() && line["latency_ms"].is_f64(),
            "{line}"
        );
    }
    assert_eq!(requests[0]["activation_id"], "1e0da3933156");
    assert_eq!(requests[4]["profile_state"], "INSTALLED");

    for secret_or_personal in [
        LOCAL_SECRET,
        "token=",
        "email@domain.com",
        "USER_TOKEN_1234567",
    ] {
        assert!(
            !text.contains(secret_or_personal),
            "{secret_or_personal:?} logged:\n{text}"
        );
    }
}
