//! Test harness: one moto DynamoDB-API server per test binary, a fresh table per test, created
//! from `template.yaml`, and SDK clients that count requests and check expression placeholders.

use std::collections::BTreeSet;
use std::future::Future;
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::path::PathBuf;
use std::pin::Pin;
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, OnceLock};
use std::time::{Duration, Instant};

use aws_sdk_dynamodb::config::interceptors::BeforeTransmitInterceptorContextRef;
use aws_sdk_dynamodb::config::{
    BehaviorVersion, ConfigBag, Credentials, Intercept, Region, RuntimeComponents,
};
use aws_sdk_dynamodb::error::BoxError;
use aws_sdk_dynamodb::Client;
use aws_smithy_runtime_api::client::orchestrator::HttpRequest;
use entitlements::template::TableDeclaration;
use entitlements::webhooks::{self, Visit};
use serde_json::Value;
use shared::adapters::dynamo::DynamoStore;
use shared::domain::store::Store;
use shared::domain::views::{ReadModels, UserSummary};
use shared::testkit;
use shared::webhook::gate::credentials::WebhookSecrets;
use shared::webhook::gate::Gate;
use shared::webhook::reply::Reply;
use shared::webhook::Webhook;
use tokio::sync::Barrier;

/// The workspace root.
pub fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

/// A moto server (`scripts/moto_server.py`, DynamoDB and Secrets Manager APIs) on a free
/// loopback port; stopped when dropped, and in any case when this process ends.
pub struct MotoServer {
    endpoint: String,
    child: Child,
}

impl MotoServer {
    /// Starts one and waits until it listens.
    pub fn start() -> Self {
        let python = std::env::var_os("MOTO_PYTHON")
            .map(PathBuf::from)
            .unwrap_or_else(|| root().join(".venv/bin/python"));
        assert!(
            python.exists(),
            "moto is not installed at {}: run the tests with scripts/test, which installs it",
            python.display()
        );
        let port = TcpListener::bind("127.0.0.1:0")
            .and_then(|l| l.local_addr())
            .expect("a free loopback port")
            .port();
        let child = Command::new(&python)
            .arg(root().join("scripts/moto_server.py"))
            .args([
                "-H",
                "127.0.0.1",
                "-p",
                &port.to_string(),
                "--exit-with-parent",
            ])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap_or_else(|e| panic!("{} does not start moto: {e}", python.display()));
        // Built before waiting, so that a server which never listens is stopped on the panic.
        let addr = SocketAddr::from(([127, 0, 0, 1], port));
        let server = Self {
            endpoint: format!("http://{addr}"),
            child,
        };
        let deadline = Instant::now() + Duration::from_secs(60);
        while TcpStream::connect_timeout(&addr, Duration::from_millis(200)).is_err() {
            assert!(
                Instant::now() < deadline,
                "moto server did not listen on {addr} within 60 s"
            );
            std::thread::sleep(Duration::from_millis(100));
        }
        server
    }

    /// Its endpoint URL.
    pub fn endpoint(&self) -> &str {
        &self.endpoint
    }

    /// A DynamoDB client for it, with its request log, and the functions' own timeouts and
    /// retries.
    pub fn client(&self) -> (Client, RequestLog) {
        self.client_with(|config| config)
    }

    /// The same, with `adjust` applied to its configuration (e.g. another HTTP client).
    pub fn client_with(
        &self,
        adjust: impl FnOnce(aws_sdk_dynamodb::config::Builder) -> aws_sdk_dynamodb::config::Builder,
    ) -> (Client, RequestLog) {
        let log = RequestLog::default();
        let config = aws_sdk_dynamodb::Config::builder()
            .behavior_version(BehaviorVersion::latest())
            .region(Region::new("us-east-1"))
            .credentials_provider(Credentials::new("test", "test", None, None, "tests"))
            .endpoint_url(self.endpoint())
            .http_client(shared::adapters::sdk::https_client())
            .interceptor(log.clone());
        let config = adjust(shared::adapters::dynamo::tuned(config)).build();
        (Client::from_conf(config), log)
    }
}

