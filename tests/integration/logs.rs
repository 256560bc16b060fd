//! What the functions log: one JSON line per request with its outcome, and never a secret, an
//! email or, on the happy path, a user token.

use crate::common::{demo_user, replay, TestTable, LOCAL_SECRET};
use activation_request::ActivationRequestWebhook;
use customer_registration::CustomerRegistrationWebhook;
use esim_status::EsimStatusWebhook;
use serde_json::Value;
use shared::testkit::LogCapture;

#[tokio::test]
async fn one_line_per_request_and_nothing_personal_or_secret() {
    let t = TestTable::new().await;
    demo_user(&t.store).await;
    let activation = ActivationRequestWebhook(t.store.clone());
    let registration = CustomerRegistrationWebhook(t.store.clone());
    let esim = EsimStatusWebhook(t.store.clone());

    // The production subscriber, writing here instead of stdout.
    let captured = LogCapture::default();
    let _guard = captured.install();

    let answers = [
        replay(&activation, "activation-request/approve.json").await,
        replay(&activation, "activation-request/replay.json").await,
        replay(&activation, "activation-request/unauthenticated.json").await,
        replay(&registration, "customer-registration/registered.json").await,
        replay(&esim, "esim-status/installed.json").await,
    ];
    let statuses: Vec<u16> = answers.iter().map(|(status, _)| *status).collect();
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
