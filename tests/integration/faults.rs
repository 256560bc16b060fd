//! DynamoDB failing the ways it does in production, injected between the SDK and the local
//! DynamoDB-API server: throttling, transaction conflicts, internal errors, validation errors,
//! refused connections, lost answers and a server that stops answering. Every function must
//! answer in time, fail closed, and lose nothing.

use std::collections::{HashMap, VecDeque};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use activation_request::{ActivationWebhook, CONFIRMED, OUTCOME_UNKNOWN};
use aws_smithy_runtime_api::client::http::{
    http_client_fn, HttpClient, HttpConnector, HttpConnectorFuture, SharedHttpConnector,
};
use aws_smithy_runtime_api::client::orchestrator::HttpRequest;
use aws_smithy_runtime_api::client::result::ConnectorError;
use aws_smithy_types::body::SdkBody;
use esim_status::EsimStatusWebhook;
use lambda_http::RequestExt;
use serde_json::Value;
use shared::dynamo::DynamoStore;
use shared::http::{Reply, STORAGE_ERROR, STORAGE_PERMANENT_ERROR};
use shared::pipeline::{respond, Webhook, NOT_STORED};
use shared::testkit::LogCapture;

use crate::common::{grant, http_event, local_gate, user_summary, Auth, TestTable, LOCAL_SECRET};

/// What the connector does with one request.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Fault {
    /// Sent to the server, answered as it answers.
    Pass,
    /// `ThrottlingException` (400), as an on-demand table's sudden peak gets.
    Throttle,
    /// `TransactionCanceledException` with a `TransactionConflict` reason on every item.
    Conflict,
    /// `InternalServerError` (500).
    InternalError,
    /// `ValidationException` (400): a bug, never fixed by a retry.
    Validation,
    /// The connection is refused before anything is sent.
    Refuse,
    /// Sent and applied by the server, then the connection drops before the answer.
    LoseAnswer,
    /// The connection is accepted and never answered.
    Hang,
}

#[derive(Debug, Default)]
struct Plan {
    /// By operation (`x-amz-target` without its prefix): the faults of the next requests.
    next: HashMap<String, VecDeque<Fault>>,
    /// By operation: the fault of every request after those.
    then: HashMap<String, Fault>,
    /// The fault of every request of any other operation.
    otherwise: Option<Fault>,
    /// What happened, in order: (operation, fault).
    seen: Vec<(String, Fault)>,
}

/// The plan a faulty client follows; shared with the test, which changes it as it goes.
#[derive(Debug, Clone, Default)]
pub struct Faults(Arc<Mutex<Plan>>);

impl Faults {
    fn plan(&self) -> std::sync::MutexGuard<'_, Plan> {
        self.0
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    /// The next requests of `operation` meet `faults`, in order.
    pub fn next(&self, operation: &str, faults: &[Fault]) -> &Self {
        let mut plan = self.plan();
        let queue = plan.next.entry(operation.to_owned()).or_default();
        queue.extend(faults);
        drop(plan);
        self
    }

    /// Every later request of `operation` meets `fault`.
    pub fn then(&self, operation: &str, fault: Fault) -> &Self {
        self.plan().then.insert(operation.to_owned(), fault);
        self
    }

    /// Every later request of any operation without its own plan meets `fault`.
    pub fn otherwise(&self, fault: Fault) -> &Self {
        self.plan().otherwise = Some(fault);
        self
    }

    /// Back to passing everything.
    pub fn heal(&self) {
        let mut plan = self.plan();
        plan.next.clear();
        plan.then.clear();
        plan.otherwise = None;
    }

    /// The faults requests of `operation` met so far.
    pub fn seen(&self, operation: &str) -> Vec<Fault> {
        let plan = self.plan();
        let of = plan.seen.iter().filter(|(op, _)| op == operation);
        of.map(|(_, fault)| *fault).collect()
    }

    fn decide(&self, operation: &str) -> Fault {
        let mut plan = self.plan();
        let queued = plan.next.get_mut(operation).and_then(VecDeque::pop_front);
        let fault = queued
            .or_else(|| plan.then.get(operation).copied())
            .or(plan.otherwise)
            .unwrap_or(Fault::Pass);
        plan.seen.push((operation.to_owned(), fault));
        fault
    }
}