impl Drop for MotoServer {
    fn drop(&mut self) {
        // Only this server, by its own handle.
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// This test binary's moto server, started on first use and never stopped before the process
/// ends (a static is never dropped).
fn moto() -> &'static MotoServer {
    static MOTO: OnceLock<MotoServer> = OnceLock::new();
    MOTO.get_or_init(MotoServer::start)
}

/// The endpoint of this test binary's moto server, started on first use.
pub fn endpoint() -> &'static str {
    moto().endpoint()
}

/// The operation an AWS JSON-protocol request calls: its `x-amz-target` without the service
/// and version prefix (`DynamoDB_20120810.PutItem`: `PutItem`).
pub fn operation(request: &HttpRequest) -> String {
    request
        .headers()
        .get("x-amz-target")
        .and_then(|t| t.split('.').nth(1))
        .unwrap_or("unknown")
        .to_owned()
}

/// Every request a client sent, by [`operation`]. As an interceptor of any AWS client, it
/// records each attempt, and rejects any whose expression placeholders are not all used:
/// moto accepts unused placeholders, DynamoDB rejects them (other services' requests have none).
#[derive(Debug, Default, Clone)]
pub struct RequestLog(Arc<Mutex<Vec<String>>>);

impl RequestLog {
    /// Operations sent so far.
    pub fn operations(&self) -> Vec<String> {
        self.0.lock().map(|v| v.clone()).unwrap_or_default()
    }

    /// How many requests were sent so far.
    pub fn count(&self) -> usize {
        self.0.lock().map(|v| v.len()).unwrap_or_default()
    }

    /// Forgets what was sent so far.
    pub fn clear(&self) {
        if let Ok(mut v) = self.0.lock() {
            v.clear();
        }
    }
}

impl Intercept for RequestLog {
    fn name(&self) -> &'static str {
        "RequestLog"
    }

    fn read_before_transmit(
        &self,
        context: &BeforeTransmitInterceptorContextRef<'_>,
        _components: &RuntimeComponents,
        _cfg: &mut ConfigBag,
    ) -> Result<(), BoxError> {
        let request = context.request();
        if let Ok(mut log) = self.0.lock() {
            log.push(operation(request));
        }
        let body: Value = serde_json::from_slice(request.body().bytes().unwrap_or(b"{}"))?;
        match unused_placeholders(&body) {
            unused if unused.is_empty() => Ok(()),
            unused => {
                Err(format!("expression placeholders defined but not used: {unused:?}").into())
            }
        }
    }
}

/// Placeholders defined in `ExpressionAttributeNames`/`Values` that no expression beside them uses.
pub fn unused_placeholders(request: &Value) -> Vec<String> {
    let mut unused = Vec::new();
    let mut parts = vec![request];
    if let Some(items) = request.get("TransactItems").and_then(Value::as_array) {
        parts.extend(
            items
                .iter()
                .filter_map(|i| i.as_object())
                .flat_map(|o| o.values()),
        );
    }
    for part in parts {
        let Some(fields) = part.as_object() else {
            continue;
        };
        let expressions: Vec<&str> = fields
            .iter()
            .filter(|(k, _)| k.ends_with("Expression"))
            .filter_map(|(_, v)| v.as_str())
            .collect();
        let defined: BTreeSet<&String> = ["ExpressionAttributeNames", "ExpressionAttributeValues"]
            .iter()
            .filter_map(|k| fields.get(*k).and_then(Value::as_object))
            .flat_map(|m| m.keys())
            .collect();
        for placeholder in defined {
            let used = expressions.iter().any(|e| {
                e.match_indices(placeholder.as_str()).any(|(at, _)| {
                    let next = e[at + placeholder.len()..].chars().next();
                    !next.is_some_and(|c| c.is_ascii_alphanumeric() || c == '_')
                })
            });
            if !used {
                unused.push(placeholder.clone());
            }
        }
    }
    unused
}

/// A DynamoDB client for this test binary's moto server, with its request log, and the
/// functions' own timeouts and retries.
pub fn client() -> (Client, RequestLog) {
    moto().client()
}

