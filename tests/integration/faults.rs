//! DynamoDB failing the ways it does in production, injected between the SDK and the local
//! DynamoDB-API server: throttling, transaction conflicts, internal errors, validation errors,
//! refused connections, lost answers and a server that stops answering. Every function must
//! answer in time, fail closed, and lose nothing.

use std::collections::{HashMap, VecDeque};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use activation_request::{ActivationRequestWebhook, CONFIRMED, OUTCOME_UNKNOWN};
use aws_smithy_runtime_api::client::http::{
    http_client_fn, HttpClient, HttpConnector, HttpConnectorFuture, SharedHttpConnector,
};
use aws_smithy_runtime_api::client::orchestrator::HttpRequest;
use aws_smithy_runtime_api::client::result::ConnectorError;
use aws_smithy_types::body::SdkBody;
use esim_status::EsimStatusWebhook;
use serde_json::Value;
use shared::adapters::dynamo::DynamoStore;
use shared::testkit::LogCapture;
use shared::webhook::pipeline::respond;
use shared::webhook::reply::{Reply, STORAGE_ERROR, STORAGE_PERMANENT_ERROR};
use shared::webhook::{Webhook, NOT_STORED};

use crate::common::{
    grant, http_event, local_gate, operation, user_summary, Auth, TestTable, LOCAL_SECRET,
};

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
    /// `TransactionInProgressException` (400): a retry of a transaction DynamoDB is still
    /// applying (same client request token).
    InProgress,
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
        let operation = operation(&request);
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
            Fault::InProgress => aws_error(
                400,
                &format!("{prefix}TransactionInProgressException"),
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
    crate::common::with_budget(request, budget)
}

/// The reply `webhook` gives `body` within an invocation of `budget`, and how long it took.
pub async fn timed<W: Webhook>(webhook: &W, body: &str, budget: Duration) -> (Reply, Duration) {
    let started = Instant::now();
    let reply = respond(webhook, &local_gate(), &invocation::<W>(body, budget)).await;
    (reply, started.elapsed())
}

/// The Activation Request `id`: `u1` asks for `1_GB`.
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

/// A fresh table on which `u1` holds units of `1_GB`, and the plan of faults that the stores
/// of its webhooks follow.
struct Setup {
    table: TestTable,
    faults: Faults,
}

impl Setup {
    /// `u1` holds `units`; no faults planned yet. With the plan, for the test to change as it
    /// goes.
    async fn new(units: u32) -> (Self, Faults) {
        let table = TestTable::new().await;
        grant(&table.store, "u1", "1_GB", units, None).await;
        let faults = Faults::default();
        let plan = faults.clone();
        (Self { table, faults }, plan)
    }

    /// The Activation Request function, over a store of its own following the plan.
    fn activations(&self) -> ActivationRequestWebhook<DynamoStore> {
        ActivationRequestWebhook::new(faulty_store(&self.table, &self.faults))
    }

    /// The eSIM Status function, over a store of its own following the plan.
    fn esims(&self) -> EsimStatusWebhook<DynamoStore> {
        EsimStatusWebhook(faulty_store(&self.table, &self.faults))
    }

    /// The units of `1_GB` `u1` used, as stored (read without faults).
    async fn units_used(&self) -> u32 {
        let summary = user_summary(&self.table.store, "u1").await;
        summary.entitlements.first().map_or(0, |e| e.units_used)
    }
}

/// The reply to the Activation Request `id` within an invocation of [`BUDGET`], and how long
/// it took.
async fn activate<W: Webhook>(webhook: &W, id: &str) -> (Reply, Duration) {
    timed(webhook, &activation(id), BUDGET).await
}

/// The reply to the Activation Request `id`, checked to be an approval, and how long it took.
async fn approved<W: Webhook>(webhook: &W, id: &str) -> (Reply, Duration) {
    let (reply, took) = activate(webhook, id).await;
    assert_eq!(json(&reply), success(), "{id}");
    (reply, took)
}

/// The reply to [`STATUS`] within an invocation of [`BUDGET`], checked to be 503 in time.
async fn status_not_stored<W: Webhook>(webhook: &W) -> Reply {
    let (reply, took) = timed(webhook, STATUS, BUDGET).await;
    assert_eq!(reply.status, 503);
    assert!(took < BUDGET, "answered after {took:?}");
    reply
}

#[tokio::test]
async fn conflicts_for_the_first_attempts_then_approved_exactly_once() {
    let (setup, faults) = Setup::new(1).await;
    faults.next("TransactWriteItems", &[Fault::Conflict, Fault::Conflict]);
    let webhook = setup.activations();
    approved(&webhook, "a1").await;
    assert_eq!(
        faults.seen("TransactWriteItems"),
        [Fault::Conflict, Fault::Conflict, Fault::Pass]
    );
    assert_eq!(setup.units_used().await, 1);
    approved(&webhook, "a1").await;
    assert_eq!(setup.units_used().await, 1);
}

