//! Stores for tests: [`InMemoryStore`] obeys the same contract as the DynamoDB adapter
//! (conditional, atomic writes), and [`FailingStore`] fails every request in one chosen way.
//! [`LogCapture`] collects what the production log subscriber writes.

pub mod bodies;
mod failing;
pub mod gigastore;
mod memory;
pub mod properties;
pub mod strategies;
pub mod user_tokens;

use std::sync::{Arc, Mutex};

pub use failing::{FailingStore, Failure};
pub use memory::InMemoryStore;
pub use memory::Snapshot;

/// Collects the lines the production log subscriber writes, for assertions.
#[derive(Debug, Clone, Default)]
pub struct LogCapture(Arc<Mutex<Vec<u8>>>);

impl LogCapture {
    /// Logs of this thread go here, through [`crate::runtime::telemetry::subscriber`], until the guard drops.
    pub fn install(&self) -> tracing::subscriber::DefaultGuard {
        discard_logs_of_other_threads();
        tracing::subscriber::set_default(crate::runtime::telemetry::subscriber(self.clone()))
    }

    /// The same at `level` (as `AWS_LAMBDA_LOG_LEVEL` says it), whatever the environment says.
    pub fn install_at(&self, level: &str) -> tracing::subscriber::DefaultGuard {
        discard_logs_of_other_threads();
        let level = level.to_owned();
        let lookup = move |name: &str| (name == "AWS_LAMBDA_LOG_LEVEL").then(|| level.clone());
        let subscriber = crate::runtime::telemetry::subscriber_with(self.clone(), lookup);
        tracing::subscriber::set_default(subscriber)
    }

    /// Everything written so far.
    pub fn text(&self) -> String {
        let bytes = self.0.lock().map(|b| b.clone()).unwrap_or_default();
        String::from_utf8_lossy(&bytes).into_owned()
    }

    /// Every line written so far, as JSON (a line that is not JSON is a test failure).
    pub fn lines(&self) -> Vec<serde_json::Value> {
        self.text()
            .lines()
            .map(|line| {
                serde_json::from_str(line).unwrap_or_else(|e| panic!("not JSON ({e}): {line}"))
            })
            .collect()
    }
}

/// Gives the process a subscriber that discards what it is given, once. `tracing` caches each
/// call site's interest process-wide, computed by the first thread to reach it: a test thread
/// without a subscriber would cache "never", and a capture on another thread would then miss
/// that line (seen: "activation outcome unknown" missing under load). With this subscriber
/// every thread is interested in what the production subscriber logs.
fn discard_logs_of_other_threads() {
    static ONCE: std::sync::Once = std::sync::Once::new();
    ONCE.call_once(|| {
        // If the test binary already set one, that one serves as well.
        let _ = tracing::subscriber::set_global_default(crate::runtime::telemetry::subscriber(
            std::io::sink,
        ));
    });
}