/// The same, with `adjust` applied to its configuration (e.g. another HTTP client).
pub fn client_with(
    adjust: impl FnOnce(aws_sdk_dynamodb::config::Builder) -> aws_sdk_dynamodb::config::Builder,
) -> (Client, RequestLog) {
    moto().client_with(adjust)
}

/// A DynamoDB Streams client for this test binary's moto server (it serves both APIs).
pub fn streams_client() -> aws_sdk_dynamodbstreams::Client {
    let config = aws_sdk_dynamodbstreams::Config::builder()
        .behavior_version(BehaviorVersion::latest())
        .region(Region::new("us-east-1"))
        .credentials_provider(Credentials::new("test", "test", None, None, "tests"))
        .endpoint_url(endpoint())
        .http_client(shared::adapters::sdk::https_client())
        .build();
    aws_sdk_dynamodbstreams::Client::from_conf(config)
}

/// The operator CLI's clients for this test binary's moto server.
pub fn cli_clients() -> entitlements::Clients {
    entitlements::Clients {
        dynamodb: client().0,
        streams: streams_client(),
    }
}

/// Attempts that outlast a busy machine, for table set-up.
pub fn patient_timeouts() -> aws_sdk_dynamodb::config::timeout::TimeoutConfig {
    aws_sdk_dynamodb::config::timeout::TimeoutConfig::builder()
        .connect_timeout(std::time::Duration::from_secs(10))
        .operation_attempt_timeout(std::time::Duration::from_secs(30))
        .build()
}

/// Creates the table `name` as `template.yaml` declares it, without its stream (see
/// [`TestTable::new`]).
pub async fn create_table(client: &Client, name: &str) {
    let declaration = declaration().without_stream();
    declaration
        .create(client, name)
        .await
        .expect("table created");
}

/// The table `template.yaml` declares.
fn declaration() -> TableDeclaration {
    let yaml = std::fs::read_to_string(root().join("template.yaml")).expect("template.yaml");
    TableDeclaration::from_template(&yaml).expect("table declaration")
}

/// A fresh table, created from `template.yaml`, only this test's.
pub struct TestTable {
    /// The table's name.
    pub name: String,
    /// A store over it.
    pub store: DynamoStore,
    /// What the store's client sent.
    pub log: RequestLog,
}

impl TestTable {
    /// Creates a new, empty table as the template declares it, but without its stream: moto
    /// deep-copies a table, stream records included, on every transaction, which makes the load
    /// tests quadratic. Tests of the events use [`TestTable::with_stream`].
    pub async fn new() -> Self {
        Self::create(declaration().without_stream()).await
    }

    /// The same, with the stream the template declares.
    pub async fn with_stream() -> Self {
        Self::create(declaration()).await
    }

    async fn create(declaration: TableDeclaration) -> Self {
        static NEXT: AtomicUsize = AtomicUsize::new(0);
        let name = format!(
            "test-{}-{}",
            std::process::id(),
            NEXT.fetch_add(1, Ordering::SeqCst)
        );
        // Created with patience: a create that outlasts the store's 1 s attempt on a busy
        // machine would be retried and fail as "table already exists".
        let (patient, _) = client_with(|config| config.timeout_config(patient_timeouts()));
        declaration
            .create(&patient, &name)
            .await
            .expect("table created");
        let (client, log) = client();
        Self {
            store: DynamoStore::new(client, name.clone()),
            name,
            log,
        }
    }

    /// Another store over the same table with its own client and connections, like another
    /// Lambda execution environment.
    pub fn other_store(&self) -> DynamoStore {
        DynamoStore::new(client().0, self.name.clone())
    }
}

/// The webhook secret the sample events and the local run use. Not a production secret.
pub const LOCAL_SECRET: &str = "local-dev-secret";