#[tokio::test]
async fn throttling_throughout_is_answered_in_time_with_nothing_recorded() {
    let (setup, faults) = Setup::new(1).await;
    faults.otherwise(Fault::Throttle);
    let logs = LogCapture::default();
    let _guard = logs.install();

    let (reply, took) = activate(&setup.activations(), "a1").await;
    assert_eq!(json(&reply), unable());
    assert!(took < BUDGET, "answered after {took:?}");
    assert!(
        faults.seen("TransactWriteItems").len() > 1,
        "throttling is retried"
    );

    status_not_stored(&setup.esims()).await;
    let lost: Vec<Value> = logs
        .lines()
        .into_iter()
        .filter(|l| l["message"] == NOT_STORED)
        .collect();
    assert_eq!(lost.len(), 1);
    assert_eq!(lost[0]["payload"], STATUS);
    assert_eq!(lost[0]["route"], "POST /webhooks/esim-status");

    faults.heal();
    assert_eq!(setup.units_used().await, 0);
    let iccid = shared::domain::ids::Iccid::parse("89361123300836129514").unwrap();
    use shared::domain::views::ReadModels;
    let store = &setup.table.store;
    assert_eq!(store.esim_history(&iccid).await.unwrap(), None);
    let a1 = shared::domain::ids::ActivationId::parse("a1").unwrap();
    use shared::domain::activation::ActivationStore;
    assert_eq!(store.activation(&a1).await.unwrap(), None);
}

#[tokio::test]
async fn one_internal_error_then_success() {
    let (setup, faults) = Setup::new(1).await;
    faults.next("TransactWriteItems", &[Fault::InternalError]);
    approved(&setup.activations(), "a1").await;
    assert_eq!(
        faults.seen("TransactWriteItems"),
        [Fault::InternalError, Fault::Pass]
    );
    assert_eq!(setup.units_used().await, 1);
}

#[tokio::test]
async fn a_validation_error_is_not_retried_and_counted_as_permanent() {
    let (setup, faults) = Setup::new(1).await;
    faults.otherwise(Fault::Validation);
    let (reply, _) = activate(&setup.activations(), "a1").await;
    assert_eq!(json(&reply), unable());
    assert_eq!(reply.metrics, [STORAGE_ERROR, STORAGE_PERMANENT_ERROR]);
    assert_eq!(faults.seen("TransactWriteItems"), [Fault::Validation]);

    let reply = status_not_stored(&setup.esims()).await;
    assert_eq!(reply.metrics, [STORAGE_ERROR, STORAGE_PERMANENT_ERROR]);
    assert_eq!(faults.seen("TransactWriteItems").len(), 2);
    faults.heal();
    assert_eq!(setup.units_used().await, 0);
}

#[tokio::test]
async fn a_database_that_stops_answering_mid_run_costs_at_most_the_time_left() {
    let (setup, faults) = Setup::new(2).await;
    let activations = setup.activations();
    let esims = setup.esims();
    approved(&activations, "a1").await;

    faults.otherwise(Fault::Hang);
    let logs = LogCapture::default();
    let _guard = logs.install();
    let (reply, took) = activate(&activations, "a2").await;
    // Nothing could be read back either: the approval's outcome is unknown, answered FAIL.
    assert_eq!(json(&reply), unable());
    assert_eq!(reply.outcome, "outcome_unknown");
    assert!(
        reply.metrics.contains(&OUTCOME_UNKNOWN),
        "{:?}",
        reply.metrics
    );
    assert!(took < BUDGET, "answered after {took:?}");
    status_not_stored(&esims).await;
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
    approved(&activations, "a2").await;
    assert_eq!(setup.units_used().await, 2);
}

#[tokio::test]
async fn an_approval_whose_answer_was_lost_is_read_back_and_approved() {
    let (setup, faults) = Setup::new(1).await;
    // The write is applied, its answer lost, and every retry of it hangs; the read works.
    faults.next("TransactWriteItems", &[Fault::LoseAnswer]);
    faults.then("TransactWriteItems", Fault::Hang);
    let (reply, took) = approved(&setup.activations(), "a1").await;
    assert_eq!(reply.metrics, [CONFIRMED]);
    assert!(took < BUDGET, "answered after {took:?}");
    assert_eq!(faults.seen("GetItem"), [Fault::Pass]);
    faults.heal();
    assert_eq!(setup.units_used().await, 1);
}

#[tokio::test]
async fn an_approval_applied_then_refused_on_retry_is_read_back_not_refused() {
    // Applied, its answer lost; the SDK's retries with the same token then find it still in
    // progress, or are throttled: the last error says "not applied" of the last attempt only.
    for retried in [Fault::InProgress, Fault::Throttle] {
        let (setup, faults) = Setup::new(1).await;
        faults.next("TransactWriteItems", &[Fault::LoseAnswer]);
        faults.then("TransactWriteItems", retried);
        let (reply, took) = approved(&setup.activations(), "a1").await;
        assert_eq!(reply.metrics, [CONFIRMED], "{retried:?}");
        assert!(took < BUDGET, "{retried:?}: answered after {took:?}");
        assert_eq!(faults.seen("GetItem"), [Fault::Pass], "{retried:?}");
        faults.heal();
        assert_eq!(setup.units_used().await, 1, "{retried:?}");
    }
}