impl std::io::Write for LogCapture {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.0
            .lock()
            .map_err(|_| std::io::Error::other("log capture poisoned"))?
            .extend_from_slice(buf);
        Ok(buf.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

impl<'a> tracing_subscriber::fmt::MakeWriter<'a> for LogCapture {
    type Writer = Self;

    fn make_writer(&'a self) -> Self {
        self.clone()
    }
}

/// The secret [`reply`] presents.
pub const SECRET: &str = "unit-test-secret";

/// The reply `webhook` gives an authenticated request with `body`.
pub async fn reply<W: crate::webhook::Webhook>(
    webhook: &W,
    body: &str,
) -> crate::webhook::reply::Reply {
    reply_through(webhook, &gate(), body).await
}

/// The reply `webhook` gives a request with `body` presenting [`SECRET`], through `gate`.
pub async fn reply_through<W: crate::webhook::Webhook>(
    webhook: &W,
    gate: &crate::webhook::gate::Gate,
    body: &str,
) -> crate::webhook::reply::Reply {
    let mut request = lambda_http::Request::new(lambda_http::Body::Text(body.to_owned()));
    let bearer = format!("Bearer {SECRET}");
    if let Ok(value) = bearer.parse() {
        request.headers_mut().insert("authorization", value);
    }
    crate::webhook::pipeline::respond(webhook, gate, &request).await
}

/// Checks that `webhook` over `store` records `body` once: `recorded`, counting `received`; then,
/// delivered again, `unchanged`, counting `received` and `unchanged`, with nothing written.
pub async fn assert_a_redelivery_changes_nothing<W: crate::webhook::Webhook>(
    webhook: &W,
    store: &InMemoryStore,
    body: &str,
    received: crate::runtime::telemetry::Metric,
    unchanged: crate::runtime::telemetry::Metric,
) {
    let first = reply(webhook, body).await;
    assert_eq!(first.body, r#"{"status":"recorded"}"#);
    assert_eq!(first.metrics, [received]);
    let before = store.snapshot();
    let again = reply(webhook, body).await;
    assert_eq!(again.body, r#"{"status":"unchanged"}"#);
    assert_eq!(again.metrics, [received, unchanged]);
    assert_eq!(store.snapshot(), before);
}

/// Checks that a webhook over a store that fails, transiently or for good, answers 503,
/// counts the failure, and logs the whole payload once, at error level, for `entitlements
/// replay` (`make` builds the webhook over the failing store).
pub async fn assert_unstored_payloads_are_logged_whole<W: crate::webhook::Webhook>(
    make: impl Fn(FailingStore) -> W,
    body: &str,
) {
    use crate::webhook::reply::{STORAGE_ERROR, STORAGE_PERMANENT_ERROR};
    for (failure, metrics) in [
        (Failure::Transient, &[STORAGE_ERROR][..]),
        (
            Failure::Permanent,
            &[STORAGE_ERROR, STORAGE_PERMANENT_ERROR][..],
        ),
    ] {
        let logs = LogCapture::default();
        let _guard = logs.install();
        let answered = reply(&make(FailingStore(failure)), body).await;
        assert_eq!(answered.status.as_u16(), 503, "{failure:?}");
        assert_eq!(answered.metrics, metrics, "{failure:?}");
        let lines = logs.lines();
        let not_stored: Vec<_> = lines
            .iter()
            .filter(|l| l["message"] == crate::webhook::NOT_STORED)
            .collect();
        assert_eq!(not_stored.len(), 1, "{lines:?}");
        assert_eq!(not_stored[0]["level"], "ERROR");
        assert_eq!(not_stored[0]["payload"], body);
    }
}

/// The gate [`reply_to`] checks requests against: [`SECRET`], from any address (as [`reply`]).
pub fn gate() -> crate::webhook::gate::Gate {
    crate::webhook::gate::Gate::open(crate::webhook::gate::credentials::WebhookSecrets::parse(
        SECRET,
    ))
}

/// An API Gateway HTTP API (payload 2.0) event POSTing `body` (none: no body) to `path`, from
/// a Gigastore user agent, without credentials. With `base64` the event carries the body
/// base64-encoded, as API Gateway sends a body without a text content type; without, it
/// carries it as text with a JSON content type, so it must be UTF-8 (bytes that are not are
/// sent base64-encoded all the same, as API Gateway would).
pub fn api_gateway_event(path: &str, body: Option<&[u8]>, base64: bool) -> serde_json::Value {
    // The body as text, unless it is sent base64-encoded: when asked, or when it is not UTF-8.
    let text = body
        .and_then(|b| std::str::from_utf8(b).ok())
        .filter(|_| !base64);
    let encoded = base64 || (body.is_some() && text.is_none());
    let mut headers = serde_json::json!({"host": "api.example.com", "user-agent": "Gigastore"});
    if !encoded {
        headers["content-type"] = "application/json".into();
    }
    let mut event = serde_json::json!({
        "version": "2.0",
        "routeKey": format!("POST {path}"),
        "rawPath": path,
        "rawQueryString": "",
        "headers": headers,
        "requestContext": {
            "accountId": "123456789012",
            "apiId": "local",
            "domainName": "api.example.com",
            "domainPrefix": "api",
            "http": {"method": "POST", "path": path, "protocol": "HTTP/1.1", "sourceIp": "203.0.113.10", "userAgent": "Gigastore"},
            "requestId": "test-request",
            "routeKey": format!("POST {path}"),
            "stage": "$default",
            "time": "23/Nov/2026:17:00:00 +0000",
            "timeEpoch": 1_795_453_200_000_u64
        },
        "isBase64Encoded": encoded,
    });
    if let Some(body) = body {
        event["body"] = text
            .map_or_else(|| base64_encode(body), str::to_owned)
            .into();
    }
    event
}

/// `event` parsed the way Lambda parses it (an event it cannot parse is a test failure).
pub fn parse_event(event: &serde_json::Value) -> lambda_http::Request {
    lambda_http::request::from_str(&event.to_string())
        .unwrap_or_else(|e| panic!("not a valid API Gateway event ({e}): {event}"))
}

/// An [`api_gateway_event`] POSTing `body` to `path` with [`SECRET`] as a bearer token, parsed
/// the way Lambda parses it: the request holds the body decoded, whichever way it was sent.
pub fn api_gateway_request(path: &str, body: &[u8], base64: bool) -> lambda_http::Request {
    let mut event = api_gateway_event(path, Some(body), base64);
    event["headers"]["authorization"] = format!("Bearer {SECRET}").into();
    parse_event(&event)
}

/// Grants `quantity` units of `item` to `user`, with `email` on the profile, as a purchase
/// system would, under a purchase id of its own (anything but a new grant is a test failure).
pub async fn grant_units<S: crate::domain::purchase::PurchaseStore>(
    store: &S,
    user: &str,
    item: &str,
    quantity: u32,
    email: Option<&str>,
    expires_at: Option<time::OffsetDateTime>,
) {
    use crate::domain::ids::{Email, ItemId, PurchaseId, UserToken};
    use crate::domain::purchase::{self, Grant, GrantOutcome, Order, Quantity};
    static PURCHASES: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(0);
    // In purchases of at most the most one may hold.
    let mut left = quantity;
    while left > 0 {
        let units = left.min(Quantity::MAX);
        left -= units;
        let n = PURCHASES.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        let grant = Grant {
            purchase_id: PurchaseId::parse(&format!("test-{}-{n}", std::process::id())).unwrap(),
            user_token: UserToken::parse(user).unwrap(),
            item: ItemId::parse(item).unwrap(),
            quantity: Quantity::new(units.into()).expect("1 to 100 units"),
            email: email.map(|e| Email::parse(e).unwrap()),
            expires_at,
            delivery: Order::Sdk,
        };
        let outcome = purchase::grant(store, &grant, time::OffsetDateTime::now_utc())
            .await
            .unwrap();
        assert!(matches!(outcome, GrantOutcome::Granted(_)), "{outcome:?}");
    }
}

/// What `store` shows of user `u1` once Gigastore registers `customer` for them (granted one
/// unit of `1_GB` first, so the profile exists): how balance facts kept before the
/// registration are found.
pub async fn summary_once_registered(
    store: &InMemoryStore,
    customer: &crate::domain::ids::CustomerUid,
) -> crate::domain::views::UserSummary {
    use crate::domain::registration::RegistrationStore;
    use crate::domain::views::ReadModels;
    grant_units(store, "u1", "1_GB", 1, None, None).await;
    let registration = crate::domain::registration::CustomerRegistration {
        user_token: crate::domain::ids::UserToken::parse("u1").unwrap(),
        customer_uid: customer.clone(),
    };
    let now = time::OffsetDateTime::now_utc();
    let registered = store.register_customer(&registration, now).await.unwrap();
    assert!(registered.is_some(), "u1 is known");
    store.user_summary(&registration.user_token).await.unwrap()
}

/// The reply `webhook` gives `request`, checked against [`gate`]; nothing logged or counted.
pub async fn reply_to<W: crate::webhook::Webhook>(
    webhook: &W,
    request: &lambda_http::Request,
) -> crate::webhook::reply::Reply {
    crate::webhook::pipeline::respond(webhook, &gate(), request).await
}

/// Runs `future` to its end on this thread's own runtime, for synchronous test bodies
/// (proptest's); one runtime per thread, so that cases do not pay for building one.
pub fn block_on<F: std::future::Future>(future: F) -> F::Output {
    thread_local! {
        static RUNTIME: tokio::runtime::Runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .expect("a test runtime");
    }
    RUNTIME.with(|runtime| runtime.block_on(future))
}

/// Standard base64 with padding, as API Gateway encodes bodies (a few lines rather than a
/// dependency for tests).
pub fn base64_encode(bytes: &[u8]) -> String {
    const ALPHABET: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    let mut out = String::with_capacity(bytes.len().div_ceil(3) * 4);
    for chunk in bytes.chunks(3) {
        let b = [
            chunk[0],
            *chunk.get(1).unwrap_or(&0),
            *chunk.get(2).unwrap_or(&0),
        ];
        let n = (u32::from(b[0]) << 16) | (u32::from(b[1]) << 8) | u32::from(b[2]);
        for i in 0..4 {
            if i <= chunk.len() {
                out.push(char::from(ALPHABET[(n >> (18 - 6 * i)) as usize & 63]));
            } else {
                out.push('=');
            }
        }
    }
    out
}

#[cfg(test)]
mod request_tests {
    use super::*;

    #[test]
    fn base64_matches_the_standard_alphabet() {
        assert_eq!(base64_encode(b""), "");
        assert_eq!(base64_encode(b"f"), "Zg==");
        assert_eq!(base64_encode(b"fo"), "Zm8=");
        assert_eq!(base64_encode(b"foobar"), "Zm9vYmFy");
        assert_eq!(base64_encode(&[0xff, 0xfe, 0x00]), "//4A");
    }

    #[test]
    fn api_gateway_requests_arrive_decoded_and_authenticated() {
        let bytes = [b'{', 0xff, 0x00, b'}'];
        for (body, base64) in [
            (&b"{\"a\":1}"[..], false),
            (b"{\"a\":1}", true),
            (&bytes, false),
        ] {
            let request = api_gateway_request("/p", body, base64);
            assert_eq!(request.body().as_ref(), body);
            // Text bodies stay text; base64-encoded ones arrive as decoded bytes.
            let sent_encoded = base64 || std::str::from_utf8(body).is_err();
            assert_eq!(
                matches!(request.body(), lambda_http::Body::Binary(_)),
                sent_encoded
            );
            assert_eq!(request.uri().path(), "/p");
            let secrets = crate::webhook::gate::credentials::WebhookSecrets::parse(SECRET);
            assert_eq!(
                crate::webhook::gate::credentials::authenticate(&request, &secrets),
                Ok(())
            );
        }
    }
}