/// How a test request presents the secret.
#[derive(Debug, Clone, Copy)]
pub enum Auth<'a> {
    /// `Authorization: Bearer <secret>`.
    Bearer(&'a str),
    /// `?token=<secret>`.
    Query(&'a str),
    /// No secret.
    None,
}

/// An API Gateway HTTP API (payload 2.0) event (the testkit's) presenting the secret as `auth`
/// says, parsed the way Lambda parses it.
pub fn http_event(
    path: &str,
    body: Option<&str>,
    base64: bool,
    auth: Auth<'_>,
) -> lambda_http::Request {
    let mut event = testkit::api_gateway_event(path, body.map(str::as_bytes), base64);
    match auth {
        Auth::Bearer(secret) => {
            event["headers"]["authorization"] = format!("Bearer {secret}").into()
        }
        Auth::Query(secret) => {
            event["rawQueryString"] = format!("token={secret}").into();
            event["queryStringParameters"] = serde_json::json!({ "token": secret });
        }
        Auth::None => {}
    }
    testkit::parse_event(&event)
}

/// A response's status and JSON body.
pub fn read_response(response: lambda_http::Response<lambda_http::Body>) -> (u16, Value) {
    assert_eq!(
        response
            .headers()
            .get("content-type")
            .and_then(|v| v.to_str().ok()),
        Some("application/json")
    );
    let status = response.status().as_u16();
    let body = serde_json::from_slice(response.body()).expect("a JSON body");
    (status, body)
}

/// The gate the functions are configured with in these tests: the local secret only, any address.
pub fn local_gate() -> Gate {
    Gate::open(WebhookSecrets::parse(LOCAL_SECRET))
}

/// Passes `request` through the production handler of `webhook` (log line and metrics
/// included), checked against `secrets`; returns (status, JSON body).
pub async fn send<W: Webhook>(
    webhook: &W,
    gate: &Gate,
    request: lambda_http::Request,
) -> (u16, Value) {
    read_response(shared::webhook::pipeline::handle(webhook, gate, request).await)
}

/// The reply of the registered webhook of `function` over `store` to `request` (without its log
/// line or metrics); `None` when no webhook has that function.
pub async fn respond_as<S: Store>(
    function: &str,
    store: S,
    gate: &Gate,
    request: &lambda_http::Request,
) -> Option<Reply> {
    type Replying<'a> = Pin<Box<dyn Future<Output = Reply> + 'a>>;
    struct Find<'a, S> {
        function: &'a str,
        store: Option<S>,
        gate: &'a Gate,
        request: &'a lambda_http::Request,
        reply: Option<Replying<'a>>,
    }
    impl<'a, S> Visit<S> for Find<'a, S> {
        fn visit<W: Webhook + 'static>(&mut self, make: fn(S) -> W) {
            if let Some(store) = self.store.take_if(|_| W::FUNCTION == self.function) {
                let (webhook, gate, request) = (make(store), self.gate, self.request);
                self.reply = Some(Box::pin(async move {
                    shared::webhook::pipeline::respond(&webhook, gate, request).await
                }));
            }
        }
    }
    let mut find = Find {
        function,
        store: Some(store),
        gate,
        request,
        reply: None,
    };
    webhooks::each(&mut find);
    Some(find.reply?.await)
}

/// The path `W` is served on: its API Gateway route without the method.
pub fn path<W: Webhook>() -> &'static str {
    W::ROUTE
        .strip_prefix("POST ")
        .expect("webhooks are POST routes")
}

/// Sends `body` as JSON to `webhook`'s route, presenting the secret as `auth` says, to
/// functions configured with [`local_gate`]; returns (status, JSON body).
pub async fn call<W: Webhook>(webhook: &W, body: Option<&str>, auth: Auth<'_>) -> (u16, Value) {
    call_through(webhook, &local_gate(), body, auth).await
}

/// The same, to functions configured with `gate`.
pub async fn call_through<W: Webhook>(
    webhook: &W,
    gate: &Gate,
    body: Option<&str>,
    auth: Auth<'_>,
) -> (u16, Value) {
    let request = http_event(path::<W>(), body, false, auth);
    send(webhook, gate, request).await
}

/// Sends `body` to `webhook` the way the configured sender does: with the local secret as a
/// bearer token. Returns (status, JSON body).
pub async fn post<W: Webhook>(webhook: &W, body: &str) -> (u16, Value) {
    call(webhook, Some(body), Auth::Bearer(LOCAL_SECRET)).await
}