/// AWS's JSON error answer.
fn aws_error(status: u16, kind: &str, extra: Value) -> HttpConnectorFuture {
    let mut body = serde_json::json!({"__type": kind, "message": format!("injected {kind}")});
    if let (Some(body), Value::Object(extra)) = (body.as_object_mut(), extra) {
        body.extend(extra);
    }
    let mut response = aws_smithy_runtime_api::http::Response::new(
        status.try_into().expect("a valid status"),
        SdkBody::from(body.to_string()),
    );
    response
        .headers_mut()
        .insert("content-type", "application/x-amz-json-1.0");
    HttpConnectorFuture::ready(Ok(response))
}

/// An HTTP connector in front of the real one that follows a [`Faults`] plan.
#[derive(Debug)]
struct FaultyConnector {
    inner: SharedHttpConnector,
    faults: Faults,
}

impl HttpConnector for FaultyConnector {
    fn call(&self, request: HttpRequest) -> HttpConnectorFuture {
        let operation = request
            .headers()
            .get("x-amz-target")
            .and_then(|t| t.split('.').nth(1))
            .unwrap_or("unknown")
            .to_owned();
        let prefix = "com.amazonaws.dynamodb.v20120810#";
        match self.faults.decide(&operation) {
            Fault::Pass => self.inner.call(request),
            Fault::Throttle => aws_error(400, &format!("{prefix}ThrottlingException"), Value::Null),
            Fault::Conflict => {
                let reason = serde_json::json!({"Code": "TransactionConflict", "Message": "Transaction is ongoing for the item"});
                let reasons = serde_json::json!({"CancellationReasons": [reason, reason, reason]});
                aws_error(
                    400,
                    &format!("{prefix}TransactionCanceledException"),
                    reasons,
                )
            }
            Fault::InternalError => {
                aws_error(500, &format!("{prefix}InternalServerError"), Value::Null)
            }
            Fault::Validation => aws_error(
                400,
                "com.amazon.coral.validate#ValidationException",
                Value::Null,
            ),
            Fault::Refuse => HttpConnectorFuture::ready(Err(ConnectorError::io(
                "injected: connection refused".into(),
            ))),
            Fault::LoseAnswer => {
                let sent = self.inner.call(request);
                HttpConnectorFuture::new(async move {
                    let _applied = sent.await;
                    Err(ConnectorError::io("injected: connection reset".into()))
                })
            }
            Fault::Hang => HttpConnectorFuture::new(std::future::pending()),
        }
    }
}

/// A store over `table` whose requests follow `faults`, with the functions' own timeouts
/// and retries.
pub fn faulty_store(table: &TestTable, faults: &Faults) -> DynamoStore {
    let faults = faults.clone();
    let base = aws_smithy_http_client::Builder::new().build_http();
    let client = http_client_fn(move |settings, components| {
        let inner = base.http_connector(settings, components);
        SharedHttpConnector::new(FaultyConnector {
            inner,
            faults: faults.clone(),
        })
    });
    let (client, _) = crate::common::client_with(|config| config.http_client(client));
    DynamoStore::new(client, table.name.clone())
}

/// A request to `W` with `body`, whose Lambda invocation ends `budget` from now.
pub fn invocation<W: Webhook>(body: &str, budget: Duration) -> lambda_http::Request {
    let path = W::ROUTE.trim_start_matches("POST ");
    let request = http_event(path, Some(body), false, Auth::Bearer(LOCAL_SECRET));
    let now_ms = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_millis());
    let mut context = lambda_http::Context::default();
    context.deadline = u64::try_from(now_ms + budget.as_millis()).unwrap_or(u64::MAX);
    request.with_lambda_context(context)
}

/// The reply `webhook` gives `body` within an invocation of `budget`, and how long it took.
pub async fn timed<W: Webhook>(webhook: &W, body: &str, budget: Duration) -> (Reply, Duration) {
    let started = Instant::now();
    let reply = respond(webhook, &local_gate(), &invocation::<W>(body, budget)).await;
    (reply, started.elapsed())
}

