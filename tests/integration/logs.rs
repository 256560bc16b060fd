//! What the functions log: one JSON line per request with its outcome, and never a secret, an
//! email or, on the happy path, a user token.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};

use crate::common::{demo_user, endpoint, replay, root, TestTable, LOCAL_SECRET};
use activation_request::ActivationRequestWebhook;
use customer_registration::CustomerRegistrationWebhook;
use esim_status::EsimStatusWebhook;
use serde_json::Value;
use shared::testkit::LogCapture;

#[tokio::test]
async fn one_line_per_request_and_nothing_personal_or_secret() {
    let t = TestTable::new().await;
    demo_user(&t.store).await;
    let activation = ActivationRequestWebhook::new(t.store.clone());
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

/// A Lambda Runtime API on loopback that hands out `event` once, then keeps every later
/// `next` waiting; returns its address and the body the function answered with.
async fn runtime_api(event: String) -> (String, tokio::sync::oneshot::Receiver<String>) {
    use tokio::io::{AsyncBufReadExt, AsyncReadExt, AsyncWriteExt, BufReader};
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let address = listener.local_addr().unwrap().to_string();
    let (answered, answer) = tokio::sync::oneshot::channel();
    let answered = Arc::new(Mutex::new(Some(answered)));
    let handed_out = Arc::new(AtomicBool::new(false));
    tokio::spawn(async move {
        while let Ok((stream, _)) = listener.accept().await {
            let (event, answered, handed_out) =
                (event.clone(), answered.clone(), handed_out.clone());
            tokio::spawn(async move {
                let mut stream = BufReader::new(stream);
                loop {
                    let (mut request_line, mut length) = (String::new(), 0usize);
                    if stream.read_line(&mut request_line).await.unwrap_or(0) == 0 {
                        return;
                    }
                    loop {
                        let mut header = String::new();
                        stream.read_line(&mut header).await.unwrap();
                        if header.trim().is_empty() {
                            break;
                        }
                        if let Some((name, value)) = header.split_once(':') {
                            if name.eq_ignore_ascii_case("content-length") {
                                length = value.trim().parse().unwrap();
                            }
                        }
                    }
                    let mut body = vec![0; length];
                    stream.read_exact(&mut body).await.unwrap();
                    let reply = if request_line.contains("/invocation/next") {
                        if handed_out.swap(true, Ordering::SeqCst) {
                            std::future::pending::<()>().await;
                        }
                        let deadline = std::time::SystemTime::now()
                            .duration_since(std::time::UNIX_EPOCH)
                            .unwrap()
                            .as_millis()
                            + 30_000;
                        format!(
                            "HTTP/1.1 200 OK\r\ncontent-type: application/json\r\n\
                             lambda-runtime-aws-request-id: req-levels\r\n\
                             lambda-runtime-deadline-ms: {deadline}\r\n\
                             lambda-runtime-invoked-function-arn: arn:aws:lambda:us-east-1:123456789012:function:levels\r\n\
                             content-length: {}\r\n\r\n{event}",
                            event.len()
                        )
                    } else {
                        if let Some(answered) = answered.lock().unwrap().take() {
                            let _ = answered.send(String::from_utf8_lossy(&body).into_owned());
                        }
                        "HTTP/1.1 202 Accepted\r\ncontent-length: 0\r\n\r\n".to_owned()
                    };
                    stream.get_mut().write_all(reply.as_bytes()).await.unwrap();
                }
            });
        }
    });
    (address, answer)
}

/// The Customer Registration function's own binary, built by `./scripts/test` before the tests.
fn function_binary(name: &str) -> std::path::PathBuf {
    let target = std::env::var_os("CARGO_TARGET_DIR")
        .map_or_else(|| root().join("target"), std::path::PathBuf::from);
    let binary = target.join("debug").join(name);
    assert!(
        binary.exists(),
        "{} is missing: ./scripts/test builds the functions before testing",
        binary.display()
    );
    binary
}

#[tokio::test]
async fn no_level_logs_the_secret_or_an_email_through_the_lambda_runtime() {
    let t = TestTable::new().await;
    demo_user(&t.store).await;
    // The secret in the query string and in the header, as Gigastore may send it.
    let text = std::fs::read_to_string(root().join("events/customer-registration/registered.json"))
        .unwrap();
    let mut event: Value = serde_json::from_str(&text).unwrap();
    event["rawQueryString"] = format!("token={LOCAL_SECRET}").into();
    event["queryStringParameters"] = serde_json::json!({ "token": LOCAL_SECRET });
    let event = event.to_string();
    for level in ["TRACE", "DEBUG", "INFO", "WARN", "ERROR", "FATAL"] {
        let (api, answer) = runtime_api(event.clone()).await;
        let mut child = tokio::process::Command::new(function_binary("customer-registration"))
            .env_clear()
            .envs([
                ("AWS_LAMBDA_RUNTIME_API", api.as_str()),
                ("AWS_LAMBDA_FUNCTION_NAME", "customer-registration"),
                ("AWS_LAMBDA_FUNCTION_MEMORY_SIZE", "128"),
                ("AWS_LAMBDA_FUNCTION_VERSION", "$LATEST"),
                ("AWS_LAMBDA_LOG_LEVEL", level),
                ("AWS_REGION", "us-east-1"),
                ("AWS_ACCESS_KEY_ID", "test"),
                ("AWS_SECRET_ACCESS_KEY", "test"),
                ("AWS_ENDPOINT_URL_DYNAMODB", endpoint()),
                ("TABLE_NAME", t.name.as_str()),
                ("WEBHOOK_SECRETS", LOCAL_SECRET),
            ])
            .stdout(std::process::Stdio::piped())
            .stderr(std::process::Stdio::piped())
            .kill_on_drop(true)
            .spawn()
            .unwrap();
        let answer = tokio::time::timeout(std::time::Duration::from_secs(60), answer).await;
        child.start_kill().unwrap();
        let output = child.wait_with_output().await.unwrap();
        let logged = String::from_utf8_lossy(&output.stdout).into_owned()
            + &String::from_utf8_lossy(&output.stderr);
        let answer = match answer {
            Ok(Ok(answer)) => answer,
            _ => panic!("{level}: no answer; the function wrote:\n{logged}"),
        };
        // The function read the email from the table and answered with it.
        assert!(answer.contains("email@domain.com"), "{level}: {answer}");
        if matches!(level, "TRACE" | "DEBUG" | "INFO") {
            assert!(
                logged.contains("\"message\":\"request\""),
                "{level}: {logged}"
            );
        }
        for secret_or_personal in [LOCAL_SECRET, "email@domain.com"] {
            assert!(
                !logged.contains(secret_or_personal),
                "{level}: {secret_or_personal:?} logged:\n{logged}"
            );
        }
    }
}