/// The sample event `events/<file>`, parsed the way Lambda parses it.
pub fn sample_event(file: &str) -> lambda_http::Request {
    let text = std::fs::read_to_string(root().join("events").join(file)).unwrap();
    lambda_http::request::from_str(&text).unwrap_or_else(|e| panic!("{file}: {e}"))
}

/// Delivers the sample event `events/<file>` to `webhook` through its production handler, with
/// [`local_gate`] configured as the sample events expect; returns (status, JSON body).
pub async fn replay<W: Webhook>(webhook: &W, file: &str) -> (u16, Value) {
    send(webhook, &local_gate(), sample_event(file)).await
}

/// Runs `n` tasks made by `task(0..n)` on the runtime's worker threads, all released at once by
/// one barrier so that they really race (each task is built, e.g. its own store, before the
/// release); returns their results in the order they finished. A panicking task fails the test.
pub async fn concurrently<T, F, Fut>(n: usize, mut task: F) -> Vec<T>
where
    F: FnMut(usize) -> Fut,
    Fut: Future<Output = T> + Send + 'static,
    T: Send + 'static,
{
    let barrier = Arc::new(Barrier::new(n));
    let mut tasks = tokio::task::JoinSet::new();
    for i in 0..n {
        let (barrier, work) = (Arc::clone(&barrier), task(i));
        tasks.spawn(async move {
            barrier.wait().await;
            work.await
        });
    }
    let mut results = Vec::with_capacity(n);
    while let Some(done) = tasks.join_next().await {
        results.push(done.expect("a concurrent task panicked"));
    }
    results
}

/// How many of `answers` (status, body) say `recorded`; every one must be a 200.
pub fn recorded_count(answers: &[(u16, Value)]) -> usize {
    for (code, body) in answers {
        assert_eq!(*code, 200, "{body}");
    }
    answers
        .iter()
        .filter(|(_, body)| body["status"] == "recorded")
        .count()
}

/// What is stored for `user`, as the operator views read it.
pub async fn user_summary(store: &DynamoStore, user: &str) -> UserSummary {
    store
        .user_summary(&shared::domain::ids::UserToken::parse(user).unwrap())
        .await
        .unwrap()
}

#[test]
fn placeholder_check_finds_unused_names_and_values() {
    let ok = serde_json::json!({
        "UpdateExpression": "SET a = :a1, #n = :a",
        "ExpressionAttributeNames": {"#n": "n"},
        "ExpressionAttributeValues": {":a": {"N": "1"}, ":a1": {"N": "2"}}
    });
    assert!(unused_placeholders(&ok).is_empty());
    let bad = serde_json::json!({
        "TransactItems": [{"Update": {
            "UpdateExpression": "SET a = :a1",
            "ConditionExpression": "attribute_exists(pk)",
            "ExpressionAttributeNames": {"#unused": "x"},
            "ExpressionAttributeValues": {":a": {"N": "1"}, ":a1": {"N": "2"}}
        }}]
    });
    assert_eq!(unused_placeholders(&bad), ["#unused", ":a"]);
}

/// Grants `quantity` units of `item` to `user`, as a purchase system would.
pub async fn grant(
    store: &DynamoStore,
    user: &str,
    item: &str,
    quantity: u32,
    expires_at: Option<time::OffsetDateTime>,
) {
    let email = Some("user@example.com");
    testkit::grant_units(store, user, item, quantity, email, expires_at).await;
}

/// The user the sample events in `events/` are about: two units of `1_GB`, with the email the
/// registration samples expect back.
pub async fn demo_user(store: &DynamoStore) {
    let email = Some("email@domain.com");
    testkit::grant_units(store, "USER_TOKEN_1234567", "1_GB", 2, email, None).await;
}

/// `request` as one Lambda invocation whose deadline is `budget` from now.
pub fn with_budget(
    request: lambda_http::Request,
    budget: std::time::Duration,
) -> lambda_http::Request {
    use lambda_http::RequestExt;
    let now_ms = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_millis());
    let mut context = lambda_http::Context::default();
    context.deadline = u64::try_from(now_ms + budget.as_millis()).unwrap_or(u64::MAX);
    request.with_lambda_context(context)
}