fn activation(id: &str) -> String {
    serde_json::json!({"inventoryItemId": "1_GB", "userToken": "u1", "activationId": id})
        .to_string()
}

const STATUS: &str =
    r#"{"iccid":"89361123300836129514","imsi":"260216611193634","profileState":"INSTALLED"}"#;
// Generous, so a loaded CI machine answers the healthy calls in time; the cut-off cases still
// show that nothing takes longer than the invocation.
const BUDGET: Duration = Duration::from_secs(4);

fn json(reply: &Reply) -> Value {
    serde_json::from_str(&reply.body).expect("a JSON body")
}

fn success() -> Value {
    serde_json::json!({"returnCode": "SUCCESS", "returnMessage": null})
}

fn unable() -> Value {
    serde_json::json!({"returnCode": "FAIL", "returnMessage": "temporarily unable to decide, please retry"})
}

async fn units_used(table: &TestTable) -> u32 {
    let summary = user_summary(&table.store, "u1").await;
    summary.entitlements.first().map_or(0, |e| e.units_used)
}

#[tokio::test]
async fn conflicts_for_the_first_attempts_then_approved_exactly_once() {
    let t = TestTable::new().await;
    grant(&t.store, "u1", "1_GB", 1, None).await;
    let faults = Faults::default();
    faults.next("TransactWriteItems", &[Fault::Conflict, Fault::Conflict]);
    let webhook = ActivationWebhook(faulty_store(&t, &faults));
    let (reply, _) = timed(&webhook, &activation("a1"), BUDGET).await;
    assert_eq!(json(&reply), success());
    assert_eq!(
        faults.seen("TransactWriteItems"),
        [Fault::Conflict, Fault::Conflict, Fault::Pass]
    );
    assert_eq!(units_used(&t).await, 1);
    let (again, _) = timed(&webhook, &activation("a1"), BUDGET).await;
    assert_eq!(json(&again), success());
    assert_eq!(units_used(&t).await, 1);
}

#[tokio::test]
async fn throttling_throughout_is_answered_in_time_with_nothing_recorded() {
    let t = TestTable::new().await;
    grant(&t.store, "u1", "1_GB", 1, None).await;
    let faults = Faults::default();
    faults.otherwise(Fault::Throttle);
    let logs = LogCapture::default();
    let _guard = logs.install();

    let activations = ActivationWebhook(faulty_store(&t, &faults));
    let (reply, took) = timed(&activations, &activation("a1"), BUDGET).await;
    assert_eq!(json(&reply), unable());
    assert!(took < BUDGET, "answered after {took:?}");
    assert!(
        faults.seen("TransactWriteItems").len() > 1,
        "throttling is retried"
    );

    let esims = EsimStatusWebhook(faulty_store(&t, &faults));
    let (reply, took) = timed(&esims, STATUS, BUDGET).await;
    assert_eq!(reply.status, 503);
    assert!(took < BUDGET, "answered after {took:?}");
    let lost: Vec<Value> = logs
        .lines()
        .into_iter()
        .filter(|l| l["message"] == NOT_STORED)
        .collect();
    assert_eq!(lost.len(), 1);
    assert_eq!(lost[0]["payload"], STATUS);
    assert_eq!(lost[0]["route"], "POST /webhooks/esim-status");

    faults.heal();
    assert_eq!(units_used(&t).await, 0);
    let iccid = shared::ids::Iccid::parse("89361123300836129514").unwrap();
    use shared::views::ReadModels;
    assert_eq!(t.store.esim_history(&iccid).await.unwrap(), None);
    let a1 = shared::ids::ActivationId::parse("a1").unwrap();
    use shared::activation::ActivationStore;
    assert_eq!(t.store.activation(&a1).await.unwrap(), None);
}

#[tokio::test]
async fn one_internal_error_then_success() {
    let t = TestTable::new().await;
    grant(&t.store, "u1", "1_GB", 1, None).await;
    let faults = Faults::default();
    faults.next("TransactWriteItems", &[Fault::InternalError]);
    let webhook = ActivationWebhook(faulty_store(&t, &faults));
    let (reply, _) = timed(&webhook, &activation("a1"), BUDGET).await;
    assert_eq!(json(&reply), success());
    assert_eq!(
        faults.seen("TransactWriteItems"),
        [Fault::InternalError, Fault::Pass]
    );
    assert_eq!(units_used(&t).await, 1);
}

#[tokio::test]
async fn a_validation_error_is_not_retried_and_counted_as_permanent() {
    let t = TestTable::new().await;
    grant(&t.store, "u1", "1_GB", 1, None).await;
    let faults = Faults::default();
    faults.otherwise(Fault::Validation);
    let activations = ActivationWebhook(faulty_store(&t, &faults));
    let (reply, _) = timed(&activations, &activation("a1"), BUDGET).await;
    assert_eq!(json(&reply), unable());
    assert_eq!(reply.metrics, [STORAGE_ERROR, STORAGE_PERMANENT_ERROR]);
    assert_eq!(faults.seen("TransactWriteItems"), [Fault::Validation]);

    let esims = EsimStatusWebhook(faulty_store(&t, &faults));
    let (reply, _) = timed(&esims, STATUS, BUDGET).await;
    assert_eq!(reply.status, 503);
    assert_eq!(reply.metrics, [STORAGE_ERROR, STORAGE_PERMANENT_ERROR]);
    assert_eq!(faults.seen("TransactWriteItems").len(), 2);
    faults.heal();
    assert_eq!(units_used(&t).await, 0);
}

#[tokio::test]
async fn a_database_that_stops_answering_mid_run_costs_at_most_the_time_left() {
    let t = TestTable::new().await;
    grant(&t.store, "u1", "1_GB", 2, None).await;
    let faults = Faults::default();
    let activations = ActivationWebhook(faulty_store(&t, &faults));
    let esims = EsimStatusWebhook(faulty_store(&t, &faults));
    let (reply, _) = timed(&activations, &activation("a1"), BUDGET).await;
    assert_eq!(json(&reply), success());

    faults.otherwise(Fault::Hang);
    let logs = LogCapture::default();
    let _guard = logs.install();
    let (reply, took) = timed(&activations, &activation("a2"), BUDGET).await;
    // Nothing could be read back either: the approval's outcome is unknown, answered FAIL.
    assert_eq!(json(&reply), unable());
    assert_eq!(reply.outcome, "outcome_unknown");
    assert!(
        reply.metrics.contains(&OUTCOME_UNKNOWN),
        "{:?}",
        reply.metrics
    );
    assert!(took < BUDGET, "answered after {took:?}");
    let (reply, took) = timed(&esims, STATUS, BUDGET).await;
    assert_eq!(reply.status, 503);
    assert!(took < BUDGET, "answered after {took:?}");
    let lines = logs.lines();
    assert!(lines
        .iter()
        .any(|l| l["message"] == "activation outcome unknown"
            && l["activation_id"] == "a2"
            && l["level"] == "ERROR"));
    assert_eq!(
        lines.iter().filter(|l| l["message"] == NOT_STORED).count(),
        1
    );

    // The database comes back: a redelivery gets the decision, one unit per activation.
    faults.heal();
    let (reply, _) = timed(&activations, &activation("a2"), BUDGET).await;
    assert_eq!(json(&reply), success());
    assert_eq!(units_used(&t).await, 2);
}

#[tokio::test]
async fn an_approval_whose_answer_was_lost_is_read_back_and_approved() {
    let t = TestTable::new().await;
    grant(&t.store, "u1", "1_GB", 1, None).await;
    let faults = Faults::default();
    // The write is applied, its answer lost, and every retry of it hangs; the read works.
    faults.next("TransactWriteItems", &[Fault::LoseAnswer]);
    faults.then("TransactWriteItems", Fault::Hang);
    let webhook = ActivationWebhook(faulty_store(&t, &faults));
    let (reply, took) = timed(&webhook, &activation("a1"), BUDGET).await;
    assert_eq!(json(&reply), success());
    assert_eq!(reply.metrics, [CONFIRMED]);
    assert!(took < BUDGET, "answered after {took:?}");
    assert_eq!(faults.seen("GetItem"), [Fault::Pass]);
    faults.heal();
    assert_eq!(units_used(&t).await, 1);
}