/// Runs each case once per store, each on a fresh, empty store.
macro_rules! contract {
    ($($case:ident),* $(,)?) => {
        mod in_memory {
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 4)]
                async fn $case() {
                    super::$case(std::sync::Arc::new(shared::testkit::InMemoryStore::new())).await;
                }
            )*
        }
        mod dynamodb {
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 4)]
                async fn $case() {
                    let table = crate::common::TestTable::new().await;
                    super::$case(std::sync::Arc::new(table.store)).await;
                }
            )*
        }
    };
}

pub(crate) use contract;

/// An SDK configuration for the moto server, over `http`.
pub fn sdk_config(
    http: aws_smithy_runtime_api::client::http::SharedHttpClient,
) -> aws_config::SdkConfig {
    use aws_sdk_eventbridge::config::{Credentials, Region, SharedCredentialsProvider};
    aws_config::SdkConfig::builder()
        .behavior_version(aws_config::BehaviorVersion::latest())
        .region(Region::new("us-east-1"))
        .credentials_provider(SharedCredentialsProvider::new(Credentials::new(
            "test", "test", None, None, "tests",
        )))
        .endpoint_url(endpoint())
        .http_client(http)
        .build()
}

/// A bus of its own on the moto server, with a rule delivering what it matches to a queue of
/// its own.
pub struct Subscriber {
    /// The bus's name.
    pub bus: String,
    sqs: aws_sdk_sqs::Client,
    queue: String,
}

impl Subscriber {
    /// Delivering every event of ours.
    pub async fn new() -> Self {
        Self::matching(serde_json::json!({"source": [shared::domain::events::SOURCE]})).await
    }

    /// Delivering the events `pattern` (an EventBridge event pattern) matches.
    pub async fn matching(pattern: Value) -> Self {
        static NEXT: AtomicUsize = AtomicUsize::new(0);
        let n = format!(
            "{}-{}",
            std::process::id(),
            NEXT.fetch_add(1, Ordering::SeqCst)
        );
        let (bus, rule) = (format!("bus-{n}"), format!("all-{n}"));
        let events =
            aws_sdk_eventbridge::Client::new(&sdk_config(shared::adapters::sdk::https_client()));
        let sqs = aws_sdk_sqs::Client::new(&sdk_config(shared::adapters::sdk::https_client()));
        events.create_event_bus().name(&bus).send().await.unwrap();
        let queue = sqs
            .create_queue()
            .queue_name(format!("events-{n}"))
            .send()
            .await;
        let queue = queue.unwrap().queue_url.unwrap();
        let attributes = sqs
            .get_queue_attributes()
            .queue_url(&queue)
            .attribute_names(aws_sdk_sqs::types::QueueAttributeName::QueueArn)
            .send()
            .await
            .unwrap();
        let queue_arn = attributes.attributes.unwrap()
            [&aws_sdk_sqs::types::QueueAttributeName::QueueArn]
            .clone();
        events
            .put_rule()
            .name(&rule)
            .event_bus_name(&bus)
            .event_pattern(pattern.to_string())
            .send()
            .await
            .unwrap();
        let target = aws_sdk_eventbridge::types::Target::builder()
            .id("queue")
            .arn(queue_arn)
            .build()
            .unwrap();
        events
            .put_targets()
            .rule(&rule)
            .event_bus_name(&bus)
            .targets(target)
            .send()
            .await
            .unwrap();
        Self { bus, sqs, queue }
    }

    /// Every event delivered so far and not read before, as EventBridge delivers them.
    pub async fn delivered(&self) -> Vec<Value> {
        let mut all = Vec::new();
        loop {
            let received = self
                .sqs
                .receive_message()
                .queue_url(&self.queue)
                .max_number_of_messages(10)
                .send()
                .await
                .unwrap();
            let messages = received.messages.unwrap_or_default();
            if messages.is_empty() {
                return all;
            }
            for m in messages {
                all.push(serde_json::from_str(m.body().unwrap()).unwrap());
                let receipt = m.receipt_handle().unwrap();
                let delete = self.sqs.delete_message().queue_url(&self.queue);
                delete.receipt_handle(receipt).send().await.unwrap();
            }
        }
    }
}
